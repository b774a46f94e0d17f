// The database's writer (src/controller/db-writer.ts, render/infra/database.ts): the client
// Service of a Galera cloud selects one member; the pass moves it off a member that stops
// serving. The choice is pure; the reconciler runs against the fake API server.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { cloudObjects } from '../../../src/cli/render.ts';
import {
  DatabaseWriterReconciler,
  chooseWriter,
  pinnedWriter,
  writerMember,
  type WriterMember,
} from '../../../src/controller/db-writer.ts';
import { KubeClient, collectionPath } from '../../../src/kube/client.ts';
import { podNameLabel } from '../../../src/render/infra/database.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { redactedSecrets } from '../../../src/render/secrets.ts';
import { FakeApi } from '../fake-api.ts';
import { find, loadExample, renderExample } from '../render/fixtures.ts';

const services = collectionPath('v1', 'Service');
const pods = collectionPath('v1', 'Pod');
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const serving = (name: string): WriterMember => ({ name, serving: true });
const down = (name: string, why = 'it is not Ready (Running)'): WriterMember => ({
  name,
  serving: false,
  why,
});

test('a Galera cloud sends every database client to one member, member 0 unless told another', () => {
  const ha = find(renderExample('ha'), 'Service', 'mariadb');
  assert.equal(ha.spec.selector[podNameLabel], 'mariadb-0');
  assert.equal(ha.spec.selector['app.kubernetes.io/name'], 'database-mariadb');
  const told = (writer: string) =>
    find(
      cloudObjects(loadExample('ha'), redactedSecrets(), { databaseWriter: writer }),
      'Service',
      'mariadb',
    ).spec.selector[podNameLabel];
  assert.equal(told('mariadb-2'), 'mariadb-2');
  // Not a member of the StatefulSet as rendered (3 replicas): member 0.
  for (const bad of ['mariadb-3', 'mariadb-01', 'mariadb-', 'rabbitmq-1', 'mariadb-1x'])
    assert.equal(told(bad), 'mariadb-0', bad);
  // The headless Service still names every member, ready or not (Galera's peers find each other).
  const headless = find(renderExample('ha'), 'Service', 'mariadb-headless');
  assert.equal(headless.spec.selector[podNameLabel], undefined);
});

test('a single database server: the Service selects it without a writer', () => {
  const minimal = find(renderExample('minimal'), 'Service', 'mariadb');
  assert.equal(minimal.spec.selector[podNameLabel], undefined);
});

test('the writer stays while it serves, and moves to the first member that serves when it does not', () => {
  const all = ['mariadb-0', 'mariadb-1', 'mariadb-2'];
  assert.deepEqual(chooseWriter('mariadb-1', all.map(serving)), {
    move: false,
    writer: 'mariadb-1',
  });
  assert.deepEqual(
    chooseWriter('mariadb-1', [
      serving('mariadb-2'),
      down('mariadb-1', 'it is being deleted'),
      serving('mariadb-0'),
    ]),
    { move: true, writer: 'mariadb-0', from: 'mariadb-1', why: 'it is being deleted' },
  );
  // Ordinal order is by number, not by text.
  assert.equal(
    chooseWriter('mariadb-0', [down('mariadb-0'), serving('mariadb-10'), serving('mariadb-9')])
      .writer,
    'mariadb-9',
  );
  assert.deepEqual(chooseWriter('mariadb-0', [serving('mariadb-1')]), {
    move: true,
    writer: 'mariadb-1',
    from: 'mariadb-0',
    why: 'it has no pod',
  });
  // None serves: nowhere better to go.
  assert.deepEqual(
    chooseWriter(
      'mariadb-0',
      all.map((m) => down(m)),
    ),
    {
      move: false,
      writer: 'mariadb-0',
    },
  );
});

function pod(name: string, ready: boolean, deleting = false): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'openstack',
      labels: {
        'app.kubernetes.io/name': 'database-mariadb',
        'app.kubernetes.io/instance': 'ha',
        [podNameLabel]: name,
      },
      ...(deleting ? { deletionTimestamp: '2026-12-03T12:00:00Z' } : {}),
    },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  };
}

test('a member is serving when Ready and not being deleted', () => {
  assert.deepEqual(writerMember(pod('mariadb-0', true)), { name: 'mariadb-0', serving: true });
  assert.deepEqual(writerMember(pod('mariadb-0', false)), {
    name: 'mariadb-0',
    serving: false,
    why: 'it is not Ready (Running)',
  });
  assert.equal(writerMember(pod('mariadb-0', true, true)).why, 'it is being deleted');
});

