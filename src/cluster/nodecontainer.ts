// A node container's life: its configuration (what /etc/kubernetes holds on that server), its
// runc bundle, its network (a named network namespace with a veth on the host bridge and one on
// the tunnel bridge), and
// power: start boots it, stop shuts it down cleanly, kill cuts the power.
import { setTimeout as sleep } from 'node:timers/promises';
import { spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryPaths } from './build.ts';
import { killCgroupTree, removeCgroupTree } from './cgroups.ts';
import {
  cniConflist,
  containerdToml,
  emptyResolvConf,
  kubeletYaml,
  kubeProxyYaml,
  write,
  writeChanged,
  writeRegistryHosts,
} from './config.ts';
import { run } from '../util/exec.ts';
import { imageArchives } from './images.ts';
import { kubeconfigYaml } from './kubeconfig.ts';
import type { Layout } from './layout.ts';
import { nodeBinaries } from './noderootfs.ts';
import {
  inNode,
  nodeCgroup,
  nodeDirs,
  nodeNetns,
  podBridge,
  type NodeBudget,
  type NodeSpec,
} from './nodes.ts';
import { apiServerUrl, net, nodeSubnet, plugTunnel } from './network.ts';
import { ensureCert } from './pki.ts';

const initScript = join(dirname(fileURLToPath(import.meta.url)), 'assets', 'stackanetes-node');

/** Every capability a kernel of this era knows: a node runs privileged pods of its own. */
export const allCapabilities = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
] as const;

/**
 * The capabilities this process may hand on (its bounding set, from /proc/self/status): runc
 * cannot give a node container one the machine withholds (here CAP_SYS_RESOURCE).
 */
export function heldCapabilities(status = readFileSync('/proc/self/status', 'utf8')): string[] {
  const hex = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (!hex) return [...allCapabilities];
  const mask = BigInt(`0x${hex}`);
  // allCapabilities is in the kernel's numbering: bit i is the i-th entry.
  return allCapabilities.filter((_, i) => (mask >> BigInt(i)) & 1n);
}

interface Mount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

const bind = (source: string, destination: string, ro = false): Mount => ({
  destination,
  type: 'bind',
  source,
  options: ['rbind', ro ? 'ro' : 'rw'],
});
const tmpfs = (destination: string, options: string[] = []): Mount => ({
  destination,
  type: 'tmpfs',
  source: 'tmpfs',
  options: ['nosuid', 'nodev', 'mode=755', ...options],
});

/** CPU weight of one node (cgroup v1 shares): every node, the host node too, weighs the same. */
export const nodeCpuShares = 2048;

/**
 * The OCI runtime spec runc runs a node container from: a read-only shared root file system,
 * the node's own disk, configuration and logs mounted in, the host's cgroup hierarchy (so the
 * node's kubelet puts its pods below the node's own cgroup), /dev, every capability, and the
 * named network namespace the host wired up.
 */
