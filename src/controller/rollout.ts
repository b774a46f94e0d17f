// A gated roll-out of one image to a running cloud: one canary pod first, a health gate that
// proves the service works (API calls, src/openstack/gate.ts), then (the canary gone) the rest
// through the spec
// (the operator rolls each workload with maxUnavailable 0), the gate again on the Service, and
// the previous image back by itself when any step fails.
//
// The canary of a Deployment is a copy of it with one replica of the new image. Its pods keep
// the labels the backends' network policies admit (instance, component) but not the name the
// Service selects, so no user request reaches a canary that may be broken: the gate calls the
// pod's own address. A StatefulSet's members cannot be copied (a second Galera or RabbitMQ
// member would join the cluster) and a DaemonSet has no room for a copy on a node: their roll is
// held at a canary instead, by a field that the remediation's field manager writes (the
// operator names a DaemonSet's only to pace a release upgrade, when no roll may start). A
// StatefulSet of two members or more: its partition at the last ordinal, so that member alone
// goes to the new image. A DaemonSet on two nodes or more:
// minReadySeconds (daemonHoldSeconds), so its first node's new pod does not count as available
// and its rolling update (maxUnavailable 10 %) goes no further. The canary pod must become Ready
// (a synced Galera member, a broker that accepts connections, a connected OVN controller) and
// stay so with no restart for a while, and the cloud's APIs must pass their checks through their
// Services; then the hold is lifted and the rest follow.
import { apiVersion as cloudApiVersion, kind as cloudKind } from '../api/v1alpha1/spec.ts';
import type { ImageName } from '../catalog/images.ts';
import type { KubeClient } from '../kube/client.ts';
import type { EventRecorder } from './cloud.ts';
import { isNotFound } from '../kube/errors.ts';
import type { KubeObject } from '../render/kube.ts';
import { dataPlaneNamespace } from '../render/namespaces.ts';
import { servicePriorityClass } from '../render/priority.ts';
import { gateKind, type GateCheck, type GateResult } from '../openstack/gate.ts';

/** The field manager of what `stackanetes remediate` writes (never the operator's). */
export const remediationManager = 'stackanetes-remediate';
/** Label on a canary Deployment and its pods: the Deployment it is a canary of. */
export const canaryLabel = 'stackanetes.io/canary-of';

