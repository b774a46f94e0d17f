// The dashboard's timeline: what happened to each cloud and why, one entry per thing done.
// Entries come from the informers — a pod replaced (and Ready again), a container restarted, a Job
// run — and from the Kubernetes Events the operator writes on the cloud (condition changes today;
// node fenced, instances evacuated, rollout steps and remediation findings as the healing
// controllers write them: `eventReasonKinds` maps their reasons). Kept in memory, a fixed number,
// each with an increasing id so that a reconnecting page asks only for what it missed.
import { jobState } from '../controller/cloud.ts';
import { componentLabel, type KubeObject } from '../render/kube.ts';
import { jobTaskLabel } from '../render/jobs.ts';
import { cloudNamespaceOf } from '../render/namespaces.ts';

/** Every kind of entry, with the words the page shows for it. */
export const timelineKinds = {
  'pod-replaced': 'pod replaced',
  'pod-recovered': 'pod Ready again',
  'container-restarted': 'container restarted',
  'job-started': 'job started',
  'job-succeeded': 'job succeeded',
  'job-failed': 'job failed',
  condition: 'condition changed',
  'node-fenced': 'node fenced',
  'node-returned': 'node back in service',
  'instances-evacuated': 'instances evacuated',
  'rollout-step': 'rollout step',
  remediation: 'remediation finding',
  operator: 'operator',
} as const;

export type TimelineKind = keyof typeof timelineKinds;

/**
 * Reasons of Events the operator writes that are not condition changes → the kind of entry they
 * make. A healing controller that records `NodeFenced` on the cloud shows up as "node fenced"
 * without any change here; a new kind needs a line in `timelineKinds` and one here.
 */
export const eventReasonKinds: Readonly<Record<string, TimelineKind>> = {
  NodeFenced: 'node-fenced',
  FencingFailed: 'node-fenced',
  NodeReturned: 'node-returned',
  InstancesEvacuated: 'instances-evacuated',
  EvacuationFailed: 'instances-evacuated',
  RolloutStep: 'rollout-step',
  RolloutPaused: 'rollout-step',
  RolledBack: 'rollout-step',
  CanaryFailed: 'rollout-step',
  RolloutSucceeded: 'rollout-step',
  RemediationFinding: 'remediation',
};

export interface TimelineEntry {
  readonly id: number;
  /** When it happened (ISO 8601); entries known from history can be older than their id says. */
  readonly time: string;
  /** `namespace/name` of the cloud. */
  readonly cloud: string;
  readonly kind: TimelineKind;
  /** `timelineKinds[kind]`, so that pages need no table of their own. */
  readonly title: string;
  readonly severity: 'info' | 'warning';
  /** What happened and why, in a sentence. */
  readonly message: string;
  readonly component?: string;
  readonly node?: string;
  /** The Event's reason, for entries that come from an Event. */
  readonly reason?: string;
  /** The objects concerned, as `kind/name`. */
  readonly objects?: readonly string[];
}

export type NewEntry = Omit<TimelineEntry, 'id' | 'title'>;

/** The part of an informer the dashboard uses; a fake stands in for it in unit tests. */
export interface Source<T extends KubeObject = KubeObject> {
  /** False while the first list is being reported (its adds are history, not news). */
  readonly hasSynced: boolean;
  list(): T[];
  onAdd(fn: (obj: T) => void): unknown;
  onUpdate(fn: (oldObj: T, newObj: T) => void): unknown;
  onDelete(fn: (obj: T) => void): unknown;
}

export class Timeline {
  readonly capacity: number;
  readonly #entries: TimelineEntry[] = [];
  readonly #listeners = new Set<(e: TimelineEntry) => void>();
  #next = 1;

  constructor(capacity = 1000) {
    this.capacity = capacity;
  }

