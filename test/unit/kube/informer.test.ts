// The informer against an in-memory fake of list+watch (the real API server is in
// test/integration/kube/): resuming closed watches, bookmarks, relist on 410 with the
// differences reported, back-off on errors, resync, and handlers that throw.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WatchEvent } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { ApiError } from '../../../src/kube/errors.ts';
import { Informer, type ListWatchClient } from '../../../src/kube/informer.ts';
import { slimPod } from '../../../src/kube/slim.ts';

interface Watcher {
  onEvent: (e: WatchEvent<KubeObject>) => void;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** A tiny API server in memory: ConfigMaps in one namespace, a history, compaction. */
class FakeApi {
  rv = 100;
  readonly objects = new Map<string, KubeObject>();
  readonly history: WatchEvent<KubeObject>[] = [];
  compactedTo = 0;
  readonly watchers = new Set<Watcher>();
  readonly watchFrom: string[] = [];
  lists = 0;
  failNext: Error[] = [];

  put(
    name: string,
    data: Record<string, string>,
    metadata: Partial<KubeObject['metadata']> = {},
  ): void {
    const type = this.objects.has(name) ? 'MODIFIED' : 'ADDED';
    const obj: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...metadata, name, namespace: 'ns', resourceVersion: String(++this.rv) },
      data,
    };
    this.objects.set(name, obj);
    this.#emit({ type, object: obj });
  }

  remove(name: string): void {
    const obj = this.objects.get(name);
    if (!obj) return;
    this.objects.delete(name);
    this.#emit({
      type: 'DELETED',
      object: { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++this.rv) } },
    });
  }

  bookmark(): void {
    ++this.rv;
    for (const w of this.watchers) {
      w.onEvent({
        type: 'BOOKMARK',
        object: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: '', resourceVersion: String(this.rv) },
        },
      });
    }
  }

  /** The server ends every watch (as it does after its timeout). */
  closeWatches(): void {
    for (const w of [...this.watchers]) w.resolve();
    this.watchers.clear();
  }

  /** Everything up to now is compacted: watches from older versions get 410, and so do open ones. */
  compact(): void {
    this.compactedTo = this.rv;
    for (const w of [...this.watchers]) w.reject(gone());
    this.watchers.clear();
  }

  #emit(e: WatchEvent<KubeObject>): void {
    this.history.push(e);
    for (const w of this.watchers) w.onEvent(e);
  }

  readonly client = {
    list: (
      _a: string,
      _k: string,
      o: { transform?: (obj: KubeObject) => KubeObject } = {},
    ): Promise<{ items: KubeObject[]; resourceVersion: string }> => {
      this.lists++;
      const fail = this.failNext.shift();
      if (fail) return Promise.reject(fail);
      const keep = o.transform ?? ((obj: KubeObject) => obj);
      return Promise.resolve({
        items: [...this.objects.values()].map((obj) => keep(structuredClone(obj))),
        resourceVersion: String(this.rv),
      });
    },
    watch: (
      _path: string,
      query: Record<string, string | number | boolean | undefined>,
      onEvent: (e: WatchEvent<KubeObject>) => void,
      signal?: AbortSignal,
    ): Promise<void> => {
      const from = Number(query.resourceVersion);
      this.watchFrom.push(String(query.resourceVersion));
      const fail = this.failNext.shift();
      if (fail) return Promise.reject(fail);
      if (from < this.compactedTo) return Promise.reject(gone());
      return new Promise<void>((resolve, reject) => {
        const w: Watcher = { onEvent, resolve, reject };
        const stop = () => {
          this.watchers.delete(w);
          resolve();
        };
        signal?.addEventListener('abort', stop, { once: true });
        for (const e of this.history)
          if (Number(e.object.metadata.resourceVersion) > from) onEvent(e);
        this.watchers.add(w);
      });
    },
  } as unknown as ListWatchClient;
}

