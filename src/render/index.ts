// render(cloud, secrets) → objects: pure and deterministic. No I/O, no clock, no randomness;
// the same input gives byte-identical output. The CLI, the operator and the tests all call this.
import type { OpenStackCloud } from '../api/v1alpha1/spec.ts';
export { enabledComponents } from '../plan/components.ts';
import { getCatalog } from '../catalog/index.ts';
import type { ComponentName } from '../catalog/types.ts';
import { enabledComponents } from '../plan/components.ts';
import { makeCtx, type Ctx } from './context.ts';
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

export interface RenderOptions {
  /** Namespace for every object; the cloud's own namespace, else `openstack`. */
  readonly namespace?: string;
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

/** Every object of a cloud, grouped by component in plan order, then by kind and name. */
export function render(
  cloud: OpenStackCloud,
  secrets: CloudSecrets,
  opts: RenderOptions = {},
): KubeObject[] {
  const ctx = makeCtx(cloud, getCatalog(cloud.spec.release), secrets, opts.namespace);
  const out: KubeObject[] = [];
  const components = enabledComponents(cloud);
  for (const c of components) {
    const objs = renderers[c](ctx);
    // Cluster-scoped, shared by every cloud; applied with the first component of every plan.
    if (c === 'database') objs.push(...priorityClasses(ctx));
    out.push(...sorted(objs));
  }
  out.push(...sorted(renderPolicies(ctx, components)));
  const seen = new Set<string>();
  for (const o of out) {
    const key = `${o.kind}/${o.metadata.name}`;
    if (seen.has(key)) throw new Error(`render produced ${key} twice`);
    seen.add(key);
  }
  return out;
}

function sorted(objs: KubeObject[]): KubeObject[] {
  const rank = (k: string) => {
    const i = kindOrder.indexOf(k);
    return i < 0 ? kindOrder.length : i;
  };
  return [...objs].sort(
    (a, b) =>
      rank(a.kind) - rank(b.kind) ||
      (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0),
  );
}

/** The component an object belongs to (its plan node). */
export function componentOf(o: KubeObject): ComponentName | undefined {
  return o.metadata.labels?.[componentLabel] as ComponentName | undefined;
}
