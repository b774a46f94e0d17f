// Real guests: what the libvirt driver renders (nova-compute with libvirtd and virtlogd from the
// nova-libvirt image, the node's virt_type decided by an init container), what the fake driver
// keeps, and the data path OVN gets (the external bridge, its mapping, the node's namespace).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateObject } from '../../../src/api/v1alpha1/validate.ts';
import { cloudObjects } from '../../../src/cli/render.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { kvmProbeKernel, novaVirtConfig } from '../../../src/render/openstack/nova.ts';
import { cloudOf, find, fixedSecrets, loadExample } from './fixtures.ts';

const secrets = fixedSecrets();

interface C {
  name: string;
  image: string;
  command?: string[];
  env?: { name: string; value?: string }[];
  securityContext?: { runAsUser?: number; privileged?: boolean };
  volumeMounts?: { name: string; mountPath: string; mountPropagation?: string }[];
}

function podOf(objs: KubeObject[], kind: string, name: string) {
  const o = find(objs, kind, name) as { spec: { template: { spec: Record<string, unknown> } } };
  return o.spec.template.spec as {
    containers: C[];
    initContainers?: C[];
    hostPID?: boolean;
    hostNetwork?: boolean;
  };
}

function configJsonOf(objs: KubeObject[], secret: string, file = 'config.json') {
  const s = find(objs, 'Secret', secret) as { stringData: Record<string, string> };
  return JSON.parse(s.stringData[file]!) as { command: string };
}

test('libvirt: libvirtd and virtlogd run from the nova-libvirt image in a DaemonSet of their own, beside nova-compute', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  const compute = podOf(objs, 'DaemonSet', 'nova-compute');
  const pod = podOf(objs, 'DaemonSet', 'nova-libvirt');
  // A roll of nova-compute (an upgrade, a fixed image) leaves the guests' hypervisor alone.
  assert.deepEqual(
    compute.containers.map((c) => c.name),
    ['compute'],
  );
  assert.deepEqual(
    pod.containers.map((c) => c.name),
    ['libvirt', 'virtlogd'],
  );
  for (const c of pod.containers) {
    assert.match(c.image, /\/nova-libvirt:2025\.1$/, `${c.name} image`);
    assert.equal(c.securityContext?.runAsUser, 0, `${c.name} runs as root`);
  }
  assert.match(compute.containers[0]!.image, /\/nova-compute:2025\.1$/);
  assert.equal(pod.hostPID, true, 'guests outlive a libvirt container restart');
  assert.equal(pod.hostNetwork, true, "the guests' taps are on the host's br-int");
  const placement = (ds: string) => {
    const spec = find(objs, 'DaemonSet', ds).spec.template.spec;
    return [spec.affinity, spec.nodeSelector, spec.tolerations];
  };
  assert.deepEqual(
    placement('nova-libvirt'),
    placement('nova-compute'),
    'on the same nodes as nova-compute',
  );
  // Kolla's contract for both: libvirtd from config.json, virtlogd from its own file.
  assert.equal(configJsonOf(objs, 'nova-libvirt-config').command, '/usr/sbin/libvirtd');
  assert.equal(
    configJsonOf(objs, 'nova-libvirt-config', 'virtlogd.json').command,
    '/usr/sbin/virtlogd',
  );
  const virtlogd = pod.containers.find((c) => c.name === 'virtlogd')!;
  assert.ok(
    virtlogd.env?.some(
      (e) =>
        e.name === 'KOLLA_CONFIG_FILE' && e.value === '/var/lib/kolla/config_files/virtlogd.json',
    ),
  );
  // libvirtd adds each guest's tap to br-int with ovs-vsctl: it needs the switch's socket.
  const libvirtd = pod.containers.find((c) => c.name === 'libvirt')!;
  assert.ok(libvirtd.volumeMounts?.some((m) => m.mountPath === '/run/openvswitch'));
  // Console logs: virtlogd writes them where nova-compute reads them.
  for (const c of [libvirtd, virtlogd, compute.containers[0]!])
    assert.ok(
      c.volumeMounts?.some((m) => m.mountPath === '/var/lib/nova/instances'),
      c.name,
    );
  const qemu = (
    find(objs, 'Secret', 'nova-libvirt-config') as { stringData: Record<string, string> }
  ).stringData['qemu.conf']!;
  assert.match(qemu, /^stdio_handler = "logd"$/m);
});

