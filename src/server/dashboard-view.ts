// What the dashboard shows of each cloud right now: its Ready condition, every component with
// its condition and pods, the cloud's pods grouped by node, and where Horizon is. Built from
// the informers' caches (a pure function of the cloud objects and their pods).
import type { OpenStackCloudSpec } from '../api/v1alpha1/spec.ts';
import { getCatalog } from '../catalog/index.ts';
import { readStatus } from '../cli/cloud-view.ts';
import { componentLabel, type KubeObject } from '../render/kube.ts';
import { horizonUrl } from '../render/openstack/horizon.ts';
import { cloudOf, podReady, podRestarts } from './dashboard-timeline.ts';

export interface ConditionView {
  readonly status: string;
  readonly reason: string;
  readonly message: string;
  readonly since?: string;
}

export interface ComponentView extends ConditionView {
  readonly name: string;
  readonly replicas?: number;
  readonly readyReplicas?: number;
}

export interface PodView {
  readonly name: string;
  readonly component?: string;
  /** app.kubernetes.io/name: keystone-api, nova-conductor, … */
  readonly app?: string;
  readonly phase: string;
  readonly ready: boolean;
  readonly restarts: number;
  readonly deleting: boolean;
  /** Why a container is waiting (CrashLoopBackOff, ImagePullBackOff, …), when one is. */
  readonly waiting?: string;
  readonly created?: string;
}

export interface NodeView {
  /** The node's name; "" for pods not scheduled yet. */
  readonly name: string;
  readonly pods: readonly PodView[];
}

export interface CloudView {
  readonly namespace: string;
  readonly name: string;
  readonly release: string;
  readonly generation: number;
  readonly observedGeneration: number;
  readonly ready?: ConditionView;
  readonly components: readonly ComponentView[];
  readonly nodes: readonly NodeView[];
  /** Horizon's URL (public host name, else its in-cluster Service); absent when disabled. */
  readonly horizon?: string;
  /** Everything else the operator writes into status (when and by whom it last reconciled, …). */
  readonly status: Readonly<Record<string, unknown>>;
}

export interface Snapshot {
  readonly generatedAt: string;
  readonly clouds: readonly CloudView[];
}

function condition(c: {
  status: string;
  reason: string;
  message: string;
  lastTransitionTime?: string;
}): ConditionView {
  return {
    status: c.status,
    reason: c.reason,
    message: c.message,
    ...(c.lastTransitionTime ? { since: c.lastTransitionTime } : {}),
  };
}

function podView(p: KubeObject): PodView {
  const st = (p.status ?? {}) as {
    phase?: string;
    containerStatuses?: { state?: { waiting?: { reason?: string } } }[];
  };
  const waiting = st.containerStatuses?.find((c) => c.state?.waiting?.reason)?.state?.waiting
    ?.reason;
  const labels = p.metadata.labels ?? {};
  return {
    name: p.metadata.name,
    ...(labels[componentLabel] ? { component: labels[componentLabel] } : {}),
    ...(labels['app.kubernetes.io/name'] ? { app: labels['app.kubernetes.io/name'] } : {}),
    phase: st.phase ?? 'Pending',
    ready: podReady(p),
    restarts: podRestarts(p),
    deleting: Boolean(p.metadata.deletionTimestamp),
    ...(waiting ? { waiting } : {}),
    ...(p.metadata.creationTimestamp ? { created: p.metadata.creationTimestamp } : {}),
  };
}

function horizonOf(cloud: KubeObject): string | undefined {
  const spec = cloud.spec as OpenStackCloudSpec | undefined;
  if (!spec || spec.services?.horizon?.enabled === false) return undefined;
  try {
    return horizonUrl({
      spec,
      namespace: cloud.metadata.namespace ?? '',
      catalog: getCatalog(spec.release),
    });
  } catch {
    return undefined; // an unknown release or a spec the operator refuses: no link
  }
}

export function cloudView(cloud: KubeObject, pods: readonly KubeObject[]): CloudView {
  const s = readStatus(cloud);
  const key = `${cloud.metadata.namespace}/${cloud.metadata.name}`;
  const byNode = new Map<string, PodView[]>();
  for (const p of pods) {
    // Finished Job pods are history (the timeline has them), not what runs now.
    if (cloudOf(p) !== key || (p.status as { phase?: string } | undefined)?.phase === 'Succeeded')
      continue;
    const node = (p.spec as { nodeName?: string } | undefined)?.nodeName ?? '';
    const list = byNode.get(node) ?? [];
    list.push(podView(p));
    byNode.set(node, list);
  }
  const {
    conditions: _c,
    components: _k,
    observedGeneration: _o,
    ...rest
  } = (cloud.status ?? {}) as Record<string, unknown>;
  const horizon = horizonOf(cloud);
  return {
    namespace: cloud.metadata.namespace ?? '',
    name: cloud.metadata.name,
    release: (cloud.spec as { release?: string } | undefined)?.release ?? '',
    generation: s.generation,
    observedGeneration: s.observedGeneration,
    ...(s.ready ? { ready: condition(s.ready) } : {}),
    components: s.components.map((c) => ({
      name: c.name,
      ...condition(c.cond),
      ...(c.replicas !== undefined ? { replicas: c.replicas } : {}),
      ...(c.readyReplicas !== undefined ? { readyReplicas: c.readyReplicas } : {}),
    })),
    nodes: [...byNode.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, list]) => ({ name, pods: list.sort((a, b) => a.name.localeCompare(b.name)) })),
    ...(horizon ? { horizon } : {}),
    status: rest,
  };
}

export function snapshot(
  clouds: readonly KubeObject[],
  pods: readonly KubeObject[],
  now: Date = new Date(),
): Snapshot {
  return {
    generatedAt: now.toISOString(),
    clouds: [...clouds]
      .sort((a, b) =>
        `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
          `${b.metadata.namespace}/${b.metadata.name}`,
        ),
      )
      .map((c) => cloudView(c, pods)),
  };
}
