// Leader election against an in-memory Lease store that checks resourceVersions like the API
// server does (the real API server is in test/integration/kube/). Assertions are about who
// leads and in which order things happen, never about how long it took.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeObject } from '../../../src/render/kube.ts';
import { ApiError } from '../../../src/kube/errors.ts';
import {
  LeaderElector,
  microTime,
  type Lease,
  type LeaseClient,
} from '../../../src/kube/leader.ts';

/** One Lease store; each elector gets its own client onto it, which a test can cut off. */
class FakeLeases {
  rv = 1;
  readonly leases = new Map<string, Lease>();
  writes = 0;

  client(): LeaseClient & { down: boolean } {
    const path = '/apis/coordination.k8s.io/v1/leases';
    const c = {
      down: false,
      get: (_a: string, _k: string, name: string, ns?: string): Promise<KubeObject> => {
        if (c.down)
          return Promise.reject(new ApiError('GET', path, 0, 'ConnectionFailed', 'ECONNREFUSED'));
        const l = this.leases.get(`${ns}/${name}`);
        if (!l) return Promise.reject(new ApiError('GET', path, 404, 'NotFound', 'not found'));
        return Promise.resolve(structuredClone(l));
      },
      create: (obj: KubeObject): Promise<KubeObject> => {
        if (c.down)
          return Promise.reject(new ApiError('POST', path, 0, 'ConnectionFailed', 'ECONNREFUSED'));
        const k = `${obj.metadata.namespace}/${obj.metadata.name}`;
        if (this.leases.has(k))
          return Promise.reject(new ApiError('POST', path, 409, 'AlreadyExists', 'exists'));
        return Promise.resolve(this.#store(k, obj));
      },
      replace: (obj: KubeObject): Promise<KubeObject> => {
        if (c.down)
          return Promise.reject(new ApiError('PUT', path, 0, 'ConnectionFailed', 'ECONNREFUSED'));
        const k = `${obj.metadata.namespace}/${obj.metadata.name}`;
        const cur = this.leases.get(k);
        if (!cur) return Promise.reject(new ApiError('PUT', path, 404, 'NotFound', 'not found'));
        if (cur.metadata.resourceVersion !== obj.metadata.resourceVersion) {
          return Promise.reject(
            new ApiError('PUT', path, 409, 'Conflict', 'the object has been modified'),
          );
        }
        return Promise.resolve(this.#store(k, obj));
      },
    };
    return c as unknown as LeaseClient & { down: boolean };
  }

  #store(k: string, obj: KubeObject): Lease {
    this.writes++;
    const stored = structuredClone(obj) as Lease;
    stored.metadata.resourceVersion = String(++this.rv);
    this.leases.set(k, stored);
    return structuredClone(stored);
  }

  holder(): string | undefined {
    return this.leases.get('ns/lock')?.spec?.holderIdentity;
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (cond()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

const timing = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 };

function elector(store: FakeLeases, identity: string, log: string[]) {
  const client = store.client();
  let signal: AbortSignal | undefined;
  const e = new LeaderElector(client, {
    namespace: 'ns',
    name: 'lock',
    identity,
    ...timing,
    onStartedLeading: (s) => {
      signal = s;
      log.push(`${identity} started`);
    },
    onStoppedLeading: () => log.push(`${identity} stopped`),
  });
  return { e, client, signal: () => signal };
}

void test('of two candidates started together exactly one leads, and keeps renewing', async () => {
  const store = new FakeLeases();
  const log: string[] = [];
  const a = elector(store, 'a', log);
  const b = elector(store, 'b', log);
  a.e.start();
  b.e.start();
  await until(() => log.length === 1, 'a leader');
  const writesAfterAcquire = store.writes;
  await sleep(300);
  assert.equal([a.e.isLeader, b.e.isLeader].filter(Boolean).length, 1);
  assert.equal(log.length, 1, 'nobody else started leading');
  assert.ok(store.writes > writesAfterAcquire, 'the leader renews');
  const leader = a.e.isLeader ? a : b;
  const other = a.e.isLeader ? b : a;
  assert.equal(store.holder(), leader.e.identity);
  assert.equal(other.e.leader, leader.e.identity, 'the other candidate knows who leads');
  await a.e.stop();
  await b.e.stop();
});

void test('a leader cut off from the API server steps down before another takes over', async () => {
  const store = new FakeLeases();
  const log: string[] = [];
  const a = elector(store, 'a', log);
  a.e.start();
  await until(() => a.e.isLeader, 'a leads');
  const b = elector(store, 'b', log);
  b.e.start();
  await sleep(150);
  a.client.down = true;
  await until(() => log.includes('b started'), 'b leads');
  assert.deepEqual(log, ['a started', 'a stopped', 'b started'], 'a stepped down first');
  assert.equal(a.signal()?.aborted, true, "a's leading signal is aborted");
  assert.equal(a.e.isLeader, false);
  assert.equal(store.leases.get('ns/lock')?.spec?.leaseTransitions, 1);
  await a.e.stop();
  await b.e.stop();
});

void test('a graceful stop releases the lease; stop({ release: false }) leaves it to expire', async () => {
  const store = new FakeLeases();
  const log: string[] = [];
  const a = elector(store, 'a', log);
  a.e.start();
  await until(() => a.e.isLeader, 'a leads');
  await a.e.stop();
  assert.deepEqual(log, ['a started', 'a stopped']);
  assert.equal(store.holder(), '');
  assert.equal(store.leases.get('ns/lock')?.spec?.leaseDurationSeconds, 1);

  const b = elector(store, 'b', log);
  b.e.start();
  await until(() => b.e.isLeader, 'b leads');
  await b.e.stop({ release: false });
  assert.equal(store.holder(), 'b', 'the lease still names b');
});

void test('a lease held by another and not expired is left alone', async () => {
  const store = new FakeLeases();
  store.leases.set('ns/lock', {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'lock', namespace: 'ns', resourceVersion: '1' },
    spec: {
      holderIdentity: 'elsewhere',
      leaseDurationSeconds: 3600,
      renewTime: microTime(new Date()),
    },
  });
  const log: string[] = [];
  const a = elector(store, 'a', log);
  a.e.start();
  await until(() => a.e.leader === 'elsewhere', 'a sees the holder');
  await sleep(250);
  assert.equal(a.e.isLeader, false);
  assert.equal(store.writes, 0);
  await a.e.stop();
});

/** A holder on another machine renewing every 100 ms with its own (skewed) clock. */
function remoteHolder(store: FakeLeases, skewMs: number): { stop: () => void } {
  let n = 0;
  const renew = () => {
    store.leases.set('ns/lock', {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'lock', namespace: 'ns', resourceVersion: String(++store.rv) },
      spec: {
        holderIdentity: 'elsewhere',
        leaseDurationSeconds: 1,
        renewTime: microTime(new Date(Date.now() + skewMs + n++)),
      },
    });
  };
  renew();
  const timer = setInterval(renew, 100);
  return { stop: () => clearInterval(timer) };
}

void test('a holder whose clock is an hour behind keeps its lease while it renews', async () => {
  const store = new FakeLeases();
  const holder = remoteHolder(store, -3600_000);
  const log: string[] = [];
  const a = elector(store, 'a', log);
  a.e.start();
  try {
    await sleep(1500); // longer than the 1 s lease: it is renewed all along
    assert.deepEqual(log, [], 'a did not take a lease that is being renewed');
    assert.equal(a.e.leader, 'elsewhere');
    holder.stop();
    await until(() => a.e.isLeader, 'a takes the lease once renewals stop');
  } finally {
    holder.stop();
    await a.e.stop();
  }
});

void test('a holder whose clock is an hour ahead loses its lease once it stops renewing', async () => {
  const store = new FakeLeases();
  const holder = remoteHolder(store, 3600_000);
  holder.stop(); // crashed right after renewing, with a renewTime an hour in our future
  const log: string[] = [];
  const a = elector(store, 'a', log);
  a.e.start();
  try {
    await until(() => a.e.isLeader, 'a takes the lease after one lease duration');
    assert.equal(store.holder(), 'a');
    assert.equal(store.leases.get('ns/lock')?.spec?.leaseTransitions, 0);
  } finally {
    await a.e.stop();
  }
});

void test('options are checked and MicroTime has six fractional digits', () => {
  const store = new FakeLeases();
  assert.throws(
    () =>
      new LeaderElector(store.client(), {
        namespace: 'ns',
        name: 'lock',
        leaseDurationMs: 1000,
        renewDeadlineMs: 2000,
        onStartedLeading: () => undefined,
      }),
    /leaseDurationMs > renewDeadlineMs/,
  );
  assert.equal(
    microTime(new Date(Date.UTC(2026, 10, 29, 8, 47, 19, 123))),
    '2026-11-29T08:47:19.123000Z',
  );
});
