// The dashboard server with fake informers (the real ones are exercised by test/e2e/dashboard.test.ts):
// the bearer token, the JSON a page draws from, and the live stream that tells of a replaced pod
// as the pod informer reports it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Readable } from 'node:stream';
import type { KubeObject } from '../../../src/render/kube.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient, collectionPath } from '../../../src/kube/client.ts';
import { ApiError } from '../../../src/kube/errors.ts';
import { Informer } from '../../../src/kube/informer.ts';
import { cloudNamespaceLabel } from '../../../src/render/namespaces.ts';
import { buildDashboard, type Dashboard } from '../../../src/server/dashboard.ts';
import {
  ensureTokenSecret,
  slimEvent,
  slimPod,
  startDashboard,
} from '../../../src/server/dashboard-informers.ts';
import { unionSource, type Source } from '../../../src/server/dashboard-timeline.ts';
import { FakeApi } from '../fake-api.ts';

/** An informer stand-in: the test says what the API server would have reported. */
class FakeSource implements Source {
  hasSynced = false;
  readonly #objs = new Map<string, KubeObject>();
  readonly #add: ((o: KubeObject) => void)[] = [];
  readonly #update: ((a: KubeObject, b: KubeObject) => void)[] = [];
  readonly #delete: ((o: KubeObject) => void)[] = [];
  list(): KubeObject[] {
    return [...this.#objs.values()];
  }
  onAdd(fn: (o: KubeObject) => void) {
    this.#add.push(fn);
  }
  onUpdate(fn: (a: KubeObject, b: KubeObject) => void) {
    this.#update.push(fn);
  }
  onDelete(fn: (o: KubeObject) => void) {
    this.#delete.push(fn);
  }
  /** The first list: its objects, then synced. */
  sync(...objs: KubeObject[]): void {
    for (const o of objs) this.put(o);
    this.hasSynced = true;
  }
  put(o: KubeObject): void {
    const key = `${o.metadata.namespace}/${o.metadata.name}`;
    const before = this.#objs.get(key);
    this.#objs.set(key, o);
    if (before) for (const fn of this.#update) fn(before, o);
    else for (const fn of this.#add) fn(o);
  }
  remove(name: string, namespace = 'openstack'): void {
    const o = this.#objs.get(`${namespace}/${name}`);
    if (!o) return;
    this.#objs.delete(`${namespace}/${name}`);
    for (const fn of this.#delete) fn(o);
  }
}

const token = 'a-token-0123456789';
const t0 = new Date('2026-03-01T10:00:00Z');

function setup(now = () => t0) {
  const sources = {
    clouds: new FakeSource(),
    pods: new FakeSource(),
    jobs: new FakeSource(),
    events: new FakeSource(),
  };
  let current: string | undefined = token;
  const d = buildDashboard({
    sources,
    token: () => current,
    tokenSecret: { namespace: 'stackanetes-system', name: 'stackanetes-dashboard' },
    now,
    snapshotEveryMs: 10,
  });
  return { d, sources, setToken: (t: string | undefined) => (current = t) };
}

const auth = { authorization: `Bearer ${token}` };

function cloud(
  status: Record<string, unknown> = {},
  spec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: 'stackanetes.io/v1alpha1',
    kind: 'OpenStackCloud',
    metadata: { name: 'minimal', namespace: 'openstack', generation: 2, uid: 'cloud-uid' },
    spec: {
      release: '2025.1',
      endpoints: { public: {} },
      services: { horizon: { enabled: true } },
      ...spec,
    },
    status,
  };
}

const readyStatus = {
  observedGeneration: 2,
  conditions: [
    {
      type: 'KeystoneReady',
      status: 'True',
      reason: 'Ready',
      message: '1 workloads ready, 2 jobs complete',
      lastTransitionTime: '2026-03-01T09:00:00Z',
    },
    {
      type: 'GlanceReady',
      status: 'False',
      reason: 'RunningDbSync',
      message: 'job glance-db-sync-abc is running',
      lastTransitionTime: '2026-03-01T09:10:00Z',
    },
    {
      type: 'Ready',
      status: 'False',
      reason: 'RunningDbSync',
      message: 'glance: job glance-db-sync-abc is running; 1/2 components ready',
      lastTransitionTime: '2026-03-01T09:10:00Z',
    },
  ],
  components: {
    keystone: { ready: true, replicas: 1, readyReplicas: 1 },
    glance: { ready: false },
  },
};

function pod(
  name: string,
  o: {
    uid?: string;
    node?: string;
    ready?: boolean;
    owner?: string;
    component?: string;
    app?: string;
    phase?: string;
    deleting?: boolean;
    restarts?: number;
    lastExit?: { reason: string; exitCode: number };
    jobName?: string;
  } = {},
): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'openstack',
      uid: o.uid ?? `${name}-uid`,
      labels: {
        'app.kubernetes.io/instance': 'minimal',
        'app.kubernetes.io/managed-by': 'stackanetes',
        'app.kubernetes.io/name': o.app ?? 'keystone-api',
        'stackanetes.io/component': o.component ?? 'keystone',
        ...(o.jobName ? { 'job-name': o.jobName } : {}),
      },
      ownerReferences: [
        {
          apiVersion: o.jobName ? 'batch/v1' : 'apps/v1',
          kind: o.jobName ? 'Job' : 'ReplicaSet',
          name: o.jobName ?? 'keystone-api-5d8f',
          uid: o.owner ?? 'rs-uid',
          controller: true,
        },
      ],
      ...(o.deleting ? { deletionTimestamp: '2026-03-01T10:00:00Z' } : {}),
    },
    spec: { ...(o.node ? { nodeName: o.node } : {}), containers: [{ name: 'keystone' }] },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [{ type: 'Ready', status: o.ready ? 'True' : 'False' }],
      containerStatuses: [
        {
          name: 'keystone',
          ready: Boolean(o.ready),
          restartCount: o.restarts ?? 0,
          ...(o.lastExit ? { lastState: { terminated: o.lastExit } } : {}),
        },
      ],
    },
  };
}

