// The node containers' root file system: Debian (the machine's suite) with the container runtime
// and the network tools a node needs, built once with debootstrap into the cache and shared
// read-only by every node container. Everything a node writes goes to its own mounts.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { debootstrapMinbase, unmountUnder } from './images.ts';
import type { Layout } from './layout.ts';
import { inNode } from './nodes.ts';
import { nodePackages, versions } from './versions.ts';

/** Binaries mounted read-only from the cache into every node, at /usr/local/bin/<name>. */
export const nodeBinaries = ['kubelet', 'kube-proxy', 'kube-router', 'crictl'] as const;

/** Directories and files the node container mounts over: they must exist in a read-only root. */
export function mountPoints(): { dirs: string[]; files: string[] } {
  return {
    dirs: [
      inNode.etc,
      inNode.containerdRoot,
      inNode.kubeletRoot,
      inNode.volumes,
      inNode.images,
      '/var/lib/cni',
      inNode.logs,
      '/etc/containerd',
      '/run',
      '/tmp',
      '/var/tmp',
      '/root',
      '/sys/fs/cgroup',
    ],
    files: [
      ...nodeBinaries.map((b) => `${inNode.bin}/${b}`),
      inNode.init,
      '/etc/hosts',
      '/etc/hostname',
      '/etc/resolv.conf',
    ],
  };
}

const completeMarker = '.stackanetes-complete';

export function nodeRootfsReady(l: Layout): boolean {
  return existsSync(join(l.nodeRootfs, completeMarker));
}

export async function buildNodeRootfs(l: Layout, logFile: string): Promise<void> {
  if (nodeRootfsReady(l)) return;
  const tmp = `${l.nodeRootfs}.partial`;
  await unmountUnder(tmp);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(dirname(tmp), { recursive: true });
  await debootstrapMinbase(tmp, versions.nodeSuite, nodePackages, logFile);
  const { dirs, files } = mountPoints();
  for (const d of dirs) mkdirSync(join(tmp, d), { recursive: true });
  for (const f of files) {
    mkdirSync(dirname(join(tmp, f)), { recursive: true });
    rmSync(join(tmp, f), { force: true });
    writeFileSync(join(tmp, f), '');
  }
  writeFileSync(join(tmp, completeMarker), `${versions.nodeSuite} ${nodePackages.join(' ')}\n`);
  rmSync(l.nodeRootfs, { recursive: true, force: true });
  renameSync(tmp, l.nodeRootfs);
}