export interface Container {
  name: string;
  image: string;
  ports?: { containerPort: number; name?: string }[];
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
}
interface Template {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
type Workload = KubeObject & {
  spec: {
    replicas?: number;
    selector: { matchLabels?: Record<string, string> };
    template: Template;
  };
  status?: Record<string, unknown>;
};

/** The repository's last path segment: `localhost:5001/stackanetes/keystone@sha256:…` → keystone. */
export function repositoryName(reference: string): string {
  const noDigest = reference.split('@')[0]!;
  const last = noDigest.split('/').pop()!;
  return last.split(':')[0]!;
}

/** The spec's image override that names `reference` exactly (registry, name, tag or digest). */
export function overrideFor(reference: string): {
  registry: string;
  name: string;
  tag?: string;
  digest?: string;
} {
  const [path, digest] = reference.split('@') as [string, string | undefined];
  const slash = path.lastIndexOf('/');
  if (slash < 0) throw new Error(`${reference}: not registry/name:tag or registry/name@digest`);
  const registry = path.slice(0, slash);
  const [name, tag] = path.slice(slash + 1).split(':') as [string, string | undefined];
  if (digest) return { registry, name, digest };
  if (!tag) throw new Error(`${reference}: names no tag or digest`);
  return { registry, name, tag };
}

/** A JSON merge patch that turns override `current` into `next` exactly (absent → removed). */
export function overridePatch(
  image: string,
  current: Record<string, unknown> | undefined,
  next: Record<string, unknown> | undefined,
): unknown {
  let value: Record<string, unknown> | null = null;
  if (next) {
    value = {};
    for (const k of new Set([...Object.keys(current ?? {}), ...Object.keys(next)])) {
      value[k] = next[k] ?? null;
    }
  }
  return { spec: { images: { overrides: { [image]: value } } } };
}

function containersOf(w: Workload): Container[] {
  return [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers];
}

/** Whether a workload runs `image` in any of its containers. */
export function runsImage(w: Workload, image: string): boolean {
  return containersOf(w).some((c) => repositoryName(c.image) === image);
}

/** The canary Deployment of `d` running `to` in place of the image (pure). */
export function canaryOf(d: Workload, image: string, to: string): Workload {
  const name = `${d.metadata.name}-canary`;
  const tmplLabels = d.spec.template.metadata?.labels ?? {};
  const podLabels = {
    ...tmplLabels,
    // Not the name the Service and the disruption budget select: no traffic, not counted.
    'app.kubernetes.io/name': name,
    [canaryLabel]: d.metadata.name,
  };
  const swap = (cs: Container[] | undefined) =>
    cs?.map((c) => (repositoryName(c.image) === image ? { ...c, image: to } : c));
  // The class of the cloud's ordinary pods, whatever the original's: a canary is an extra pod,
  // and on a full node it waits for room (and fails its step, saying so) rather than have the
  // scheduler preempt the cloud's pods to place it.
  const spec = { ...d.spec.template.spec, priorityClassName: servicePriorityClass };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name,
      namespace: d.metadata.namespace,
      labels: {
        ...(d.metadata.labels ?? {}),
        'app.kubernetes.io/name': name,
        'app.kubernetes.io/managed-by': remediationManager,
        [canaryLabel]: d.metadata.name,
      },
      annotations: { 'stackanetes.io/canary-image': to },
      ...(d.metadata.ownerReferences
        ? {
            ownerReferences: d.metadata.ownerReferences.map((o) => ({ ...o, controller: false })),
          }
        : {}),
    },
    spec: {
      replicas: 1,
      selector: { matchLabels: { [canaryLabel]: d.metadata.name } },
      template: {
        metadata: { labels: podLabels, annotations: d.spec.template.metadata?.annotations ?? {} },
        spec: {
          ...spec,
          containers: swap(spec.containers)!,
          ...(spec.initContainers ? { initContainers: swap(spec.initContainers) } : {}),
        },
      },
    },
  };
}

/** The API checks of a pod of `w` at `host` (its address, or its Service's name). */
export function checksFor(w: Workload, image: string, host: string, what: string): GateCheck[] {
  const out: GateCheck[] = [];
  for (const c of w.spec.template.spec.containers) {
    if (repositoryName(c.image) !== image) continue;
    for (const p of c.ports ?? []) {
      const kind = gateKind(image, p.containerPort);
      if (kind)
        out.push({
          name: `${what} ${c.name}:${p.containerPort}`,
          kind,
          url: `http://${host}:${p.containerPort}`,
        });
    }
  }
  return out;
}

/** Whether a workload has rolled every pod to its template and they are available. */
export function rolledOut(w: Workload): boolean {
  const s = (w.status ?? {}) as Record<string, number | string | undefined>;
  const gen = w.metadata.generation ?? 0;
  if (Number(s.observedGeneration ?? -1) < gen) return false;
  if (w.kind === 'Deployment') {
    const want = w.spec.replicas ?? 1;
    return (
      s.updatedReplicas === want &&
      s.availableReplicas === want &&
      (s.replicas ?? want) === want &&
      !s.unavailableReplicas
    );
  }
  if (w.kind === 'StatefulSet') {
    const want = w.spec.replicas ?? 1;
    return (
      s.updateRevision === s.currentRevision &&
      s.readyReplicas === want &&
      s.updatedReplicas === want
    );
  }
  if (w.kind === 'DaemonSet') {
    const want = Number(s.desiredNumberScheduled ?? 0);
    return s.updatedNumberScheduled === want && s.numberAvailable === want;
  }
  return true;
}

interface PodStatus {
  podIP?: string;
  conditions?: { type: string; status: string; message?: string; lastTransitionTime?: string }[];
  containerStatuses?: {
    name: string;
    restartCount: number;
    state?: {
      waiting?: { reason?: string; message?: string };
      terminated?: { reason?: string; exitCode?: number };
    };
    lastState?: { terminated?: { reason?: string; exitCode?: number } };
  }[];
}