function job(name: string, status: Record<string, unknown>, task = 'db-sync'): KubeObject {
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: 'openstack',
      uid: `${name}-uid`,
      creationTimestamp: '2026-03-01T09:00:00Z',
      labels: {
        'app.kubernetes.io/instance': 'minimal',
        'stackanetes.io/component': 'glance',
        'stackanetes.io/job-task': task,
      },
    },
    status,
  };
}

function operatorEvent(name: string, reason: string, message: string, type = 'Normal'): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace: 'openstack', uid: `${name}-uid` },
    involvedObject: { kind: 'OpenStackCloud', namespace: 'openstack', name: 'minimal' },
    reason,
    message,
    type,
    count: 1,
    lastTimestamp: '2026-03-01T09:30:00Z',
  };
}

/** Reads server-sent events from a stream, one parsed frame at a time. */
function frames(stream: Readable) {
  let buffer = '';
  const queue: { event: string; id?: number; data: any }[] = [];
  let wake: (() => void) | undefined;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buffer += chunk;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const f: { event: string; id?: number; data?: string } = { event: 'message' };
      for (const line of block.split('\n')) {
        const [k, ...v] = line.split(': ');
        if (k === 'event') f.event = v.join(': ');
        if (k === 'id') f.id = Number(v.join(': '));
        if (k === 'data') f.data = v.join(': ');
      }
      if (f.data !== undefined) queue.push({ ...f, data: JSON.parse(f.data) });
    }
    wake?.();
  });
  return {
    /** The next frame of this event type (others before it are skipped). */
    async next(event: string): Promise<{ event: string; id?: number; data: any }> {
      for (;;) {
        const i = queue.findIndex((f) => f.event === event);
        if (i >= 0) return queue.splice(0, i + 1)[i]!;
        await new Promise<void>((r) => (wake = r));
      }
    },
    pending: () => queue,
  };
}

async function openStream(d: Dashboard, headers: Record<string, string> = auth) {
  const res = await d.app.inject({
    method: 'GET',
    url: '/api/stream',
    headers,
    payloadAsStream: true,
  });
  return { res, stream: res.stream() };
}

