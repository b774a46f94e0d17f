// Whether an operator is reconciling a cloud: from what the cloud's status records (who, when,
// which Lease) and that Lease as read now (`operatorState` is pure; `liveOperatorState` reads the
// Lease). `stackanetes status` and `apply` show it; the reconciler asks it before touching a cloud
// another operator's status names.
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { ApiError, isNotFound } from '../kube/errors.ts';

/** The part of a cloud's status that says who reconciled it and when. */
export interface ReconcileRecord {
  lastReconcileTime?: string;
  reconciledBy?: { identity: string; lease?: string; resyncSeconds?: number };
}

export interface LeaseView {
  spec?: { holderIdentity?: string; leaseDurationSeconds?: number; renewTime?: string };
  metadata: { managedFields?: { manager?: string; time?: string }[] };
}

export interface OperatorState {
  /** True: an operator holds a live Lease and reconciled recently; undefined: cannot tell. */
  readonly reconciling: boolean | undefined;
  readonly summary: string;
  /** What to do about it, when something is to be done. */
  readonly advice?: string;
}

const startOne =
  'Nothing repairs this cloud until an operator runs (`stackanetes operator`, or its Deployment in the cluster).';

/** No operator process is there to reconcile. */
function gone(summary: string): OperatorState {
  return { reconciling: false, summary, advice: startOne };
}

/** A duration for a person: 45s, 2m10s, 3h5m. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? `${s % 60}s` : ''}`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/**
 * When the Lease was last renewed, by the API server's clock: the time the server stamped on its
 * managed-fields entry (every renewal changes renewTime, so the server restamps it), else the
 * holder's own renewTime.
 */
function leaseRenewedAt(lease: LeaseView): number {
  const stamps = (lease.metadata.managedFields ?? [])
    .map((f) => Date.parse(f.time ?? ''))
    .filter((t) => !Number.isNaN(t));
  if (stamps.length > 0) return Math.max(...stamps);
  return Date.parse(lease.spec?.renewTime ?? '');
}

/** Slack for second-resolution times and the request's own duration. */
const leaseSlackMs = 3_000;
/**
 * Whether the Lease has a holder that renewed it within its duration (and the slack), at
 * `nowMs` by the API server's clock where the Lease carries its stamps.
 */
export function leaseHeld(lease: LeaseView, nowMs: number): boolean {
  if (!lease.spec?.holderIdentity) return false;
  const duration = (lease.spec.leaseDurationSeconds ?? 15) * 1000;
  return nowMs - leaseRenewedAt(lease) <= duration + leaseSlackMs;
}

/** Status older than this many resync periods means nobody is reconciling. */
const staleResyncs = 3;

/**
 * Whether an operator is reconciling the cloud, from what its status records (who, when, which
 * Lease) and that Lease as read now. `serverNow` is the API server's time (its Date header), so a
 * skewed clock on this machine cannot make a live operator look dead or a dead one alive.
 */
export function operatorState(input: {
  readonly status: ReconcileRecord | undefined;
  readonly createdAt: string | undefined;
  readonly lease: LeaseView | 'missing' | 'unreadable' | undefined;
  readonly serverNow: number;
}): OperatorState {
  const { status, lease, serverNow } = input;
  const by = status?.reconciledBy;
  const last = Date.parse(status?.lastReconcileTime ?? '');
  if (!by || Number.isNaN(last)) {
    const age = serverNow - Date.parse(input.createdAt ?? '');
    if (age > 60_000)
      return gone(`no operator has reconciled this cloud in the ${ago(age)} since it was created`);
    return { reconciling: undefined, summary: 'not reconciled yet' };
  }
  const lastly = `last reconciled ${ago(serverNow - last)} ago by ${by.identity}`;
  const leaseName = by.lease ?? '(unknown)';
  if (lease === 'missing') return gone(`the operator's Lease ${leaseName} is gone; ${lastly}`);
  if (lease && lease !== 'unreadable') {
    const holder = lease.spec?.holderIdentity ?? '';
    if (!holder)
      return gone(`no operator holds the Lease ${leaseName} (the last one released it); ${lastly}`);
    if (!leaseHeld(lease, serverNow)) {
      const duration = (lease.spec?.leaseDurationSeconds ?? 15) * 1000;
      const renewed = serverNow - leaseRenewedAt(lease);
      return gone(
        `the Lease ${leaseName} of ${holder} was last renewed ${ago(renewed)} ago (it lasts ${ago(duration)}): that operator is gone; ${lastly}`,
      );
    }
  }
  const resyncMs = (by.resyncSeconds ?? 600) * 1000;
  if (serverNow - last > staleResyncs * resyncMs) {
    const every = `it looks at every cloud every ${ago(resyncMs)}`;
    if (lease === 'unreadable' || lease === undefined) return gone(`${lastly}, though ${every}`);
    return {
      reconciling: false,
      summary: `${lease.spec?.holderIdentity} holds the Lease ${leaseName} but has not reconciled this cloud for ${ago(serverNow - last)} (${every})`,
      advice: 'Its log says why.',
    };
  }
  if (lease === 'unreadable' || lease === undefined)
    return { reconciling: undefined, summary: `${lastly}; its Lease ${leaseName} cannot be read` };
  return {
    reconciling: true,
    summary: `${lease.spec?.holderIdentity} leads (Lease ${leaseName}); ${lastly}`,
  };
}

/** The Lease `namespace/name` that a cloud's status names, as read now. */
export async function readLease(
  client: KubeClient,
  ref: string | undefined,
): Promise<LeaseView | 'missing' | 'unreadable' | undefined> {
  const [namespace, name] = ref?.split('/') ?? [];
  if (!namespace || !name) return undefined;
  try {
    return await client.get<KubeObject & LeaseView>(
      'coordination.k8s.io/v1',
      'Lease',
      name,
      namespace,
    );
  } catch (err) {
    if (isNotFound(err)) return 'missing';
    if (err instanceof ApiError && err.forbidden) return 'unreadable';
    throw err;
  }
}

/** `operatorState` of a cloud as the API server has it now: its status, its Lease, its clock. */
export async function liveOperatorState(
  client: KubeClient,
  cloud: KubeObject,
): Promise<OperatorState> {
  const status = cloud.status as ReconcileRecord | undefined;
  return operatorState({
    status,
    createdAt: cloud.metadata.creationTimestamp,
    lease: await readLease(client, status?.reconciledBy?.lease),
    serverNow: client.serverNow(),
  });
}
