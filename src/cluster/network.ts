// The node's network: one bridge that the CNI bridge plugin attaches pods to, whose address is
// the node's address (API server, kubelet and cluster DNS listen there). Pod traffic may only stay
// on that bridge: forwarding from it to any other interface is dropped (but to the Debian mirror,
// ./mirror.ts). A second bridge carries the tunnels between nodes (OVN's Geneve) and nothing else.
import { readFileSync } from 'node:fs';
import { localRegistry } from '../catalog/images.ts';
import { run } from '../util/exec.ts';
import { allowMirrorEgress, mirrorUrls, removeMirrorEgress, resolveMirrors } from './mirror.ts';

export const net = {
  bridge: 'stackanetes0',
  /** The node's address on the bridge; pods' gateway. */
  nodeIp: '10.244.0.1',
  podSubnet: '10.244.0.0/24',
  clusterCidr: '10.244.0.0/16',
  serviceCidr: '10.96.0.0/16',
  /** The `kubernetes` Service's ClusterIP (first address of the service range). */
  apiServiceIp: '10.96.0.1',
  dnsServiceIp: '10.96.0.10',
  /** Pod addresses kwok hands out on simulated nodes: outside every real range. */
  fakePodCidr: '10.245.0.0/16',
  apiPort: 6443,
  etcdClientPort: 12379,
  etcdPeerPort: 12380,
  clusterDomain: 'cluster.local',
} as const;

/**
 * The cluster's OCI registry (distribution), on the node address: image references name it
 * `localhost:5001/...` (as kind's local registry does) and every node's containerd maps that name
 * to this address.
 */
export const registry = localRegistry;

/** The node containers' subnet on the same bridge; the host's address there is their gateway. */
export const nodeSubnet = { hostIp: '10.243.0.1', prefix: 24 } as const;

/**
 * The network for tunnels between nodes: a second bridge, with no address on the host (the
 * machine does not route it), and on every node, the host node included, a second interface on
 * it: `interface`, holding 10.242.0.<node index>/24. Open vSwitch's userspace datapath sends
 * tunnel packets out through the OVS bridge that holds the tunnel address, so the cloud's Open
 * vSwitch moves that address onto its br-phy (`spec.services.neutron.tunnelInterface`); the
 * node's own address, which its kubelet needs, never goes into OVS.
 */
export const tunnelNet = {
  bridge: 'stackanetes-tun',
  /**
   * The tunnel interface, named alike on every node. Not `tun0`: the host node's is in the
   * machine's own namespace, where `tun0` is often a VPN's.
   */
  interface: 'stkntun0',
  subnet: '10.242.0.0/24',
  prefix: 24,
} as const;

/** A node's tunnel address, numbered by its index as its node address is. */
export function tunnelAddress(index: number): string {
  return tunnelNet.subnet.replace(/\.0\/\d+$/, `.${index}`);
}

/** The API server's URL, from the host and from every node. */
export const apiServerUrl = `https://${net.nodeIp}:${net.apiPort}`;

const guardComment = 'stackanetes: pod traffic stays on its bridge';

/** The iptables rule (chain and match) that drops pod traffic leaving the bridge for elsewhere. */
function guardRule(): string[] {
  return [
    'FORWARD',
    '-i',
    net.bridge,
    '!',
    '-o',
    net.bridge,
    '-m',
    'comment',
    '--comment',
    guardComment,
    '-j',
    'DROP',
  ];
}

const tunnelComment = 'stackanetes: tunnels between nodes';

/**
 * The iptables rule that lets frames between nodes' tunnel interfaces across the tunnel bridge
 * (bridged frames pass the FORWARD chain with br_netfilter): node-to-node traffic, not pods', so
 * neither the pod guard nor a DROP policy or a NetworkPolicy chain ahead of it may stop it.
 */