test('libvirt: an init container writes the node virt_type; nova-compute reads it last', () => {
  for (const [virtType, arg] of [
    [undefined, 'detect'],
    ['kvm', 'kvm'],
    ['qemu', 'qemu'],
  ] as const) {
    const objs = cloudObjects(
      cloudOf({
        services: { nova: { computeDriver: 'libvirt', ...(virtType ? { virtType } : {}) } },
      }),
      secrets,
    );
    const pod = podOf(objs, 'DaemonSet', 'nova-compute');
    const init = pod.initContainers?.find((c) => c.name === 'virt-type');
    assert.ok(init, 'a virt-type init container');
    assert.match(init.image, /\/nova-libvirt:/, 'it has QEMU and the probe kernel');
    assert.deepEqual(init.command?.slice(2), [arg, novaVirtConfig]);
    assert.equal(init.securityContext?.privileged, true, 'it opens /dev/kvm');
    const cmd = configJsonOf(objs, 'nova-compute-config').command;
    assert.ok(cmd.endsWith(`--config-file ${novaVirtConfig}`), cmd);
    const conf = (
      find(objs, 'Secret', 'nova-compute-config') as { stringData: Record<string, string> }
    ).stringData['nova.conf']!;
    assert.match(conf, /^compute_driver = libvirt\.LibvirtDriver$/m);
    assert.doesNotMatch(conf, /^virt_type/m, 'decided on the node, not in the shared file');
  }
});

test('fake driver: no libvirt, no nova-libvirt image, no virt_type file (kwok scale tests)', () => {
  const objs = cloudObjects(cloudOf({ services: { nova: { computeDriver: 'fake' } } }), secrets);
  const pod = podOf(objs, 'DaemonSet', 'nova-compute');
  assert.deepEqual(
    pod.containers.map((c) => c.name),
    ['compute'],
  );
  assert.deepEqual(
    pod.initContainers?.map((c) => c.name),
    ['host-config'],
  );
  assert.ok(!JSON.stringify(objs).includes('nova-libvirt'));
  assert.ok(!configJsonOf(objs, 'nova-compute-config').command.includes('libvirt.conf'));
  const conf = (
    find(objs, 'Secret', 'nova-compute-config') as { stringData: Record<string, string> }
  ).stringData['nova.conf']!;
  assert.match(conf, /^compute_driver = fake\.PredictableNodeUUIDDriver$/m);
});