test('a request without the token, or with a wrong one, gets 401; the page itself carries no data', async (t) => {
  const { d, sources } = setup();
  t.after(() => d.app.close());
  sources.clouds.sync(cloud(readyStatus));
  for (const url of ['/api/clouds', '/api/timeline', '/api/stream']) {
    const none = await d.app.inject({ url });
    assert.equal(none.statusCode, 401, `${url} without a token`);
    assert.match(none.headers['www-authenticate'] as string, /^Bearer /);
    assert.match(none.json().message, /Secret stackanetes-system\/stackanetes-dashboard/);
    const wrong = await d.app.inject({ url, headers: { authorization: `Bearer ${token}x` } });
    assert.equal(wrong.statusCode, 401, `${url} with a wrong token`);
    const basic = await d.app.inject({ url, headers: { authorization: `Basic ${token}` } });
    assert.equal(basic.statusCode, 401, `${url} with another scheme`);
  }
  assert.equal((await d.app.inject({ url: '/api/clouds', headers: auth })).statusCode, 200);
  const page = await d.app.inject({ url: '/' });
  assert.equal(page.statusCode, 200);
  assert.match(page.headers['content-type'] as string, /^text\/html/);
  assert.doesNotMatch(page.body, /minimal/, 'no cloud in the page without the token');
  assert.match(page.body, /kubectl -n stackanetes-system get secret stackanetes-dashboard/);
  assert.match(page.headers['content-security-policy'] as string, /script-src 'self'/);
  assert.equal((await d.app.inject({ url: '/app.js' })).statusCode, 200);
  assert.equal((await d.app.inject({ url: '/style.css' })).statusCode, 200);
});

test('a rotated token takes effect at once; no token at all refuses everyone', async (t) => {
  const { d, setToken } = setup();
  t.after(() => d.app.close());
  setToken('the-new-token');
  assert.equal((await d.app.inject({ url: '/api/clouds', headers: auth })).statusCode, 401);
  const ok = await d.app.inject({
    url: '/api/clouds',
    headers: { authorization: 'Bearer the-new-token' },
  });
  assert.equal(ok.statusCode, 200);
  setToken(undefined);
  const none = await d.app.inject({
    url: '/api/clouds',
    headers: { authorization: 'Bearer the-new-token' },
  });
  assert.equal(none.statusCode, 401);
});

test('/api/clouds: each cloud with its Ready condition, components, pods per node and Horizon', async (t) => {
  const { d, sources } = setup();
  t.after(() => d.app.close());
  sources.clouds.sync(cloud({ ...readyStatus, lastReconcileTime: '2026-03-01T09:59:00Z' }));
  sources.pods.sync(
    pod('keystone-api-a', { node: 'node-2', ready: true }),
    pod('keystone-api-b', { node: 'node-1', ready: false, deleting: true }),
    pod('glance-api-0', { node: 'node-1', app: 'glance-api', component: 'glance' }),
    pod('glance-db-sync-abc-x', { node: 'node-1', phase: 'Succeeded', jobName: 'glance-db' }),
    pod('pending-0', {}),
  );
  const res = await d.app.inject({ url: '/api/clouds', headers: auth });
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['cache-control'], 'no-store');
  const body = res.json();
  assert.equal(body.synced, true, 'clouds and pods have been listed');
  assert.equal(body.clouds.length, 1);
  const c = body.clouds[0];
  assert.equal(c.name, 'minimal');
  assert.equal(c.namespace, 'openstack');
  assert.equal(c.release, '2025.1');
  assert.deepEqual(c.ready, {
    status: 'False',
    reason: 'RunningDbSync',
    message: 'glance: job glance-db-sync-abc is running; 1/2 components ready',
    since: '2026-03-01T09:10:00Z',
  });
  assert.deepEqual(c.components, [
    {
      name: 'keystone',
      status: 'True',
      reason: 'Ready',
      message: '1 workloads ready, 2 jobs complete',
      since: '2026-03-01T09:00:00Z',
      replicas: 1,
      readyReplicas: 1,
    },
    {
      name: 'glance',
      status: 'False',
      reason: 'RunningDbSync',
      message: 'job glance-db-sync-abc is running',
      since: '2026-03-01T09:10:00Z',
    },
  ]);
  assert.deepEqual(
    c.nodes.map((n: any) => [n.name, n.pods.map((p: any) => p.name)]),
    [
      ['', ['pending-0']],
      ['node-1', ['glance-api-0', 'keystone-api-b']],
      ['node-2', ['keystone-api-a']],
    ],
    'pods grouped by node, sorted; the finished Job pod left out',
  );
  const ka = c.nodes[2].pods[0];
  assert.deepEqual(ka, {
    name: 'keystone-api-a',
    component: 'keystone',
    app: 'keystone-api',
    phase: 'Running',
    ready: true,
    restarts: 0,
    deleting: false,
  });
  assert.equal(c.nodes[1].pods[1].deleting, true);
  assert.equal(c.horizon, 'http://horizon-server.openstack.svc:8080', 'the in-cluster Service');
  assert.deepEqual(c.status, { lastReconcileTime: '2026-03-01T09:59:00Z' });

  sources.clouds.put(
    cloud(readyStatus, {
      endpoints: { public: { domain: 'cloud.example', tlsSecretName: 'tls' } },
    }),
  );
  const pub = (await d.app.inject({ url: '/api/clouds', headers: auth })).json();
  assert.equal(pub.clouds[0].horizon, 'https://horizon.cloud.example', 'the public host name');
  sources.clouds.put(cloud(readyStatus, { services: { horizon: { enabled: false } } }));
  const none = (await d.app.inject({ url: '/api/clouds', headers: auth })).json();
  assert.equal(none.clouds[0].horizon, undefined, 'no link when Horizon is disabled');
});

