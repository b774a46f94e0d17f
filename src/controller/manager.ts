// Runs the cloud reconciler: informers keep caches of OpenStackClouds and of everything they
// own; any change enqueues the owning cloud; a work queue runs one reconcile per cloud at a time,
// requeueing work in progress and backing off on errors. The caches run on every replica from
// start (as controller-runtime's do), so a replica is ready once they are synced and a new leader
// starts from warm caches; the queue and the reconciler run only while leading.
import { apiVersion as cloudApiVersion, kind as cloudKind } from '../api/v1alpha1/spec.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { Informer } from '../kube/informer.ts';
import { slimLease, slimNode, slimPod } from '../kube/slim.ts';
import { WorkQueue } from '../kube/workqueue.ts';
import {
  CloudReconciler,
  clusterKinds,
  ownedKinds,
  type Logger,
  type ObjectStore,
  type ReconcilerOptions,
} from './cloud.ts';
import { EventsRecorder } from './events.ts';
import { LeaseClock, NodeHealthReconciler, leaseNamespace } from './nodes.ts';
import { RemediationScanReconciler, type RemediationScanOptions } from './remediation-scan.ts';
import { NovaHealingReconciler } from './nova-healing.ts';
import { cloudNamespaceOf, dataPlaneNamespace } from '../render/namespaces.ts';

export interface ManagerHooks {
  onReconcile?: (
    key: string,
    seconds: number,
    outcome: 'ready' | 'progressing' | 'gone' | 'error',
  ) => void;
}

export interface ManagerOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** Watch one namespace only (default: all), and its clouds' data-plane namespace. */
  readonly namespace?: string;
  readonly workers?: number;
  readonly resyncMs?: number;
  readonly hooks?: ManagerHooks;
  /** Who reconciles, written into each cloud's status (see ReconcilerOptions). */
  readonly reconciledBy?: ReconcilerOptions['reconciledBy'];
  /** The scan of spec.remediation (./remediation-scan.ts); off when not given. */
  readonly remediationScan?: Pick<RemediationScanOptions, 'cacheDir' | 'registryMirrors'>;
}

/** Every cloud is looked at again this often even when nothing changed. */
export const defaultResyncMs = 10 * 60_000;

const managed = 'app.kubernetes.io/managed-by=stackanetes';

function informerKey(apiVersion: string, kind: string, dataPlane = false): string {
  return `${apiVersion}/${kind}${dataPlane ? ' (data plane)' : ''}`;
}

export class Manager {
  readonly informers = new Map<string, Informer>();
  readonly reconciler: CloudReconciler;
  /** Node health (./nodes.ts): its own queue, one key per cloud, looked at every few seconds. */
  readonly nodeHealth: NodeHealthReconciler;
  readonly novaHealing: NovaHealingReconciler;
  readonly remediationScan: RemediationScanReconciler | undefined;
  /** When each node's Lease was last seen to change (fed by the Lease informer on every replica). */
  readonly leases = new LeaseClock();
  readonly #log: Logger;
  readonly #hooks: ManagerHooks;
  readonly #workers: number;
  /** The queue while leading with synced caches; changes seen otherwise are not queued. */
  #queue: WorkQueue | undefined;
  /** Node health and Nova healing: one pass per cloud, each requeued by the pass itself. */
  #passQueues: WorkQueue[] = [];
  #started = false;
  #namespace: string | undefined;

