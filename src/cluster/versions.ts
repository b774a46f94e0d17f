// Pinned versions of every component of the local cluster. A change here rebuilds only what it names.
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
} as const;

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
] as const;

export const pauseImage = `registry.k8s.io/pause:${versions.pause}`;
export const testImage = `stackanetes.local/test/debian:${versions.testImageSuite}`;