test(
  'the stream reports a replaced Keystone pod as the pod informer sees it, then its recovery',
  { timeout: 10_000 },
  async (t) => {
    let now = t0;
    const { d, sources } = setup(() => now);
    t.after(() => d.app.close());
    sources.clouds.sync(cloud(readyStatus));
    sources.jobs.sync();
    sources.events.sync();
    sources.pods.sync(pod('keystone-api-a', { node: 'node-1', ready: true }));

    const { res, stream } = await openStream(d);
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/event-stream/);
    const f = frames(stream);
    const first = await f.next('clouds');
    assert.deepEqual(
      first.data.clouds[0].components.map((c: any) => c.name),
      ['keystone', 'glance'],
      'the snapshot comes first',
    );

    // What the API server reports when someone deletes the pod: its deletionTimestamp is set, the
    // ReplicaSet makes a new pod, the old one goes away, the new one becomes Ready.
    sources.pods.put(pod('keystone-api-a', { node: 'node-1', ready: true, deleting: true }));
    sources.pods.put(pod('keystone-api-b', { ready: false }));
    const replaced = await f.next('entry');
    assert.equal(replaced.data.kind, 'pod-replaced');
    assert.equal(replaced.data.title, 'pod replaced');
    assert.equal(replaced.data.cloud, 'openstack/minimal');
    assert.equal(replaced.data.component, 'keystone');
    assert.equal(replaced.data.node, 'node-1');
    assert.equal(
      replaced.data.message,
      'pod keystone-api-a on node-1 was deleted; ReplicaSet made keystone-api-b in its place',
    );
    assert.equal(replaced.id, replaced.data.id, 'the frame carries the entry id for Last-Event-ID');

    sources.pods.remove('keystone-api-a');
    sources.pods.put(pod('keystone-api-b', { node: 'node-1', ready: false }));
    now = new Date(t0.getTime() + 14_000);
    sources.pods.put(pod('keystone-api-b', { node: 'node-1', ready: true }));
    const recovered = await f.next('entry');
    assert.equal(recovered.data.kind, 'pod-recovered');
    assert.equal(
      recovered.data.message,
      'keystone-api-b is Ready on node-1, 14 s after keystone-api-a was deleted',
    );
    // The pods changed: a new snapshot follows without the old pod.
    let snap = await f.next('clouds');
    while (snap.data.clouds[0].nodes[0]?.pods.some((p: any) => !p.ready))
      snap = await f.next('clouds');
    assert.deepEqual(
      snap.data.clouds[0].nodes.map((n: any) => n.pods.map((p: any) => p.name)),
      [['keystone-api-b']],
    );
    stream.destroy();
  },
);

