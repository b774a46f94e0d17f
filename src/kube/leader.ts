// Leader election on a coordination.k8s.io/v1 Lease. A candidate takes the Lease when it is
// absent, released, or expired. Expired is judged as client-go does, by this process's own
// monotonic clock: the Lease has not changed (holder, renewTime, …) for leaseDurationSeconds
// since this process last saw it change. The holder's renewTime comes from another machine's
// clock and is never compared with ours, so clock skew cannot hand the Lease over early (a
// holder whose clock is behind) or late (one whose clock is ahead). The leader renews
// it every retry period; every write carries the resourceVersion read, so of two candidates
// racing only one wins (the other gets 409 Conflict). A leader that cannot renew within the
// renew deadline steps down (its signal aborts) before the lease can expire and be taken by
// another; stopping gracefully releases the Lease so the next leader takes over at once.
import { hostname } from 'node:os';
import type { KubeClient } from './client.ts';
import type { KubeObject } from '../render/kube.ts';
import { isConflict, isNotFound } from './errors.ts';
import { abortableSleep } from './sleep.ts';

/** The part of KubeClient leader election uses (a fake can stand in for it in unit tests). */
export type LeaseClient = Pick<KubeClient, 'get' | 'create' | 'replace'>;

export interface Lease extends KubeObject {
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface LeaderElectorOptions {
  namespace: string;
  /** The Lease's name. */
  name: string;
  /** Who we are (default: `defaultIdentity()`). */
  identity?: string;
  /** How long a lease holds without renewal (default 15 s; whole seconds are written). */
  leaseDurationMs?: number;
  /** A leader that has not renewed for this long steps down (default 10 s). */
  renewDeadlineMs?: number;
  /** How often candidates try and the leader renews (default 2 s). */
  retryPeriodMs?: number;
  /** Called on becoming leader; stop leading work when `signal` aborts. */
  onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called when leadership ends (stepped down, lost, or stopped). */
  onStoppedLeading?: () => void;
  /** Called when the holder seen in the Lease changes (including to ourselves). */
  onNewLeader?: (identity: string) => void;
  /** Told about failed attempts (they are retried) and callback failures. */
  onError?: (err: unknown, context: string) => void;
}

/** The pod's name when running in Kubernetes (POD_NAME from the downward API), else host_pid. */
export function defaultIdentity(): string {
  return process.env.POD_NAME || `${hostname()}_${process.pid}`;
}

/** A Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Rejects if `p` has not settled within `ms` (the request itself runs on, ignored). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`lease request took longer than ${Math.round(ms)} ms`)),
      ms,
    );
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const leaseApi = 'coordination.k8s.io/v1';

export class LeaderElector {
  readonly identity: string;
  readonly namespace: string;
  readonly name: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly #client: LeaseClient;
  readonly #opts: LeaderElectorOptions;
  #stop: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #leading: AbortController | undefined;
  #work: Promise<void> | undefined;
  #observedHolder = '';
  /** The Lease's spec as last seen, and when (performance.now()) it was seen to change. */
  #observedSpec = '';
  #observedAt = 0;
  #release = true;

