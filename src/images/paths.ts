// Where image builds keep their state: one cache directory, overridable with $STACKANETES_CACHE.
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface CachePaths {
  /** Root of the image cache, e.g. ~/.cache/stackanetes/images. */
  readonly root: string;
  /** Built layers, one directory per recipe and input hash. */
  readonly layers: string;
  /** The shared OCI image layout every build writes its blobs and manifests into. */
  readonly oci: string;
  /** Downloaded .deb files and apt lists, per Debian suite; never part of an image. */
  readonly apt: string;
  /** Build logs, one per image. */
  readonly logs: string;
  /** Root file systems unpacked from images (for running them with runc). */
  readonly unpacked: string;
}

export function cachePaths(root = defaultCacheRoot()): CachePaths {
  return {
    root,
    layers: join(root, 'layers'),
    oci: join(root, 'oci'),
    apt: join(root, 'apt'),
    logs: join(root, 'logs'),
    unpacked: join(root, 'unpacked'),
  };
}

export function defaultCacheRoot(): string {
  const override = process.env.STACKANETES_CACHE;
  if (override) return join(override, 'images');
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg || join(homedir(), '.cache'), 'stackanetes', 'images');
}
