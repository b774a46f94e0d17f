// The HA cloud (examples/ha.yaml) on three real nodes: asked of the services themselves, Galera
// has 3 synced members and RabbitMQ 3 running nodes; every replicated API has one pod per node;
// compute and network agents run on every node. (The token, catalog, image, network and server
// checks of cloud.test.ts run against this cloud too: STACKANETES_E2E_CLOUD=ha.)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubeObject } from '../../src/render/kube.ts';
import {
  client,
  cloudName,
  dataPlaneNamespace,
  galeraStatus,
  kubectl,
  namespace,
  skip,
} from './helpers.ts';

interface Pod extends KubeObject {
  spec: { nodeName?: string };
  status: { phase?: string; conditions?: { type: string; status: string }[] };
}

async function pods(selector: string): Promise<Pod[]> {
  const c = await client();
  return (await c.list<Pod>('v1', 'Pod', { namespace, labelSelector: selector })).items.filter(
    (p) => p.status.phase === 'Running' && !p.metadata.deletionTimestamp,
  );
}

async function realNodes(): Promise<string[]> {
  const c = await client();
  return (await c.list<KubeObject>('v1', 'Node')).items
    .filter((n) => n.metadata.labels?.type !== 'kwok')
    .map((n) => n.metadata.name);
}

void test('Galera has 3 members, all Synced, each on its own node', { skip }, async () => {
  const status = await galeraStatus('mariadb-0', 120_000);
  const out = JSON.stringify(status);
  assert.equal(status.wsrep_cluster_size, '3', out);
  assert.equal(status.wsrep_cluster_status, 'Primary', out);
  assert.equal(status.wsrep_local_state_comment, 'Synced', out);
  const members = await pods('app.kubernetes.io/name=database-mariadb');
  assert.equal(new Set(members.map((p) => p.spec.nodeName)).size, 3, 'one member per node');
});

void test('RabbitMQ has 3 running nodes, each on its own node', { skip }, async () => {
  const out = await kubectl([
    '-n',
    namespace,
    'exec',
    'rabbitmq-0',
    '--',
    'rabbitmqctl',
    'cluster_status',
    '--formatter',
    'json',
  ]);
  const status = JSON.parse(out) as { running_nodes: string[]; disk_nodes: string[] };
  assert.equal(status.running_nodes.length, 3, out);
  const members = await pods('app.kubernetes.io/name=messaging-rabbitmq');
  assert.equal(new Set(members.map((p) => p.spec.nodeName)).size, 3, 'one member per node');
});

void test('every replicated API runs one pod on each node', { skip }, async () => {
  const nodes = await realNodes();
  assert.equal(nodes.length, 3, `real nodes: ${nodes.join(', ')}`);
  const c = await client();
  const deployments = (
    await c.list<KubeObject>('apps/v1', 'Deployment', { namespace })
  ).items.filter((d) => ((d.spec as { replicas?: number }).replicas ?? 1) === 3);
  assert.ok(
    deployments.length >= 6,
    `replicated Deployments: ${deployments.map((d) => d.metadata.name).join(', ')}`,
  );
  for (const d of deployments) {
    const selector = (d.spec as { selector: { matchLabels: Record<string, string> } }).selector
      .matchLabels;
    const running = await pods(
      Object.entries(selector)
        .map(([k, v]) => `${k}=${v}`)
        .join(','),
    );
    assert.deepEqual(
      [...new Set(running.map((p) => p.spec.nodeName))].sort(),
      [...nodes].sort(),
      `${d.metadata.name}: pods on ${running.map((p) => p.spec.nodeName).join(', ')}`,
    );
  }
});

void test('compute and network agents run on every node', { skip }, async () => {
  const nodes = await realNodes();
  const c = await client();
  // The data plane's DaemonSets, in its own namespace.
  const daemonSets = (
    await c.list<KubeObject>('apps/v1', 'DaemonSet', {
      namespace: dataPlaneNamespace,
      labelSelector: `app.kubernetes.io/instance=${cloudName}`,
    })
  ).items;
  assert.ok(
    daemonSets.length >= 3,
    `DaemonSets in ${dataPlaneNamespace}: ${daemonSets.map((d) => d.metadata.name).join(', ')}`,
  );
  for (const ds of daemonSets) {
    const st = ds.status as { numberReady?: number; desiredNumberScheduled?: number };
    assert.equal(
      st.desiredNumberScheduled,
      nodes.length,
      `${ds.metadata.name} scheduled on every node`,
    );
    assert.equal(st.numberReady, nodes.length, `${ds.metadata.name} Ready on every node`);
  }
});