/** Why a pod will not become Ready by waiting longer, if it will not. */
export function podFailure(pod: KubeObject): string | undefined {
  const st = (pod.status ?? {}) as PodStatus;
  for (const c of st.containerStatuses ?? []) {
    const w = c.state?.waiting?.reason;
    if (
      w &&
      [
        'CrashLoopBackOff',
        'ErrImagePull',
        'ImagePullBackOff',
        'InvalidImageName',
        'CreateContainerConfigError',
        'CreateContainerError',
      ].includes(w)
    ) {
      const last = c.lastState?.terminated;
      return `container ${c.name}: ${w}${last ? ` (last exit ${last.exitCode}, ${last.reason})` : ''}${c.state?.waiting?.message ? `: ${c.state.waiting.message.slice(0, 200)}` : ''}`;
    }
    if (c.restartCount >= 2) {
      const last = c.lastState?.terminated;
      return `container ${c.name} restarted ${c.restartCount} times${last ? ` (last exit ${last.exitCode}, ${last.reason})` : ''}`;
    }
  }
  return undefined;
}

/** Whether a pod's Ready condition is True. */
export function podReady(pod: KubeObject): boolean {
  const st = (pod.status ?? {}) as PodStatus;
  return !!st.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

export interface RolloutDeps {
  readonly client: KubeClient;
  readonly events: EventRecorder;
  /** Runs API checks from inside the cloud (src/openstack/gate.ts runGate). */
  readonly gate: (checks: readonly GateCheck[]) => Promise<GateResult[]>;
  readonly log: (line: string) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Waits; the defaults suit a loaded 2-core machine. */
  readonly canaryReadyMs?: number;
  /** How long a StatefulSet's canary member must stay Ready before the others follow. */
  readonly memberSoakMs?: number;
  readonly rollMs?: number;
  readonly pollMs?: number;
  /**
   * Told before each step that a resumed run must know of: `roll` comes before the spec's
   * override changes, with the override it had (`previous`).
   */
  readonly onStep?: (
    step: 'roll' | 'verify',
    previous: Record<string, unknown> | undefined,
    from: string,
  ) => Promise<void>;
  /**
   * Resume a run that was killed once it had changed the override to `to`: no canary again; the
   * workloads still held at their canary go on from its check; on a failure the override goes back
   * to `previous` and the pods to `from`.
   */
  readonly resume?: { from: string; previous: Record<string, unknown> | undefined };
}

export type RolloutOutcome =
  | { ok: true; image: string; from: string; to: string; seconds: number; checks: GateResult[] }
  | {
      ok: false;
      image: string;
      from: string;
      to: string;
      seconds: number;
      step: 'canary' | 'gate' | 'roll' | 'verify';
      failedCheck: string;
      message: string;
      /** Whether the spec had been changed and was put back (else nothing but a canary ran). */
      rolledBack: boolean;
      checks: GateResult[];
    };

class StepFailed extends Error {
  readonly step: 'canary' | 'gate' | 'roll' | 'verify';
  readonly failedCheck: string;
  constructor(step: 'canary' | 'gate' | 'roll' | 'verify', failedCheck: string, message: string) {
    super(message);
    this.step = step;
    this.failedCheck = failedCheck;
  }
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The workloads the operator made, of the `kinds` asked, in `namespaces` (default: the cloud's
 * namespace and its data plane's), each with its kind set.
 */
export async function cloudWorkloads(
  client: KubeClient,
  namespace: string,
  kinds: readonly string[] = ['Deployment', 'StatefulSet', 'DaemonSet'],
  namespaces: readonly string[] = [namespace, dataPlaneNamespace(namespace)],
): Promise<Workload[]> {
  const out: Workload[] = [];
  for (const ns of namespaces) {
    for (const kind of kinds) {
      let items: Workload[] = [];
      try {
        ({ items } = await client.list<Workload>('apps/v1', kind, {
          namespace: ns,
          labelSelector: 'app.kubernetes.io/managed-by=stackanetes',
        }));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      out.push(...items.map((w) => ({ ...w, apiVersion: 'apps/v1', kind })));
    }
  }
  return out;
}

/** The workloads of the cloud in `namespace` (and its data plane) that run `image`. */
export async function workloadsRunning(
  client: KubeClient,
  namespace: string,
  image: string,
): Promise<Workload[]> {
  return (await cloudWorkloads(client, namespace)).filter((w) => runsImage(w, image));
}

/** The Service that sends traffic to `d`'s pods (its selector is within their labels). */
async function serviceOf(client: KubeClient, d: Workload): Promise<string | undefined> {
  const labels = d.spec.template.metadata?.labels ?? {};
  const { items } = await client.list<KubeObject & { spec: { selector?: Record<string, string> } }>(
    'v1',
    'Service',
    { namespace: d.metadata.namespace },
  );
  const svc = items.find(
    (s) =>
      s.spec.selector &&
      Object.keys(s.spec.selector).length > 0 &&
      Object.entries(s.spec.selector).every(([k, v]) => labels[k] === v),
  );
  return svc ? `${svc.metadata.name}.${d.metadata.namespace}.svc` : undefined;
}

/**
 * How long a held DaemonSet's new pods must be Ready before they count as available: the roll's
 * first node (or first 10 % of nodes, its maxUnavailable) waits that long, or until the gate
 * passes and the hold is lifted, before the next goes.
 */
export const daemonHoldSeconds = 300;

/**
 * How long to wait before holding a DaemonSet, in seconds: until each of its Ready pods has been
 * Ready for the hold and `marginSeconds` more. The DaemonSet controller replaces an old pod that
 * is not available at once, outside its maxUnavailable; under a hold of 300 s, a pod Ready for
 * less is not available: held sooner, a DaemonSet whose pods started in the last 5 minutes (a
 * roll just before, a node restarted) lost every one at once (seen on the HA cloud: all three
 * ovn-controllers deleted together). Pods not Ready are replaced whatever is done; they are not
 * waited for.
 */
export function daemonHoldWaitSeconds(
  pods: readonly KubeObject[],
  nowMs: number,
  marginSeconds = 15,
): number {
  let wait = 0;
  for (const p of pods) {
    if (p.metadata.deletionTimestamp) continue;
    const ready = (p.status as PodStatus | undefined)?.conditions?.find(
      (c) => c.type === 'Ready' && c.status === 'True',
    );
    const since = ready?.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : NaN;
    if (Number.isNaN(since)) continue;
    const readyFor = (nowMs - since) / 1000;
    wait = Math.max(wait, daemonHoldSeconds + marginSeconds - readyFor);
  }
  return Math.ceil(wait);
}

/**
 * The workloads of `ws` whose roll can be held at a canary: a StatefulSet of two members or more
 * (its last member), a DaemonSet on two nodes or more (its first node).
 */
export function holdable(ws: readonly Workload[]): Workload[] {
  return ws.filter(
    (w) =>
      (w.kind === 'StatefulSet' && (w.spec.replicas ?? 1) >= 2) ||
      (w.kind === 'DaemonSet' && Number(w.status?.desiredNumberScheduled ?? 0) >= 2),
  );
}

/**
 * The apply that holds (`on`) or lets go a workload's roll: a StatefulSet's partition at its last
 * ordinal, a DaemonSet's minReadySeconds. Only that field, under the remediation's field manager:
 * the operator's apply never names it, so neither undoes the other.
 */
export function holdApply(w: Workload, on: boolean): KubeObject {
  const metadata = { name: w.metadata.name, namespace: w.metadata.namespace };
  if (w.kind === 'DaemonSet')
    return {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata,
      spec: { minReadySeconds: on ? daemonHoldSeconds : 0 },
    };
  const partition = on ? (w.spec.replicas ?? 1) - 1 : 0;
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata,
    spec: { updateStrategy: { rollingUpdate: { partition } } },
  };
}

/** A StatefulSet's last member, the one its partition lets go first. */
function lastMember(w: Workload): string {
  return `${w.metadata.name}-${(w.spec.replicas ?? 1) - 1}`;
}

/** Whether a workload's roll is held (a partition above 0, a DaemonSet's minReadySeconds). */
export function isHeld(w: Workload): boolean {
  const spec = w.spec as {
    minReadySeconds?: number;
    updateStrategy?: { rollingUpdate?: { partition?: number } };
  };
  return w.kind === 'DaemonSet'
    ? (spec.minReadySeconds ?? 0) >= daemonHoldSeconds
    : (spec.updateStrategy?.rollingUpdate?.partition ?? 0) > 0;
}

/** What a held workload's canary is: a StatefulSet's last member, a DaemonSet's first node. */
export function canaryName(w: Workload): string {
  return w.kind === 'DaemonSet'
    ? `the first node of DaemonSet ${w.metadata.name}`
    : `member ${lastMember(w)}`;
}

/** The canary pod of a held workload among its pods, once it runs `to`. */
function canaryPod(w: Workload, pods: readonly KubeObject[], to: string): KubeObject | undefined {
  const live = pods.filter((p) => !p.metadata.deletionTimestamp && runsReference(p, to));
  if (w.kind === 'DaemonSet') return live[0];
  return live.find((p) => p.metadata.name === lastMember(w));
}

/** The pods a workload's selector selects. */
async function podsOf(client: KubeClient, w: Workload): Promise<KubeObject[]> {
  const { items } = await client.list('v1', 'Pod', {
    namespace: w.metadata.namespace,
    labelSelector: Object.entries(w.spec.selector.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
  });
  return items;
}

function runsReference(pod: KubeObject, to: string): boolean {
  return (pod.spec as PodSpec).containers.some((c) => c.image === to);
}

/** The API checks of every Deployment of the cloud, through its Service. */
async function serviceChecks(client: KubeClient, namespace: string): Promise<GateCheck[]> {
  const out: GateCheck[] = [];
  for (const d of await cloudWorkloads(client, namespace, ['Deployment'], [namespace])) {
    const host = await serviceOf(client, d);
    if (!host) continue;
    for (const c of d.spec.template.spec.containers)
      out.push(...checksFor(d, repositoryName(c.image), host, `${d.metadata.name} service`));
  }
  return out;
}

/**
 * Rolls `image` of the cloud `name` in `namespace` to the reference `to`: canary, gate, roll,
 * verify; on a failure, back to the override the spec had. Never throws for a failed step: the
 * outcome says which step and check failed. Throws only when it cannot start (no such cloud).
 */
export async function rollOutImage(
  name: string,
  namespace: string,
  image: ImageName,
  to: string,
  deps: RolloutDeps,
): Promise<RolloutOutcome> {
  const { client, log } = deps;
  const sleep = deps.sleep ?? defaultSleep;
  const pollMs = deps.pollMs ?? 2000;
  const started = Date.now();
  const cloud = await client.get(cloudApiVersion, cloudKind, name, namespace);
  const spec = cloud.spec as { images?: { overrides?: Record<string, Record<string, unknown>> } };
  const resume = deps.resume;
  const previous = resume ? resume.previous : spec.images?.overrides?.[image];
  const workloads = await workloadsRunning(client, namespace, image);
  if (workloads.length === 0)
    throw new Error(`no workload of cloud ${namespace}/${name} runs the image ${image}`);
  const from =
    resume?.from ??
    containersOf(workloads[0]!).find((c) => repositoryName(c.image) === image)?.image ??
    '';
  const elapsed = () => (Date.now() - started) / 1000;
  const canaries: Workload[] = [];
  const held: Workload[] = [];
  let specChanged = false;
  const allChecks: GateResult[] = [];
  const gate = async (checks: GateCheck[], step: 'gate' | 'verify') => {
    if (checks.length === 0) return;
    const results = await deps.gate(checks);
    allChecks.push(...results);
    for (const r of results)
      log(`  ${r.ok ? '✔' : '✖'} ${r.name}: ${r.status} ${r.detail} (${r.ms} ms)`);
    const bad = results.find((r) => !r.ok);
    if (bad) throw new StepFailed(step, bad.name, `${bad.name}: HTTP ${bad.status}, ${bad.detail}`);
  };
  // 1. Canary: one pod of the new image beside each Deployment that runs it; then the override,
  // with the StatefulSets and DaemonSets that can be held at their canary held.
  const canaryStep = async () => {
    for (const d of workloads.filter((w) => w.kind === 'Deployment')) {
      const c = canaryOf(d, image, to);
      log(`canary ${c.metadata.name}: 1 pod of ${to}`);
      // One left by a run that was killed goes first.
      await deleteCanaries(client, [c]);
      await waitGone(client, c, sleep, pollMs);
      await client.create(c);
      canaries.push(c);
    }
    for (const c of canaries) {
      const pod = await waitCanaryPod(client, c, deps.canaryReadyMs ?? 300_000, sleep, pollMs);
      const ip = (pod.status as PodStatus).podIP!;
      log(`canary ${c.metadata.name}: pod ${pod.metadata.name} Ready at ${ip}`);
      const original = workloads.find((w) => w.metadata.name === c.metadata.labels![canaryLabel])!;
      await gate(checksFor(original, image, ip, `${c.metadata.name} (${ip})`), 'gate');
    }
    await deps.events.record(
      cloud,
      'Normal',
      'RolloutStep',
      `${image}: canary of ${to} passed its health gate${canaries.length === 0 ? ' (no Deployment runs it: no canary)' : ''}`,
    );
    // Its work done, the canary goes before the roll: a node with room for one more pod (the
    // roll's surge) need not find room for two, and nothing is preempted for it.
    await deleteCanaries(client, canaries);
    // 2. The rest, through the spec: the operator renders and rolls every workload; the
    // StatefulSets of two members or more only their last member at first.
    for (const w of holdable(workloads)) {
      if (w.kind === 'DaemonSet') {
        const wait = daemonHoldWaitSeconds(await podsOf(client, w), Date.now());
        if (wait > 0) {
          log(
            `DaemonSet ${w.metadata.name}: some pods have been Ready for less than ${daemonHoldSeconds} s, and held now they would all be replaced at once: waiting ${wait} s`,
          );
          await sleep(wait * 1000);
        }
      }
      log(`${w.kind} ${w.metadata.name}: held, ${canaryName(w)} goes first`);
      await client.apply(holdApply(w, true), { manager: remediationManager });
      held.push(w);
    }
    await deps.onStep?.('roll', previous, from);
    log(`spec.images.overrides.${image} → ${to}`);
    await client.mergePatch(
      cloudApiVersion,
      cloudKind,
      name,
      namespace,
      overridePatch(image, previous, overrideFor(to)),
    );
    specChanged = true;
  };
  try {
    if (resume) {
      // The killed run had changed the override: its canary passed. Workloads it left held go on
      // from their canary's check.
      specChanged = true;
      held.push(...holdable(workloads).filter(isHeld));
      log(
        `resuming ${image} → ${to} at its roll${held.length ? ` (still held: ${held.map(canaryName).join(', ')} first)` : ''}`,
      );
    } else {
      await canaryStep();
    }
    if (held.length > 0) {
      for (const w of held) {
        await waitHeldCanary(client, w, to, deps, sleep, pollMs, log);
      }
      await gate(await serviceChecks(client, namespace), 'gate');
      await deps.events.record(
        cloud,
        'Normal',
        'RolloutStep',
        `${image}: canary ${held.map(canaryName).join(', ')} Ready on ${to} and the cloud's APIs pass their checks; the rest follow`,
      );
      await releaseHolds(client, held, log);
    }
    await waitRolled(client, namespace, image, to, deps.rollMs ?? 900_000, sleep, pollMs, log);
    // 3. Verify through the Services.
    await deps.onStep?.('verify', previous, from);
    const verify: GateCheck[] = [];
    for (const d of workloads.filter((w) => w.kind === 'Deployment')) {
      const host = await serviceOf(client, d);
      if (host) verify.push(...checksFor(d, image, host, `${d.metadata.name} service`));
    }
    await gate(verify, 'verify');
    await deleteCanaries(client, canaries);
    return { ok: true, image, from, to, seconds: elapsed(), checks: allChecks };
  } catch (err) {
    const f =
      err instanceof StepFailed
        ? err
        : new StepFailed(
            specChanged ? 'roll' : 'canary',
            specChanged ? 'rollout' : 'canary',
            (err as Error).message,
          );
    log(`✖ ${f.step}: ${f.message}`);
    await deleteCanaries(client, canaries).catch(() => undefined);
    if (specChanged) {
      log(`rolling ${image} back to ${from}`);
      await client.mergePatch(
        cloudApiVersion,
        cloudKind,
        name,
        namespace,
        overridePatch(image, overrideFor(to), previous),
      );
      // A member on the new image that is not Ready holds a StatefulSet's roll back to the old
      // template for ever (the controller waits for it to become healthy): once the template is
      // the old one again, such members are deleted and come back on it.
      await restoreMembers(client, namespace, image, to, sleep, pollMs, log).catch((e: unknown) =>
        log(`members on ${to} not restored: ${(e as Error).message}`),
      );
      await releaseHolds(client, held, log).catch((e: unknown) =>
        log(`holds not released: ${(e as Error).message}`),
      );
      await waitRolled(
        client,
        namespace,
        image,
        from,
        deps.rollMs ?? 900_000,
        sleep,
        pollMs,
        log,
      ).catch((e: unknown) => log(`rollback of ${image} not finished: ${(e as Error).message}`));
    }
    if (!specChanged)
      await releaseHolds(client, held, log).catch((e: unknown) =>
        log(`holds not released: ${(e as Error).message}`),
      );
    return {
      ok: false,
      image,
      from,
      to,
      seconds: elapsed(),
      step: f.step,
      failedCheck: f.failedCheck,
      message: f.message,
      rolledBack: specChanged,
      checks: allChecks,
    };
  }
}

async function waitGone(
  client: KubeClient,
  w: Workload,
  sleep: (ms: number) => Promise<void>,
  pollMs: number,
): Promise<void> {
  for (let i = 0; i < 60; i++) {
    try {
      await client.get('apps/v1', 'Deployment', w.metadata.name, w.metadata.namespace);
    } catch (e) {
      if (isNotFound(e)) return;
      throw e;
    }
    await sleep(pollMs);
  }
}

async function deleteCanaries(client: KubeClient, canaries: readonly Workload[]): Promise<void> {
  for (const c of canaries) {
    await client
      .delete('apps/v1', 'Deployment', c.metadata.name, c.metadata.namespace)
      .catch((e: unknown) => {
        if (!isNotFound(e)) throw e;
      });
  }
}

async function waitCanaryPod(
  client: KubeClient,
  c: Workload,
  timeoutMs: number,
  sleep: (ms: number) => Promise<void>,
  pollMs: number,
): Promise<KubeObject> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no pod yet';
  while (Date.now() < deadline) {
    const { items } = await client.list('v1', 'Pod', {
      namespace: c.metadata.namespace,
      labelSelector: `${canaryLabel}=${c.metadata.labels![canaryLabel]}`,
    });
    const pod = items.find((p) => !p.metadata.deletionTimestamp);
    if (pod) {
      if (podReady(pod)) return pod;
      const why = podFailure(pod);
      if (why) throw new StepFailed('canary', 'canary pod', `canary ${c.metadata.name}: ${why}`);
      const unscheduled = ((pod.status ?? {}) as PodStatus).conditions?.find(
        (x) => x.type === 'PodScheduled' && x.status === 'False',
      );
      last = unscheduled
        ? `pod ${pod.metadata.name} not scheduled: ${unscheduled.message ?? 'no node has room'}`
        : `pod ${pod.metadata.name} not Ready`;
    }
    await sleep(pollMs);
  }
  throw new StepFailed(
    'canary',
    'canary pod',
    `canary ${c.metadata.name}: ${last} after ${timeoutMs / 1000} s`,
  );
}

/** Waits until every workload that runs the image runs `to` and has rolled out. */
async function waitRolled(
  client: KubeClient,
  namespace: string,
  image: string,
  to: string,
  timeoutMs: number,
  sleep: (ms: number) => Promise<void>,
  pollMs: number,
  log: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let said = '';
  for (;;) {
    const ws = await workloadsRunning(client, namespace, image);
    const pending = ws.filter(
      (w) =>
        !containersOf(w).every((c) => repositoryName(c.image) !== image || c.image === to) ||
        !rolledOut(w),
    );
    if (pending.length === 0) return;
    // A new pod that cannot start will not start by waiting.
    for (const w of pending) {
      for (const p of await podsOf(client, w)) {
        if (!runsReference(p, to)) continue;
        const why = podFailure(p);
        if (why)
          throw new StepFailed(
            'roll',
            'rollout',
            `${w.kind} ${w.metadata.name}: pod ${p.metadata.name}: ${why}`,
          );
      }
    }
    const now = pending.map((w) => `${w.kind} ${w.metadata.name}`).join(', ');
    if (now !== said) {
      log(`  waiting for ${now}`);
      said = now;
    }
    if (Date.now() > deadline)
      throw new StepFailed('roll', 'rollout', `not rolled out after ${timeoutMs / 1000} s: ${now}`);
    await sleep(pollMs);
  }
}

/** Lets each held roll go on: a partition back to 0, a DaemonSet's minReadySeconds to 0. */
async function releaseHolds(
  client: KubeClient,
  ws: Workload[],
  log: (line: string) => void,
): Promise<void> {
  while (ws.length > 0) {
    const w = ws[0]!;
    await client.apply(holdApply(w, false), { manager: remediationManager });
    log(`${w.kind} ${w.metadata.name}: no longer held`);
    ws.shift();
  }
}

/**
 * Waits until the canary pod of held `w` runs `to`, is Ready, and stays Ready with no restart
 * for `memberSoakMs`; one that cannot start fails at once, with its container's reason.
 */
async function waitHeldCanary(
  client: KubeClient,
  w: Workload,
  to: string,
  deps: RolloutDeps,
  sleep: (ms: number) => Promise<void>,
  pollMs: number,
  log: (line: string) => void,
): Promise<void> {
  const what = `canary ${canaryName(w)}`;
  const deadline = Date.now() + (deps.canaryReadyMs ?? 600_000);
  const soakMs = deps.memberSoakMs ?? 30_000;
  let readySince: number | undefined;
  let seen: { name: string; restarts: number | undefined } | undefined;
  let last = 'not yet on the new image';
  for (;;) {
    const pod = canaryPod(w, await podsOf(client, w), to);
    if (pod) {
      const why = podFailure(pod);
      if (why)
        throw new StepFailed(
          'canary',
          'canary member',
          `${what}: pod ${pod.metadata.name}: ${why}`,
        );
      const restarts = ((pod.status ?? {}) as PodStatus).containerStatuses?.reduce(
        (n, c) => n + c.restartCount,
        0,
      );
      if (seen && (seen.name !== pod.metadata.name || seen.restarts !== restarts))
        readySince = undefined;
      seen = { name: pod.metadata.name, restarts };
      if (podReady(pod)) {
        if (readySince === undefined) {
          readySince = Date.now();
          log(`${what}: pod ${pod.metadata.name} Ready on ${to}`);
        }
        if (Date.now() - readySince >= soakMs) return;
        last = `pod ${pod.metadata.name} Ready for ${Math.round((Date.now() - readySince) / 1000)} s`;
      } else {
        if (readySince !== undefined) log(`${what}: pod ${pod.metadata.name} not Ready again`);
        readySince = undefined;
        last = `pod ${pod.metadata.name} not Ready`;
      }
    }
    if (Date.now() > deadline)
      throw new StepFailed(
        'canary',
        'canary member',
        `${what}: ${last} after ${(deps.canaryReadyMs ?? 600_000) / 1000} s`,
      );
    await sleep(pollMs);
  }
}

/**
 * Once no StatefulSet that runs the image names `to` in its template any more, deletes its
 * members that still run `to` so that they come back on the template.
 */
async function restoreMembers(
  client: KubeClient,
  namespace: string,
  image: string,
  to: string,
  sleep: (ms: number) => Promise<void>,
  pollMs: number,
  log: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + 300_000;
  let sets: Workload[];
  for (;;) {
    sets = (await workloadsRunning(client, namespace, image)).filter(
      (w) => w.kind === 'StatefulSet',
    );
    if (sets.every((w) => !containersOf(w).some((c) => c.image === to))) break;
    if (Date.now() > deadline) throw new Error(`a StatefulSet still names ${to} after 300 s`);
    await sleep(pollMs);
  }
  for (const w of sets) {
    for (const p of await podsOf(client, w)) {
      if (p.metadata.deletionTimestamp || !runsReference(p, to) || podReady(p)) continue;
      log(
        `member ${p.metadata.name} is on ${to} and not Ready: deleted, to come back on the template`,
      );
      await client
        .delete('v1', 'Pod', p.metadata.name, p.metadata.namespace)
        .catch((e: unknown) => {
          if (!isNotFound(e)) throw e;
        });
    }
  }
}
