// A release upgrade as the cloud reconciler carries it out, one step of src/plan/upgrade.ts at a
// time. Each pass renders the cloud twice, at the release it runs and at the target, and applies
// a mix: everything as it runs, except the processes already moved (their workloads and the config
// they mount, from the target rendering) and the Job of the step in progress. A step is done when
// what it changed is seen done in the cluster (its Job complete; its workloads rolled onto the
// target's images and config, and Ready); the steps done are kept in status.upgrade, so a
// restarted operator goes on from there and a Job already run is found, not run again (Jobs are
// named by their inputs).
import type { UpgradeStatus } from '../api/v1alpha1/spec.ts';
import type { ComponentName } from '../catalog/types.ts';
import type { PlannedStep, UpgradePlan } from '../plan/upgrade.ts';
import type { UpgradeRender } from '../render/context.ts';
import type { RenderedComponents } from '../render/index.ts';
import { jobTaskLabel } from '../render/jobs.ts';
import { configHashAnnotation, type KubeObject } from '../render/kube.ts';
import { processName } from '../render/openstack/endpoints.ts';
import { settleSeconds } from '../render/probes.ts';

const workloadKinds = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

/** The Job task of a check or migration step: `upgrade-check`, `upgrade-expand`, … */
export function upgradeTask(step: PlannedStep): string {
  return step.kind === 'check' ? 'upgrade-check' : `upgrade-${step.id.split('/')[1]}`;
}

/** What the rendering at the target release carries for the step in progress. */
export function upgradeRender(next: PlannedStep | undefined): UpgradeRender {
  return {
    pinned: next?.pinned ?? false,
    ...(next && next.kind !== 'roll'
      ? { job: { service: next.service, task: upgradeTask(next), command: next.command! } }
      : {}),
  };
}

/**
 * The workload names (`<service>-<process>`) that run the target release (`moved`): the processes
 * of every roll step done, and those of the roll in progress one at a time, in the step's order:
 * the next process moves only once the one before it is rolled and Ready (`rolled`), so a
 * service's processes do not all start their new pods at once on a busy cloud. `held`: the
 * processes of the roll in progress that an earlier roll step already moved and whose turn has
 * not come; they keep the rendering of the step before (Nova's unpin step changes every Nova
 * process's config, which must not all start new pods at once either).
 */
export function rollingWorkloads(
  plan: UpgradePlan,
  completed: readonly string[],
  next: PlannedStep | undefined,
  rolled: (workload: string) => boolean,
): { moved: Set<string>; held: Set<string> } {
  const done = new Set(completed);
  const moved = new Set<string>();
  for (const s of plan.steps) {
    if (s.kind === 'roll' && done.has(s.id))
      for (const p of s.processes!) moved.add(processName(s.service, p));
  }
  const held = new Set<string>();
  if (next?.kind !== 'roll') return { moved, held };
  let turn = true;
  for (const p of next.processes!) {
    const name = processName(next.service, p);
    if (turn) moved.add(name);
    else if (moved.has(name)) held.add(name);
    if (!rolled(name)) turn = false;
  }
  return { moved, held };
}

/** The step before `step` in the plan (whose rendering the held workloads keep). */
export function stepBefore(plan: UpgradePlan, step: PlannedStep): PlannedStep | undefined {
  const i = plan.steps.findIndex((s) => s.id === step.id);
  return i > 0 ? plan.steps[i - 1] : undefined;
}

const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;

/** The Secrets and ConfigMaps a workload's pods mount. */
function mounted(workload: KubeObject): Set<string> {
  const volumes =
    (
      workload.spec as
        | {
            template?: {
              spec?: {
                volumes?: { secret?: { secretName?: string }; configMap?: { name?: string } }[];
              };
            };
          }
        | undefined
    )?.template?.spec?.volumes ?? [];
  const ns = workload.metadata.namespace ?? '';
  const out = new Set<string>();
  for (const v of volumes) {
    if (v.secret?.secretName) out.add(`Secret/${ns}/${v.secret.secretName}`);
    if (v.configMap?.name) out.add(`ConfigMap/${ns}/${v.configMap.name}`);
  }
  return out;
}