function tunnelRule(): string[] {
  return [
    'FORWARD',
    '-i',
    tunnelNet.bridge,
    '-o',
    tunnelNet.bridge,
    '-m',
    'comment',
    '--comment',
    tunnelComment,
    '-j',
    'ACCEPT',
  ];
}

async function sysctl(key: string, value: string) {
  await run('sysctl', ['-qw', `${key}=${value}`], { allowFailure: true });
}

export async function bridgeExists(bridge: string = net.bridge): Promise<boolean> {
  return (await run('ip', ['link', 'show', bridge], { allowFailure: true })).code === 0;
}

/**
 * A Linux bridge whose MAC address was never set takes the lowest MAC of its ports, and changes it
 * when pods come and go. The node containers keep the old address in their ARP cache and their
 * frames for the API server go to whichever pod's port now has it: every node NotReady at once
 * (seen during an HA deploy, when the bridge took a new port's address). Setting the address it
 * has makes it fixed (addr_assign_type 3).
 */
async function pinBridgeAddress(bridge: string): Promise<void> {
  const sys = `/sys/class/net/${bridge}`;
  if (readFileSync(`${sys}/addr_assign_type`, 'utf8').trim() === '3') return;
  await run('ip', [
    'link',
    'set',
    'dev',
    bridge,
    'address',
    readFileSync(`${sys}/address`, 'utf8').trim(),
  ]);
}

/** Adds a Linux bridge unless it is there. */
async function ensureBridge(bridge: string): Promise<void> {
  if (!(await bridgeExists(bridge))) await run('ip', ['link', 'add', bridge, 'type', 'bridge']);
}

/** Inserts an iptables rule at the head of its chain unless it is there. */
async function ensureRule(rule: string[]): Promise<void> {
  if ((await run('iptables', ['-C', ...rule], { allowFailure: true })).code !== 0) {
    await run('iptables', ['-I', ...rule]);
  }
}

export async function setUpNetwork(): Promise<void> {
  await ensureBridge(net.bridge);
  const addr = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', net.bridge]);
  if (!addr.stdout.includes(`${net.nodeIp}/`)) {
    await run('ip', ['addr', 'add', `${net.nodeIp}/24`, 'dev', net.bridge]);
  }
  if (!addr.stdout.includes(`${nodeSubnet.hostIp}/`)) {
    await run('ip', [
      'addr',
      'add',
      `${nodeSubnet.hostIp}/${nodeSubnet.prefix}`,
      'dev',
      net.bridge,
    ]);
  }
  await run('ip', ['link', 'set', net.bridge, 'up']);
  await pinBridgeAddress(net.bridge);
  await run('modprobe', ['br_netfilter'], { allowFailure: true });
  await sysctl('net.bridge.bridge-nf-call-iptables', '1');
  await sysctl('net.bridge.bridge-nf-call-ip6tables', '1');
  await sysctl('net.ipv4.ip_forward', '1');
  await ensureRule(guardRule());
  // The one exception, inserted ahead of the guard: the Debian mirror (./mirror.ts).
  await allowMirrorEgress(net.bridge, await resolveMirrors(mirrorUrls()));
}

/** Removes a bridge and the veth ends still attached to it (their peers go with them). */
async function removeBridge(bridge: string): Promise<void> {
  const links = await run('ip', ['-o', 'link', 'show', 'master', bridge], {
    allowFailure: true,
  });
  for (const line of links.stdout.split('\n')) {
    const name = /^\d+:\s+([^@:\s]+)/.exec(line)?.[1];
    if (name) await run('ip', ['link', 'del', name], { allowFailure: true });
  }
  if (await bridgeExists(bridge)) await run('ip', ['link', 'del', bridge]);
}

/** Deletes every copy of an iptables rule. */
async function removeRule(rule: string[]): Promise<void> {
  while ((await run('iptables', ['-D', ...rule], { allowFailure: true })).code === 0) {
    /* remove every copy */
  }
}