test(
  'a reconnecting page gets only the entries after its Last-Event-ID',
  { timeout: 10_000 },
  async (t) => {
    const { d, sources } = setup();
    t.after(() => d.app.close());
    sources.events.sync(
      operatorEvent('e1', 'WaitingForPods', 'KeystoneReady: deployment/keystone-api 0/1 ready'),
      operatorEvent('e2', 'Ready', 'KeystoneReady: 1 workloads ready, 2 jobs complete'),
      operatorEvent('e3', 'AllComponentsReady', 'Ready: 9 components ready'),
    );
    const all = (await d.app.inject({ url: '/api/timeline', headers: auth })).json().entries;
    assert.equal(all.length, 3);
    const { stream } = await openStream(d, { ...auth, 'last-event-id': String(all[1].id) });
    const f = frames(stream);
    const e = await f.next('entry');
    assert.equal(e.id, all[2].id, 'starts after the last id the page saw');
    assert.equal(e.data.message, 'Ready: 9 components ready');
    stream.destroy();
    const after = (await d.app.inject({ url: `/api/timeline?after=${all[0].id}`, headers: auth }))
      .json()
      .entries.map((x: any) => x.id);
    assert.deepEqual(after, [all[1].id, all[2].id]);
  },
);

test('Events the operator writes become entries: condition changes by component, healing by reason', async (t) => {
  const { d, sources } = setup();
  t.after(() => d.app.close());
  sources.events.sync(
    operatorEvent('e1', 'RunningDbSync', 'GlanceReady: job glance-db-sync-abc is running'),
  );
  sources.events.put(
    operatorEvent('e2', 'DbSyncFailed', 'GlanceReady: job glance-db-sync-abc failed', 'Warning'),
  );
  sources.events.put(
    operatorEvent(
      'e3',
      'NodeFenced',
      'node-3 powered off through its BMC; out-of-service taint set',
    ),
  );
  sources.events.put(operatorEvent('e4', 'SomethingNew', 'a reason nobody mapped yet'));
  const entries = (await d.app.inject({ url: '/api/timeline', headers: auth })).json().entries;
  assert.deepEqual(
    entries.map((e: any) => [e.kind, e.component, e.severity, e.reason, e.time]),
    [
      ['condition', 'glance', 'info', 'RunningDbSync', '2026-03-01T09:30:00Z'],
      ['condition', 'glance', 'warning', 'DbSyncFailed', '2026-03-01T09:30:00Z'],
      ['node-fenced', undefined, 'info', 'NodeFenced', '2026-03-01T09:30:00Z'],
      ['operator', undefined, 'info', 'SomethingNew', '2026-03-01T09:30:00Z'],
    ],
  );
  assert.equal(entries[2].title, 'node fenced');
});

test('Jobs: the first list tells what they did, at the time they did it; later ones as they happen', async (t) => {
  const { d, sources } = setup();
  t.after(() => d.app.close());
  sources.jobs.sync(
    job('glance-db-sync-abc', {
      startTime: '2026-03-01T09:00:00Z',
      completionTime: '2026-03-01T09:00:42Z',
      conditions: [{ type: 'Complete', status: 'True' }],
    }),
  );
  sources.jobs.put(job('nova-db-sync-def', {}, 'db-sync'));
  sources.jobs.put(
    job('nova-db-sync-def', {
      conditions: [
        {
          type: 'Failed',
          status: 'True',
          message: 'Job has reached the specified backoff limit',
        },
      ],
    }),
  );
  const entries = (await d.app.inject({ url: '/api/timeline', headers: auth })).json().entries;
  assert.deepEqual(
    entries.map((e: any) => [e.kind, e.time, e.message]),
    [
      [
        'job-succeeded',
        '2026-03-01T09:00:42Z',
        'job glance-db-sync-abc (db-sync) succeeded in 42 s',
      ],
      ['job-started', t0.toISOString(), 'job nova-db-sync-def (db-sync) started'],
      [
        'job-failed',
        t0.toISOString(),
        'job nova-db-sync-def (db-sync) failed: Job has reached the specified backoff limit',
      ],
    ],
  );
});

test('a container restart is an entry with how the container ended; the initial list is not', async (t) => {
  const { d, sources } = setup();
  t.after(() => d.app.close());
  sources.pods.sync(pod('rabbitmq-0', { node: 'node-1', ready: true, restarts: 2 }));
  sources.pods.put(
    pod('rabbitmq-0', {
      node: 'node-1',
      ready: false,
      restarts: 3,
      lastExit: { reason: 'OOMKilled', exitCode: 137 },
    }),
  );
  const entries = (await d.app.inject({ url: '/api/timeline', headers: auth })).json().entries;
  assert.equal(entries.length, 1);
  assert.equal(entries[0].kind, 'container-restarted');
  assert.equal(entries[0].severity, 'warning');
  assert.equal(
    entries[0].message,
    'container keystone of rabbitmq-0 restarted (it ended: OOMKilled, exit code 137); 3 restarts in all',
  );
});

