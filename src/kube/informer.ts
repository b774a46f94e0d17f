// An informer for one kind: a paginated list, then a watch from the list's resourceVersion
// (with bookmarks), an in-memory cache, and handlers told of every add, update and delete.
// A closed watch is resumed from the last resourceVersion seen; a 410 Gone (the version was
// compacted away) relists and reports the differences, so the cache and the handlers stay right;
// other failures back off (capped exponential) and retry. Every `resyncMs` each cached object
// is reported again as an update, so level-based reconcilers get to look at everything. What is
// cached of each object is `transform`'s result (default: without managedFields; ./slim.ts).
import { collectionPath, type KubeClient, type WatchEvent } from './client.ts';
import type { KubeObject } from '../render/kube.ts';
import { isGone } from './errors.ts';
import { slim } from './slim.ts';
import { abortableSleep } from './sleep.ts';

/** The part of KubeClient an informer uses (a fake can stand in for it in unit tests). */
export type ListWatchClient = Pick<KubeClient, 'list' | 'watch'>;

export interface InformerOptions {
  apiVersion: string;
  kind: string;
  /** Only this namespace (default: all namespaces). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-report every cached object as an update this often; 0 (the default) never. */
  resyncMs?: number;
  /** Page size of the list (default 500). */
  pageSize?: number;
  /** Back-off after a failed list or watch: first delay and cap (default 1 s and 30 s). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /**
   * How long the server keeps one watch open before closing it (default: a random 5–10 min,
   * so that many informers do not re-watch together). The informer then watches again.
   */
  watchTimeoutSeconds?: number;
  /** Told about failures that the informer retries, and handler exceptions. */
  onError?: (err: unknown, context: string) => void;
  /**
   * What to keep of each object, before it is cached or handed to handlers (default: `slim`,
   * everything but managedFields and kubectl's last-applied annotation).
   */
  transform?: (obj: KubeObject) => KubeObject;
}

/** Counters, for metrics and for tests. */
export interface InformerStats {
  lists: number;
  watches: number;
  /** Relists because the server answered 410 Gone. */
  gone: number;
  /** Failed lists or watches other than 410. */
  errors: number;
  events: number;
  bookmarks: number;
  resyncs: number;
}

type AddHandler<T> = (obj: T) => void;
type UpdateHandler<T> = (oldObj: T, newObj: T) => void;
type DeleteHandler<T> = (obj: T) => void;

function cacheKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

export class Informer<T extends KubeObject = KubeObject> {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string | undefined;
  readonly stats: InformerStats = {
    lists: 0,
    watches: 0,
    gone: 0,
    errors: 0,
    events: 0,
    bookmarks: 0,
    resyncs: 0,
  };
  readonly #client: ListWatchClient;
  readonly #opts: InformerOptions;
  readonly #transform: (obj: KubeObject) => T;
  readonly #cache = new Map<string, T>();
  readonly #onAdd: AddHandler<T>[] = [];
  readonly #onUpdate: UpdateHandler<T>[] = [];
  readonly #onDelete: DeleteHandler<T>[] = [];
  readonly #syncWaiters: (() => void)[] = [];
  #resourceVersion = '';
  #synced = false;
  #abort: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #resyncTimer: NodeJS.Timeout | undefined;

  constructor(client: ListWatchClient, opts: InformerOptions) {
    collectionPath(opts.apiVersion, opts.kind, opts.namespace); // fails early on an unknown kind
    this.#client = client;
    this.#opts = opts;
    this.#transform = (opts.transform ?? slim) as (obj: KubeObject) => T;
    this.apiVersion = opts.apiVersion;
    this.kind = opts.kind;
    this.namespace = opts.namespace;
  }

  onAdd(fn: AddHandler<T>): this {
    this.#onAdd.push(fn);
    return this;
  }

  onUpdate(fn: UpdateHandler<T>): this {
    this.#onUpdate.push(fn);
    return this;
  }

  onDelete(fn: DeleteHandler<T>): this {
    this.#onDelete.push(fn);
    return this;
  }

