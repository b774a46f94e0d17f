// Image build figures: a cold build (empty cache: debootstrap, every download, every layer),
// then a warm rebuild of the same images (nothing changed), and each image's size. Saved through
// bench/results.ts (variant `all`, the --only list, or `reused-cache` with --cache).
//
//   node bench/images.ts                         # all images, cache in a fresh temp directory
//   node bench/images.ts --only keystone,mariadb
//   node bench/images.ts --cache ~/.cache/stackanetes  # reuse a cache (the "cold" run is then warm-ish,
//                                                      # unless it holds no layer yet: then it is cold)
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildImages, type BuildEvent } from '../src/images/build.ts';
import { cachePaths } from '../src/images/paths.ts';
import { saveResult } from './results.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    release: { type: 'string', default: '2025.1' },
    cache: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
});

const root = values.cache ?? (await mkdtemp(join(tmpdir(), 'stackanetes-bench-')));
const cache = cachePaths(join(root, 'images'));
// A given cache that holds no layer yet (a fresh machine's) makes as cold a build as a new
// directory does, and leaves the images where the cluster's builds find them.
const emptyCache = !existsSync(cache.layers) || readdirSync(cache.layers).length === 0;
const only = values.only
  ? values.only
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
  : undefined;
const t0 = Date.now();
const onEvent = (e: BuildEvent): void => {
  if (!values.quiet)
    process.stderr.write(
      `[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${e.image.padEnd(27)} ${e.message}\n`,
    );
};

const cold = await buildImages({
  release: values.release,
  ...(only ? { only } : {}),
  cache,
  push: false,
  onEvent,
});
const warm = await buildImages({
  release: values.release,
  ...(only ? { only } : {}),
  cache,
  push: false,
  onEvent,
});

const mb = (n: number): string => (n / 1e6).toFixed(0);
const round = (x: number) => Math.round(x * 10) / 10;
process.stdout.write(`cache: ${cache.root}\n`);
process.stdout.write(
  `cold build: ${cold.seconds.toFixed(1)} s (${cold.built.length} layers built, ${cold.cached.length} cached)\n`,
);
process.stdout.write(
  `warm build: ${warm.seconds.toFixed(1)} s (${warm.built.length} layers built, ${warm.cached.length} cached)\n`,
);
process.stdout.write(
  `cold/warm: ${(cold.seconds / Math.max(warm.seconds, 0.001)).toFixed(0)}x\n\n`,
);
process.stdout.write(
  `${'image'.padEnd(28)} ${'MB'.padStart(6)} ${'MB gz'.padStart(6)} ${'pkgs'.padStart(5)}  ${'user'.padEnd(10)} version\n`,
);
let total = 0;
const seen = new Set<string>();
for (const i of warm.images) {
  process.stdout.write(
    `${i.name.padEnd(28)} ${mb(i.uncompressedSize).padStart(6)} ${mb(i.compressedSize).padStart(6)} ${String(i.packageCount).padStart(5)}  ${i.user.padEnd(10)} ${i.version}\n`,
  );
  for (const l of i.layers) {
    if (!seen.has(l.digest)) {
      seen.add(l.digest);
      total += l.uncompressedSize;
    }
  }
}
process.stdout.write(`\nall images, shared layers counted once: ${mb(total)} MB uncompressed\n`);
saveResult(
  'images',
  {
    release: values.release,
    only: only ?? 'all',
    cacheGiven: values.cache !== undefined,
    cacheWasEmpty: emptyCache,
    cold: { seconds: round(cold.seconds), built: cold.built.length, cached: cold.cached.length },
    warm: { seconds: round(warm.seconds), built: warm.built.length, cached: warm.cached.length },
    images: warm.images.length,
    totalMB: Number(mb(total)),
    sizes: Object.fromEntries(warm.images.map((i) => [i.name, Number(mb(i.uncompressedSize))])),
  },
  // A reused cache makes the "cold" build warm-ish: kept apart from a real cold build.
  values.cache === undefined || emptyCache ? (only ? only.join('+') : 'all') : 'reused-cache',
);