/**
 * The cloud mid-upgrade: `from` with the moved workloads and what they mount taken from `to`, and
 * the step's Job (`task`) from `to` added to its component.
 */
export function mixRendering(
  from: RenderedComponents,
  to: RenderedComponents,
  moved: ReadonlySet<string>,
  task: string | undefined,
): RenderedComponents {
  const out = new Map<ComponentName, readonly KubeObject[]>();
  for (const [component, objects] of from) {
    const target = to.get(component) ?? [];
    const byKey = new Map(target.map((o) => [key(o), o]));
    const take = new Set<string>();
    for (const o of target) {
      if (workloadKinds.has(o.kind) && moved.has(o.metadata.name)) {
        take.add(key(o));
        for (const m of mounted(o)) take.add(m);
      }
    }
    const mixed = objects.map((o) => (take.has(key(o)) ? byKey.get(key(o))! : o));
    const present = new Set(objects.map(key));
    for (const k of take) if (!present.has(k) && byKey.has(k)) mixed.push(byKey.get(k)!);
    if (task) mixed.push(...target.filter((o) => o.metadata.labels?.[jobTaskLabel] === task));
    out.set(component, mixed);
  }
  return out;
}

type Spec = { replicas?: number; minReadySeconds?: number };
type Status = {
  observedGeneration?: number;
  availableReplicas?: number;
  updatedReplicas?: number;
};

/**
 * The replicas a moved Deployment of `desired` is applied with: one when it does not exist yet (a
 * process the target release adds, as Neutron's periodic and OVN maintenance workers in 2026.1),
 * one more each time all it has are available, and `desired` once it has that many. A new
 * Deployment otherwise starts every pod at once, which its rolling update never does.
 */
export function growingReplicas(desired: number, live: KubeObject | undefined): number {
  if (desired <= 1) return desired;
  if (!live) return 1;
  const have = (live.spec as Spec | undefined)?.replicas ?? 1;
  if (have >= desired) return desired;
  const st = (live.status ?? {}) as Status;
  const settled =
    (st.observedGeneration ?? 0) >= (live.metadata.generation ?? 0) &&
    (st.availableReplicas ?? 0) >= have &&
    (st.updatedReplicas ?? 0) >= have;
  return settled ? have + 1 : have;
}

/**
 * The upgrade's pace for what its rolls start, beyond each Deployment's own settle time
 * (minReadySeconds): a moved Deployment grows one pod at a time (growingReplicas), and a moved
 * DaemonSet's new pod on one node counts as available only once Ready for `settleSeconds`, so
 * the next node's is replaced only then (its rolling update replaces 10 % of the nodes at a time,
 * else each as soon as the one before is Ready: the HA upgrade bench saw Neutron's three metadata
 * agents and its three new workers' pods each start within the same 30 s, and requests to every
 * API time out there). Once the upgrade is over the operator no longer writes a DaemonSet's
 * minReadySeconds, and server-side apply removes it.
 */
export function paceRoll(
  rendered: RenderedComponents,
  moved: ReadonlySet<string>,
  get: Get,
): RenderedComponents {
  const out = new Map<ComponentName, readonly KubeObject[]>();
  for (const [component, objects] of rendered) {
    out.set(
      component,
      objects.map((o) => {
        if (!moved.has(o.metadata.name)) return o;
        const spec = (o.spec ?? {}) as Spec;
        if (o.kind === 'DaemonSet')
          return { ...o, spec: { ...spec, minReadySeconds: settleSeconds } };
        if (o.kind !== 'Deployment') return o;
        const replicas = growingReplicas(spec.replicas ?? 1, get(o));
        return replicas === (spec.replicas ?? 1) ? o : { ...o, spec: { ...spec, replicas } };
      }),
    );
  }
  return out;
}

export type StepState =
  | { readonly state: 'done' }
  | { readonly state: 'running'; readonly note: string }
  | { readonly state: 'failed'; readonly note: string };

/** The live object of a rendered one (its kind, namespace and name). */
type Get = (wanted: KubeObject) => KubeObject | undefined;