  constructor(o: ManagerOptions) {
    this.#log = o.log;
    this.#hooks = o.hooks ?? {};
    this.#workers = o.workers ?? 2;
    this.#namespace = o.namespace;
    // Watching one namespace: its clouds' data plane lives in a second one, watched beside it.
    const watch = (apiVersion: string, kind: string, labelSelector?: string, dataPlane = false) => {
      const clusterScoped = clusterKinds.some(([a, k]) => a === apiVersion && k === kind);
      const namespace = o.namespace && (dataPlane ? dataPlaneNamespace(o.namespace) : o.namespace);
      const inf = new Informer(o.client, {
        apiVersion,
        kind,
        // Of Pods the reconciler reads names, labels and creation times only.
        ...(kind === 'Pod' ? { transform: slimPod } : {}),
        ...(namespace && !clusterScoped ? { namespace } : {}),
        ...(labelSelector ? { labelSelector } : {}),
        resyncMs: kind === cloudKind ? (o.resyncMs ?? defaultResyncMs) : 0,
        onError: (err, context) =>
          this.#log.warn({ kind, context, err: String(err) }, 'watch trouble; retrying'),
      });
      this.informers.set(informerKey(apiVersion, kind, dataPlane), inf);
      return inf;
    };
    const clouds = watch(cloudApiVersion, cloudKind);
    const enqueueCloud = (c: KubeObject) => {
      this.#queue?.add(`${c.metadata.namespace}/${c.metadata.name}`);
      for (const q of this.#passQueues) q.add(`${c.metadata.namespace}/${c.metadata.name}`);
    };
    clouds
      .onAdd(enqueueCloud)
      .onUpdate((_old, c) => enqueueCloud(c))
      .onDelete(enqueueCloud);
    const enqueueOwner = (o: KubeObject) => {
      const owner = o.metadata.labels?.['app.kubernetes.io/instance'];
      const namespace = cloudNamespaceOf(o.metadata);
      if (owner && namespace) this.#queue?.add(`${namespace}/${owner}`);
      // A cluster-scoped object (a PriorityClass) is every cloud's; a Namespace no cloud labelled
      // is none's.
      else if (!o.metadata.namespace && o.kind !== 'Namespace')
        for (const c of clouds.list()) enqueueCloud(c);
    };
    // Pods only of Jobs (for a failed Job's last log line): DaemonSet pods on hundreds of nodes
    // would fill the cache and trigger reconciles their controllers already report.
    const kinds: [string, string, string | undefined][] = [
      ...[...ownedKinds, ...clusterKinds].map(([a, k]): [string, string, string | undefined] => [
        a,
        k,
        // Namespaces: the cloud's own is not the operator's and has no label of it.
        k === 'Namespace' ? undefined : managed,
      ]),
      ['v1', 'Pod', `${managed},job-name`],
    ];
    for (const [apiVersion, kind, selector] of kinds) {
      const planes = o.namespace && kind !== 'Pod' && !clusterKinds.some(([, k]) => k === kind);
      for (const dataPlane of planes ? [false, true] : [false]) {
        watch(apiVersion, kind, selector, dataPlane)
          .onAdd(enqueueOwner)
          .onUpdate((_old, n) => enqueueOwner(n))
          .onDelete(enqueueOwner);
      }
    }
    // Nodes (whichever namespace is watched: they are the cluster's) and their Leases: their
    // changes queue nothing; node health looks at every cloud every few seconds, and judges a
    // Lease by when this process saw it change.
    const nodes = new Informer(o.client, {
      apiVersion: 'v1',
      kind: 'Node',
      transform: slimNode,
      onError: (err, context) =>
        this.#log.warn({ kind: 'Node', context, err: String(err) }, 'watch trouble; retrying'),
    });
    this.informers.set(informerKey('v1', 'Node'), nodes);
    const leases = new Informer(o.client, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      namespace: leaseNamespace,
      transform: slimLease,
      onError: (err, context) =>
        this.#log.warn({ kind: 'Lease', context, err: String(err) }, 'watch trouble; retrying'),
    });
    this.informers.set(
      `${informerKey('coordination.k8s.io/v1', 'Lease')} (${leaseNamespace})`,
      leases,
    );
    leases
      .onAdd((l) => this.leases.observe(l))
      .onUpdate((_old, l) => this.leases.observe(l))
      .onDelete((l) => this.leases.forget(l.metadata.name));
    this.nodeHealth = new NodeHealthReconciler({
      client: o.client,
      cloud: (namespace, name) => clouds.get(namespace, name),
      nodes: () => nodes.list(),
      leases: this.leases,
      events: new EventsRecorder(o.client),
      log: o.log,
    });
    this.novaHealing = new NovaHealingReconciler({
      client: o.client,
      cloud: (namespace, name) => clouds.get(namespace, name),
      nodes: () => nodes.list(),
      store: this.store(),
      events: new EventsRecorder(o.client),
      log: o.log,
    });
    this.remediationScan = o.remediationScan
      ? new RemediationScanReconciler({
          client: o.client,
          cloud: (namespace, name) => clouds.get(namespace, name),
          events: new EventsRecorder(o.client),
          log: o.log,
          ...o.remediationScan,
        })
      : undefined;
    this.reconciler = new CloudReconciler({
      client: o.client,
      store: this.store(),
      events: new EventsRecorder(o.client),
      log: o.log,
      ...(o.reconciledBy ? { reconciledBy: o.reconciledBy } : {}),
    });
  }