  constructor(client: LeaseClient, opts: LeaderElectorOptions) {
    this.#client = client;
    this.#opts = opts;
    this.identity = opts.identity ?? defaultIdentity();
    this.namespace = opts.namespace;
    this.name = opts.name;
    this.leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(
      this.leaseDurationMs > this.renewDeadlineMs &&
      this.renewDeadlineMs > this.retryPeriodMs &&
      this.retryPeriodMs > 0
    )) {
      throw new Error(
        `leader election needs leaseDurationMs > renewDeadlineMs > retryPeriodMs > 0 (got ${this.leaseDurationMs}, ${this.renewDeadlineMs}, ${this.retryPeriodMs})`,
      );
    }
    if (!this.identity) throw new Error('leader election needs a non-empty identity');
  }

  get isLeader(): boolean {
    return this.#leading !== undefined;
  }

  /** The holder last seen in the Lease ('' if none). */
  get leader(): string {
    return this.#observedHolder;
  }

  /** Campaigns in the background until `stop()`. */
  start(): void {
    if (this.#loop) throw new Error(`leader elector ${this.identity} already started`);
    const stop = new AbortController();
    this.#stop = stop;
    this.#release = true;
    this.#loop = this.#run(stop.signal);
  }

  /**
   * Stops campaigning. If leading: aborts the leading signal, waits for `onStartedLeading`'s
   * promise, calls `onStoppedLeading`, and (unless `release: false`) releases the Lease so that
   * another candidate takes over at once. `release: false` leaves the Lease to expire, as a
   * crashed process would.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.#release = opts.release ?? true;
    this.#stop?.abort();
    await this.#loop;
  }

  async #run(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      // Campaign: try every retry period (with jitter, so candidates do not try in step).
      let acquired = false;
      while (!stop.aborted && !acquired) {
        acquired = await this.#tryAcquireOrRenew(this.retryPeriodMs);
        if (!acquired) await abortableSleep(this.retryPeriodMs * (1 + 0.2 * Math.random()), stop);
      }
      if (stop.aborted) {
        // Stopped while the last attempt won: give the Lease back without starting to lead.
        if (acquired && this.#release) await this.#releaseLease();
        break;
      }
      this.#startLeading();
      // Lead: renew every retry period; give up if no renewal succeeded within the deadline.
      let lastRenew = Date.now();
      while (!stop.aborted) {
        await abortableSleep(this.retryPeriodMs, stop);
        if (stop.aborted) break;
        let renewed = false;
        while (!renewed && !stop.aborted) {
          const left = lastRenew + this.renewDeadlineMs - Date.now();
          if (left <= 0) break;
          renewed = await this.#tryAcquireOrRenew(left);
          if (renewed) break;
          if (this.#observedHolder && this.#observedHolder !== this.identity) break; // someone else holds it
          await abortableSleep(
            Math.min(
              this.retryPeriodMs / 4,
              Math.max(lastRenew + this.renewDeadlineMs - Date.now(), 0),
            ),
            stop,
          );
        }
        if (renewed) {
          lastRenew = Date.now();
          continue;
        }
        if (stop.aborted) break;
        this.#report(
          new Error(
            `could not renew lease ${this.namespace}/${this.name} within ${this.renewDeadlineMs} ms`,
          ),
          'stepping down',
        );
        break;
      }
      await this.#stopLeading();
      if (stop.aborted && this.#release) await this.#releaseLease();
    }
  }

  #startLeading(): void {
    const leading = new AbortController();
    this.#leading = leading;
    this.#work = (async () => {
      try {
        await this.#opts.onStartedLeading(leading.signal);
      } catch (err) {
        this.#report(err, 'onStartedLeading');
      }
    })();
  }

  async #stopLeading(): Promise<void> {
    const leading = this.#leading;
    if (!leading) return;
    leading.abort(new Error('leadership lost'));
    this.#leading = undefined;
    try {
      this.#opts.onStoppedLeading?.();
    } catch (err) {
      this.#report(err, 'onStoppedLeading');
    }
    await this.#work;
    this.#work = undefined;
  }

  #seen(holder: string): void {
    if (holder !== this.#observedHolder) {
      this.#observedHolder = holder;
      if (holder) {
        try {
          this.#opts.onNewLeader?.(holder);
        } catch (err) {
          this.#report(err, 'onNewLeader');
        }
      }
    }
  }

  /** Notes the Lease's spec; when it differs from the one seen before, restarts the expiry clock. */
  #observe(spec: Lease['spec']): void {
    const { holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaseTransitions } =
      spec ?? {};
    const seen = JSON.stringify([
      holderIdentity,
      leaseDurationSeconds,
      acquireTime,
      renewTime,
      leaseTransitions,
    ]);
    if (seen !== this.#observedSpec) {
      this.#observedSpec = seen;
      this.#observedAt = performance.now();
    }
  }

  #desired(now: Date, current?: Lease['spec']): NonNullable<Lease['spec']> {
    const ours = current?.holderIdentity === this.identity;
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.leaseDurationMs / 1000),
      acquireTime: ours && current?.acquireTime ? current.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: ours
        ? (current?.leaseTransitions ?? 0)
        : (current?.leaseTransitions ?? -1) + 1,
    };
  }

  /** One attempt to take or renew the Lease; false if someone else holds it or we lost a race. */
  async #tryAcquireOrRenew(timeoutMs: number): Promise<boolean> {
    try {
      let lease: Lease;
      try {
        lease = await within(
          this.#client.get<Lease>(leaseApi, 'Lease', this.name, this.namespace),
          timeoutMs,
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
        const created = this.#desired(new Date());
        await within(
          this.#client.create<Lease>({
            apiVersion: leaseApi,
            kind: 'Lease',
            metadata: { name: this.name, namespace: this.namespace },
            spec: created,
          }),
          timeoutMs,
        );
        this.#seen(this.identity);
        this.#observe(created);
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? '';
      const now = new Date();
      this.#observe(spec);
      if (holder && holder !== this.identity) {
        this.#seen(holder);
        const unchangedMs = performance.now() - this.#observedAt;
        if (unchangedMs < (spec.leaseDurationSeconds ?? 0) * 1000) return false; // held, not expired
      }
      const desired = this.#desired(now, spec);
      await this.#replaceLease(lease, desired, timeoutMs);
      this.#seen(this.identity);
      this.#observe(desired);
      return true;
    } catch (err) {
      // 409: another candidate wrote the Lease since we read it; we lost this round.
      if (!isConflict(err)) this.#report(err, `lease ${this.namespace}/${this.name}`);
      return false;
    }
  }

  /** Gives the Lease up (only if it is still ours), so the next candidate need not wait. */
  async #releaseLease(): Promise<void> {
    try {
      const lease = await within(
        this.#client.get<Lease>(leaseApi, 'Lease', this.name, this.namespace),
        this.renewDeadlineMs,
      );
      if (lease.spec?.holderIdentity !== this.identity) return;
      await this.#replaceLease(
        lease,
        {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(new Date()),
        },
        this.renewDeadlineMs,
      );
      this.#observedHolder = '';
    } catch (err) {
      this.#report(err, `releasing lease ${this.namespace}/${this.name}`);
    }
  }

  /** Writes `spec` over the Lease as read (its resourceVersion: a 409 if it changed since). */
  async #replaceLease(read: Lease, spec: Lease['spec'], timeoutMs: number): Promise<void> {
    await within(
      this.#client.replace<Lease>({
        apiVersion: leaseApi,
        kind: 'Lease',
        metadata: {
          name: this.name,
          namespace: this.namespace,
          resourceVersion: read.metadata.resourceVersion,
        },
        spec,
      }),
      timeoutMs,
    );
  }

  #report(err: unknown, context: string): void {
    try {
      this.#opts.onError?.(err, context);
    } catch {
      // ignore a failing reporter
    }
  }
}
