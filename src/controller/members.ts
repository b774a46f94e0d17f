// Members of the cloud's clusters (Galera, RabbitMQ) whose volume is on a node that stays fenced.
// Kubernetes alone leaves such a member Pending for as long as the node is away: its volume is
// local to that node, and out of service releases the pod, not the volume. With
// spec.healing.rebuildMembersAfterSeconds set, a member whose node has been fenced that long is
// given up and started again with an empty volume on another node, where it gets its data from
// the other members (the StatefulSet's `memberRebuildAnnotation` says how). `decideRebuilds` is
// pure; `rebuildMembers` is the shell that reads the cluster, deletes the member's claim and then
// its pod (the StatefulSet controller makes both again), and tells it in an Event.
//
// Only while every other member is Ready and they are a majority of the members, and one member
// of a StatefulSet at a time: a state transfer needs a donor, and a cluster that has lost its
// quorum is a full outage, recovered by the members themselves (start.sh), never by giving up data.
import type { KubeClient } from '../kube/client.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import type { KubeObject } from '../render/kube.ts';
import { memberRebuildAnnotation } from '../render/statefulset.ts';
import type { EventRecorder, Logger } from './cloud.ts';
import { podReady } from './rollout.ts';

/** The node a claim's volume is on: where the scheduler put its first consumer (local volumes). */
export const selectedNodeAnnotation = 'volume.kubernetes.io/selected-node';

export interface MemberSet {
  readonly name: string;
  readonly replicas: number;
  /** How a member is rebuilt (the annotation); undefined: never. */
  readonly rebuild: string | undefined;
  /** The name of its claim template (`data`): member i's claim is `<claim>-<name>-<i>`. */
  readonly claim: string | undefined;
}

export interface MemberPod {
  readonly name: string;
  readonly uid: string;
  readonly ready: boolean;
}

export interface MemberClaim {
  readonly name: string;
  readonly uid: string;
  /** The node its volume is on. */
  readonly node: string | undefined;
  readonly deleting: boolean;
}

export interface RebuildFacts {
  readonly sets: readonly MemberSet[];
  readonly pods: ReadonlyMap<string, MemberPod>;
  readonly claims: ReadonlyMap<string, MemberClaim>;
  /** Fenced nodes: when each was fenced (ms since the epoch). */
  readonly fenced: ReadonlyMap<string, number>;
  readonly now: number;
  readonly afterSeconds: number;
}

export interface Rebuild {
  readonly set: string;
  readonly member: string;
  readonly claim: MemberClaim;
  /** The member's pod as it is now (Pending for its volume), if there is one. */
  readonly pod: MemberPod | undefined;
  readonly node: string;
  readonly fencedSeconds: number;
  readonly how: string;
}

export interface RebuildPlan {
  readonly rebuilds: Rebuild[];
  /** Members on fenced nodes left as they are, and why. */
  readonly waiting: { readonly member: string; readonly why: string }[];
  /** When a member next passes the threshold (ms), if one will. */
  readonly nextInMs: number | undefined;
}

/** What to rebuild now. Pure: the same facts give the same plan. */
export function decideRebuilds(f: RebuildFacts): RebuildPlan {
  const rebuilds: Rebuild[] = [];
  const waiting: RebuildPlan['waiting'] = [];
  let nextInMs: number | undefined;
  for (const set of f.sets) {
    if (!set.rebuild || !set.claim || set.replicas < 2) continue;
    const members = Array.from({ length: set.replicas }, (_, i) => `${set.name}-${i}`);
    const lost = members.filter((m) => {
      const node = f.claims.get(`${set.claim}-${m}`)?.node;
      return node !== undefined && f.fenced.has(node);
    });
    if (lost.length === 0) continue;
    const others = members.filter((m) => !lost.includes(m));
    const readyOthers = others.filter((m) => f.pods.get(m)?.ready);
    const majority = Math.floor(set.replicas / 2) + 1;
    const blocked =
      readyOthers.length < others.length
        ? `${others.filter((m) => !readyOthers.includes(m)).join(', ')} not Ready: a rebuild needs every other member running`
        : readyOthers.length < majority
          ? `${readyOthers.length} of ${set.replicas} members Ready, not a majority: the cluster must recover by itself first`
          : undefined;
    let started = false;
    for (const m of lost) {
      const claim = f.claims.get(`${set.claim}-${m}`)!;
      const node = claim.node!;
      const fencedMs = f.now - f.fenced.get(node)!;
      const dueInMs = f.afterSeconds * 1000 - fencedMs;
      if (dueInMs > 0) {
        waiting.push({ member: m, why: `${node} fenced ${Math.round(fencedMs / 1000)} s ago` });
        nextInMs = Math.min(nextInMs ?? dueInMs, dueInMs);
      } else if (blocked) {
        waiting.push({ member: m, why: blocked });
      } else if (started) {
        waiting.push({ member: m, why: 'one member of a cluster at a time' });
      } else {
        started = true;
        rebuilds.push({
          set: set.name,
          member: m,
          claim,
          pod: f.pods.get(m),
          node,
          fencedSeconds: Math.round(fencedMs / 1000),
          how: set.rebuild,
        });
      }
    }
  }
  return { rebuilds, waiting, nextInMs };
}

