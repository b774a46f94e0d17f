// What informer caches keep of each object. Every cached object lives as long as the process;
// most of what the API server sends is never read by a controller: managedFields (often a third
// of an object or more), kubectl's last-applied copy of the whole object, and for Pods nearly
// all of their spec. Dropping it at the door keeps memory flat when clouds grow.
import type { KubeObject } from '../render/kube.ts';

const lastApplied = 'kubectl.kubernetes.io/last-applied-configuration';

/** The object without metadata.managedFields and kubectl's last-applied annotation. */
export function slim<T extends KubeObject>(obj: T): T {
  const { managedFields: _m, ...metadata } = obj.metadata;
  if (metadata.annotations?.[lastApplied] !== undefined) {
    const { [lastApplied]: _l, ...annotations } = metadata.annotations;
    metadata.annotations = annotations;
  }
  return { ...obj, metadata };
}

type Raw = Record<string, unknown>;

function pick<T extends Raw>(o: T | undefined, keys: readonly (keyof T)[]): Partial<T> | undefined {
  if (!o) return undefined;
  const out: Partial<T> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * A Pod reduced to what controllers and dashboards read: identity and labels, owners, the node
 * it runs on, and its phase, conditions and container states (restart counts, why it waits or
 * ended). Its spec (containers, volumes, env) is dropped.
 */
export function slimPod(obj: KubeObject): KubeObject {
  const pod = slim(obj);
  const spec = pod.spec as Raw | undefined;
  const status = pod.status as Raw | undefined;
  const containers = (list: unknown) =>
    (list as Raw[] | undefined)?.map((c) =>
      pick(c, ['name', 'ready', 'started', 'restartCount', 'state', 'lastState']),
    );
  return {
    apiVersion: pod.apiVersion,
    kind: pod.kind,
    metadata: pod.metadata,
    spec: pick(spec, ['nodeName']),
    status: {
      ...pick(status, ['phase', 'reason', 'message', 'podIP', 'startTime']),
      conditions: (status?.conditions as Raw[] | undefined)?.map((c) =>
        pick(c, ['type', 'status', 'reason', 'lastTransitionTime']),
      ),
      containerStatuses: containers(status?.containerStatuses),
      initContainerStatuses: containers(status?.initContainerStatuses),
    },
  };
}

/**
 * A Node reduced to what node health reads: identity, labels, Stackanetes' own annotations, taints
 * and the Ready condition (nodes carry large images lists and capacity tables otherwise).
 */
export function slimNode(obj: KubeObject): KubeObject {
  const { name, uid, resourceVersion, labels, annotations } = obj.metadata;
  const ours = Object.entries(annotations ?? {}).filter(([k]) => k.startsWith('stackanetes.io/'));
  const status = obj.status as Raw | undefined;
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: {
      name,
      ...(uid ? { uid } : {}),
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(labels ? { labels } : {}),
      ...(ours.length ? { annotations: Object.fromEntries(ours) } : {}),
    },
    spec: pick(obj.spec as Raw | undefined, ['taints']) ?? {},
    status: {
      conditions: (status?.conditions as Raw[] | undefined)
        ?.filter((c) => c.type === 'Ready')
        .map((c) => pick(c, ['type', 'status', 'lastHeartbeatTime'])),
    },
  };
}

/** A Lease reduced to its identity and what changes when it is renewed. */
export function slimLease(obj: KubeObject): KubeObject {
  const { name, namespace, resourceVersion } = obj.metadata;
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
    spec: pick(obj.spec as Raw | undefined, ['holderIdentity', 'renewTime']) ?? {},
  };
}