export function runcSpec(
  l: Layout,
  n: NodeSpec,
  capabilities: readonly string[] = heldCapabilities(),
): Record<string, unknown> {
  const d = nodeDirs(l, n.name);
  const bins = binaryPaths(l);
  const binSource: Record<(typeof nodeBinaries)[number], string> = {
    kubelet: bins.kubelet,
    'kube-proxy': bins.kubeProxy,
    'kube-router': bins.kubeRouter,
    crictl: bins.crictl,
  };
  const archives = imageArchives(l);
  const mounts: Mount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev'] },
    bind('/sys/fs/cgroup', '/sys/fs/cgroup'),
    bind('/dev', '/dev'),
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=268435456'],
    },
    tmpfs('/run'),
    tmpfs('/tmp', ['mode=1777']),
    tmpfs('/var/tmp', ['mode=1777']),
    tmpfs('/root', ['mode=700']),
    bind(d.etc, inNode.etc, true),
    bind(join(d.etc, 'hosts'), '/etc/hosts', true),
    bind(join(d.etc, 'hostname'), '/etc/hostname', true),
    bind(join(d.etc, 'resolv.conf'), '/etc/resolv.conf', true),
    bind(d.containerd, inNode.containerdRoot),
    bind(d.kubelet, inNode.kubeletRoot),
    bind(d.volumes, inNode.volumes),
    // The cluster's shared file system, at the same path as on the host node.
    bind(l.shared, l.shared),
    bind(join(d.disk, 'cni'), '/var/lib/cni'),
    bind(d.logs, inNode.logs),
    tmpfs(inNode.images),
    ...Object.values(archives).map((a) =>
      bind(a, `${inNode.images}/${a.split('/').pop() ?? ''}`, true),
    ),
    ...nodeBinaries.map((b) => bind(binSource[b], `${inNode.bin}/${b}`, true)),
    bind(join(d.root, 'stackanetes-node'), inNode.init, true),
  ];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: 0, gid: 0 },
      // tini as PID 1 reaps every orphan (containerd's shims) and hands SIGTERM to the boot script.
      args: ['/usr/bin/tini', '--', inNode.init],
      env: [
        'PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin',
        'container=stackanetes-node',
        'HOME=/root',
      ],
      cwd: '/',
      capabilities: {
        bounding: [...capabilities],
        effective: [...capabilities],
        permitted: [...capabilities],
        inheritable: [...capabilities],
        ambient: [...capabilities],
      },
      // No rlimits: root here lacks CAP_SYS_RESOURCE, so the node inherits the machine's limits.
      noNewPrivileges: false,
    },
    // The shared root file system under an overlay whose upper layer is on the node's disk: the
    // node writes where a server writes (hostPath volumes create directories anywhere).
    root: { path: nodeRootMount(l, n), readonly: false },
    hostname: n.name,
    mounts,
    linux: {
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        { type: 'network', path: `/run/netns/${nodeNetns(n).netns}` },
      ],
      cgroupsPath: nodeCgroup(n.name),
      resources: {
        devices: [{ allow: true, access: 'rwm' }],
        cpu: { shares: nodeCpuShares },
      },
      rootfsPropagation: 'rprivate',
      maskedPaths: [],
      readonlyPaths: [],
    },
  };
}

