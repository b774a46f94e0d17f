// Pinned versions of every component of the local cluster. A change here rebuilds only what it names.
import { createHash } from 'node:crypto';

export const versions = {
  kubernetes: 'v1.33.13',
  /** The staging modules (k8s.io/api, …) are published as v0.<minor>.<patch> of the same release. */
  kubernetesStaging: 'v0.33.13',
  etcd: 'v3.5.35',
  coredns: 'v1.15.0',
  kwok: 'v0.8.0',
  localPath: 'v0.0.30',
  crictl: 'v1.34.0',
  /** The pause image's tag: the name containerd's sandbox_image points at. */
  pause: '3.10',
  /** Debian suite of the test image. */
  testImageSuite: 'bookworm',
  /** NetworkPolicy enforcement (iptables + ipset): see src/cluster/README.md for why this one. */
  kubeRouter: 'v2.1.0',
  /** The local OCI registry (distribution/distribution). */
  registry: 'v3.1.2',
  /** The ingress controller serving the cloud's public endpoints. */
  // 3.7's go.mod replaces go-http-auth with a fork version the module proxy does not serve.
  traefik: 'v3.6.12',
  /** Debian suite of the node containers' root file system (the machine's own). */
  nodeSuite: 'bookworm',
} as const;

/** Our patches to Traefik (src/cluster/patches/traefik-<name>.patch), until a fixed release is served here. */
export const traefikPatches = ['endpointslice-conditions'] as const;
/** The Traefik build's name in the cache: its version and the patches applied to it. */
export const traefikBuild = [versions.traefik, ...traefikPatches].join('+');

/**
 * What a node container's root file system holds: the container runtime, CNI plugins, the tools
 * kube-proxy and kube-router call (iptables, ipset, conntrack), and tini as PID 1. The Kubernetes
 * binaries are mounted from the cache, not installed.
 */
export const nodePackages = [
  'containerd',
  'runc',
  'containernetworking-plugins',
  'iptables',
  'ipset',
  'conntrack',
  'iproute2',
  'procps',
  'util-linux',
  'mount',
  'tini',
  'ca-certificates',
] as const;

/** Changes whenever the node root file system's inputs change, so a new one is built beside the old. */
export function nodeRootfsKey(): string {
  return createHash('sha256')
    .update([versions.nodeSuite, ...nodePackages].join(' '))
    .digest('hex')
    .slice(0, 12);
}

/** Debian packages the node needs, installed with apt when missing. */
export const debianPackages = [
  'containerd',
  'runc',
  'containernetworking-plugins',
  'debootstrap',
  'iptables',
  'conntrack',
  'gcc',
  'libc6-dev',
  'openssl',
  'tar',
  'util-linux',
  'iproute2',
  // kube-router's NetworkPolicy rules use ipsets.
  'ipset',
] as const;

export const pauseImage = `registry.k8s.io/pause:${versions.pause}`;
export const testImage = `stackanetes.local/test/debian:${versions.testImageSuite}`;