  /** True once the first list has filled the cache. */
  get hasSynced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion the next watch starts from (from the list, events and bookmarks). */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  /** A cached object (namespace undefined for cluster-scoped kinds). */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.#cache.get(cacheKey(namespace, name));
  }

  /** Every cached object. */
  list(): T[] {
    return [...this.#cache.values()];
  }

  get size(): number {
    return this.#cache.size;
  }

  /** Starts listing and watching in the background; `stop()` ends it. */
  start(): void {
    if (this.#loop) throw new Error(`informer for ${this.kind} already started`);
    const abort = new AbortController();
    this.#abort = abort;
    this.#loop = this.#run(abort.signal);
    const resyncMs = this.#opts.resyncMs ?? 0;
    if (resyncMs > 0) this.#resyncTimer = setInterval(() => this.#resync(), resyncMs);
  }

  /** Resolves when the first list has filled the cache (or the signal aborts: then rejects). */
  waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = () =>
        reject(new Error(`stopped waiting for the ${this.kind} informer to sync`));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** Stops watching and resolves when the background loop has ended. The cache is kept. */
  async stop(): Promise<void> {
    if (this.#resyncTimer) clearInterval(this.#resyncTimer);
    this.#resyncTimer = undefined;
    this.#abort?.abort();
    await this.#loop;
  }

  async #run(signal: AbortSignal): Promise<void> {
    let needList = true;
    let failures = 0;
    let gones = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.#relist();
          needList = false;
        }
        const started = Date.now();
        const events = await this.#watch(signal);
        if (signal.aborted) break;
        gones = 0;
        // The server ends every watch after its timeout; resume from the last resourceVersion.
        // A watch that ends at once with nothing in it counts as a failure, so it cannot spin.
        if (events === 0 && Date.now() - started < 1000) {
          failures++;
          await abortableSleep(this.#backoff(failures), signal);
        } else {
          failures = 0;
        }
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          // Our resourceVersion is too old (or a list's continue token expired): list afresh.
          this.stats.gone++;
          needList = true;
          gones++;
          // The first 410 relists at once; repeated ones back off.
          if (gones > 1) await abortableSleep(this.#backoff(gones - 1), signal);
          continue;
        }
        this.stats.errors++;
        failures++;
        this.#report(err, needList ? `listing ${this.kind}` : `watching ${this.kind}`);
        await abortableSleep(this.#backoff(failures), signal);
      }
    }
  }

  #backoff(failures: number): number {
    const base = this.#opts.backoffBaseMs ?? 1000;
    const max = this.#opts.backoffMaxMs ?? 30_000;
    const ms = Math.min(base * 2 ** (failures - 1), max);
    return ms * (0.8 + 0.4 * Math.random()); // jitter, so informers do not retry in step
  }

  /** Lists everything, replaces the cache and reports the differences from the old one. */
  async #relist(): Promise<void> {
    this.stats.lists++;
    const { items, resourceVersion } = await this.#client.list<T>(this.apiVersion, this.kind, {
      namespace: this.namespace,
      labelSelector: this.#opts.labelSelector,
      fieldSelector: this.#opts.fieldSelector,
      pageSize: this.#opts.pageSize,
      transform: this.#transform,
    });
    const fresh = new Map<string, T>();
    for (const obj of items) fresh.set(cacheKey(obj.metadata.namespace, obj.metadata.name), obj);
    const old = new Map(this.#cache);
    this.#cache.clear();
    for (const [k, obj] of fresh) this.#cache.set(k, obj);
    this.#resourceVersion = resourceVersion;
    for (const [k, obj] of fresh) {
      const before = old.get(k);
      if (!before) this.#emitAdd(obj);
      else if (before.metadata.resourceVersion !== obj.metadata.resourceVersion)
        this.#emitUpdate(before, obj);
    }
    for (const [k, obj] of old) if (!fresh.has(k)) this.#emitDelete(obj);
    if (!this.#synced) {
      this.#synced = true;
      for (const w of this.#syncWaiters.splice(0)) w();
    }
  }

  /** Watches from the current resourceVersion until the server closes; returns the event count. */
  async #watch(signal: AbortSignal): Promise<number> {
    this.stats.watches++;
    let events = 0;
    const timeoutSeconds = this.#opts.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);
    await this.#client.watch<T>(
      collectionPath(this.apiVersion, this.kind, this.namespace),
      {
        resourceVersion: this.#resourceVersion,
        labelSelector: this.#opts.labelSelector,
        fieldSelector: this.#opts.fieldSelector,
        timeoutSeconds,
      },
      (e) => {
        events++;
        this.#handle(e);
      },
      signal,
    );
    return events;
  }

  #handle(e: WatchEvent<T>): void {
    const obj = e.object;
    const rv = obj?.metadata?.resourceVersion;
    if (e.type === 'BOOKMARK') {
      this.stats.bookmarks++;
      if (rv) this.#resourceVersion = rv;
      return;
    }
    this.stats.events++;
    // Watch events carry apiVersion and kind, but make sure: handlers and callers rely on them.
    const full = this.#transform({ ...obj, apiVersion: this.apiVersion, kind: this.kind });
    const k = cacheKey(full.metadata.namespace, full.metadata.name);
    const before = this.#cache.get(k);
    if (e.type === 'ADDED' || e.type === 'MODIFIED') {
      this.#cache.set(k, full);
      if (before) this.#emitUpdate(before, full);
      else this.#emitAdd(full);
    } else if (e.type === 'DELETED') {
      this.#cache.delete(k);
      this.#emitDelete(full);
    }
    if (rv) this.#resourceVersion = rv;
  }

  #resync(): void {
    if (!this.#synced) return;
    this.stats.resyncs++;
    for (const obj of this.#cache.values()) this.#emitUpdate(obj, obj);
  }

  #emitAdd(obj: T): void {
    for (const fn of this.#onAdd) this.#call(() => fn(obj), 'add');
  }

  #emitUpdate(oldObj: T, newObj: T): void {
    for (const fn of this.#onUpdate) this.#call(() => fn(oldObj, newObj), 'update');
  }

  #emitDelete(obj: T): void {
    for (const fn of this.#onDelete) this.#call(() => fn(obj), 'delete');
  }

  #call(fn: () => void, what: string): void {
    try {
      fn();
    } catch (err) {
      // A handler's bug must not stop the informer or leave its cache behind.
      this.#report(err, `${this.kind} ${what} handler`);
    }
  }

  #report(err: unknown, context: string): void {
    try {
      this.#opts.onError?.(err, context);
    } catch {
      // ignore a failing reporter
    }
  }
}
