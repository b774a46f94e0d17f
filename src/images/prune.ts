// Removing what no tagged image uses any more: old layers (and the root file systems kept for
// their children), unreferenced blobs, and root file systems unpacked for runc.
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayout, type ImageManifest } from './oci.ts';
import type { CachePaths } from './paths.ts';

export interface PruneResult {
  readonly removed: string[];
  readonly bytes: number;
}

async function du(path: string): Promise<number> {
  const st = await stat(path).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const e of await readdir(path, { withFileTypes: true }).catch(() => [])) {
    total += e.isSymbolicLink() ? 0 : await du(join(path, e.name));
  }
  return total;
}

export async function prune(cache: CachePaths): Promise<PruneResult> {
  const oci = new OciLayout(cache.oci);
  const index = await oci.readIndex();
  const keep = new Set<string>();
  const manifests = new Set<string>();
  for (const m of index.manifests) {
    manifests.add(m.digest.replace(/^sha256:/, ''));
    keep.add(m.digest);
    const manifest = await oci.readJsonBlob<ImageManifest>(m.digest);
    keep.add(manifest.config.digest);
    for (const l of manifest.layers) keep.add(l.digest);
  }
  const removed: string[] = [];
  let bytes = 0;
  const drop = async (path: string): Promise<void> => {
    bytes += await du(path);
    await rm(path, { recursive: true, force: true });
    removed.push(path);
  };
  // Layer directories whose layer no tagged image uses (or that never finished).
  for (const release of await readdir(cache.layers).catch(() => [] as string[])) {
    for (const recipe of await readdir(join(cache.layers, release)).catch(() => [] as string[])) {
      for (const key of await readdir(join(cache.layers, release, recipe)).catch(
        () => [] as string[],
      )) {
        const dir = join(cache.layers, release, recipe, key);
        const rec = await readFile(join(dir, 'layer.json'), 'utf8').catch(() => undefined);
        const digest = rec
          ? (JSON.parse(rec) as { blob: { digest: string } }).blob.digest
          : undefined;
        if (!digest || !keep.has(digest)) await drop(dir);
      }
    }
  }
  for (const d of await readdir(cache.unpacked).catch(() => [] as string[])) {
    if (!manifests.has(d)) await drop(join(cache.unpacked, d));
  }
  const blobs = join(cache.oci, 'blobs', 'sha256');
  for (const b of await readdir(blobs).catch(() => [] as string[])) {
    if (!keep.has(`sha256:${b}`)) await drop(join(blobs, b));
  }
  return { removed, bytes };
}
