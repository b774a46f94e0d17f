// The database's writer. With Galera (more than one database replica) the client Service selects
// one member by its pod name (render/infra/database.ts): every OpenStack service writes through
// that member, since two members writing the same rows at once fail one of the transactions at
// commit (a certification conflict, seen by the services as a deadlock). This pass keeps that
// member one that serves: when it is not Ready, is being deleted (a roll, a drain), or its node has
// stopped renewing its Lease, and another member serves, the Service is patched to select that
// one, and an Event says so. The Lease is the early sign of a dead node: a pod on a node that lost
// power stays Ready until the node controller marks it otherwise (23 s after the cut, seen on the
// local cluster); with every client writing through it, that is every request stalled. The cloud
// reconciler renders the Service with the member this pass chose (`pinnedWriter`), so the two agree.
//
// `chooseWriter` is pure; `DatabaseWriterReconciler` is the shell, one pass per cloud every
// `writerPassMs`, requeued by the manager.
import { validateLive } from '../api/v1alpha1/validate.ts';
import { getCatalog } from '../catalog/index.ts';
import type { KubeClient } from '../kube/client.ts';
import { podNameLabel } from '../render/infra/database.ts';
import type { KubeObject } from '../render/kube.ts';
import type { EventRecorder, Logger } from './cloud.ts';
import type { LeaseClock } from './nodes.ts';
import { podReady } from './rollout.ts';

/** How often a cloud's writer is looked at: a writer that stops serving is replaced within this. */
export const writerPassMs = 2000;

/**
 * A member whose node's Lease has not changed for this long does not serve. Kubelets renew every
 * 10 s, so this is one missed renewal and half an interval: a dead node's writer is replaced 5 to
 * 15 s after the cut. A kubelet that is only late (a saturated node) costs a move that was not
 * needed: the clients' next connections go to another member, which is safe; moving back is not
 * done.
 */
export const writerNodeSilentMs = 15_000;

export interface WriterMember {
  readonly name: string;
  /** Ready, and not being deleted. */
  readonly serving: boolean;
  /** Why not, when not (for the Event). */
  readonly why?: string;
}

export type WriterChoice =
  | { readonly move: false; readonly writer: string }
  | { readonly move: true; readonly writer: string; readonly from: string; readonly why: string };

/**
 * The member to write through: the current one while it serves (a move costs the clients their
 * connections), else the first that serves in ordinal order. None serving: the current one stays
 * (there is nowhere better, and it may be the first back).
 */
export function chooseWriter(current: string, members: readonly WriterMember[]): WriterChoice {
  const now = members.find((m) => m.name === current);
  if (now?.serving) return { move: false, writer: current };
  const next = [...members]
    .sort((a, b) => ordinal(a.name) - ordinal(b.name))
    .find((m) => m.serving);
  if (!next) return { move: false, writer: current };
  return { move: true, writer: next.name, from: current, why: now?.why ?? 'it has no pod' };
}

function ordinal(pod: string): number {
  return Number(/-(\d+)$/.exec(pod)?.[1] ?? Number.MAX_SAFE_INTEGER);
}

/** The member a live client Service selects, if it selects one. */
export function pinnedWriter(service: KubeObject | undefined): string | undefined {
  const selector = (service?.spec as { selector?: Record<string, string> } | undefined)?.selector;
  return selector?.[podNameLabel];
}

/**
 * A member pod as the choice sees it; `nodeSilentMs` is how long its node's Lease has not changed
 * (undefined: not known, which does not count against it).
 */
export function writerMember(pod: KubeObject, nodeSilentMs?: number): WriterMember {
  const name = pod.metadata.name;
  if (pod.metadata.deletionTimestamp) return { name, serving: false, why: 'it is being deleted' };
  if (!podReady(pod)) {
    const phase = (pod.status as { phase?: string } | undefined)?.phase ?? 'Unknown';
    return { name, serving: false, why: `it is not Ready (${phase})` };
  }
  if (nodeSilentMs !== undefined && nodeSilentMs >= writerNodeSilentMs) {
    const node = (pod.spec as { nodeName?: string } | undefined)?.nodeName ?? 'its node';
    const s = Math.floor(nodeSilentMs / 1000);
    return { name, serving: false, why: `its node ${node} has not renewed its Lease for ${s} s` };
  }
  return { name, serving: true };
}

export interface DatabaseWriterOptions {
  readonly client: KubeClient;
  /** Cached reads: the cloud, and a Service of the cloud. */
  readonly cloud: (namespace: string, name: string) => KubeObject | undefined;
  readonly service: (namespace: string, name: string) => KubeObject | undefined;
  readonly events: EventRecorder;
  readonly log: Logger;
  /** When each node's Lease last changed (the manager's, fed by its Lease informer). */
  readonly leases?: Pick<LeaseClock, 'unchangedMs'>;
}

/** The thin shell around `chooseWriter`. */
export class DatabaseWriterReconciler {
  readonly #o: DatabaseWriterOptions;

  constructor(o: DatabaseWriterOptions) {
    this.#o = o;
  }

  async reconcile(namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
    const live = this.#o.cloud(namespace, name);
    if (!live || live.metadata.deletionTimestamp) return {};
    const checked = validateLive(live);
    // A change of the spec queues this pass again (the manager), so a cloud that has one
    // database replica, or no valid spec, is not looked at until then.
    if (!checked.ok || checked.cloud.spec.infrastructure.database.replicas < 2) return {};
    const serviceName = getCatalog(checked.cloud.spec.release).database.service;
    const service = this.#o.service(namespace, serviceName);
    const current = pinnedWriter(service);
    if (!service || !current) return { requeueAfterMs: writerPassMs };
    const selector = { ...(service.spec as { selector: Record<string, string> }).selector };
    delete selector[podNameLabel];
    const { items } = await this.#o.client.list('v1', 'Pod', {
      namespace,
      labelSelector: Object.entries(selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    });
    const silent = (pod: KubeObject) => {
      const node = (pod.spec as { nodeName?: string } | undefined)?.nodeName;
      return node ? this.#o.leases?.unchangedMs(node) : undefined;
    };
    const choice = chooseWriter(
      current,
      items.map((pod) => writerMember(pod, silent(pod))),
    );
    if (choice.move) {
      await this.#o.client.mergePatch('v1', 'Service', serviceName, namespace, {
        spec: { selector: { [podNameLabel]: choice.writer } },
      });
      const message = `${choice.from} stopped serving (${choice.why}): the ${serviceName} Service now sends the database's clients to ${choice.writer}`;
      this.#o.log.warn(
        { cloud: `${namespace}/${name}`, from: choice.from, to: choice.writer },
        message,
      );
      await this.#o.events.record(live, 'Warning', 'DatabaseWriterMoved', message);
    }
    return { requeueAfterMs: writerPassMs };
  }
}
