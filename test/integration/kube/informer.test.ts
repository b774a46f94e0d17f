// The informer against the real API server: it follows ConfigMaps through churn, resumes the
// watches the server closes, honours label selectors, and relists after a real 410 Gone.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { isGone } from '../../../src/kube/errors.ts';
import { Informer, type ListWatchClient } from '../../../src/kube/informer.ts';
import { client, deleteNamespace, makeNamespace, seconds, skip, until } from './helpers.ts';

let c: KubeClient;
let ns = '';

before(async () => {
  if (skip) return;
  c = await client();
  ns = await makeNamespace(c, 'stk-informer');
});

after(async () => {
  if (skip) return;
  await deleteNamespace(c, ns);
  c.close();
});

const cm = (
  name: string,
  data: Record<string, string>,
  labels?: Record<string, string>,
): KubeObject => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name, namespace: ns, ...(labels ? { labels } : {}) },
  data,
});

/** name → resourceVersion, of the informer's cache and of a fresh list. */
function versions(objs: KubeObject[]): Record<string, string> {
  return Object.fromEntries(
    objs
      .map((o) => [o.metadata.name, o.metadata.resourceVersion ?? ''])
      .sort(([a], [b]) => a!.localeCompare(b!)),
  );
}

async function cacheMatchesList(inf: Informer, labelSelector?: string): Promise<boolean> {
  const fresh = await c.list('v1', 'ConfigMap', { namespace: ns, labelSelector });
  return JSON.stringify(versions(inf.list())) === JSON.stringify(versions(fresh.items));
}

void test(
  'sees adds, updates and deletes, and its cache matches a fresh list after churn',
  { skip },
  async () => {
    const errors: unknown[] = [];
    const inf = new Informer(c, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: ns,
      pageSize: 7,
      onError: (e) => errors.push(e),
    });
    const log: string[] = [];
    inf.onAdd((o) => o.metadata.name.startsWith('watched') && log.push(`add ${o.metadata.name}`));
    inf.onUpdate(
      (a, b) =>
        b.metadata.name.startsWith('watched') &&
        log.push(
          `update ${(a.data as Record<string, string>).v}->${(b.data as Record<string, string>).v}`,
        ),
    );
    inf.onDelete(
      (o) => o.metadata.name.startsWith('watched') && log.push(`delete ${o.metadata.name}`),
    );
    // Some objects before the informer starts, more than one page of them.
    for (let i = 0; i < 20; i++) await c.create(cm(`pre-${i}`, { v: '0' }));
    inf.start();
    await inf.waitForSync();
    assert.equal(inf.size, 20 + 1, 'the 20 ConfigMaps and kube-root-ca.crt');

    await c.create(cm('watched', { v: '1' }));
    await c.mergePatch('v1', 'ConfigMap', 'watched', ns, { data: { v: '2' } });
    await c.delete('v1', 'ConfigMap', 'watched', ns);
    await until(() => log.length === 3, 'the three events for "watched"');
    assert.deepEqual(log, ['add watched', 'update 1->2', 'delete watched']);

    // Churn: creates, updates and deletes, several at a time.
    let ops = 0;
    const worker = async (w: number) => {
      for (let i = 0; i < 40; i++) {
        const name = `churn-${w}-${i % 7}`;
        const r = (w * 31 + i * 17) % 3;
        try {
          if (r === 0) await c.apply(cm(name, { v: String(i) }));
          else if (r === 1)
            await c.mergePatch('v1', 'ConfigMap', `pre-${(w + i) % 20}`, ns, {
              data: { v: `${w}-${i}` },
            });
          else await c.delete('v1', 'ConfigMap', name, ns);
        } catch {
          // deleting what is not there: fine
        }
        ops++;
      }
    };
    await Promise.all([0, 1, 2, 3, 4].map(worker));
    await until(() => cacheMatchesList(inf), 'the cache to match a fresh list');
    await inf.stop();
    console.log(`# ${ops} churn operations; informer: ${JSON.stringify(inf.stats)}`);
    assert.equal(inf.stats.lists, 1, 'no relist was needed');
    assert.deepEqual(errors, []);
  },
);

void test(
  'resumes from the last resourceVersion each time the server closes the watch',
  { skip },
  async () => {
    const inf = new Informer(c, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: ns,
      watchTimeoutSeconds: 1,
    });
    const seen = new Set<string>();
    inf.onAdd((o) => seen.add(o.metadata.name));
    inf.start();
    await inf.waitForSync();
    for (let i = 0; i < 8; i++) {
      await c.create(cm(`closing-${i}`, { v: '1' }));
      await sleep(400); // the server closes each watch after ~1 s
    }
    await until(() => seen.has('closing-7'), 'the last ConfigMap');
    await until(() => cacheMatchesList(inf), 'the cache to match a fresh list');
    await inf.stop();
    console.log(`# watches opened: ${inf.stats.watches}, lists: ${inf.stats.lists}`);
    assert.ok(inf.stats.watches >= 3, `the server closed watches (${inf.stats.watches} opened)`);
    assert.equal(inf.stats.lists, 1, 'closed watches resume without relisting');
    for (let i = 0; i < 8; i++) assert.ok(seen.has(`closing-${i}`));
  },
);

