// The cloud's two namespaces (see namespaces.ts): after the renderers have made every object in
// the cloud's namespace, the data plane — every DaemonSet, and the Secrets, ConfigMaps and
// ServiceAccounts its pods name — moves to `<namespace>-dataplane`. What the control plane's pods
// name too (a service's ServiceAccount, used by its API and by its agent) stays and gets a copy
// there. The objects are found by what the pod templates reference, not by name. Owner references
// cannot cross namespaces: the data plane's objects have none, and name their cloud by labels.
import type { ComponentName } from '../catalog/types.ts';
import type { Ctx } from './context.ts';
import { componentLabel, type KubeObject, type Namespace, type PodSpec } from './kube.ts';
import {
  cloudNamespaceLabel,
  controlPlaneLevel,
  dataPlaneLevel,
  cloudNamespaceProblem,
  dataPlaneNamespace,
  podSecurityEnforceLabel,
} from './namespaces.ts';

/** The kinds a pod names, that render makes and that must be in the pod's namespace. */
type RefKind = 'Secret' | 'ConfigMap' | 'ServiceAccount';

/** Whether an object runs on the hosts: the data plane. */
export function isDataPlane(o: KubeObject): boolean {
  return o.kind === 'DaemonSet';
}

/** The pod spec of a workload (Deployment, StatefulSet, DaemonSet, Job, CronJob), if any. */
export function podSpecOf(o: KubeObject): PodSpec | undefined {
  const spec = o.spec as
    | {
        template?: { spec?: PodSpec };
        jobTemplate?: { spec?: { template?: { spec?: PodSpec } } };
      }
    | undefined;
  return spec?.template?.spec ?? spec?.jobTemplate?.spec?.template?.spec;
}

/**
 * The Secrets, ConfigMaps and ServiceAccount a pod names, as `Kind/name`: its volumes (projected
 * ones included), its containers' env and envFrom, its image pull secrets, its ServiceAccount.
 */
export function podReferences(spec: PodSpec): Set<string> {
  const out = new Set<string>();
  const add = (kind: RefKind, name: string | undefined) => {
    if (name) out.add(`${kind}/${name}`);
  };
  add('ServiceAccount', spec.serviceAccountName ?? spec.serviceAccount);
  for (const v of spec.volumes ?? []) {
    add('Secret', v.secret?.secretName);
    add('ConfigMap', v.configMap?.name);
    for (const s of v.projected?.sources ?? []) {
      add('Secret', s.secret?.name);
      add('ConfigMap', s.configMap?.name);
    }
  }
  for (const c of [
    ...(spec.initContainers ?? []),
    ...spec.containers,
    ...(spec.ephemeralContainers ?? []),
  ]) {
    for (const e of c.env ?? []) {
      add('Secret', e.valueFrom?.secretKeyRef?.name);
      add('ConfigMap', e.valueFrom?.configMapKeyRef?.name);
    }
    for (const e of c.envFrom ?? []) {
      add('Secret', e.secretRef?.name);
      add('ConfigMap', e.configMapRef?.name);
    }
  }
  for (const s of spec.imagePullSecrets ?? []) add('Secret', s.name);
  return out;
}

function referencesOf(objects: readonly KubeObject[]): Set<string> {
  const out = new Set<string>();
  for (const o of objects) {
    const spec = podSpecOf(o);
    if (spec) for (const r of podReferences(spec)) out.add(r);
  }
  return out;
}

/**
 * The object as the data plane has it: in its namespace, no owner, its cloud's as a label — on its
 * pods too, which is how the dashboard and `status` tell whose they are.
 */
function inDataPlane<T extends KubeObject>(ctx: Ctx, o: T): T {
  const { ownerReferences: _owners, ...metadata } = o.metadata;
  const template = (o.spec as { template?: { metadata?: { labels?: Record<string, string> } } })
    ?.template;
  return {
    ...o,
    metadata: {
      ...metadata,
      namespace: dataPlaneNamespace(ctx.namespace),
      labels: { ...metadata.labels, [cloudNamespaceLabel]: ctx.namespace },
    },
    ...(template
      ? {
          spec: {
            ...(o.spec as object),
            template: {
              ...template,
              metadata: {
                ...template.metadata,
                labels: { ...template.metadata?.labels, [cloudNamespaceLabel]: ctx.namespace },
              },
            },
          },
        }
      : {}),
  };
}

/**
 * Moves the data plane of each component's objects to the data plane's namespace, in place,
 * copying what the control plane names too. A Secret a data-plane pod names that render does not
 * make (an image pull secret of the spec's) is the cluster's to provide in that namespace.
 */
export function splitDataPlane(ctx: Ctx, groups: Map<ComponentName, KubeObject[]>): void {
  const all = [...groups.values()].flat();
  const dataPods = all.filter(isDataPlane);
  if (dataPods.length === 0) return;
  const data = referencesOf(dataPods);
  const control = referencesOf(all.filter((o) => !isDataPlane(o)));
  // RBAC is granted to the control plane's ServiceAccounts only; none of the data plane's pods
  // calls the Kubernetes API today. Refuse rather than render an agent without its permissions.
  for (const o of all.filter((x) => x.kind === 'RoleBinding')) {
    for (const s of (o.subjects ?? []) as { kind: string; name: string }[]) {
      if (s.kind === 'ServiceAccount' && data.has(`ServiceAccount/${s.name}`)) {
        throw new Error(
          `render: RoleBinding/${o.metadata.name} grants ServiceAccount/${s.name}, which a data-plane pod uses; RBAC in ${dataPlaneNamespace(ctx.namespace)} is not rendered`,
        );
      }
    }
  }
  for (const [component, objs] of groups) {
    const copies: KubeObject[] = [];
    objs.forEach((o, i) => {
      const key = `${o.kind}/${o.metadata.name}`;
      if (isDataPlane(o)) objs[i] = inDataPlane(ctx, o);
      else if (data.has(key)) {
        if (control.has(key)) copies.push(inDataPlane(ctx, structuredClone(o)));
        else objs[i] = inDataPlane(ctx, o);
      }
    });
    groups.set(component, [...objs, ...copies]);
  }
}

/** Refuses a namespace that cannot hold a cloud (given to render, not validated with the spec). */
export function checkNamespace(namespace: string): void {
  const problem = cloudNamespaceProblem(namespace);
  if (problem) throw new Error(`a cloud's namespace ${JSON.stringify(namespace)}: ${problem}`);
}

/**
 * The cloud's two namespaces, as Pod Security should see them: its own enforcing "restricted",
 * the data plane's "privileged". The cloud's own namespace is the user's (it holds the cloud
 * object itself): it gets the enforce label and its plan component, nothing that would make it
 * look like a cloud's object to prune. The data plane's is the cloud's, named by its labels.
 */
export function namespaces(ctx: Ctx): KubeObject[] {
  const ns = (name: string, labels: Record<string, string>): Namespace & KubeObject => ({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name, labels },
  });
  return [
    ns(ctx.namespace, {
      [podSecurityEnforceLabel]: controlPlaneLevel,
      [componentLabel]: 'database',
    }),
    ns(dataPlaneNamespace(ctx.namespace), {
      'app.kubernetes.io/instance': ctx.name,
      'app.kubernetes.io/part-of': 'stackanetes',
      'app.kubernetes.io/managed-by': 'stackanetes',
      [componentLabel]: 'database',
      [cloudNamespaceLabel]: ctx.namespace,
      [podSecurityEnforceLabel]: dataPlaneLevel,
    }),
  ];
}