/** Runs the rendered virt-type.sh with a fake qemu-system-x86_64 that prints `out`, exits `rc`. */
function virtType(mode: string, out: string, rc: number): { conf: string; log: string } {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  const script = (
    find(objs, 'Secret', 'nova-libvirt-config') as { stringData: Record<string, string> }
  ).stringData['virt-type.sh']!;
  const dir = mkdtempSync(join(tmpdir(), 'virt-type-'));
  try {
    const kernel = join(dir, 'vmlinuz');
    writeFileSync(kernel, 'not a kernel');
    writeFileSync(join(dir, 'virt-type.sh'), script.replaceAll(kvmProbeKernel, kernel));
    const qemu = join(dir, 'qemu-system-x86_64');
    writeFileSync(qemu, `#!/bin/sh\necho "${out}"\nexit ${rc}\n`);
    chmodSync(qemu, 0o755);
    const conf = join(dir, 'libvirt.conf');
    const r = spawnSync('bash', [join(dir, 'virt-type.sh'), mode, conf], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    });
    assert.equal(r.status, 0, r.stderr);
    return { conf: readFileSync(conf, 'utf8'), log: r.stdout };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const kvmDevice = spawnSync('test', ['-c', '/dev/kvm']).status === 0;

test(
  'virt-type.sh detect: kvm when a kernel boots under KVM, qemu when KVM fails',
  {
    skip: kvmDevice ? false : 'no /dev/kvm on this machine: detect answers qemu before trying',
  },
  () => {
    const ok = virtType(
      'detect',
      '[ 0.9] Kernel panic - not syncing: VFS: Unable to mount root fs',
      0,
    );
    assert.equal(ok.conf, '[libvirt]\nvirt_type = kvm\ncpu_mode = host-model\n');
    assert.match(ok.log, /booted under KVM/);
    // What this machine's nested KVM does: an emulation failure, QEMU paused until the timeout.
    const broken = virtType('detect', 'KVM internal error. Suberror: 1', 124);
    assert.equal(broken.conf, '[libvirt]\nvirt_type = qemu\ncpu_mode = none\n');
    assert.match(broken.log, /did not boot under KVM .*KVM internal error/);
  },
);

test('virt-type.sh kvm and qemu do not probe', () => {
  assert.equal(
    virtType('qemu', 'Kernel panic - not syncing', 0).conf,
    '[libvirt]\nvirt_type = qemu\ncpu_mode = none\n',
  );
  assert.equal(
    virtType('kvm', 'KVM internal error', 1).conf,
    '[libvirt]\nvirt_type = kvm\ncpu_mode = host-model\n',
  );
});

test('OVN: every chassis maps the physical network to the external bridge and is a gateway', () => {
  const objs = cloudObjects(
    cloudOf({
      services: { neutron: { provider: { physicalNetwork: 'extnet', bridge: 'br-public' } } },
    }),
    secrets,
  );
  const start = (
    find(objs, 'Secret', 'ovn-controller-config') as { stringData: Record<string, string> }
  ).stringData['start.sh']!;
  assert.match(
    start,
    /--may-exist add-br br-public -- set bridge br-public datapath_type="\$\{dp:-system\}"/,
  );
  assert.match(start, /external_ids:ovn-bridge-mappings=extnet:br-public/);
  assert.match(start, /external_ids:ovn-cms-options=enable-chassis-as-gw/);
  assert.ok(!start.includes('ip netns'), 'no namespace unless asked for');
  const pod = podOf(objs, 'DaemonSet', 'ovn-controller');
  assert.ok(!pod.containers[0]!.volumeMounts?.some((m) => m.mountPath === '/run/netns'));
  const ml2 = (
    find(objs, 'Secret', 'neutron-server-config') as { stringData: Record<string, string> }
  ).stringData['ml2_conf.ini']!;
  assert.match(ml2, /\[ml2_type_flat\]\nflat_networks = extnet\n/);
});

test('OVN: the local external network is a namespace on the node, joined to br-ex, forwarding nothing', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  const start = (
    find(objs, 'Secret', 'ovn-controller-config') as { stringData: Record<string, string> }
  ).stringData['start.sh']!;
  for (const line of [
    // A stale file in /run/netns (its namespace gone) is replaced, not taken for the namespace.
    'ip netns exec stackanetes-ext true 2>/dev/null || { ip netns delete stackanetes-ext 2>/dev/null || rm -f /run/netns/stackanetes-ext; ip netns add stackanetes-ext; }',
    'ip link add stkext0 type veth peer name ext0 netns stackanetes-ext',
    'ip netns exec stackanetes-ext ip addr replace 172.24.4.1/24 dev ext0',
    "ip netns exec stackanetes-ext sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'",
    '--may-exist add-port br-ex stkext0',
  ])
    assert.ok(start.includes(line), line);
  const pod = podOf(objs, 'DaemonSet', 'ovn-controller');
  const netns = pod.containers[0]!.volumeMounts?.find((m) => m.mountPath === '/run/netns');
  assert.equal(netns?.mountPropagation, 'Bidirectional', 'the namespace is the node’s');
});