function template(o: KubeObject): { hash?: string; images: string[] } {
  const t = (
    o.spec as
      | {
          template?: {
            metadata?: { annotations?: Record<string, string> };
            spec?: { containers?: { image?: string }[] };
          };
        }
      | undefined
  )?.template;
  return {
    hash: t?.metadata?.annotations?.[configHashAnnotation],
    images: (t?.spec?.containers ?? []).map((c) => c.image ?? ''),
  };
}

/**
 * Whether the live copy of `want` (a rendered workload) runs its images and config, has its
 * replicas (a Deployment the upgrade grows has fewer at first), and is Ready.
 */
function rolledOnto(want: KubeObject, get: Get, ready: (live: KubeObject) => boolean): boolean {
  const live = get(want);
  if (!live) return false;
  const w = template(want);
  const l = template(live);
  const replicas = (o: KubeObject) => (o.spec as Spec | undefined)?.replicas ?? 1;
  const counted = want.kind === 'DaemonSet' || replicas(live) === replicas(want);
  return l.hash === w.hash && l.images.join() === w.images.join() && counted && ready(live);
}

/**
 * Whether every workload named `name` (`<service>-<process>`: a Deployment, a DaemonSet, …) in
 * `target` runs live on its images and config and is Ready; true when `target` has none.
 */
export function processRolled(
  target: RenderedComponents,
  name: string,
  get: Get,
  ready: (live: KubeObject) => boolean,
): boolean {
  return [...target.values()]
    .flat()
    .filter((o) => workloadKinds.has(o.kind) && o.metadata.name === name)
    .every((w) => rolledOnto(w, get, ready));
}

/**
 * Whether the step in progress is done, from the live objects (`get`, the informer caches) and
 * the cloud rendered at the target release (`target`, with the step's Job): a check or migration
 * when its Job has completed (failed: its retries are spent); a roll when each of its workloads
 * runs the target's images and config and is Ready (`ready`).
 */
export function stepState(
  step: PlannedStep,
  target: RenderedComponents,
  get: Get,
  ready: (live: KubeObject) => boolean,
  jobDone: (live: KubeObject | undefined) => 'complete' | 'failed' | 'running',
): StepState {
  if (step.kind !== 'roll') {
    const all = [...target.values()].flat();
    const task = upgradeTask(step);
    const job = all.find((o) => o.kind === 'Job' && o.metadata.labels?.[jobTaskLabel] === task);
    if (!job) return { state: 'running', note: `the Job of ${step.id} is not rendered` };
    const state = jobDone(get(job));
    if (state === 'complete') return { state: 'done' };
    const where = `Job ${job.metadata.namespace}/${job.metadata.name}`;
    return state === 'failed'
      ? { state: 'failed', note: `${where} failed: \`${step.command}\`` }
      : { state: 'running', note: `${where}: \`${step.command}\`` };
  }
  const waiting = step
    .processes!.map((p) => processName(step.service, p))
    .filter((name) => !processRolled(target, name, get, ready));
  if (waiting.length === 0) return { state: 'done' };
  const [now, ...then] = waiting;
  return {
    state: 'running',
    note: `rolling ${now} onto the new release${then.length ? `; then ${then.join(', ')}` : ''}`,
  };
}

/** The upgrade status after this pass saw `state` for `step` (at `now`, RFC 3339). */
export function advance(
  upgrade: UpgradeStatus,
  plan: UpgradePlan,
  step: PlannedStep,
  state: StepState,
  now: string,
): UpgradeStatus {
  const { failed: _failed, ...rest } = upgrade;
  if (state.state === 'failed') {
    return { ...rest, step: step.id, failed: { step: step.id, message: state.note, at: now } };
  }
  if (state.state === 'running') return { ...rest, step: step.id };
  const completed = [...upgrade.completed, step.id];
  const following = plan.steps.find((s) => !completed.includes(s.id));
  const { step: _step, ...base } = rest;
  return following
    ? { ...base, completed, step: following.id }
    : { ...base, completed, finishedAt: now };
}
