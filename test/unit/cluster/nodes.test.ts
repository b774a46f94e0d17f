// The multi-node cluster's pure parts: node numbering and addresses, the memory check made before
// anything starts, the runc bundle of a node container, and the CLI's refusals.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { layout } from '../../../src/cluster/layout.ts';
import { kubeletYaml } from '../../../src/cluster/config.ts';
import { heldCapabilities, runcSpec } from '../../../src/cluster/nodecontainer.ts';
import {
  containerNode,
  hostNode,
  maxNodes,
  minNodeMiB,
  nodeBudget,
  nodeNetns,
  planNodes,
} from '../../../src/cluster/nodes.ts';
import { net, tunnelNet } from '../../../src/cluster/network.ts';
import { splitReference } from '../../../src/images/registry.ts';
import { hostsBlock, publicHostNames, withBlock } from '../../../src/cluster/publichosts.ts';
import { runCli } from '../helpers.ts';

test('a cluster of 3 is the host node and two node containers, each with its own subnet', () => {
  const nodes = planNodes(3);
  assert.deepEqual(
    nodes.map((n) => [n.name, n.kind, n.ip, n.podCidr]),
    [
      ['stackanetes-node', 'host', '10.244.0.1', '10.244.0.0/24'],
      ['stackanetes-node-2', 'container', '10.243.0.2', '10.244.2.0/24'],
      ['stackanetes-node-3', 'container', '10.243.0.3', '10.244.3.0/24'],
    ],
  );
  assert.equal(planNodes(1).length, 1);
  assert.equal(planNodes(1)[0], hostNode);
  assert.throws(() => containerNode(1), /outside 2\.\./);
});

test('every node, the host node too, has a tunnel address by its index on a network of its own', () => {
  assert.deepEqual(
    planNodes(3).map((n) => n.tunnelIp),
    ['10.242.0.1', '10.242.0.2', '10.242.0.3'],
  );
  assert.equal(containerNode(maxNodes).tunnelIp, `10.242.0.${maxNodes}`);
  assert.notEqual(tunnelNet.bridge, net.bridge);
  assert.deepEqual(nodeNetns(containerNode(3)), {
    netns: 'stkn-3',
    hostVeth: 'stknv3',
    tunnelVeth: 'stkntv3',
  });
  // Linux interface names are at most 15 characters.
  for (const name of [
    tunnelNet.bridge,
    tunnelNet.interface,
    nodeNetns(containerNode(maxNodes)).tunnelVeth,
  ])
    assert.ok(name.length <= 15, `${name} is a valid interface name`);
});

test('nodes share the machine: the allocatable memory of all nodes adds up to what it has', () => {
  const total = 24 * 1024;
  const one = nodeBudget(1, total);
  assert.equal(one.systemReservedMiB, 0, 'one node keeps today’s behaviour');
  const three = nodeBudget(3, total);
  assert.ok(three.allocatableMiB * 3 <= total);
  assert.equal(three.allocatableMiB + three.systemReservedMiB, total);
  assert.ok(three.allocatableMiB >= minNodeMiB);
});

test('a node count the machine cannot hold, or below 1, is refused with the reason', () => {
  assert.throws(() => nodeBudget(0, 24 * 1024), /1 or more.*control plane/);
  assert.throws(() => nodeBudget(40, 24 * 1024), /At most \d+ nodes fit/);
  assert.throws(() => nodeBudget(2.5, 24 * 1024), /whole number/);
});