/** The node's labels: every real node can take every role (a small hyper-converged cluster). */
export function nodeLabelArg(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/** kube-router enforces NetworkPolicy only: the node network routes, kube-proxy serves Services. */
export function kubeRouterArgs(nodeName: string, kubeconfig: string): string[] {
  return [
    `--kubeconfig=${kubeconfig}`,
    `--hostname-override=${nodeName}`,
    '--run-firewall=true',
    '--run-router=false',
    '--run-service-proxy=false',
    '--enable-cni=false',
    `--service-cluster-ip-range=${net.serviceCidr}`,
    '--iptables-sync-period=1m',
    '--health-port=20244',
    '--v=1',
  ];
}

/**
 * Writes what the node finds at /etc/kubernetes (its own certificates, kubeconfigs, kubelet,
 * kube-proxy, kube-router and containerd configuration), its runc bundle and its boot script.
 * The node gets its own client certificates, never the cluster CA's key.
 */
export async function writeNodeConfig(
  l: Layout,
  n: NodeSpec,
  budget: NodeBudget,
  labels: Record<string, string>,
): Promise<{ changed: boolean; bundleChanged: boolean }> {
  const d = nodeDirs(l, n.name);
  for (const dir of [
    d.etc,
    d.containerd,
    d.kubelet,
    d.volumes,
    join(d.disk, 'cni'),
    d.logs,
    d.bundle,
  ])
    mkdirSync(dir, { recursive: true });
  const pkiDir = join(d.etc, 'pki');
  mkdirSync(pkiDir, { recursive: true, mode: 0o700 });
  await ensureCert(l.pki, {
    name: `kubelet-${n.name}`,
    cn: `system:node:${n.name}`,
    org: 'system:nodes',
    usage: 'client',
  });
  await ensureCert(l.pki, {
    name: `kubelet-serving-${n.name}`,
    cn: n.name,
    usage: 'server',
    dns: [n.name, 'localhost'],
    ips: [n.ip, '127.0.0.1'],
  });
  const copies: [string, string][] = [
    ['ca.crt', 'ca.crt'],
    [`kubelet-${n.name}.crt`, 'kubelet.crt'],
    [`kubelet-${n.name}.key`, 'kubelet.key'],
    [`kubelet-serving-${n.name}.crt`, 'kubelet-serving.crt'],
    [`kubelet-serving-${n.name}.key`, 'kubelet-serving.key'],
    ['kube-proxy.crt', 'kube-proxy.crt'],
    ['kube-proxy.key', 'kube-proxy.key'],
    ['kube-router.crt', 'kube-router.crt'],
    ['kube-router.key', 'kube-router.key'],
  ];
  for (const [from, to] of copies) copyFileSync(join(l.pki, from), join(pkiDir, to));
  const etc = inNode.etc;
  const pki = `${etc}/pki`;
  for (const who of ['kubelet', 'kube-proxy', 'kube-router'])
    write(join(d.etc, `${who}.kubeconfig`), kubeconfigYaml(apiServerUrl, pki, who));
  let changed = false;
  const track = (path: string, text: string) => {
    changed = writeChanged(path, text) || changed;
  };
  track(
    join(d.etc, 'kubelet.yaml'),
    kubeletYaml({
      address: n.ip,
      caFile: `${pki}/ca.crt`,
      servingCert: `${pki}/kubelet-serving.crt`,
      servingKey: `${pki}/kubelet-serving.key`,
      containerdSocket: inNode.containerdSocket,
      podCidr: n.podCidr,
      resolvConf: `${etc}/resolv.conf`,
      volumePluginDir: `${inNode.kubeletRoot}/volume-plugins`,
      staticPodPath: `${etc}/manifests`,
      cgroupRoot: nodeCgroup(n.name),
      systemReservedMiB: budget.systemReservedMiB,
    }),
  );
  mkdirSync(join(d.etc, 'manifests'), { recursive: true });
  track(
    join(d.etc, 'kube-proxy.yaml'),
    kubeProxyYaml({ kubeconfig: `${etc}/kube-proxy.kubeconfig`, nodeName: n.name, nodeIp: n.ip }),
  );
  track(
    join(d.etc, 'kube-router.args'),
    kubeRouterArgs(n.name, `${etc}/kube-router.kubeconfig`).join('\n') + '\n',
  );
  write(
    join(d.etc, 'containerd.toml'),
    containerdToml({
      root: inNode.containerdRoot,
      state: '/run/containerd',
      socket: inNode.containerdSocket,
      cniConf: inNode.cniConf,
      registryHosts: inNode.registryHosts,
    }),
  );
  writeRegistryHosts(join(d.etc, 'certs.d'));
  write(
    join(d.etc, 'cni', '10-stackanetes.conflist'),
    cniConflist({
      bridge: podBridge,
      subnet: n.podCidr,
      gateway: n.podGateway,
      // Allocations do not outlive a power cut: after one, no pod of this node runs any more.
      dataDir: '/run/cni-ipam',
    }),
  );
  write(join(d.etc, 'resolv.conf'), emptyResolvConf);
  write(join(d.etc, 'hosts'), `127.0.0.1 localhost\n${n.ip} ${n.name}\n`);
  write(join(d.etc, 'hostname'), `${n.name}\n`);
  write(
    join(d.etc, 'node.env'),
    `NODE_NAME=${n.name}\nNODE_IP=${n.ip}\nNODE_LABELS=${nodeLabelArg(labels)}\n`,
  );
  copyFileSync(initScript, join(d.root, 'stackanetes-node'));
  chmodSync(join(d.root, 'stackanetes-node'), 0o755);
  const bundleChanged = writeChanged(
    join(d.bundle, 'config.json'),
    JSON.stringify(runcSpec(l, n), null, 2) + '\n',
  );
  return { changed, bundleChanged };
}

/** Runs a command in a node container (its namespaces and root file system); its output. */
export async function execInNode(l: Layout, node: string, args: string[]): Promise<string> {
  return (await runc(l, ['exec', node, ...args])).stdout;
}

/** Restarts one of the node's services: its supervisor starts it again within seconds. */
export async function restartInNode(l: Layout, n: NodeSpec, name: string): Promise<void> {
  await runc(l, ['exec', n.name, 'pkill', '-x', name], true);
}

/** Where a node's root file system is mounted (an overlay of the shared one and its own disk). */
export function nodeRootMount(l: Layout, n: NodeSpec): string {
  return join(nodeDirs(l, n.name).bundle, 'rootfs');
}

function isMounted(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === path);
}

