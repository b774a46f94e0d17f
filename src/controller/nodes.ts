// Node health: a server that dies is fenced, then marked out of service, so Kubernetes releases
// what ran on it (its pods, its volume attachments) and starts it elsewhere. `decideNodeHealth`
// is pure (facts in, steps and findings out); `NodeHealthReconciler` is the thin shell that reads
// the caches, fences through a Fencer (./fencing.ts), patches the nodes and writes the cloud's
// `NodesHealthy` condition and Events.
//
// - Dead: a node that runs the cloud's pods (its labels match one of spec.nodeRoles) whose Lease
//   in kube-node-lease has not changed for spec.healing.nodeDeadSeconds, by this process's own
//   clock since it last saw the Lease change (`LeaseClock`; never renewTime against our clock).
// - Fence before moving: the power is cut and confirmed Off, and only then is the node tainted
//   node.kubernetes.io/out-of-service=nodeshutdown:NoExecute (Kubernetes' non-graceful node
//   shutdown). No fencer, a fencer error, a state that is not Off: nothing moves, and the
//   condition and an Event say why.
// - Mass failure: more than spec.healing.maxDeadFraction of the nodes dead at once looks like a
//   network partition: nothing is fenced.
// - Back: a fenced node whose Lease renews again and whose kubelet is Ready loses the taint.
// - Resumable: the taint and the annotation `stackanetes.io/fenced` are written together, on the
//   node, after the power-off; an operator killed in between asks the power controller first and
//   finds the node Off, so no node is powered off twice.
import type {
  Condition,
  HealingSpec,
  LabelSelector,
  OpenStackCloud,
} from '../api/v1alpha1/spec.ts';
import { validateLive } from '../api/v1alpha1/validate.ts';
import type { KubeClient } from '../kube/client.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import type { KubeObject } from '../render/kube.ts';
import type { EventRecorder, Logger } from './cloud.ts';
import { ago } from './liveness.ts';
import { rfc3339, writeOwnCondition, type ComponentState } from './conditions.ts';
import { createFencer, fenceNode, type Fencer } from './fencing.ts';
import { rebuildMembers } from './members.ts';

export const outOfServiceTaint = {
  key: 'node.kubernetes.io/out-of-service',
  value: 'nodeshutdown',
  effect: 'NoExecute',
} as const;
/** On a node this operator fenced: when (RFC 3339). Written with the taint, removed with it. */
export const fencedAnnotation = 'stackanetes.io/fenced';
export const nodesCondition = 'NodesHealthy';
/** The field manager of the NodesHealthy condition (the cloud reconciler leaves it alone). */
export const nodeHealthManager = 'stackanetes-node-health';
export const leaseNamespace = 'kube-node-lease';

