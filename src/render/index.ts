// render(cloud, secrets, components) → each component's objects: pure and deterministic. No
// I/O, no clock, no randomness; the same input gives byte-identical output. The components come
// from the plan; the CLI, the operator and the tests all call this.
import type { OpenStackCloud } from '../api/v1alpha1/spec.ts';
import { getCatalog } from '../catalog/index.ts';
import type { ComponentName } from '../catalog/types.ts';
import { makeCtx, type Ctx, type UpgradeRender } from './context.ts';
import { componentLabel, type KubeObject } from './kube.ts';
import type { CloudSecrets } from './secrets.ts';
import { renderCache, renderDatabase, renderMessaging } from './infra/index.ts';
import { renderKeystone } from './openstack/keystone.ts';
import { renderGlance } from './openstack/glance.ts';
import { renderPlacement } from './openstack/placement.ts';
import { renderNova } from './openstack/nova.ts';
import { renderNeutron, renderOvn } from './openstack/neutron.ts';
import { renderHorizon } from './openstack/horizon.ts';
import { renderPolicies } from './policy.ts';
import { priorityClasses } from './priority.ts';
import { checkNamespace, namespaces, splitDataPlane } from './dataplane.ts';

export interface RenderOptions {
  /**
   * The cloud's namespace, for the control plane; the data plane goes to `<namespace>-dataplane`
   * (namespaces.ts). Default: the cloud's own namespace, else `openstack`.
   */
  readonly namespace?: string;
  /** Rendering at an upgrade's target release: the step's Job and the pin (context.ts). */
  readonly upgrade?: UpgradeRender;
}

const renderers: Record<ComponentName, (ctx: Ctx) => KubeObject[]> = {
  database: renderDatabase,
  messaging: renderMessaging,
  cache: renderCache,
  keystone: renderKeystone,
  glance: renderGlance,
  placement: renderPlacement,
  ovn: renderOvn,
  neutron: renderNeutron,
  nova: renderNova,
  horizon: renderHorizon,
};

const kindOrder = [
  'Namespace',
  'PriorityClass',
  'ServiceAccount',
  'Role',
  'RoleBinding',
  'Secret',
  'ConfigMap',
  'PersistentVolumeClaim',
  'Service',
  'StatefulSet',
  'Deployment',
  'DaemonSet',
  'Job',
  'CronJob',
  'PodDisruptionBudget',
  'NetworkPolicy',
  'Ingress',
];

/** Each component's objects, sorted by kind, name and namespace, in the order of `components`. */
export type RenderedComponents = ReadonlyMap<ComponentName, readonly KubeObject[]>;

/** The objects of the given components of a cloud (the plan says which). */
export function render(
  cloud: OpenStackCloud,
  secrets: CloudSecrets,
  components: readonly ComponentName[],
  opts: RenderOptions = {},
): RenderedComponents {
  const ctx = makeCtx(cloud, getCatalog(cloud.spec.release), secrets, opts.namespace, opts.upgrade);
  checkNamespace(ctx.namespace);
  const groups = new Map(components.map((c) => [c, renderers[c](ctx)]));
  // The data plane (the DaemonSets and what their pods name) to its own namespace.
  splitDataPlane(ctx, groups);
  // Cluster-scoped, applied with the first component of every plan: the cloud's two namespaces
  // (Pod Security's levels), and the PriorityClasses shared by every cloud.
  groups.get('database')?.push(...namespaces(ctx), ...priorityClasses(ctx));
  // Who may reach whom: each NetworkPolicy and Ingress goes with the component it serves.
  for (const p of renderPolicies(ctx, components)) {
    const c = componentOf(p);
    const group = c && groups.get(c);
    if (!group) throw new Error(`render produced ${p.kind}/${p.metadata.name} for no component`);
    group.push(p);
  }
  const seen = new Set<string>();
  for (const o of [...groups.values()].flat()) {
    const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    if (seen.has(key)) throw new Error(`render produced ${key} twice`);
    seen.add(key);
  }
  return new Map([...groups].map(([c, objs]) => [c, sorted(objs)]));
}

const policyKinds = new Set(['NetworkPolicy', 'Ingress']);

/**
 * Every object in one list, as `stackanetes render` prints it: component by component, then the
 * NetworkPolicies and Ingresses of all of them, by kind and name.
 */
export function flatten(rendered: RenderedComponents): KubeObject[] {
  const all = [...rendered.values()].flat();
  return [
    ...all.filter((o) => !policyKinds.has(o.kind)),
    ...sorted(all.filter((o) => policyKinds.has(o.kind))),
  ];
}

function sorted(objs: readonly KubeObject[]): KubeObject[] {
  const rank = (k: string) => {
    const i = kindOrder.indexOf(k);
    return i < 0 ? kindOrder.length : i;
  };
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return [...objs].sort(
    (a, b) =>
      rank(a.kind) - rank(b.kind) ||
      cmp(a.metadata.name, b.metadata.name) ||
      cmp(a.metadata.namespace ?? '', b.metadata.namespace ?? ''),
  );
}

/** The component an object belongs to (its plan node). */
export function componentOf(o: KubeObject): ComponentName | undefined {
  return o.metadata.labels?.[componentLabel] as ComponentName | undefined;
}
