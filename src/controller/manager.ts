// Runs the cloud reconciler: informers keep caches of OpenStackClouds and of everything they
// own; any change enqueues the owning cloud; a work queue runs one reconcile per cloud at a time,
// requeueing work in progress and backing off on errors.
import { apiVersion as cloudApiVersion, kind as cloudKind } from '../api/v1alpha1/spec.ts';
import type { KubeClient, KubeObj } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { WorkQueue } from '../kube/workqueue.ts';
import {
  CloudReconciler,
  clusterKinds,
  ownedKinds,
  type Logger,
  type ObjectStore,
} from './cloud.ts';
import { EventsRecorder } from './events.ts';

export interface ManagerHooks {
  onReconcile?: (key: string, seconds: number, outcome: 'ready' | 'progressing' | 'error') => void;
}

export interface ManagerOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** Watch one namespace only (default: all). */
  readonly namespace?: string;
  readonly workers?: number;
  readonly resyncMs?: number;
  readonly hooks?: ManagerHooks;
}

const managed = 'app.kubernetes.io/managed-by=stackanetes';

export class Manager {
  readonly informers = new Map<string, Informer>();
  readonly queue: WorkQueue;
  readonly reconciler: CloudReconciler;
  readonly #log: Logger;
  readonly #hooks: ManagerHooks;
  /** Events before every cache is complete are dropped: run() enqueues every cloud after sync. */
  #synced = false;

  constructor(o: ManagerOptions) {
    this.#log = o.log;
    this.#hooks = o.hooks ?? {};
    const watch = (apiVersion: string, kind: string, labelSelector?: string) => {
      const clusterScoped = clusterKinds.some(([a, k]) => a === apiVersion && k === kind);
      const inf = new Informer(o.client, {
        apiVersion,
        kind,
        ...(o.namespace && !clusterScoped ? { namespace: o.namespace } : {}),
        ...(labelSelector ? { labelSelector } : {}),
        resyncMs: kind === cloudKind ? (o.resyncMs ?? 10 * 60_000) : 0,
        onError: (err, context) =>
          this.#log.warn({ kind, context, err: String(err) }, 'watch trouble; retrying'),
      });
      this.informers.set(`${apiVersion}/${kind}`, inf);
      return inf;
    };
    const clouds = watch(cloudApiVersion, cloudKind);
    const enqueueCloud = (c: KubeObj) => {
      if (this.#synced) this.queue.add(`${c.metadata.namespace}/${c.metadata.name}`);
    };
    clouds
      .onAdd(enqueueCloud)
      .onUpdate((_old, c) => enqueueCloud(c))
      .onDelete(enqueueCloud);
    const enqueueOwner = (o: KubeObj) => {
      const owner = o.metadata.labels?.['app.kubernetes.io/instance'];
      if (this.#synced && owner && o.metadata.namespace)
        this.queue.add(`${o.metadata.namespace}/${owner}`);
      // A cluster-scoped object (a PriorityClass) is every cloud's.
      else if (!o.metadata.namespace) for (const c of clouds.list()) enqueueCloud(c);
    };
    // Pods only of Jobs (for a failed Job's last log line): DaemonSet pods on hundreds of nodes
    // would fill the cache and trigger reconciles their controllers already report.
    const kinds: [string, string, string][] = [
      ...[...ownedKinds, ...clusterKinds].map(([a, k]): [string, string, string] => [
        a,
        k,
        managed,
      ]),
      ['v1', 'Pod', `${managed},job-name`],
    ];
    for (const [apiVersion, kind, selector] of kinds) {
      watch(apiVersion, kind, selector)
        .onAdd(enqueueOwner)
        .onUpdate((_old, n) => enqueueOwner(n))
        .onDelete(enqueueOwner);
    }
    this.reconciler = new CloudReconciler({
      client: o.client,
      store: this.store(),
      events: new EventsRecorder(o.client),
      log: o.log,
    });
    this.queue = new WorkQueue(
      async (key) => {
        const [namespace, name] = key.split('/') as [string, string];
        const started = performance.now();
        try {
          const r = await this.reconciler.reconcile(namespace, name);
          this.#hooks.onReconcile?.(
            key,
            (performance.now() - started) / 1000,
            r.ready ? 'ready' : 'progressing',
          );
          return r.requeueAfterMs ? { requeueAfterMs: r.requeueAfterMs } : undefined;
        } catch (err) {
          this.#hooks.onReconcile?.(key, (performance.now() - started) / 1000, 'error');
          throw err;
        }
      },
      {
        workers: o.workers ?? 2,
        onError: (key, err, retryInMs) =>
          this.#log.error(
            { cloud: key, err: err instanceof Error ? err.message : String(err), retryInMs },
            'reconcile failed',
          ),
      },
    );
  }

  /** Reads for the reconciler, served from the informers' caches. */
  store(): ObjectStore {
    return {
      get: (apiVersion, kind, namespace, name) =>
        this.informers.get(`${apiVersion}/${kind}`)?.get(namespace, name),
      list: (apiVersion, kind, namespace, labels) => {
        const inf = this.informers.get(`${apiVersion}/${kind}`);
        if (!inf) throw new Error(`no informer for ${apiVersion} ${kind}`);
        return inf
          .list()
          .filter(
            (o) =>
              o.metadata.namespace === namespace &&
              Object.entries(labels).every(([k, v]) => o.metadata.labels?.[k] === v),
          );
      },
    };
  }

  get synced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced);
  }

  /** Starts the informers, waits for their caches, then processes until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    for (const inf of this.informers.values()) inf.start();
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync(signal)));
    this.#synced = true;
    this.#log.info({ informers: this.informers.size }, 'caches synced; reconciling');
    // Enqueue every cloud once the caches are complete (the add events came before the workers could see owned objects).
    for (const c of this.informers.get(`${cloudApiVersion}/${cloudKind}`)!.list()) {
      this.queue.add(`${c.metadata.namespace}/${c.metadata.name}`);
    }
    await new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    await this.queue.shutDown();
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }
}
