// Finding the local cluster's containerd and importing OCI archives into its k8s.io namespace.
import { join } from 'node:path';
import { capture, run } from '../util/exec.ts';
import { exists } from '../util/fs.ts';

export interface Containerd {
  readonly ctr: string;
  readonly address: string;
}

const socketCandidates = (): string[] => {
  const home = process.env.HOME ?? '/root';
  const fromEnv = [
    process.env.STACKANETES_CONTAINERD_ADDRESS,
    process.env.CONTAINERD_ADDRESS,
  ].filter((x): x is string => !!x);
  const stackanetesCache = process.env.STACKANETES_CACHE || join(home, '.cache', 'stackanetes');
  return [
    ...fromEnv.map((a) => a.replace(/^unix:\/\//, '')),
    // The local development cluster (src/cluster) runs its containerd here.
    join(stackanetesCache, 'cluster', 'run', 'containerd.sock'),
    '/run/containerd/containerd.sock',
    '/run/stackanetes/containerd/containerd.sock',
    join(home, '.cache', 'stackanetes', 'cluster', 'containerd', 'containerd.sock'),
    join(home, '.local', 'share', 'stackanetes', 'cluster', 'containerd', 'containerd.sock'),
  ];
};

async function findCtr(): Promise<string | undefined> {
  const explicit = process.env.STACKANETES_CTR;
  if (explicit) return explicit;
  const home = process.env.HOME ?? '/root';
  const dirs = [
    ...(process.env.PATH ?? '').split(':'),
    join(home, '.cache', 'stackanetes', 'bin'),
    join(home, '.cache', 'stackanetes', 'cluster', 'bin'),
  ];
  for (const d of dirs) {
    if (d && (await exists(join(d, 'ctr')))) return join(d, 'ctr');
  }
  return undefined;
}

/** The running containerd to import into, or why there is none. */
export async function detectContainerd(): Promise<Containerd | { reason: string }> {
  const ctr = await findCtr();
  const sockets = socketCandidates();
  let found: string | undefined;
  for (const s of sockets) {
    if (await exists(s)) {
      found = s;
      break;
    }
  }
  if (!found) {
    return {
      reason: `no containerd socket (looked at ${sockets.join(', ')}; set STACKANETES_CONTAINERD_ADDRESS)`,
    };
  }
  if (!ctr)
    return { reason: `containerd socket ${found} exists but no ctr binary (set STACKANETES_CTR)` };
  try {
    await capture(ctr, ['--address', found, 'version']);
  } catch (err) {
    return { reason: `containerd at ${found} does not answer: ${(err as Error).message}` };
  }
  return { ctr, address: found };
}

/** Imports an OCI archive into the k8s.io namespace; ctr's output goes to `logFile` if given. */
export async function importArchive(
  c: Containerd,
  archive: string,
  logFile?: string,
): Promise<void> {
  const args = ['--address', c.address, '-n', 'k8s.io', 'images', 'import', archive];
  await run(c.ctr, args, logFile ? { logFile } : {});
}

/** reference → manifest digest of the images containerd already has in k8s.io. */
export async function importedImages(c: Containerd): Promise<Map<string, string>> {
  const out = await capture(c.ctr, ['--address', c.address, '-n', 'k8s.io', 'images', 'ls']);
  const map = new Map<string, string>();
  for (const line of out.split('\n').slice(1)) {
    const [ref, , digest] = line.trim().split(/\s+/);
    if (ref && digest?.startsWith('sha256:')) map.set(ref, digest);
  }
  return map;
}

/**
 * Pulls an image into containerd's k8s.io namespace the way the kubelet would: through the
 * registry host configuration (`hostsDir`, e.g. the local cluster's certs.d that maps
 * localhost:5001 to its registry).
 */
export async function pullImage(
  c: Containerd,
  reference: string,
  hostsDir: string,
): Promise<string> {
  const { output } = await run(c.ctr, [
    '--address',
    c.address,
    '-n',
    'k8s.io',
    'images',
    'pull',
    '--hosts-dir',
    hostsDir,
    reference,
  ]);
  return output;
}
