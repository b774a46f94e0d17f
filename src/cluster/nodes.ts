// The cluster's real nodes. Node 1 is the machine itself (its kubelet and containerd run beside
// the control plane, as they always did); every further node is a "node container": its own
// kubelet, containerd, runc, kube-proxy and kube-router in its own PID, mount, UTS, IPC and
// network namespaces and its own cgroup, run by runc from a node root file system. Killing a node
// container kills everything on it; its disk (containerd's images and containers, the kubelet's
// state, local volumes) lives in a per-node directory of the cache and survives a restart.
//
// Addresses: node containers sit on the host's bridge in their own subnet (10.243.0.0/24, the
// host is 10.243.0.1 there); node i has address 10.243.0.i and pods 10.244.i.0/24. The host
// routes each pod subnet to its node, so the machine plays the network's router. Tunnels between
// nodes have a network of their own (network.ts `tunnelNet`): node i, the host node too, has
// 10.242.0.i on a second interface, on a second bridge.
import { join } from 'node:path';
import type { Layout } from './layout.ts';
import { net, nodeSubnet, tunnelAddress } from './network.ts';

export const hostNodeName = 'stackanetes-node';
export const nodeNamePrefix = 'stackanetes-node-';

export interface NodeSpec {
  readonly name: string;
  /** 1 for the host node, 2.. for node containers. */
  readonly index: number;
  readonly kind: 'host' | 'container';
  /** The node's InternalIP. */
  readonly ip: string;
  readonly podCidr: string;
  /** The pods' gateway on this node (the node's own address on its pod bridge). */
  readonly podGateway: string;
  /** The node's address on the tunnel network (its `tunnelNet.interface`). */
  readonly tunnelIp: string;
}

/** The bridge inside each node container that its pods attach to. */
export const podBridge = 'cni0';

/** Upper bound: node addresses and pod subnets are numbered by index within one /24 and /16. */
export const maxNodes = 200;

export const hostNode: NodeSpec = {
  name: hostNodeName,
  index: 1,
  kind: 'host',
  ip: net.nodeIp,
  podCidr: net.podSubnet,
  podGateway: net.nodeIp,
  tunnelIp: tunnelAddress(1),
};

export function containerNode(index: number): NodeSpec {
  if (!Number.isInteger(index) || index < 2 || index > maxNodes)
    throw new Error(`node index ${index} is outside 2..${maxNodes}`);
  return {
    name: `${nodeNamePrefix}${index}`,
    index,
    kind: 'container',
    ip: nodeSubnet.hostIp.replace(/\.1$/, `.${index}`),
    podCidr: `10.244.${index}.0/24`,
    podGateway: `10.244.${index}.1`,
    tunnelIp: tunnelAddress(index),
  };
}

/** The nodes of a cluster of `count` real nodes: the host node, then node containers 2..count. */
export function planNodes(count: number): NodeSpec[] {
  return [hostNode, ...Array.from({ length: count - 1 }, (_, i) => containerNode(i + 2))];
}

/** The node a name designates, or undefined. */
export function nodeByName(name: string, count: number): NodeSpec | undefined {
  return planNodes(count).find((n) => n.name === name);
}

/** Memory the machine keeps for the control plane and the host's own processes. */
export const hostReserveMiB = 3072;
/** The least memory a node container is given (kubelet, containerd, a few pods). */
export const minNodeMiB = 1536;

export interface NodeBudget {
  /** Memory each node offers pods (node allocatable), the host node included. */
  allocatableMiB: number;
  /** What each kubelet reports as reserved so that allocatable comes out at `allocatableMiB`. */
  systemReservedMiB: number;
}

/**
 * Checks a node count against the machine before anything starts and says how much memory each
 * node offers. Every kubelet sees the whole machine's memory as its capacity; with N nodes the
 * machine's memory (less the control plane's reserve) is shared out through systemReserved, so
 * that the scheduler's sum over all nodes is what the machine has, and each kubelet enforces its
 * share on its pods' cgroup.
 */
export function nodeBudget(count: number, memTotalMiB: number): NodeBudget {
  if (!Number.isInteger(count) || count < 1)
    throw new Error(
      `--nodes must be a whole number, 1 or more (got ${String(count)}): node 1 is this machine, which runs the control plane`,
    );
  if (count > maxNodes) throw new Error(`--nodes ${count}: at most ${maxNodes} nodes`);
  const usable = memTotalMiB - hostReserveMiB;
  const perNode = Math.floor(usable / count);
  if (count > 1 && perNode < minNodeMiB) {
    const most = Math.max(1, Math.floor(usable / minNodeMiB));
    throw new Error(
      `--nodes ${count}: this machine has ${memTotalMiB} MiB; after ${hostReserveMiB} MiB for the control plane each node would get ${perNode} MiB, less than the ${minNodeMiB} MiB a node needs. At most ${most} nodes fit.`,
    );
  }
  if (count === 1) return { allocatableMiB: memTotalMiB, systemReservedMiB: 0 };
  return { allocatableMiB: perNode, systemReservedMiB: memTotalMiB - perNode };
}

/** Where a node container keeps its disk, configuration, logs and runc bundle. */
export function nodeDirs(l: Layout, name: string) {
  const root = join(l.nodes, name);
  return {
    root,
    /** The node's disk: survives `node kill` and `node start`, like a server's disk. */
    disk: join(root, 'disk'),
    containerd: join(root, 'disk', 'containerd'),
    kubelet: join(root, 'disk', 'kubelet'),
    volumes: join(root, 'disk', 'volumes'),
    /** Mounted read-only at /etc/kubernetes: kubeconfigs, certificates, component configs. */
    etc: join(root, 'etc'),
    logs: join(root, 'logs'),
    bundle: join(root, 'bundle'),
  };
}

/** Paths inside every node container (the same on each, as on identical servers). */
export const inNode = {
  etc: '/etc/kubernetes',
  containerdConfig: '/etc/kubernetes/containerd.toml',
  registryHosts: '/etc/kubernetes/certs.d',
  cniConf: '/etc/kubernetes/cni',
  containerdRoot: '/var/lib/containerd',
  containerdSocket: '/run/containerd/containerd.sock',
  kubeletRoot: '/var/lib/kubelet',
  volumes: '/var/lib/stackanetes/volumes',
  images: '/var/lib/stackanetes/images',
  logs: '/var/log',
  bin: '/usr/local/bin',
  init: '/usr/local/sbin/stackanetes-node',
} as const;

/** The cgroup (v1, every hierarchy) a node container and everything on it runs in. */
export function nodeCgroup(name: string): string {
  return `/stackanetes/${name}`;
}

/**
 * The named network namespace, the host end of its veth pair, and the host end of its tunnel
 * cable (for the host node, whose namespace is the machine's, only the last is used).
 */
export function nodeNetns(n: NodeSpec): { netns: string; hostVeth: string; tunnelVeth: string } {
  return { netns: `stkn-${n.index}`, hostVeth: `stknv${n.index}`, tunnelVeth: `stkntv${n.index}` };
}