async function mountRoot(l: Layout, n: NodeSpec): Promise<void> {
  const target = nodeRootMount(l, n);
  if (isMounted(target)) return;
  const d = nodeDirs(l, n.name);
  const upper = join(d.disk, 'root', 'upper');
  const work = join(d.disk, 'root', 'work');
  for (const dir of [target, upper, work]) mkdirSync(dir, { recursive: true });
  await run('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${l.nodeRootfs},upperdir=${upper},workdir=${work}`,
    target,
  ]);
}

async function unmountRoot(l: Layout, n: NodeSpec): Promise<void> {
  const target = nodeRootMount(l, n);
  if (isMounted(target)) await run('umount', ['-l', target], { allowFailure: true });
}

export type NodePower = 'running' | 'off';

function runc(l: Layout, args: string[], allowFailure = false) {
  return run('runc', ['--root', l.runcRoot, ...args], { allowFailure, timeoutMs: 60_000 });
}

/** `runc state` of a node container: its status and first process, or undefined when it has none. */
async function runcState(
  l: Layout,
  name: string,
): Promise<{ status?: string; pid?: number } | undefined> {
  const r = await runc(l, ['state', name], true);
  return r.code === 0 ? (JSON.parse(r.stdout) as { status?: string; pid?: number }) : undefined;
}

/** The host PID of a running node container's first process (its namespaces are the node's). */
export async function nodeInitPid(l: Layout, name: string): Promise<number | undefined> {
  const pid = (await runcState(l, name))?.pid;
  return pid && pid > 0 ? pid : undefined;
}

export async function nodePower(l: Layout, n: NodeSpec): Promise<NodePower> {
  const state = (await runcState(l, n.name))?.status;
  return state === 'running' || state === 'paused' || state === 'created' ? 'running' : 'off';
}

/**
 * The node's cables: a network namespace with eth0 on the node subnet, its host end on the bridge,
 * and the tunnel interface on the tunnel bridge.
 */