/** When each node's Lease was last seen to change, by this process's monotonic clock. */
export class LeaseClock {
  readonly #now: () => number;
  readonly #seen = new Map<string, { spec: string; at: number; changed: boolean }>();

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** A Lease as listed or watched (its name is its node's). */
  observe(lease: KubeObject): void {
    const spec = JSON.stringify(lease.spec ?? {});
    const before = this.#seen.get(lease.metadata.name);
    if (before?.spec === spec) return;
    this.#seen.set(lease.metadata.name, { spec, at: this.#now(), changed: before !== undefined });
  }

  forget(name: string): void {
    this.#seen.delete(name);
  }

  /** How long the node's Lease has not changed; undefined when it was never seen. */
  unchangedMs(node: string): number | undefined {
    const s = this.#seen.get(node);
    return s && this.#now() - s.at;
  }

  /** Seen to change at least once since it was first seen (a renewal, not only a first list). */
  changed(node: string): boolean {
    return this.#seen.get(node)?.changed ?? false;
  }
}

/** What the decision reads of one node. */
export interface NodeFacts {
  readonly name: string;
  /** Since this process last saw its Lease change (ms); undefined when it has no Lease. */
  readonly leaseUnchangedMs: number | undefined;
  /** Its Lease was seen renewed while this process watched (a first sight does not count). */
  readonly leaseRenewed: boolean;
  /** Its kubelet reports Ready. */
  readonly ready: boolean;
  readonly outOfService: boolean;
  /** When this operator fenced it (the annotation), if it did and it is not back. */
  readonly fencedAt: string | undefined;
}

export type NodeStep =
  /** Make sure it is off (power it off unless it is), then record it and taint it. */
  | { readonly action: 'fence'; readonly node: string; readonly unchangedMs: number }
  /** Back and Ready: the taint and the record go. */
  | { readonly action: 'release'; readonly node: string };

export interface NodeHealthPlan {
  readonly steps: NodeStep[];
  readonly total: number;
  readonly dead: string[];
  /** Silent for at least half the threshold (the dead included): what a partition is judged on. */
  readonly silent: string[];
  /** Fenced and out of service, not back: nothing to do. */
  readonly fenced: string[];
  /** Fenced, renewing its Lease again, kubelet not Ready yet. */
  readonly returning: string[];
  /** Why dead nodes are left as they are, if they are. */
  readonly withheld?: 'partition' | 'after-partition' | 'no-fencing';
  /** When to look again (ms): when the next node could pass the threshold, at most 10 s. */
  readonly requeueAfterMs: number;
}

/**
 * The decision table. Pure: the same facts give the same steps. `sincePartitionMs`: how long ago
 * a partition was last suspected (undefined: not in this process's memory). Once it ends, the
 * nodes still silent get one more `nodeDeadSeconds` before anything is fenced: nodes cut off
 * together come back one by one (seen: two nodes powered on together, the second was fenced while
 * it booted, the moment the first one's Lease made it one dead node of three).
 */
export function decideNodeHealth(
  nodes: readonly NodeFacts[],
  policy: HealingSpec,
  sincePartitionMs?: number,
): NodeHealthPlan {
  const deadMs = policy.nodeDeadSeconds * 1000;
  const isDead = (n: NodeFacts) => n.leaseUnchangedMs !== undefined && n.leaseUnchangedMs >= deadMs;
  const dead = nodes.filter(isDead);
  const steps: NodeStep[] = [];
  const returning: string[] = [];
  for (const n of nodes) {
    if (isDead(n) || n.fencedAt === undefined || !n.leaseRenewed) continue;
    if (n.ready) steps.push({ action: 'release', node: n.name });
    else returning.push(n.name);
  }
  // Nodes cut at the same moment pass the threshold up to a renewal interval apart (each kubelet
  // renews on its own 10 s tick): counting only the dead, the first one alone is "one of three"
  // and was fenced while the second was seconds from the threshold (seen on the HA cloud). Nodes
  // silent for half the threshold count towards the fraction too.
  const suspect = nodes.filter(
    (n) => n.leaseUnchangedMs !== undefined && n.leaseUnchangedMs >= deadMs / 2,
  );
  const partition = nodes.length > 0 && suspect.length / nodes.length > policy.maxDeadFraction;
  const withheld =
    dead.length === 0
      ? undefined
      : partition
        ? 'partition'
        : sincePartitionMs !== undefined && sincePartitionMs < deadMs
          ? 'after-partition'
          : policy.fencing.method === 'none'
            ? 'no-fencing'
            : undefined;
  const fenced: string[] = [];
  for (const n of nodes) {
    const back = returning.includes(n.name) || steps.some((s) => s.node === n.name);
    // Fenced and out of service, and not seen back: its Lease may not have been watched for
    // long (a restarted operator), but the record says it is off.
    if (n.fencedAt !== undefined && n.outOfService && !back) fenced.push(n.name);
    else if (isDead(n) && !withheld)
      steps.push({ action: 'fence', node: n.name, unchangedMs: n.leaseUnchangedMs! });
  }
  const untilDead = nodes
    .filter((n) => !isDead(n) && n.leaseUnchangedMs !== undefined)
    .map((n) => deadMs - n.leaseUnchangedMs!);
  const requeueAfterMs = Math.max(1000, Math.min(10_000, ...untilDead));
  return {
    steps,
    total: nodes.length,
    dead: dead.map((n) => n.name),
    silent: suspect.map((n) => n.name),
    fenced,
    returning,
    ...(withheld ? { withheld } : {}),
    requeueAfterMs,
  };
}

/** What one pass did: each node fenced now, and each node fencing failed for (and why). */
export interface NodeHealthOutcome {
  readonly fencedNow: readonly string[];
  readonly failed: ReadonlyMap<string, string>;
}

/** The NodesHealthy condition for a plan and what came of its steps. Pure. */
export function nodeHealthCondition(
  plan: NodeHealthPlan,
  outcome: NodeHealthOutcome,
  policy: HealingSpec,
): ComponentState {
  const list = (names: readonly string[]) => names.join(', ');
  const threshold = `${policy.nodeDeadSeconds} s`;
  if (plan.withheld === 'partition')
    return {
      status: 'False',
      reason: 'SuspectedPartition',
      message: `${plan.silent.length} of ${plan.total} nodes have not renewed their Leases for ${threshold} (${list(plan.dead)})${plan.silent.length > plan.dead.length ? ` or for over half of it (${list(plan.silent.filter((n) => !plan.dead.includes(n)))})` : ''}: more than spec.healing.maxDeadFraction (${policy.maxDeadFraction}) at once is more likely the network than the servers; nothing is fenced or moved`,
    };
  if (plan.withheld === 'after-partition')
    return {
      status: 'False',
      reason: 'SuspectedPartition',
      message: `${list(plan.dead)}: no Lease renewal for ${threshold} since a suspected partition that is ending; given ${threshold} more to come back before anything is fenced`,
    };
  if (outcome.failed.size > 0)
    return {
      status: 'False',
      reason: 'FencingFailed',
      message: `${[...outcome.failed].map(([n, why]) => `${n}: ${why}`).join('; ')}; nothing is moved off an unfenced node`,
    };
  const down = plan.dead.filter((n) => !plan.fenced.includes(n) && !outcome.fencedNow.includes(n));
  if (plan.withheld === 'no-fencing' && down.length > 0)
    return {
      status: 'False',
      reason: 'FencingDisabled',
      message: `${list(down)}: no Lease renewal for ${threshold}, and spec.healing.fencing.method is none, so nothing is fenced or moved off it (Kubernetes' own eviction still runs)`,
    };
  const fenced = [...plan.fenced, ...outcome.fencedNow];
  if (fenced.length > 0)
    return {
      status: 'False',
      reason: 'NodeFenced',
      message: `${list(fenced)}: fenced (powered off) and out of service; its pods and volume attachments are released${plan.returning.length ? `; ${list(plan.returning)} back, waiting for the kubelet to be Ready` : ''}`,
    };
  if (plan.returning.length > 0)
    return {
      status: 'False',
      reason: 'NodeReturning',
      message: `${list(plan.returning)}: renewing its Lease again; out of service until its kubelet is Ready`,
    };
  return {
    status: 'True',
    reason: 'NodesHealthy',
    message:
      plan.total === 0
        ? "no node has one of the cloud's roles"
        : plan.total === 1
          ? 'its one node renews its Lease'
          : `all ${plan.total} nodes renew their Leases`,
  };
}

/** Whether a label selector (matchLabels, matchExpressions) selects these labels. */
export function selects(sel: LabelSelector, labels: Record<string, string> = {}): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  return (sel.matchExpressions ?? []).every((e) => {
    const has = Object.hasOwn(labels, e.key);
    switch (e.operator) {
      case 'In':
        return has && (e.values ?? []).includes(labels[e.key]!);
      case 'NotIn':
        return !has || !(e.values ?? []).includes(labels[e.key]!);
      case 'Exists':
        return has;
      case 'DoesNotExist':
        return !has;
    }
  });
}

interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

const taintsOf = (node: KubeObject) =>
  (node.spec as { taints?: Taint[] } | undefined)?.taints ?? [];
const isOurTaint = (t: Taint) =>
  t.key === outOfServiceTaint.key && t.effect === outOfServiceTaint.effect;

/** Whether this controller fenced the node: its annotation and the out-of-service taint. */
export function isFenced(node: KubeObject): boolean {
  return Boolean(node.metadata.annotations?.[fencedAnnotation]) && taintsOf(node).some(isOurTaint);
}

/** The facts `decideNodeHealth` reads, from a cached Node and the Lease clock. */
export function nodeFacts(node: KubeObject, leases: LeaseClock): NodeFacts {
  const name = node.metadata.name;
  const conditions =
    (node.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ??
    [];
  const fencedAt = node.metadata.annotations?.[fencedAnnotation];
  return {
    name,
    leaseUnchangedMs: leases.unchangedMs(name),
    leaseRenewed: leases.changed(name),
    ready: conditions.some((c) => c.type === 'Ready' && c.status === 'True'),
    outOfService: taintsOf(node).some(isOurTaint),
    fencedAt: fencedAt || undefined,
  };
}

export interface NodeHealthOptions {
  readonly client: KubeClient;
  /** Cached reads: the cloud, and every Node. */
  readonly cloud: (namespace: string, name: string) => KubeObject | undefined;
  readonly nodes: () => KubeObject[];
  readonly leases: LeaseClock;
  readonly events: EventRecorder;
  readonly log: Logger;
  /** The cloud's fencer (default: from spec.healing.fencing and its Secret); undefined for none. */
  readonly fencer?: (cloud: OpenStackCloud, namespace: string) => Promise<Fencer | undefined>;
  /** Between power-state reads while waiting for Off (default 1 s). */
  readonly pollMs?: number;
  readonly now?: () => Date;
}

/** The thin shell around `decideNodeHealth`: one pass per cloud, requeued by the manager. */
export class NodeHealthReconciler {
  readonly #o: NodeHealthOptions;
  readonly #now: () => Date;
  /** The last fencing failure told per node (an Event each time it changes, not every pass). */
  readonly #told = new Map<string, string>();
  /** Per cloud, when a partition was last suspected (ms): its end starts a grace. */
  readonly #partitionAt = new Map<string, number>();

  constructor(o: NodeHealthOptions) {
    this.#o = o;
    this.#now = o.now ?? (() => new Date());
  }

  async reconcile(namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
    const live = this.#o.cloud(namespace, name);
    if (!live || live.metadata.deletionTimestamp) return {};
    const checked = validateLive(live);
    // An invalid spec: the cloud reconciler says so; here nothing is judged.
    if (!checked.ok) return {};
    const spec = checked.cloud.spec;
    const roles = Object.values(spec.nodeRoles);
    const nodes = this.#o
      .nodes()
      .filter((n) => roles.some((r) => selects(r, n.metadata.labels)))
      .map((n) => nodeFacts(n, this.#o.leases));
    const key = `${namespace}/${name}`;
    const lastPartition = this.#partitionAt.get(key);
    const plan = decideNodeHealth(
      nodes,
      spec.healing,
      lastPartition === undefined ? undefined : this.#now().getTime() - lastPartition,
    );
    if (plan.withheld === 'partition') this.#partitionAt.set(key, this.#now().getTime());
    const fencedNow: string[] = [];
    const failed = new Map<string, string>();
    let fencer: Promise<Fencer | undefined> | undefined;
    for (const step of plan.steps) {
      try {
        if (step.action === 'release') {
          await this.#release(live, step.node);
          continue;
        }
        fencer ??= (this.#o.fencer ?? ((c, ns) => this.#fencerFromSecret(c, ns)))(
          checked.cloud,
          namespace,
        );
        const f = await fencer;
        if (!f) throw new Error('no fencer: spec.healing.fencing names none');
        await this.#fence(live, f, step, spec.healing);
        fencedNow.push(step.node);
        this.#told.delete(step.node);
      } catch (err) {
        if (isConflict(err)) continue; // the node changed meanwhile: the next pass sees it
        const why = err instanceof Error ? err.message : String(err);
        if (step.action === 'release') {
          this.#o.log.warn(
            { node: step.node, err: why },
            'could not take a returned node back into service',
          );
          continue;
        }
        failed.set(step.node, why);
        if (this.#told.get(step.node) !== why) {
          this.#told.set(step.node, why);
          this.#o.log.error(
            { cloud: `${namespace}/${name}`, node: step.node, err: why },
            'fencing failed',
          );
          await this.#o.events.record(
            live,
            'Warning',
            'FencingFailed',
            `${step.node}: no Lease renewal for ${ago(step.unchangedMs)}; fencing failed, so nothing is moved off it: ${why}`,
          );
        }
      }
    }
    const after = spec.healing.rebuildMembersAfterSeconds;
    if (after !== undefined && plan.fenced.length > 0) {
      const fenced = new Map<string, number>();
      for (const n of nodes)
        if (plan.fenced.includes(n.name) && n.fencedAt) fenced.set(n.name, Date.parse(n.fencedAt));
      try {
        await rebuildMembers(
          {
            client: this.#o.client,
            events: this.#o.events,
            log: this.#o.log,
            now: () => this.#now().getTime(),
          },
          live,
          fenced,
          after,
        );
      } catch (err) {
        this.#o.log.warn(
          { cloud: `${namespace}/${name}`, err: String(err) },
          'member rebuild failed; retrying',
        );
      }
    }
    const condition = nodeHealthCondition(plan, { fencedNow, failed }, spec.healing);
    await this.#writeCondition(live, condition);
    return { requeueAfterMs: plan.requeueAfterMs };
  }

  /** Off (confirmed), then the record and the taint in one patch, then the Event. */
  async #fence(
    cloud: KubeObject,
    fencer: Fencer,
    step: Extract<NodeStep, { action: 'fence' }>,
    policy: HealingSpec,
  ): Promise<void> {
    const timeoutMs = (policy.fencing.redfish?.timeoutSeconds ?? 30) * 1000;
    const { poweredOff } = await fenceNode(fencer, step.node, {
      timeoutMs,
      pollMs: this.#o.pollMs ?? 1000,
    });
    const node = this.#o.nodes().find((n) => n.metadata.name === step.node);
    if (!node) throw new Error(`node ${step.node} is gone`);
    const now = rfc3339(this.#now());
    await this.#o.client.mergePatch('v1', 'Node', step.node, undefined, {
      metadata: {
        resourceVersion: node.metadata.resourceVersion,
        annotations: { [fencedAnnotation]: now },
      },
      spec: {
        taints: [
          ...taintsOf(node).filter((t) => !isOurTaint(t)),
          { ...outOfServiceTaint, timeAdded: now },
        ],
      },
    });
    this.#o.log.warn({ node: step.node, poweredOff }, 'node fenced and out of service');
    await this.#o.events.record(
      cloud,
      'Warning',
      'NodeFenced',
      `${step.node}: no Lease renewal for ${ago(step.unchangedMs)}; ${poweredOff ? 'powered off' : 'found powered off'} and marked ${outOfServiceTaint.key}=${outOfServiceTaint.value}:${outOfServiceTaint.effect}, so its pods and volume attachments are released`,
    );
  }

  /** A fenced node that is back: the taint and the record go, in one patch. */
  async #release(cloud: KubeObject, name: string): Promise<void> {
    const node = this.#o.nodes().find((n) => n.metadata.name === name);
    if (!node) return;
    await this.#o.client.mergePatch('v1', 'Node', name, undefined, {
      metadata: {
        resourceVersion: node.metadata.resourceVersion,
        annotations: { [fencedAnnotation]: null },
      },
      spec: { taints: taintsOf(node).filter((t) => !isOurTaint(t)) },
    });
    this.#o.log.info({ node: name }, 'fenced node back: out-of-service taint removed');
    await this.#o.events.record(
      cloud,
      'Normal',
      'NodeReturned',
      `${name}: its Lease renews and its kubelet is Ready again: ${outOfServiceTaint.key} removed`,
    );
  }

  /** The fencer the spec names, with the credentials of its Secret in the cloud's namespace. */
  async #fencerFromSecret(cloud: OpenStackCloud, namespace: string): Promise<Fencer | undefined> {
    const fencing = cloud.spec.healing.fencing;
    const secretName = fencing.redfish?.secretName;
    if (!secretName) return createFencer(fencing, { username: '', password: '' });
    let secret: KubeObject;
    try {
      secret = await this.#o.client.get('v1', 'Secret', secretName, namespace);
    } catch (err) {
      if (isNotFound(err))
        throw new Error(
          `Secret ${namespace}/${secretName} (spec.healing.fencing.redfish.secretName) does not exist`,
          { cause: err },
        );
      throw err;
    }
    const data = (secret.data ?? {}) as Record<string, string>;
    const field = (k: string) => Buffer.from(data[k] ?? '', 'base64').toString('utf8');
    const username = field('username');
    const password = field('password');
    if (!username || !password)
      throw new Error(`Secret ${namespace}/${secretName} needs the keys username and password`);
    return createFencer(fencing, { username, password });
  }

  /** NodesHealthy, written when it changed (with an Event when it turns to a withheld state). */
  async #writeCondition(cloud: KubeObject, state: ComponentState): Promise<void> {
    const before = (
      (cloud.status as { conditions?: Condition[] } | undefined)?.conditions ?? []
    ).find((c) => c.type === nodesCondition);
    if (
      before &&
      before.status === state.status &&
      before.reason === state.reason &&
      before.message === state.message
    )
      return;
    await writeOwnCondition(
      this.#o.client,
      cloud,
      nodeHealthManager,
      { type: nodesCondition, ...state },
      {},
      this.#now(),
    );
    if (
      before?.reason !== state.reason &&
      (state.reason === 'SuspectedPartition' || state.reason === 'FencingDisabled')
    )
      await this.#o.events.record(
        cloud,
        'Warning',
        state.reason,
        `${nodesCondition}: ${state.message}`,
      );
  }
}
