// The API server reports its real release, the machine is a Ready node with both roles, and the
// simulated nodes asked for are Ready beside it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { versions } from '../../../src/cluster/versions.ts';
import { fakeNodePrefix } from '../../../src/cluster/manifests.ts';
import { getJson, isReady, kubectl, nodeName, type Condition } from './helpers.ts';

const fakeNodes = Number(process.env.STACKANETES_FAKE_NODES ?? '20');

interface NodeList {
  items: {
    metadata: {
      name: string;
      labels: Record<string, string>;
      annotations?: Record<string, string>;
    };
    status: {
      conditions?: Condition[];
      nodeInfo: { kubeletVersion: string; containerRuntimeVersion: string };
    };
  }[];
}

void test('kubectl version reports the server at Kubernetes 1.33', async () => {
  const v = JSON.parse(await kubectl(['version', '-o', 'json'])) as {
    serverVersion: { gitVersion: string; major: string; minor: string };
    clientVersion: { gitVersion: string };
  };
  assert.match(v.serverVersion.gitVersion, /^v1\.33\.\d+$/);
  assert.equal(v.serverVersion.gitVersion, versions.kubernetes);
  assert.equal(v.clientVersion.gitVersion, versions.kubernetes);
  assert.equal(v.serverVersion.minor, '33');
});

void test('the real node is Ready, runs kubelet 1.33 on containerd, and carries every role label', async () => {
  const nodes = await getJson<NodeList>(['nodes']);
  const node = nodes.items.find((n) => n.metadata.name === nodeName);
  assert.ok(node, `node ${nodeName} is registered`);
  assert.ok(isReady(node.status.conditions), `node ${nodeName} is Ready`);
  assert.equal(node.status.nodeInfo.kubeletVersion, versions.kubernetes);
  assert.match(node.status.nodeInfo.containerRuntimeVersion, /^containerd:\/\//);
  for (const label of [
    'stackanetes.io/control-plane',
    'stackanetes.io/compute',
    'stackanetes.io/network',
  ]) {
    assert.equal(node.metadata.labels[label], 'true', label);
  }
  assert.equal(
    node.metadata.annotations?.['kwok.x-k8s.io/node'],
    undefined,
    'kwok never manages the real node',
  );
});

void test(`with ${fakeNodes} simulated nodes, ${fakeNodes + 1} nodes are Ready`, async () => {
  const nodes = await getJson<NodeList>(['nodes']);
  const fake = nodes.items.filter((n) => n.metadata.name.startsWith(fakeNodePrefix));
  assert.equal(fake.length, fakeNodes, `run \`stackanetes cluster up --fake-nodes ${fakeNodes}\``);
  const ready = nodes.items.filter((n) => isReady(n.status.conditions));
  assert.equal(ready.length, fakeNodes + 1);
});