/** Removes the bridge, the pods' veth ends still attached to it, and the guard rule. */
export async function tearDownNetwork(): Promise<void> {
  await removeBridge(net.bridge);
  await removeRule(guardRule());
  await removeMirrorEgress();
}

/** The tunnel bridge, with no address, and the rule that lets tunnels across it. Idempotent. */
export async function setUpTunnelNetwork(): Promise<void> {
  await ensureBridge(tunnelNet.bridge);
  await run('ip', ['link', 'set', tunnelNet.bridge, 'up']);
  await ensureRule(tunnelRule());
}

/**
 * A node's tunnel cable: a veth pair, `hostVeth` on the tunnel bridge and `tunnelNet.interface`
 * in the node's network namespace (`netns`; none for the host node, whose namespace is the
 * machine's), holding the node's tunnel address unless an interface there already holds it: once
 * the cloud's Open vSwitch has moved the address onto br-phy it stays there, and a second copy on
 * the interface would give the kernel two routes to the tunnel subnet. Idempotent, so that a
 * running node gets it too.
 */
export async function plugTunnel(hostVeth: string, address: string, netns?: string): Promise<void> {
  const inNs = (args: string[]) =>
    netns ? run('ip', ['netns', 'exec', netns, 'ip', ...args]) : run('ip', args);
  if ((await run('ip', ['link', 'show', hostVeth], { allowFailure: true })).code !== 0) {
    const peer = ['peer', 'name', tunnelNet.interface, ...(netns ? ['netns', netns] : [])];
    await run('ip', ['link', 'add', hostVeth, 'type', 'veth', ...peer]);
  }
  await run('ip', ['link', 'set', hostVeth, 'master', tunnelNet.bridge, 'up']);
  const held = await inNs(['-4', '-o', 'addr', 'show']);
  if (!held.stdout.includes(`inet ${address}/`))
    await inNs(['addr', 'add', `${address}/${tunnelNet.prefix}`, 'dev', tunnelNet.interface]);
  await inNs(['link', 'set', tunnelNet.interface, 'up']);
}

/**
 * Removes the tunnel bridge with the veth ends on it (the host node's tunnel interface is one's
 * peer) and its rule. What the cloud's Open vSwitch made (br-phy holding the host node's tunnel
 * address) is Open vSwitch's, and stays.
 */
export async function tearDownTunnelNetwork(): Promise<void> {
  await removeBridge(tunnelNet.bridge);
  await run('ip', ['link', 'del', tunnelNet.interface], { allowFailure: true });
  await removeRule(tunnelRule());
}

/**
 * Removes what the kubelet and kube-proxy leave in iptables (the KUBE-* chains and the jumps to
 * them), for IPv4 and IPv6, after `kube-proxy --cleanup` has removed its own rules.
 */
export async function removeKubeChains(): Promise<number> {
  let removed = 0;
  for (const [save, cmd] of [
    ['iptables-save', 'iptables'],
    ['ip6tables-save', 'ip6tables'],
  ] as const) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const dump = await run(save, ['-t', table], { allowFailure: true });
      if (dump.code !== 0) continue;
      const lines = dump.stdout.split('\n');
      for (const line of lines) {
        // A jump into a KUBE-* chain from a built-in chain: delete that rule (the shell keeps its quoting).
        if (/^-A (?!KUBE-)\S+ .*-j KUBE-/.test(line)) {
          const r = await run('sh', ['-c', `${cmd} -t ${table} -D ${line.slice(3)}`], {
            allowFailure: true,
          });
          if (r.code === 0) removed++;
        }
      }
      const chains = lines.map((l) => /^:(KUBE-\S+)/.exec(l)?.[1]).filter((c): c is string => !!c);
      for (const c of chains) await run(cmd, ['-t', table, '-F', c], { allowFailure: true });
      for (const c of chains) {
        if ((await run(cmd, ['-t', table, '-X', c], { allowFailure: true })).code === 0) removed++;
      }
    }
  }
  return removed;
}