void test(
  'a label selector: an object that loses the label is reported as deleted',
  { skip },
  async () => {
    const inf = new Informer(c, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: ns,
      labelSelector: 'app=mine',
    });
    const log: string[] = [];
    inf.onAdd((o) => log.push(`add ${o.metadata.name}`));
    inf.onDelete((o) => log.push(`delete ${o.metadata.name}`));
    inf.start();
    await inf.waitForSync();
    await c.create(cm('labelled', { v: '1' }, { app: 'mine' }));
    await c.create(cm('other', { v: '1' }, { app: 'theirs' }));
    await c.mergePatch('v1', 'ConfigMap', 'labelled', ns, {
      metadata: { labels: { app: 'changed' } },
    });
    await until(() => log.length === 2, 'add and delete');
    await inf.stop();
    assert.deepEqual(log, ['add labelled', 'delete labelled']);
    assert.equal(inf.size, 0);
  },
);

/**
 * Passes list and watch to the real client, except that a test can cut the informer off (as a
 * network partition would) and later let it reconnect. Nothing is faked on the way back: the
 * informer asks the real server to watch from the version it last saw.
 */
class Partition {
  readonly client: ListWatchClient;
  #cut: AbortController | undefined;
  #healed: Promise<void> | undefined;
  #heal: (() => void) | undefined;

  constructor(real: KubeClient) {
    this.client = {
      list: real.list.bind(real),
      watch: async (path, query, onEvent, signal) => {
        if (this.#healed) await this.#healed;
        const cut = new AbortController();
        this.#cut = cut;
        const both = signal ? AbortSignal.any([signal, cut.signal]) : cut.signal;
        return real.watch(path, query, onEvent, both);
      },
    };
  }

  start(): void {
    this.#healed = new Promise((resolve) => (this.#heal = resolve));
    this.#cut?.abort();
  }

  heal(): void {
    this.#heal?.();
    this.#healed = undefined;
  }
}

/** True when the server answers 410 Gone to a watch from `rv`. */
async function isTooOld(rv: string): Promise<boolean> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 1500);
  try {
    await c.watch(
      `/api/v1/namespaces/${ns}/configmaps`,
      { resourceVersion: rv },
      () => undefined,
      ac.signal,
    );
    return false;
  } catch (err) {
    if (isGone(err)) return true;
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

void test(
  'relists after a real 410 Gone and reports what changed while it was cut off',
  { skip, timeout: 600_000 },
  async () => {
    for (const n of ['g-keep', 'g-change', 'g-drop'])
      await c.create(cm(n, { v: '1' }, { gone: 'test' }));
    const partition = new Partition(c);
    const inf = new Informer(partition.client, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      namespace: ns,
      labelSelector: 'gone=test',
    });
    const log: string[] = [];
    let synced = false;
    inf.onAdd((o) => synced && log.push(`add ${o.metadata.name}`));
    inf.onUpdate((_a, b) => synced && log.push(`update ${b.metadata.name}`));
    inf.onDelete((o) => synced && log.push(`delete ${o.metadata.name}`));
    inf.start();
    await inf.waitForSync();
    synced = true;
    await sleep(200); // let the first watch open

    // Cut the informer off, and change things it will not hear about.
    partition.start();
    const staleRv = inf.resourceVersion;
    const cutAt = Date.now();
    await c.mergePatch('v1', 'ConfigMap', 'g-change', ns, { data: { v: '2' } });
    await c.delete('v1', 'ConfigMap', 'g-drop', ns);
    await c.create(cm('g-new', { v: '1' }, { gone: 'test' }));

    // The API server's watch cache keeps a window of recent ConfigMap events; events older than
    // ~75 s leave it once newer ones push them out. Churn until the informer's version is gone.
    let churn = 0;
    await c.create(cm('g-churn', { i: '0' }));
    while (!(await isTooOld(staleRv))) {
      assert.ok(
        Date.now() - cutAt < 480_000,
        `resourceVersion ${staleRv} still served after 8 min of churn`,
      );
      for (let i = 0; i < 50; i++)
        await c.mergePatch('v1', 'ConfigMap', 'g-churn', ns, { data: { i: String(++churn) } });
      await sleep(2000);
    }
    console.log(
      `# resourceVersion ${staleRv} expired after ${seconds(Date.now() - cutAt)} and ${churn} writes`,
    );

    // Reconnect: the informer watches from its stale version, the server answers 410, it relists.
    partition.heal();
    await until(() => inf.stats.gone >= 1 && inf.stats.lists >= 2, 'a relist after 410', 60_000);
    await until(() => cacheMatchesList(inf, 'gone=test'), 'the cache to match a fresh list');
    await inf.stop();
    console.log(`# real 410 Gone; informer: ${JSON.stringify(inf.stats)}`);
    assert.deepEqual(log.sort(), ['add g-new', 'delete g-drop', 'update g-change']);
    assert.deepEqual(
      inf
        .list()
        .map((o) => o.metadata.name)
        .sort(),
      ['g-change', 'g-keep', 'g-new'],
    );
  },
);