test('Open vSwitch: TSO (virtio-net headers on packet sockets) only with the userspace datapath', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  const start = (
    find(objs, 'Secret', 'ovn-openvswitch-vswitchd-config') as {
      stringData: Record<string, string>;
    }
  ).stringData['start.sh']!;
  const netdev = start.indexOf('ovn-bridge-datapath-type=netdev');
  const tsoOn = start.indexOf('other_config:userspace-tso-enable=true');
  const elseAt = start.indexOf('\nelse\n');
  assert.ok(netdev > elseAt && tsoOn > elseAt, 'set in the branch without the kernel module');
  assert.ok(tsoOn < start.indexOf('exec ovs-vswitchd'), 'before ovs-vswitchd reads it');
  assert.ok(start.indexOf('remove open_vswitch . other_config userspace-tso-enable') < elseAt);
});

const startOf = (objs: KubeObject[], secret: string) =>
  (find(objs, 'Secret', secret) as { stringData: Record<string, string> }).stringData['start.sh']!;

test('OVN tunnels: with tunnelInterface, the interface and its address go onto br-phy, where tunnels end', () => {
  const objs = cloudObjects(
    cloudOf({ services: { neutron: { tunnelInterface: 'stkntun0' } } }),
    secrets,
  );
  const start = startOf(objs, 'ovn-controller-config');
  const lines = [
    'ip link set stkntun0 up',
    'mac="$(cat /sys/class/net/stkntun0/address)"',
    // No --no-wait: ovs-vswitchd has made br-phy's port when it returns. The node's datapath.
    'ovs-vsctl --db=unix:/run/openvswitch/db.sock --timeout=60 --may-exist add-br br-phy -- set bridge br-phy datapath_type="${dp:-system}" fail-mode=standalone other_config:hwaddr="\\"$mac\\"" -- --may-exist add-port br-phy stkntun0',
    `tunnel_cidr="$(ip -4 -o addr show dev stkntun0 scope global | awk '{ print $4; exit }')"`,
    '  ip addr del "$tunnel_cidr" dev stkntun0',
    '  ip addr replace "$tunnel_cidr" dev br-phy',
    // On a restart the address is already on br-phy.
    `  tunnel_cidr="$(ip -4 -o addr show dev br-phy scope global | awk '{ print $4; exit }')"`,
    'ip link set br-phy up',
    'ovs-vsctl --db=unix:/run/openvswitch/db.sock --no-wait set open_vswitch . external_ids:ovn-encap-ip="${tunnel_cidr%/*}"',
  ];
  let at = -1;
  for (const line of lines) {
    const i = start.indexOf(`${line}\n`);
    assert.ok(i > at, `in order: ${line}`);
    at = i;
  }
  assert.ok(start.indexOf('dp="$(') < start.indexOf('add-br br-phy'), 'the datapath is read first');
  assert.ok(at < start.indexOf('exec ovn-controller'), 'before ovn-controller starts');
  assert.ok(!start.includes('ovn-encap-ip="$NODE_IP"'), 'tunnels do not end on the node address');
  // Moving addresses takes NET_ADMIN, and nothing more.
  const pod = podOf(objs, 'DaemonSet', 'ovn-controller') as unknown as {
    containers: { securityContext: { capabilities?: { add?: string[] } } }[];
  };
  assert.deepEqual(pod.containers[0]!.securityContext.capabilities?.add, ['NET_ADMIN']);
  // Without it, nothing of this: tunnels end on the node's address.
  const plain = cloudObjects(cloudOf({}), secrets);
  const before = startOf(plain, 'ovn-controller-config');
  assert.ok(!before.includes('br-phy') && !before.includes('tunnel_cidr'));
  assert.ok(before.includes('  external_ids:ovn-encap-ip="$NODE_IP" \\\n'));
  assert.equal(
    startOf(objs, 'ovn-openvswitch-vswitchd-config'),
    startOf(plain, 'ovn-openvswitch-vswitchd-config'),
    'ovs-vswitchd starts as before',
  );
});