export interface RebuildOptions {
  readonly client: KubeClient;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly now?: () => number;
}

/**
 * One pass for a cloud (`cloud`, its live object) with fenced nodes: reads its StatefulSets, their
 * pods and claims, and rebuilds what `decideRebuilds` says. Returns the plan.
 */
export async function rebuildMembers(
  o: RebuildOptions,
  cloud: KubeObject,
  fenced: ReadonlyMap<string, number>,
  afterSeconds: number,
): Promise<RebuildPlan> {
  const namespace = cloud.metadata.namespace!;
  const selector = `app.kubernetes.io/managed-by=stackanetes,app.kubernetes.io/instance=${cloud.metadata.name}`;
  const { items: statefulSets } = await o.client.list('apps/v1', 'StatefulSet', {
    namespace,
    labelSelector: selector,
  });
  const sets: MemberSet[] = statefulSets.map((s) => {
    const spec = s.spec as {
      replicas?: number;
      volumeClaimTemplates?: { metadata?: { name?: string } }[];
    };
    return {
      name: s.metadata.name,
      replicas: spec.replicas ?? 1,
      rebuild: s.metadata.annotations?.[memberRebuildAnnotation],
      claim: spec.volumeClaimTemplates?.[0]?.metadata?.name,
    };
  });
  if (!sets.some((s) => s.rebuild)) return { rebuilds: [], waiting: [], nextInMs: undefined };
  const [{ items: pods }, { items: claims }] = await Promise.all([
    o.client.list('v1', 'Pod', {
      namespace,
      labelSelector: `app.kubernetes.io/instance=${cloud.metadata.name}`,
    }),
    o.client.list('v1', 'PersistentVolumeClaim', { namespace }),
  ]);
  const plan = decideRebuilds({
    sets,
    pods: new Map(
      pods.map((p) => [
        p.metadata.name,
        { name: p.metadata.name, uid: p.metadata.uid ?? '', ready: podReady(p) },
      ]),
    ),
    claims: new Map(
      claims.map((c) => [
        c.metadata.name,
        {
          name: c.metadata.name,
          uid: c.metadata.uid ?? '',
          node: c.metadata.annotations?.[selectedNodeAnnotation],
          deleting: Boolean(c.metadata.deletionTimestamp),
        },
      ]),
    ),
    fenced,
    now: (o.now ?? Date.now)(),
    afterSeconds,
  });
  for (const r of plan.rebuilds) {
    // The claim first: while the pod exists the claim only gets its deletion mark (the pod holds
    // it); deleting the pod then lets it go, and the StatefulSet controller makes the pod and a
    // new claim, whose volume the scheduler puts on a node that runs.
    if (!r.claim.deleting)
      await gone(
        o.client.delete(
          'v1',
          'PersistentVolumeClaim',
          r.claim.name,
          namespace,
          'Background',
          r.claim.uid,
        ),
      );
    if (r.pod)
      await gone(o.client.delete('v1', 'Pod', r.member, namespace, 'Background', r.pod.uid));
    o.log.warn(
      { member: r.member, node: r.node, fencedSeconds: r.fencedSeconds },
      'member rebuilt on another node',
    );
    await o.events.record(
      cloud,
      'Warning',
      'MemberRebuilt',
      `${r.member}: its volume (${r.claim.name}) is on ${r.node}, fenced ${r.fencedSeconds} s ago (spec.healing.rebuildMembersAfterSeconds: ${afterSeconds}): the volume is given up and ${r.member} starts on another node, where ${r.how}`,
    );
  }
  return plan;
}

/** A delete that found the object already gone (or replaced: its uid changed) is done. */
async function gone(p: Promise<unknown>): Promise<void> {
  try {
    await p;
  } catch (err) {
    if (isNotFound(err) || isConflict(err)) return;
    throw err;
  }
}