  add(e: NewEntry): TimelineEntry {
    const entry: TimelineEntry = { id: this.#next++, title: timelineKinds[e.kind], ...e };
    this.#entries.push(entry);
    if (this.#entries.length > this.capacity) this.#entries.shift();
    for (const fn of this.#listeners) fn(entry);
    return entry;
  }

  /** Entries with an id above `id` (all of them for 0), oldest first. */
  since(id = 0): TimelineEntry[] {
    return this.#entries.filter((e) => e.id > id);
  }

  /** Calls `fn` with every new entry; returns the function that stops it. */
  subscribe(fn: (e: TimelineEntry) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}

/**
 * `namespace/name` of the cloud an object belongs to: its name is the label
 * app.kubernetes.io/instance, its namespace the object's own or, for the data plane (which runs
 * in a namespace of its own), the label stackanetes.io/cloud-namespace.
 */
export function cloudOf(o: KubeObject): string | undefined {
  const name = o.metadata.labels?.['app.kubernetes.io/instance'];
  const namespace = cloudNamespaceOf(o.metadata);
  return name && namespace ? `${namespace}/${name}` : undefined;
}

/**
 * Several sources as one (the pods of a cloud's namespace and of its data plane's): everything
 * each lists and reports; synced once all are.
 */
export function unionSource<T extends KubeObject>(...sources: readonly Source<T>[]): Source<T> {
  return {
    get hasSynced() {
      return sources.every((s) => s.hasSynced);
    },
    list: () => sources.flatMap((s) => s.list()),
    onAdd: (fn) => sources.forEach((s) => s.onAdd(fn)),
    onUpdate: (fn) => sources.forEach((s) => s.onUpdate(fn)),
    onDelete: (fn) => sources.forEach((s) => s.onDelete(fn)),
  };
}

interface PodStatus {
  phase?: string;
  reason?: string;
  message?: string;
  conditions?: { type: string; status: string; reason?: string }[];
  containerStatuses?: {
    name: string;
    ready?: boolean;
    restartCount?: number;
    lastState?: { terminated?: { reason?: string; exitCode?: number } };
  }[];
}

const podStatus = (p: KubeObject) => (p.status ?? {}) as PodStatus;
const nodeOf = (p: KubeObject) => (p.spec as { nodeName?: string } | undefined)?.nodeName;

export function podReady(p: KubeObject): boolean {
  return (
    !p.metadata.deletionTimestamp &&
    (podStatus(p).conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

export function podRestarts(p: KubeObject): number {
  return (podStatus(p).containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0);
}

function controllerOf(p: KubeObject): { uid: string; kind: string } | undefined {
  return (p.metadata.ownerReferences ?? []).find((r) => r.controller);
}

/** Why a pod went away, as the end of a sentence ("keystone-api-x … was evicted"). */
function departure(p: KubeObject): string {
  const st = podStatus(p);
  const disruption = st.conditions?.find(
    (c) => c.type === 'DisruptionTarget' && c.status === 'True',
  )?.reason;
  switch (disruption) {
    case 'EvictionByEvictionAPI':
      return 'was evicted (a node drain or the eviction API)';
    case 'DeletionByTaintManager':
      return 'was removed from a node that stopped answering';
    case 'PreemptionByScheduler':
      return 'was preempted by a pod of higher priority';
    case 'DeletionByPodGC':
      return 'was garbage-collected (its node is gone)';
    case 'TerminationByKubelet':
      return 'was stopped by the kubelet (node pressure or shutdown)';
  }
  if (st.phase === 'Failed')
    return st.reason === 'Evicted'
      ? `was evicted by the kubelet${st.message ? `: ${st.message}` : ''}`
      : `failed${st.reason ? ` (${st.reason})` : ''}`;
  return 'was deleted';
}

interface Departed {
  readonly uid: string;
  readonly name: string;
  readonly node: string | undefined;
  readonly why: string;
  readonly at: number;
}

/** How long a departed pod waits for its replacement before it is forgotten. */
const replacementWindowMs = 15 * 60_000;

/**
 * Pods: a pod of a controller (ReplicaSet, StatefulSet, DaemonSet) that went away and the pod
 * its controller made in its place → "pod replaced", and once that one is Ready, "pod Ready
 * again" with how long it took; a container's restart count going up → "container restarted".
 */
export function narratePods(
  pods: Source,
  timeline: Timeline,
  now: () => Date = () => new Date(),
): void {
  const departed = new Map<string, Departed[]>(); // controller uid → pods gone, oldest first
  const seen = new Map<string, number>(); // uids already counted as departed → when
  const awaitingReady = new Map<string, Departed>(); // replacement uid → the pod it replaced

  const depart = (p: KubeObject) => {
    const owner = controllerOf(p);
    const uid = p.metadata.uid;
    if (!owner || owner.kind === 'Job' || !uid || seen.has(uid) || !cloudOf(p)) return;
    const at = now().getTime();
    for (const [u, t] of seen) if (at - t > replacementWindowMs) seen.delete(u);
    seen.set(uid, at);
    const list = departed.get(owner.uid) ?? [];
    list.push({ uid, name: p.metadata.name, node: nodeOf(p), why: departure(p), at });
    departed.set(owner.uid, list);
  };

  const arrive = (p: KubeObject) => {
    const owner = controllerOf(p);
    const cloud = cloudOf(p);
    if (!owner || !cloud || !p.metadata.uid) return;
    const t = now().getTime();
    const list = (departed.get(owner.uid) ?? []).filter((d) => t - d.at < replacementWindowMs);
    const old = list.shift();
    if (list.length) departed.set(owner.uid, list);
    else departed.delete(owner.uid);
    if (!old) return;
    awaitingReady.set(p.metadata.uid, old);
    timeline.add({
      time: now().toISOString(),
      cloud,
      kind: 'pod-replaced',
      severity: 'info',
      message: `pod ${old.name}${old.node ? ` on ${old.node}` : ''} ${old.why}; ${owner.kind} made ${p.metadata.name} in its place`,
      ...component(p),
      ...(old.node ? { node: old.node } : {}),
      objects: [`pod/${old.name}`, `pod/${p.metadata.name}`],
    });
  };

  pods.onAdd((p) => {
    if (pods.hasSynced) arrive(p);
  });
  pods.onUpdate((before, p) => {
    if (!pods.hasSynced) return;
    const cloud = cloudOf(p);
    if (!cloud) return;
    if (
      (p.metadata.deletionTimestamp && !before.metadata.deletionTimestamp) ||
      (podStatus(p).phase === 'Failed' && podStatus(before).phase !== 'Failed')
    )
      depart(p);
    const old = p.metadata.uid ? awaitingReady.get(p.metadata.uid) : undefined;
    if (old && podReady(p)) {
      awaitingReady.delete(p.metadata.uid!);
      const seconds = ((now().getTime() - old.at) / 1000).toFixed(0);
      timeline.add({
        time: now().toISOString(),
        cloud,
        kind: 'pod-recovered',
        severity: 'info',
        message: `${p.metadata.name} is Ready${nodeOf(p) ? ` on ${nodeOf(p)}` : ''}, ${seconds} s after ${old.name} ${old.why}`,
        ...component(p),
        ...(nodeOf(p) ? { node: nodeOf(p) } : {}),
        objects: [`pod/${p.metadata.name}`],
      });
    }
    if (podRestarts(p) > podRestarts(before)) {
      const was = new Map(
        (podStatus(before).containerStatuses ?? []).map((c) => [c.name, c.restartCount ?? 0]),
      );
      for (const c of podStatus(p).containerStatuses ?? []) {
        if ((c.restartCount ?? 0) <= (was.get(c.name) ?? 0)) continue;
        const t = c.lastState?.terminated;
        const how = [t?.reason, t?.exitCode !== undefined ? `exit code ${t.exitCode}` : '']
          .filter(Boolean)
          .join(', ');
        timeline.add({
          time: now().toISOString(),
          cloud,
          kind: 'container-restarted',
          severity: 'warning',
          message: `container ${c.name} of ${p.metadata.name} restarted${how ? ` (it ended: ${how})` : ''}; ${c.restartCount ?? 0} restarts in all`,
          ...component(p),
          ...(nodeOf(p) ? { node: nodeOf(p) } : {}),
          objects: [`pod/${p.metadata.name}`],
        });
      }
    }
  });
  pods.onDelete((p) => {
    depart(p); // no-op when its deletion was already seen
    if (p.metadata.uid) awaitingReady.delete(p.metadata.uid);
  });
}

function component(o: KubeObject): { component?: string } {
  const c = o.metadata.labels?.[componentLabel];
  return c ? { component: c } : {};
}

interface JobStatus {
  startTime?: string;
  completionTime?: string;
  conditions?: { type: string; status: string; message?: string; lastTransitionTime?: string }[];
}

/**
 * Jobs (db-sync, bootstrap, endpoint registration, …): started, succeeded (with how long it
 * took), failed (with the Job's own message). The first list tells each Job's latest state as
 * history, at the time it happened.
 */
export function narrateJobs(
  jobs: Source,
  timeline: Timeline,
  now: () => Date = () => new Date(),
): void {
  const tell = (j: KubeObject, state: ReturnType<typeof jobState>, history: boolean) => {
    const cloud = cloudOf(j);
    if (!cloud || state === 'absent') return;
    const st = (j.status ?? {}) as JobStatus;
    const task = j.metadata.labels?.[jobTaskLabel];
    const what = `job ${j.metadata.name}${task ? ` (${task})` : ''}`;
    const base = { cloud, ...component(j), objects: [`job/${j.metadata.name}`] };
    if (state === 'running') {
      const time = history ? (st.startTime ?? j.metadata.creationTimestamp) : undefined;
      timeline.add({
        ...base,
        time: time ?? now().toISOString(),
        kind: 'job-started',
        severity: 'info',
        message: `${what} started`,
      });
    } else if (state === 'complete') {
      const took =
        st.startTime && st.completionTime
          ? ` in ${((Date.parse(st.completionTime) - Date.parse(st.startTime)) / 1000).toFixed(0)} s`
          : '';
      timeline.add({
        ...base,
        time: (history ? st.completionTime : undefined) ?? now().toISOString(),
        kind: 'job-succeeded',
        severity: 'info',
        message: `${what} succeeded${took}`,
      });
    } else {
      const failed = st.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
      timeline.add({
        ...base,
        time: (history ? failed?.lastTransitionTime : undefined) ?? now().toISOString(),
        kind: 'job-failed',
        severity: 'warning',
        message: `${what} failed${failed?.message ? `: ${failed.message}` : ''}`,
      });
    }
  };
  jobs.onAdd((j) => tell(j, jobState(j), !jobs.hasSynced));
  jobs.onUpdate((before, j) => {
    const was = jobState(before);
    const is = jobState(j);
    if (jobs.hasSynced && is !== was && is !== 'running') tell(j, is, false);
  });
}

interface EventFields {
  involvedObject?: { namespace?: string; name?: string };
  reason?: string;
  message?: string;
  type?: string;
  count?: number;
  lastTimestamp?: string;
  eventTime?: string;
}

/** "KeystoneReady: waiting for …" → keystone; "Ready: …" → the cloud as a whole. */
const conditionMessage = /^([A-Z][A-Za-z]*)?Ready: /;

/**
 * The Events the operator writes on a cloud: every one, as it arrives and from the first list
 * (Kubernetes keeps them an hour), at the time it happened.
 */
export function narrateEvents(events: Source, timeline: Timeline): void {
  const tell = (e: KubeObject) => {
    const f = e as KubeObject & EventFields;
    const ns = f.involvedObject?.namespace ?? e.metadata.namespace;
    if (!ns || !f.involvedObject?.name) return;
    const message = f.message ?? '';
    const condition = conditionMessage.exec(message);
    const reason = f.reason ?? '';
    const kind = eventReasonKinds[reason] ?? (condition ? 'condition' : 'operator');
    const comp = condition?.[1]?.toLowerCase();
    timeline.add({
      time: f.lastTimestamp ?? f.eventTime ?? e.metadata.creationTimestamp ?? '',
      cloud: `${ns}/${f.involvedObject.name}`,
      kind,
      severity: f.type === 'Warning' ? 'warning' : 'info',
      message,
      reason,
      ...(comp ? { component: comp } : {}),
    });
  };
  events.onAdd(tell);
  events.onUpdate((before, e) => {
    // The same Event seen again (a recorder that counts repeats): one entry per occurrence.
    if (((e as EventFields).count ?? 1) > ((before as EventFields).count ?? 1)) tell(e);
  });
}