test('a tunnel interface that is no interface name, or the external uplink, is refused with its field path', () => {
  const problems = (neutron: Record<string, unknown>) => {
    const r = validateObject({
      apiVersion: 'stackanetes.io/v1alpha1',
      kind: 'OpenStackCloud',
      metadata: { name: 'x', namespace: 'openstack' },
      spec: { release: '2025.1', services: { neutron } },
    });
    assert.equal(r.ok, false);
    return r.ok ? [] : r.problems;
  };
  for (const name of ['', 'tunnel-interface0', 'eth 1', 'eth1/2']) {
    const [p] = problems({ tunnelInterface: name });
    assert.equal(p?.path, 'spec.services.neutron.tunnelInterface', name);
    assert.match(p.message, /Linux interface name: 1 to 15/, name);
  }
  assert.match(
    problems({ tunnelInterface: 'eth1', provider: { interface: 'eth1' } })[0]!.message,
    /also spec\.services\.neutron\.provider\.interface/,
  );
  assert.match(problems({ tunnelInterface: 'br-phy' })[0]!.message, /name of a bridge/);
});

test('a malformed external address is refused with its field path', () => {
  const r = validateObject({
    apiVersion: 'stackanetes.io/v1alpha1',
    kind: 'OpenStackCloud',
    metadata: { name: 'x', namespace: 'openstack' },
    spec: {
      release: '2025.1',
      services: { neutron: { provider: { hostNamespace: { address: '172.24.4.1' } } } },
    },
  });
  assert.equal(r.ok, false);
  const text = JSON.stringify(r);
  assert.match(text, /spec\.services\.neutron\.provider\.hostNamespace\.address/);
});

test('a cloud created again under the same name keeps nothing of the one before on its nodes', () => {
  // Nova refuses to start when the hypervisor has guests its (new, empty) database does not know.
  const hostPaths = (uid: string | undefined) => {
    const cloud = loadExample('minimal');
    if (uid) Object.assign(cloud.metadata, { uid });
    const objs = cloudObjects(cloud, secrets);
    const byName = new Map<string, string>();
    for (const ds of ['nova-compute', 'nova-libvirt']) {
      const pod = find(objs, 'DaemonSet', ds) as {
        spec: { template: { spec: { volumes: { name: string; hostPath?: { path: string } }[] } } };
      };
      for (const v of pod.spec.template.spec.volumes)
        if (v.hostPath) byName.set(v.name, v.hostPath.path);
    }
    return byName;
  };
  const first = hostPaths('0b8f1c3e-1111-4c1e-9d1a-000000000001');
  const second = hostPaths('0b8f1c3e-2222-4c1e-9d1a-000000000002');
  const state = ['nova-state', 'libvirt-lib', 'libvirt-qemu', 'nova-instances'];
  for (const name of state) {
    assert.match(first.get(name) ?? '', /^\/var\/lib\/stackanetes\/clouds\/0b8f1c3e-1111-/, name);
    assert.notEqual(first.get(name), second.get(name), `${name} differs between the two clouds`);
  }
  // What is the node's, not the cloud's, stays where the node has it.
  for (const [name, path] of first)
    if (!state.includes(name)) assert.equal(second.get(name), path, `${name}: the node's own`);
  // Rendered without a UID (stackanetes render), the directory is named after namespace and name.
  assert.equal(
    hostPaths(undefined).get('nova-state'),
    '/var/lib/stackanetes/clouds/openstack_minimal/nova',
  );
});