/** A pod of the cloud's data plane: in `openstack-dataplane`, labelled with its cloud's namespace. */
function dataPlanePod(name: string, o: Parameters<typeof pod>[1] = {}): KubeObject {
  const p = pod(name, { app: 'nova-compute', component: 'nova', ...o });
  return {
    ...p,
    metadata: {
      ...p.metadata,
      namespace: 'openstack-dataplane',
      labels: { ...p.metadata.labels, [cloudNamespaceLabel]: 'openstack' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'nova-compute', uid: 'ds-uid' },
      ],
    },
  };
}

test("the data plane's pods, in a namespace of their own, are the cloud's: on its nodes and in its timeline", async (t) => {
  const { d, sources } = setup();
  t.after(() => d.app.close());
  sources.clouds.sync(cloud(readyStatus));
  sources.pods.sync(
    pod('keystone-api-a', { node: 'node-1', ready: true }),
    dataPlanePod('nova-compute-x', { node: 'node-1', ready: true, restarts: 1 }),
  );
  const c = (await d.app.inject({ url: '/api/clouds', headers: auth })).json().clouds[0];
  assert.deepEqual(
    c.nodes.map((n: any) => [n.name, n.pods.map((p: any) => `${p.name} ${p.component}`)]),
    [['node-1', ['keystone-api-a keystone', 'nova-compute-x nova']]],
  );
  sources.pods.put(
    dataPlanePod('nova-compute-x', {
      node: 'node-1',
      restarts: 2,
      lastExit: { reason: 'Error', exitCode: 1 },
    }),
  );
  const entries = (await d.app.inject({ url: '/api/timeline', headers: auth })).json().entries;
  assert.deepEqual(
    entries.map((e: any) => [e.cloud, e.kind, e.component, e.node]),
    [['openstack/minimal', 'container-restarted', 'nova', 'node-1']],
  );
});

test('sources as one: what each lists and reports, synced once all are', () => {
  const a = new FakeSource();
  const b = new FakeSource();
  const u = unionSource(a, b);
  const added: string[] = [];
  const deleted: string[] = [];
  u.onAdd((o) => added.push(o.metadata.name));
  u.onUpdate((_o, n) => added.push(`${n.metadata.name}'`));
  u.onDelete((o) => deleted.push(o.metadata.name));
  a.sync(pod('a-1'));
  assert.equal(u.hasSynced, false, 'one source is still listing');
  b.sync(dataPlanePod('b-1'));
  assert.equal(u.hasSynced, true);
  b.put(dataPlanePod('b-1', { ready: true }));
  b.remove('b-1', 'openstack-dataplane');
  assert.deepEqual(added, ['a-1', 'b-1', "b-1'"]);
  assert.deepEqual(deleted, ['b-1']);
  assert.deepEqual(
    u.list().map((o) => o.metadata.name),
    ['a-1'],
  );
});

test("a dashboard of one namespace watches its data plane's pods too, and no other namespace's", async (t) => {
  const api = await FakeApi.start();
  t.after(() => api.close());
  const pods = collectionPath('v1', 'Pod');
  api.put(collectionPath('stackanetes.io/v1alpha1', 'OpenStackCloud'), cloud(readyStatus));
  api.put(pods, pod('keystone-api-a', { node: 'node-1', ready: true }));
  api.put(pods, dataPlanePod('nova-compute-x', { node: 'node-1', ready: true }));
  const elsewhere = pod('keystone-api-z', { node: 'node-1', ready: true });
  api.put(pods, { ...elsewhere, metadata: { ...elsewhere.metadata, namespace: 'other' } });
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfig());
  const client = await KubeClient.create(kc);
  const quiet = { info() {}, warn() {}, error() {} };
  const running = await startDashboard({
    client,
    log: quiet,
    namespace: 'openstack',
    port: 0,
    host: '127.0.0.1',
    tokenSecret: { namespace: 'stackanetes-system', name: 'stackanetes-dashboard' },
  });
  t.after(async () => {
    await running.close();
    client.close();
  });
  const deadline = Date.now() + 10_000;
  while (!running.dashboard.snapshot().synced && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  const snap = running.dashboard.snapshot();
  assert.equal(snap.synced, true);
  assert.deepEqual(
    snap.clouds.map((c) => c.nodes.map((n) => n.pods.map((p) => p.name))),
    [[['keystone-api-a', 'nova-compute-x']]],
  );
  const watched = api.requests
    .filter((r) => r.method === 'GET' && r.path.includes('/pods'))
    .map((r) => r.path);
  assert.ok(
    watched.some((p) => p.startsWith('/api/v1/namespaces/openstack-dataplane/pods')),
    watched.join(' '),
  );
  assert.ok(!watched.some((p) => p.startsWith('/api/v1/pods')), 'not every namespace');
});