function gone(): ApiError {
  return new ApiError('WATCH', '/api/v1/configmaps', 410, 'Expired', 'too old resource version');
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (cond()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

function record(inf: Informer): string[] {
  const log: string[] = [];
  inf.onAdd((o) => log.push(`add ${o.metadata.name}`));
  inf.onUpdate((a, b) =>
    log.push(
      `update ${b.metadata.name} ${a.metadata.resourceVersion}->${b.metadata.resourceVersion}`,
    ),
  );
  inf.onDelete((o) => log.push(`delete ${o.metadata.name}`));
  return log;
}

function names(inf: Informer): string[] {
  return inf
    .list()
    .map((o) => o.metadata.name)
    .sort();
}

const opts = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  namespace: 'ns',
  backoffBaseMs: 5,
  backoffMaxMs: 20,
};

void test('lists, then follows adds, updates and deletes from the watch', async () => {
  const api = new FakeApi();
  api.put('a', { v: '1' });
  const inf = new Informer(api.client, opts);
  const log = record(inf);
  inf.start();
  await inf.waitForSync();
  assert.equal(inf.hasSynced, true);
  assert.deepEqual(log, ['add a']);
  api.put('b', { v: '1' });
  api.put('a', { v: '2' });
  api.remove('b');
  await until(() => log.length === 4, 'three events');
  assert.deepEqual(log.slice(1), ['add b', 'update a 101->103', 'delete b']);
  assert.deepEqual(inf.get('ns', 'a')?.data, { v: '2' });
  assert.equal(inf.get('ns', 'b'), undefined);
  await inf.stop();
});

void test('a watch the server closes is resumed from the last resourceVersion, without a relist', async () => {
  const api = new FakeApi();
  const inf = new Informer(api.client, opts);
  const log = record(inf);
  inf.start();
  await inf.waitForSync();
  api.put('a', { v: '1' });
  await until(() => log.length === 1, 'add a');
  api.closeWatches();
  api.put('b', { v: '1' }); // happens while no watch is open
  await until(() => log.length === 2, 'add b, replayed by the next watch');
  assert.deepEqual(log, ['add a', 'add b']);
  assert.equal(api.lists, 1);
  assert.deepEqual(api.watchFrom, ['100', '101']);
  await inf.stop();
});

void test('bookmarks move the resourceVersion forward', async () => {
  const api = new FakeApi();
  const inf = new Informer(api.client, opts);
  inf.start();
  await inf.waitForSync();
  await until(() => api.watchers.size === 1, 'a watch');
  api.bookmark();
  api.bookmark();
  await until(() => inf.resourceVersion === '102', 'the bookmark version');
  assert.equal(inf.stats.bookmarks, 2);
  api.closeWatches();
  await until(() => api.watchFrom.length === 2, 'the next watch');
  assert.equal(api.watchFrom[1], '102');
  await inf.stop();
});

void test('410 Gone relists and reports exactly what changed meanwhile', async () => {
  const api = new FakeApi();
  for (const n of ['keep', 'change', 'drop']) api.put(n, { v: '1' });
  const inf = new Informer(api.client, opts);
  const log = record(inf);
  inf.start();
  await inf.waitForSync();
  await until(() => api.watchers.size === 1, 'a watch');
  // Changes the informer does not hear about, then compaction: the old version is gone.
  const watchers = [...api.watchers];
  api.watchers.clear();
  api.put('change', { v: '2' });
  api.remove('drop');
  api.put('new', { v: '1' });
  api.compact();
  for (const w of watchers) w.reject(gone());
  await until(() => inf.stats.gone === 1 && api.lists === 2 && log.length === 6, 'the relist');
  assert.deepEqual(log.slice(3).sort(), ['add new', 'delete drop', 'update change 102->104']);
  assert.deepEqual(names(inf), ['change', 'keep', 'new']);
  assert.equal(inf.resourceVersion, '106');
  await inf.stop();
});

void test('other failures back off and retry, without relisting', async () => {
  const api = new FakeApi();
  api.put('a', { v: '1' });
  const refused = new ApiError('GET', '/api/v1/configmaps', 0, 'ConnectionFailed', 'ECONNREFUSED');
  api.failNext = [refused, refused];
  const errors: string[] = [];
  const inf = new Informer(api.client, { ...opts, onError: (_e, ctx) => errors.push(ctx) });
  inf.start();
  await inf.waitForSync();
  assert.deepEqual(errors, ['listing ConfigMap', 'listing ConfigMap']);
  api.failNext = [
    new ApiError('WATCH', '/api/v1/configmaps', 500, 'InternalError', 'etcd leader changed'),
  ];
  api.closeWatches();
  api.put('b', { v: '1' });
  await until(() => inf.get('ns', 'b') !== undefined, 'b after the failed watch');
  assert.equal(inf.stats.errors, 3);
  assert.equal(api.lists, 3, 'two failed lists and one good one; no list after the failed watch');
  await inf.stop();
});

void test('resync reports every cached object as an update to itself', async () => {
  const api = new FakeApi();
  api.put('a', { v: '1' });
  api.put('b', { v: '1' });
  const inf = new Informer(api.client, { ...opts, resyncMs: 10 });
  const updates: string[] = [];
  inf.onUpdate((a, b) => {
    assert.equal(a, b);
    updates.push(b.metadata.name);
  });
  inf.start();
  await until(() => updates.length >= 4, 'two resyncs');
  await inf.stop();
  assert.deepEqual(updates.slice(0, 4).sort(), ['a', 'a', 'b', 'b']);
});

void test('a handler that throws neither stops the informer nor the other handlers', async () => {
  const api = new FakeApi();
  const errors: string[] = [];
  const inf = new Informer(api.client, { ...opts, onError: (_e, ctx) => errors.push(ctx) });
  inf.onAdd(() => {
    throw new Error('bug');
  });
  const log = record(inf);
  inf.start();
  await inf.waitForSync();
  api.put('a', { v: '1' });
  api.put('b', { v: '1' });
  await until(() => log.length === 2, 'both adds');
  assert.deepEqual(errors, ['ConfigMap add handler', 'ConfigMap add handler']);
  assert.deepEqual(names(inf), ['a', 'b']);
  await inf.stop();
});

void test('stop ends the watch and start refuses to run twice', async () => {
  const api = new FakeApi();
  const inf = new Informer(api.client, opts);
  inf.start();
  assert.throws(() => inf.start(), /already started/);
  await inf.waitForSync();
  await until(() => api.watchers.size === 1, 'a watch');
  await inf.stop();
  assert.equal(api.watchers.size, 0);
});

void test('cached objects keep no managedFields or last-applied copy, from the list and from the watch', async () => {
  const api = new FakeApi();
  const heavy = {
    managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:data': {} } }],
    annotations: {
      'kubectl.kubernetes.io/last-applied-configuration': '{"data":{"v":"1"}}',
      keep: 'me',
    },
  };
  api.put('listed', { v: '1' }, heavy);
  const inf = new Informer(api.client, opts);
  const seen: KubeObject[] = [];
  inf.onAdd((o) => seen.push(o));
  inf.start();
  await inf.waitForSync();
  api.put('watched', { v: '1' }, heavy);
  await until(() => inf.size === 2, 'the watched object');
  for (const name of ['listed', 'watched']) {
    const o = inf.get('ns', name)!;
    assert.equal(o.metadata.managedFields, undefined, name);
    assert.deepEqual(o.metadata.annotations, { keep: 'me' }, name);
    assert.deepEqual(o.data, { v: '1' }, name);
  }
  assert.equal(seen.length, 2);
  assert.ok(
    seen.every((o) => o.metadata.managedFields === undefined),
    'handlers get the same',
  );
  await inf.stop();
});

void test('a transform decides what is cached', async () => {
  const api = new FakeApi();
  api.put('a', { big: 'x'.repeat(1000), small: 'y' });
  const inf = new Informer(api.client, {
    ...opts,
    transform: (o) => ({ ...o, data: { small: (o.data as Record<string, string>).small! } }),
  });
  inf.start();
  await inf.waitForSync();
  api.put('b', { big: 'x', small: 'z' });
  await until(() => inf.size === 2, 'b');
  assert.deepEqual(inf.get('ns', 'a')?.data, { small: 'y' });
  assert.deepEqual(inf.get('ns', 'b')?.data, { small: 'z' });
  await inf.stop();
});

void test('a slim Pod keeps its node, phase, conditions and container states, not its spec', () => {
  const pod: KubeObject = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: 'keystone-api-1',
      namespace: 'openstack',
      labels: { app: 'keystone' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'keystone-api-7f', uid: 'rs-1' },
      ],
      managedFields: [{ manager: 'kubelet' }],
    },
    spec: { nodeName: 'node-1', containers: [{ name: 'api', image: 'x', env: [] }], volumes: [] },
    status: {
      phase: 'Running',
      podIP: '10.0.0.5',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: 't', lastProbeTime: null }],
      containerStatuses: [
        {
          name: 'api',
          ready: true,
          restartCount: 2,
          state: { running: {} },
          image: 'x',
          imageID: 'y',
        },
      ],
    },
  };
  const s = slimPod(pod);
  assert.deepEqual(s.spec, { nodeName: 'node-1' });
  assert.equal(s.metadata.managedFields, undefined);
  assert.deepEqual(s.metadata.labels, { app: 'keystone' });
  assert.deepEqual((s.status as any).conditions, [
    { type: 'Ready', status: 'True', lastTransitionTime: 't' },
  ]);
  assert.deepEqual((s.status as any).containerStatuses, [
    { name: 'api', ready: true, restartCount: 2, state: { running: {} } },
  ]);
  assert.equal((s.status as any).phase, 'Running');
});