test("a node container's root is its own overlay, and no mount hides another", () => {
  const l = layout('/tmp/stackanetes-unit');
  const spec = runcSpec(l, containerNode(2)) as {
    root: { path: string; readonly: boolean };
    mounts: { destination: string; type: string }[];
    linux: { namespaces: { type: string; path?: string }[]; cgroupsPath: string };
    process: { args: string[] };
  };
  assert.equal(spec.root.readonly, false, 'hostPath volumes create directories anywhere');
  assert.equal(
    spec.root.path,
    '/tmp/stackanetes-unit/cluster/nodes/stackanetes-node-2/bundle/rootfs',
  );
  // A mount over a parent must come before mounts below it.
  spec.mounts.forEach((m, i) => {
    for (const later of spec.mounts.slice(i + 1))
      assert.ok(
        !m.destination.startsWith(`${later.destination}/`),
        `${later.destination} is mounted after ${m.destination}, hiding it`,
      );
  });
  const netns = spec.linux.namespaces.find((n) => n.type === 'network');
  assert.equal(netns?.path, '/run/netns/stkn-2');
  for (const t of ['pid', 'mount', 'uts', 'ipc'])
    assert.ok(
      spec.linux.namespaces.some((n) => n.type === t),
      `own ${t} namespace`,
    );
  assert.equal(spec.linux.cgroupsPath, '/stackanetes/stackanetes-node-2');
  assert.equal(spec.process.args[0], '/usr/bin/tini');
});

test("a node container's kubelet puts its pods below the node's cgroup and offers its share", () => {
  const yaml = kubeletYaml({
    address: '10.243.0.2',
    caFile: '/etc/kubernetes/pki/ca.crt',
    servingCert: 'a',
    servingKey: 'b',
    containerdSocket: '/run/containerd/containerd.sock',
    podCidr: '10.244.2.0/24',
    resolvConf: '/etc/kubernetes/resolv.conf',
    volumePluginDir: '/var/lib/kubelet/volume-plugins',
    staticPodPath: '/etc/kubernetes/manifests',
    cgroupRoot: '/stackanetes/stackanetes-node-2',
    systemReservedMiB: 16000,
  });
  assert.match(yaml, /^cgroupRoot: \/stackanetes\/stackanetes-node-2$/m);
  assert.match(yaml, /^systemReserved:\n {2}memory: 16000Mi$/m);
});

test('image references are split into repository and tag at the local registry', () => {
  assert.deepEqual(splitReference('localhost:5001/stackanetes/keystone:2025.1', 'localhost:5001'), {
    repository: 'stackanetes/keystone',
    tag: '2025.1',
  });
  assert.throws(() => splitReference('quay.io/x/keystone:1', 'localhost:5001'), /does not name/);
});

test('cluster up refuses an impossible node count before anything starts', async () => {
  const r = await runCli(['cluster', 'up', '--nodes', '0']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--nodes must be a whole number, 1 or more/);
  assert.doesNotMatch(r.stderr, /❯|✔/, 'no step ran');
});

test('node commands refuse an unknown node and the host node, naming the ones that exist', async () => {
  const unknown = await runCli(['cluster', 'node', 'kill', 'no-such-node']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no node named "no-such-node"/);
  const host = await runCli(['cluster', 'node', 'stop', 'stackanetes-node']);
  assert.equal(host.code, 1);
  assert.match(host.stderr, /runs the control plane/);
});

test("the local cluster's public names go into /etc/hosts as one block, replaced and removed whole", () => {
  const original = '127.0.0.1 localhost\n::1 localhost\n';
  const added = withBlock(original, hostsBlock());
  assert.match(added, /^10\.244\.0\.1 keystone\.stackanetes\.test .*horizon\.stackanetes\.test$/m);
  assert.equal(withBlock(added, hostsBlock()), added, 'adding twice changes nothing');
  assert.equal(withBlock(added, undefined), original, 'removing restores the file');
  assert.deepEqual(publicHostNames().slice(0, 2), [
    'keystone.stackanetes.test',
    'glance.stackanetes.test',
  ]);
});

test('a node container gets every capability the machine holds, and none it withholds', () => {
  // This machine's root has every capability up to CAP_CHECKPOINT_RESTORE but CAP_SYS_RESOURCE.
  const caps = heldCapabilities('CapBnd:\t000001fffeffffff\n');
  assert.ok(caps.includes('CAP_SYS_ADMIN'));
  assert.ok(caps.includes('CAP_CHECKPOINT_RESTORE'));
  assert.ok(!caps.includes('CAP_SYS_RESOURCE'));
  assert.equal(caps.length, 40);
});