  /** Reads for the reconciler, served from the informers' caches. */
  store(): ObjectStore {
    return {
      get: (apiVersion, kind, namespace, name) =>
        this.#informerFor(apiVersion, kind, namespace)?.get(namespace, name),
      list: (apiVersion, kind, namespace, labels) => {
        const inf = this.#informerFor(apiVersion, kind, namespace);
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

  /** The informer that caches `kind` in `namespace` (one per kind unless watching one namespace). */
  #informerFor(apiVersion: string, kind: string, namespace: string | undefined) {
    const dataPlane =
      this.#namespace !== undefined &&
      namespace !== undefined &&
      namespace === dataPlaneNamespace(this.#namespace);
    return this.informers.get(informerKey(apiVersion, kind, dataPlane));
  }

  /** True once every informer has filled its cache (what /readyz reports). */
  get synced(): boolean {
    return [...this.informers.values()].every((i) => i.hasSynced);
  }

  /** Clouds waiting to be reconciled (0 when not leading). */
  get queueLength(): number {
    return this.#queue?.length ?? 0;
  }

  /** Starts listing and watching (on every replica, leader or not). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const inf of this.informers.values()) inf.start();
  }

  /** Stops the informers (after leading has ended). */
  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
  }

  /** While leading: waits for the caches, then reconciles every cloud until `signal` aborts. */
  async lead(signal: AbortSignal): Promise<void> {
    this.start();
    try {
      await Promise.all([...this.informers.values()].map((i) => i.waitForSync(signal)));
    } catch (err) {
      if (signal.aborted) return; // leadership ended before the caches were complete
      throw err;
    }
    const queue = this.#newQueue();
    this.#queue = queue;
    const passQueues = [
      this.#newPassQueue('node health', (ns, n) => this.nodeHealth.reconcile(ns, n)),
      this.#newPassQueue('nova healing', (ns, n) => this.novaHealing.reconcile(ns, n)),
    ];
    const scan = this.remediationScan;
    if (scan)
      passQueues.push(this.#newPassQueue('remediation scan', (ns, n) => scan.reconcile(ns, n)));
    this.#passQueues = passQueues;
    this.#log.info({ informers: this.informers.size }, 'caches synced; reconciling');
    // Every cloud once: changes before now were not queued.
    for (const c of this.informers.get(`${cloudApiVersion}/${cloudKind}`)!.list()) {
      queue.add(`${c.metadata.namespace}/${c.metadata.name}`);
      for (const q of passQueues) q.add(`${c.metadata.namespace}/${c.metadata.name}`);
    }
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    this.#queue = undefined;
    this.#passQueues = [];
    await Promise.all([queue.shutDown(), ...passQueues.map((q) => q.shutDown())]);
  }

  /** A pass per cloud that says itself when to look again (node health, Nova healing). */
  #newPassQueue(
    what: string,
    pass: (namespace: string, name: string) => Promise<{ requeueAfterMs?: number }>,
  ): WorkQueue {
    return new WorkQueue(
      async (key) => {
        const [namespace, name] = key.split('/') as [string, string];
        const r = await pass(namespace, name);
        return r.requeueAfterMs ? { requeueAfterMs: r.requeueAfterMs } : undefined;
      },
      {
        workers: 1,
        onError: (key, err, retryInMs) =>
          this.#log.error(
            { cloud: key, err: err instanceof Error ? err.message : String(err), retryInMs },
            `${what} pass failed`,
          ),
      },
    );
  }

  #newQueue(): WorkQueue {
    return new WorkQueue(
      async (key) => {
        const [namespace, name] = key.split('/') as [string, string];
        const started = performance.now();
        try {
          const r = await this.reconciler.reconcile(namespace, name);
          this.#hooks.onReconcile?.(
            key,
            (performance.now() - started) / 1000,
            r.gone ? 'gone' : r.ready ? 'ready' : 'progressing',
          );
          return r.requeueAfterMs ? { requeueAfterMs: r.requeueAfterMs } : undefined;
        } catch (err) {
          this.#hooks.onReconcile?.(key, (performance.now() - started) / 1000, 'error');
          throw err;
        }
      },
      {
        workers: this.#workers,
        onError: (key, err, retryInMs) =>
          this.#log.error(
            { cloud: key, err: err instanceof Error ? err.message : String(err), retryInMs },
            'reconcile failed',
          ),
      },
    );
  }
}
