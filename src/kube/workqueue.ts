// A work queue for reconcilers: keys (usually `namespace/name`) waiting to be processed,
// de-duplicated, at most one worker per key at a time, N workers in all, per-key exponential
// back-off when processing fails, and requeue-after for work that must be looked at again later.

/** What a handler may ask for when it succeeds: look at this key again after a while. */
export interface ProcessResult {
  requeueAfterMs?: number;
}

export type ProcessFn = (key: string, signal: AbortSignal) => Promise<ProcessResult | void>;

/** Per-key exponential back-off: base, base×2, base×4, … up to max; `forget` starts again. */
export class ExponentialBackoff {
  readonly baseMs: number;
  readonly maxMs: number;
  readonly #failures = new Map<string, number>();

  constructor(baseMs = 500, maxMs = 5 * 60_000) {
    if (!(baseMs > 0) || !(maxMs >= baseMs)) {
      throw new Error(`back-off needs 0 < baseMs <= maxMs (got ${baseMs}, ${maxMs})`);
    }
    this.baseMs = baseMs;
    this.maxMs = maxMs;
  }

  /** The delay before the next try of this key, counting this failure. */
  when(key: string): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    // 2^n overflows to Infinity for large n; Math.min keeps the cap.
    return Math.min(this.baseMs * 2 ** n, this.maxMs);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }
}

export interface WorkQueueOptions {
  /** How many keys are processed at once (default 1). */
  workers?: number;
  /** First back-off after a failure (default 500 ms). */
  baseDelayMs?: number;
  /** Longest back-off (default 5 min). */
  maxDelayMs?: number;
  /** Told about each failure, with the delay before the key is tried again. */
  onError?: (key: string, err: unknown, retryInMs: number) => void;
}

/**
 * Runs `process(key)` for every key added. Adding a key that is already waiting does nothing;
 * adding a key while it is being processed makes it run once more when the current run ends.
 * A handler that throws is retried after the key's back-off; one that returns is forgotten
 * (back-off reset), and requeued after `requeueAfterMs` if it asked for that.
 */
export class WorkQueue {
  readonly #process: ProcessFn;
  readonly #workers: number;
  readonly #backoff: ExponentialBackoff;
  readonly #onError: (key: string, err: unknown, retryInMs: number) => void;
  /** Keys waiting, in order. */
  readonly #queue: string[] = [];
  /** Keys waiting or to be run again after their current run (the de-duplication set). */
  readonly #dirty = new Set<string>();
  /** Keys being processed now. */
  readonly #processing = new Set<string>();
  /** Keys waiting for a timer (requeue-after or back-off): when they are due, and the timer. */
  readonly #delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #running = new Set<Promise<void>>();
  readonly #abort = new AbortController();
  #shuttingDown = false;

  constructor(process: ProcessFn, opts: WorkQueueOptions = {}) {
    const workers = opts.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) {
      throw new Error(`workers must be a whole number of at least 1 (got ${workers})`);
    }
    this.#process = process;
    this.#workers = workers;
    this.#backoff = new ExponentialBackoff(opts.baseDelayMs ?? 500, opts.maxDelayMs ?? 5 * 60_000);
    this.#onError = opts.onError ?? (() => undefined);
  }

  /** Keys waiting to be processed (not counting those being processed or waiting for a timer). */
  get length(): number {
    return this.#queue.length;
  }

  /** Keys being processed now. */
  get inFlight(): number {
    return this.#processing.size;
  }

  /** Keys waiting for a requeue-after or back-off timer. */
  get delayed(): number {
    return this.#delayed.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: string): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return; // requeued when its current run ends
    this.#queue.push(key);
    this.#dispatch();
  }

  /** Adds the key after `ms`; an earlier pending time for the same key wins. */
  addAfter(key: string, ms: number): void {
    if (this.#shuttingDown) return;
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const at = Date.now() + ms;
    const pending = this.#delayed.get(key);
    if (pending) {
      if (pending.at <= at) return;
      clearTimeout(pending.timer);
    }
    const timer = setTimeout(() => {
      this.#delayed.delete(key);
      this.add(key);
    }, ms);
    this.#delayed.set(key, { at, timer });
  }

  /** Adds the key after its back-off, and lengthens the back-off for next time. */
  addRateLimited(key: string): number {
    const ms = this.#backoff.when(key);
    this.addAfter(key, ms);
    return ms;
  }

  /** Resets the key's back-off (done automatically when its handler succeeds). */
  forget(key: string): void {
    this.#backoff.forget(key);
  }

  /** How many times in a row the key has failed. */
  numRequeues(key: string): number {
    return this.#backoff.retries(key);
  }

  /**
   * Stops taking keys, drops those waiting, and resolves when the handlers running now have
   * returned. With `abort`, the signal passed to those handlers is aborted first.
   */
  async shutDown(opts: { abort?: boolean } = {}): Promise<void> {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    this.#queue.length = 0;
    this.#dirty.clear();
    if (opts.abort) this.#abort.abort(new Error('work queue shut down'));
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  #dispatch(): void {
    while (!this.#shuttingDown && this.#processing.size < this.#workers && this.#queue.length > 0) {
      const key = this.#queue.shift() as string;
      this.#dirty.delete(key);
      this.#processing.add(key);
      const run = this.#run(key);
      this.#running.add(run);
      void run.finally(() => this.#running.delete(run));
    }
  }

  async #run(key: string): Promise<void> {
    try {
      const result = await this.#process(key, this.#abort.signal);
      this.#backoff.forget(key);
      if (result?.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      if (!this.#shuttingDown) {
        const ms = this.addRateLimited(key);
        try {
          this.#onError(key, err, ms);
        } catch {
          // a failing error reporter must not stop the queue
        }
      }
    } finally {
      this.#processing.delete(key);
      if (this.#dirty.has(key)) this.#queue.push(key);
      this.#dispatch();
    }
  }
}