test('a Ready member whose node has not renewed its Lease for 15 s does not serve; a late renewal under 15 s does not count', () => {
  const on3 = { ...pod('mariadb-1', true), spec: { nodeName: 'node-3' } };
  assert.deepEqual(writerMember(on3, 14_999), { name: 'mariadb-1', serving: true });
  assert.deepEqual(writerMember(on3, undefined), { name: 'mariadb-1', serving: true });
  assert.deepEqual(writerMember(on3, 15_400), {
    name: 'mariadb-1',
    serving: false,
    why: 'its node node-3 has not renewed its Lease for 15 s',
  });
});

type Recorded = { type: string; reason: string; message: string };

/**
 * The fake API server holding the ha example's `mariadb` Service, and a reconciler on it that
 * records its Events; `body` puts the pods and runs passes.
 */
async function onFakeApi(
  body: (api: FakeApi, r: DatabaseWriterReconciler, events: Recorded[]) => Promise<void>,
  leases?: { unchangedMs: (node: string) => number | undefined },
): Promise<void> {
  const api = await FakeApi.start();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfig());
  const client = await KubeClient.create(kc);
  try {
    const cloud = loadExample('ha') as unknown as KubeObject;
    cloud.metadata = { ...cloud.metadata, namespace: 'openstack' };
    api.put(services, find(renderExample('ha'), 'Service', 'mariadb') as KubeObject);
    const events: Recorded[] = [];
    const r = new DatabaseWriterReconciler({
      client,
      cloud: (ns, n) => (ns === 'openstack' && n === 'ha' ? cloud : undefined),
      service: (ns, n) => api.get(services, ns, n),
      events: {
        record: (_c, type, reason, message) => {
          events.push({ type, reason, message });
          return Promise.resolve();
        },
      },
      log: quiet,
      ...(leases ? { leases } : {}),
    });
    await body(api, r, events);
  } finally {
    await api.close();
  }
}

test('the pass patches the client Service to a member that serves and tells it in an Event; then leaves it', async () => {
  await onFakeApi(async (api, r, events) => {
    api.put(pods, pod('mariadb-0', false));
    api.put(pods, pod('mariadb-1', true, true));
    api.put(pods, pod('mariadb-2', true));
    // Another cloud's member, which the Service's selector does not match.
    api.put(pods, {
      ...pod('mariadb-1', true),
      metadata: { ...pod('mariadb-1', true).metadata, name: 'other-mariadb-1', labels: {} },
    });
    const first = await r.reconcile('openstack', 'ha');
    assert.ok(first.requeueAfterMs, 'looked at again');
    const patched = api.get(services, 'openstack', 'mariadb');
    assert.equal(pinnedWriter(patched), 'mariadb-2');
    // A merge patch of the one selector key: the rest of the Service stays as applied.
    const patch = api.requests.find((q) => q.method === 'PATCH');
    assert.equal(patch?.path, '/api/v1/namespaces/openstack/services/mariadb');
    assert.deepEqual(JSON.parse(patch.body), {
      spec: { selector: { [podNameLabel]: 'mariadb-2' } },
    });
    assert.deepEqual(events, [
      {
        type: 'Warning',
        reason: 'DatabaseWriterMoved',
        message:
          "mariadb-0 stopped serving (it is not Ready (Running)): the mariadb Service now sends the database's clients to mariadb-2",
      },
    ]);
    const patches = () => api.requests.filter((q) => q.method === 'PATCH').length;
    const before = patches();
    await r.reconcile('openstack', 'ha');
    assert.equal(patches(), before, 'no write while the writer serves');
    assert.equal(events.length, 1);
  });
});

test('the pass moves the writer off a node whose Lease stopped while its pod still reads Ready, and not onto another such node', async () => {
  const silentMs = new Map([
    ['node-1', 16_000],
    ['node-2', 40_000],
    ['node-3', 2_000],
  ]);
  await onFakeApi(
    async (api, r, events) => {
      const on = (name: string, node: string) => ({ ...pod(name, true), spec: { nodeName: node } });
      api.put(pods, on('mariadb-0', 'node-1'));
      api.put(pods, on('mariadb-1', 'node-2'));
      api.put(pods, on('mariadb-2', 'node-3'));
      await r.reconcile('openstack', 'ha');
      assert.equal(pinnedWriter(api.get(services, 'openstack', 'mariadb')), 'mariadb-2');
      assert.deepEqual(
        events.map((e) => e.message),
        [
          "mariadb-0 stopped serving (its node node-1 has not renewed its Lease for 16 s): the mariadb Service now sends the database's clients to mariadb-2",
        ],
      );
    },
    { unchangedMs: (node) => silentMs.get(node) },
  );
});