test('informers of the dashboard keep only the fields it reads', async () => {
  const full = {
    ...pod('keystone-api-a', { node: 'node-1', ready: true }),
    metadata: {
      ...pod('keystone-api-a').metadata,
      managedFields: [{ manager: 'kubelet', fieldsV1: { 'f:status': {} } }],
      annotations: { 'stackanetes.io/config-hash': 'abc' },
    },
  };
  const slim = slimPod(full);
  assert.equal(slim.metadata.managedFields, undefined);
  assert.equal(slim.metadata.annotations, undefined);
  assert.deepEqual((slim.spec as any).containers, undefined, 'no container specs');
  assert.equal((slim.spec as any).nodeName, 'node-1');
  assert.equal(JSON.stringify(slim).length < JSON.stringify(full).length, true);
  const event = slimEvent({
    ...operatorEvent('e1', 'Ready', 'Ready: ok'),
    metadata: { name: 'e1', namespace: 'openstack', managedFields: [{}] },
    source: { component: 'stackanetes-operator' },
  });
  assert.deepEqual(Object.keys(event).sort(), [
    'apiVersion',
    'count',
    'involvedObject',
    'kind',
    'lastTimestamp',
    'message',
    'metadata',
    'reason',
    'type',
  ]);
  // The dashboard's informers cache what its slim functions return, listed or watched.
  const informer = new Informer(
    {
      list: (_a, _k, o) =>
        Promise.resolve({ items: [o!.transform!(full as any) as any], resourceVersion: '1' }),
      watch: (_p, _q, onEvent, signal) => {
        onEvent({
          type: 'ADDED',
          object: { ...full, metadata: { ...full.metadata, name: 'b' } } as any,
        });
        return new Promise<void>((resolve) => signal?.addEventListener('abort', () => resolve()));
      },
    },
    { apiVersion: 'v1', kind: 'Pod', transform: slimPod },
  );
  informer.start();
  await informer.waitForSync();
  while (informer.size < 2) await new Promise((r) => setTimeout(r, 5));
  for (const p of informer.list()) {
    assert.deepEqual(
      p,
      slimPod({ ...full, metadata: { ...full.metadata, name: p.metadata.name } }),
    );
  }
  await informer.stop();
});

test('the token Secret is created with a random token when missing, and left alone when present', async () => {
  const created: KubeObject[] = [];
  let exists = false;
  const client = {
    get: () =>
      exists
        ? Promise.resolve({} as KubeObject)
        : Promise.reject(new ApiError('GET', '/api/v1/…', 404, 'NotFound', 'not found')),
    create: (o: KubeObject) => {
      created.push(o);
      return Promise.resolve(o);
    },
  } as any;
  const secret = { namespace: 'stackanetes-system', name: 'stackanetes-dashboard' };
  assert.equal(await ensureTokenSecret(client, secret), 'created');
  const value = Buffer.from((created[0]!.data as any).token, 'base64').toString();
  assert.match(value, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  assert.equal(await ensureTokenSecret(client, secret), 'created');
  assert.notEqual(
    Buffer.from((created[1]!.data as any).token, 'base64').toString(),
    value,
    'a fresh value each time one is made',
  );
  exists = true;
  assert.equal(await ensureTokenSecret(client, secret), 'exists');
  assert.equal(created.length, 2);
});