async function plugNetwork(n: NodeSpec): Promise<void> {
  const { netns, hostVeth } = nodeNetns(n);
  const inNs = (args: string[]) => run('ip', ['netns', 'exec', netns, ...args]);
  if (!existsSync(`/run/netns/${netns}`)) await run('ip', ['netns', 'add', netns]);
  if ((await run('ip', ['link', 'show', hostVeth], { allowFailure: true })).code !== 0) {
    await run('ip', [
      'link',
      'add',
      hostVeth,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      netns,
    ]);
  }
  await run('ip', ['link', 'set', hostVeth, 'master', net.bridge, 'up']);
  const addrs = await inNs(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  if (!addrs.stdout.includes(`${n.ip}/`))
    await inNs(['ip', 'addr', 'add', `${n.ip}/${nodeSubnet.prefix}`, 'dev', 'eth0']);
  await inNs(['ip', 'link', 'set', 'lo', 'up']);
  await inNs(['ip', 'link', 'set', 'eth0', 'up']);
  await inNs(['ip', 'route', 'replace', 'default', 'via', nodeSubnet.hostIp]);
  // The host is the network's router: each node's pod subnet is reached through that node.
  await run('ip', ['route', 'replace', n.podCidr, 'via', n.ip, 'dev', net.bridge]);
  await plugNodeTunnel(n);
}

/**
 * The node's tunnel cable (network.ts `plugTunnel`). Idempotent: `cluster up` plugs it into a
 * running node container too, which adds an interface and reboots nothing.
 */
export async function plugNodeTunnel(n: NodeSpec): Promise<void> {
  const { netns, tunnelVeth } = nodeNetns(n);
  await plugTunnel(tunnelVeth, n.tunnelIp, n.kind === 'container' ? netns : undefined);
}

/** Pulls the cables: the veth pairs and the namespace go; the host's route to the pods stays. */
async function unplugNetwork(n: NodeSpec): Promise<void> {
  const { netns, hostVeth, tunnelVeth } = nodeNetns(n);
  await run('ip', ['link', 'del', hostVeth], { allowFailure: true });
  await run('ip', ['link', 'del', tunnelVeth], { allowFailure: true });
  if (existsSync(`/run/netns/${netns}`))
    await run('ip', ['netns', 'del', netns], { allowFailure: true });
}

/** Boots the node container (its network first). Returns a note for progress output. */
export async function startNode(l: Layout, n: NodeSpec): Promise<string> {
  if ((await nodePower(l, n)) === 'running') return 'already running';
  const d = nodeDirs(l, n.name);
  await runc(l, ['delete', '--force', n.name], true);
  removeCgroupTree(nodeCgroup(n.name));
  await plugNetwork(n);
  await mountRoot(l, n);
  mkdirSync(l.runcRoot, { recursive: true });
  const fd = openSync(join(d.logs, 'node.log'), 'a');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(
        'runc',
        ['--root', l.runcRoot, 'run', '--detach', '--bundle', d.bundle, n.name],
        { stdio: ['ignore', fd, fd] },
      );
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0
          ? resolve()
          : reject(
              new Error(`runc run ${n.name} exited with ${code}; see ${join(d.logs, 'node.log')}`),
            ),
      );
    });
  } finally {
    closeSync(fd);
  }
  return 'booted';
}

function cleanUp(l: Layout, n: NodeSpec) {
  return async () => {
    await runc(l, ['delete', '--force', n.name], true);
    await unplugNetwork(n);
    await unmountRoot(l, n);
    removeCgroupTree(nodeCgroup(n.name));
  };
}

/** Power cut: every process of the node dies at once, then its network goes away. */
export async function killNode(l: Layout, n: NodeSpec): Promise<string> {
  const killed = await killCgroupTree(nodeCgroup(n.name));
  await cleanUp(l, n)();
  return killed ? `${killed} processes killed` : 'was off';
}

/**
 * Clean shutdown: SIGTERM to the node's init, which stops the kubelet, every pod with its grace
 * period, then the rest. After `timeoutMs` the power is cut.
 */
export async function stopNode(l: Layout, n: NodeSpec, timeoutMs = 180_000): Promise<string> {
  if ((await nodePower(l, n)) !== 'running') {
    await cleanUp(l, n)();
    return 'was off';
  }
  const t = Date.now();
  await runc(l, ['kill', n.name, 'TERM'], true);
  while ((await nodePower(l, n)) === 'running' && Date.now() - t < timeoutMs) await sleep(500);
  let note = `shut down in ${((Date.now() - t) / 1000).toFixed(1)} s`;
  if ((await nodePower(l, n)) === 'running') {
    await killCgroupTree(nodeCgroup(n.name));
    note = `did not shut down within ${timeoutMs / 1000} s: power cut`;
  } else {
    // Processes that outlived init (none should) go with the power.
    await killCgroupTree(nodeCgroup(n.name));
  }
  await cleanUp(l, n)();
  return note;
}

/** Removes a node for good: off, then its disk, configuration and logs. */
export async function destroyNode(l: Layout, n: NodeSpec): Promise<void> {
  await killNode(l, n);
  rmSync(nodeDirs(l, n.name).root, { recursive: true, force: true });
}
