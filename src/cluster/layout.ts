// Where the cluster keeps its builds and its state: everything under one cache directory
// ($STACKANETES_CACHE, default ~/.cache/stackanetes), build outputs keyed by version.
import { homedir } from 'node:os';
import { join } from 'node:path';
import { nodeRootfsKey, traefikBuild, versions } from './versions.ts';

export type Layout = ReturnType<typeof layout>;

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.STACKANETES_CACHE || join(env.HOME || homedir(), '.cache', 'stackanetes');
}

export function layout(root: string = cacheRoot()) {
  const state = join(root, 'cluster');
  return {
    root,
    /** Go's module and build caches, shared by every Go build. */
    gopath: join(root, 'go'),
    gocache: join(root, 'go', 'build'),
    /** Generated wrapper modules, one per component and version. */
    src: join(root, 'src'),
    /** Built binaries, one folder per component and version. */
    bin: {
      kubernetes: join(root, 'bin', `kubernetes-${versions.kubernetes}`),
      etcd: join(root, 'bin', `etcd-${versions.etcd}`),
      coredns: join(root, 'bin', `coredns-${versions.coredns}`),
      kwok: join(root, 'bin', `kwok-${versions.kwok}`),
      localPath: join(root, 'bin', `local-path-provisioner-${versions.localPath}`),
      crictl: join(root, 'bin', `crictl-${versions.crictl}`),
      pause: join(root, 'bin', `pause-${versions.pause}-k8s-${versions.kubernetes}`),
      kubeRouter: join(root, 'bin', `kube-router-${versions.kubeRouter}`),
      registry: join(root, 'bin', `registry-${versions.registry}`),
      traefik: join(root, 'bin', `traefik-${traefikBuild}`),
    },
    images: join(root, 'images'),
    /** The node containers' root file system (Debian packages), shared read-only by every node. */
    nodeRootfs: join(root, 'nodes', `rootfs-${versions.nodeSuite}-${nodeRootfsKey()}`),
    /** The local registry's storage: image blobs survive `cluster down --purge`, like a build cache. */
    registry: join(root, 'registry'),
    /** Everything that belongs to one running cluster. */
    state,
    pki: join(state, 'pki'),
    config: join(state, 'config'),
    logs: join(state, 'logs'),
    pids: join(state, 'pids'),
    run: join(state, 'run'),
    etcdData: join(state, 'etcd'),
    containerdRoot: join(state, 'containerd', 'root'),
    containerdState: join(state, 'containerd', 'state'),
    containerdSocket: join(state, 'run', 'containerd.sock'),
    kubeletRoot: join(state, 'kubelet'),
    cniConf: join(state, 'cni', 'net.d'),
    volumes: join(state, 'volumes'),
    /**
     * Volumes every node can mount (ReadWriteMany): the cluster's "shared file system", mounted
     * at this same path in every node container, as an NFS export would be.
     */
    shared: join(state, 'shared'),
    /** One directory per node container: its disk, configuration, logs and runc bundle. */
    nodes: join(state, 'nodes'),
    /** runc's state for the node containers (not containerd's). */
    runcRoot: join(state, 'run', 'runc'),
    kubeconfig: join(state, 'kubeconfig'),
    /** A directory with only the cluster's kubectl (and crictl), for PATH. */
    pathDir: join(state, 'path'),
  };
}
