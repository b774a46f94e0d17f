// Prints the local cluster's figures: how long each component took to build from nothing (as
// recorded when it was built; `--cold` rebuilds everything in a fresh cache to measure it now),
// and how long a warm `cluster up` takes to a Ready node after `cluster down`. Saved through
// bench/results.ts (variant `cold` with --cold, else `warm`).
// Usage: node bench/cluster.ts            (recorded build figures + warm down/up)
//        node bench/cluster.ts --cold     (fresh-cache build only; add --warm for both)
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { downSteps, readBuildTimes, upSteps } from '../src/cluster/cluster.ts';
import type { Step } from '../src/util/progress.ts';
import { layout } from '../src/cluster/layout.ts';
import { saveResult } from './results.ts';

async function timed(steps: Step[]): Promise<number> {
  const t = Date.now();
  for (const s of steps) await s.run();
  return (Date.now() - t) / 1000;
}

const cold = process.argv.includes('--cold');
const warmLayout = layout();

const figures: Record<string, unknown> = {};
if (cold) {
  // Builds only (Go modules, Go build cache, binaries, images) into a fresh cache: the running
  // cluster, if any, is left alone.
  const root =
    process.env.STACKANETES_COLD_CACHE ?? mkdtempSync(join(tmpdir(), 'stackanetes-cold-'));
  const l = layout(root);
  const builds = upSteps({}, l).filter((s) =>
    /^(Debian packages|build |pause image|test image)/.test(s.title),
  );
  const secs = await timed(builds);
  console.log(`cold build (fresh cache ${root}): ${(secs / 60).toFixed(1)} min`);
  const times = readBuildTimes(l);
  for (const [title, t] of Object.entries(times))
    console.log(`  ${title.padEnd(44)} ${t.seconds} s`);
  figures.coldBuild = {
    measuredNow: true,
    minutes: Math.round(secs / 6) / 10,
    components: Object.fromEntries(Object.entries(times).map(([k, t]) => [k, t.seconds])),
  };
} else {
  const times = readBuildTimes(warmLayout);
  const total = Object.values(times).reduce((a, t) => a + t.seconds, 0);
  if (!total)
    console.log('no builds recorded in this cache; `node bench/cluster.ts --cold` measures them');
  console.log(
    `cold build, as recorded when each component was built: ${(total / 60).toFixed(1)} min`,
  );
  for (const [title, t] of Object.entries(times))
    console.log(`  ${title.padEnd(44)} ${String(t.seconds).padStart(5)} s  (${t.at})`);
  // Recorded when each part was built, maybe at another commit: say so in the result.
  figures.coldBuild = {
    measuredNow: false,
    minutes: Math.round(total / 6) / 10,
    components: Object.fromEntries(
      Object.entries(times).map(([k, t]) => [k, { seconds: t.seconds, at: t.at }]),
    ),
  };
}

if (!cold || process.argv.includes('--warm')) {
  const down = await timed(downSteps({}, warmLayout));
  const upToReady = await timed(
    upSteps({}, warmLayout).filter((s) => !/^(local-path|kwok)/.test(s.title)),
  );
  const rest = await timed(
    upSteps({}, warmLayout).filter((s) => /^(local-path|kwok)/.test(s.title)),
  );
  console.log(`cluster down: ${down.toFixed(1)} s`);
  console.log(
    `warm cluster up to a Ready node: ${upToReady.toFixed(1)} s (plus ${rest.toFixed(1)} s for the provisioner and kwok)`,
  );
  figures.warm = {
    downSeconds: Math.round(down * 10) / 10,
    upToReadySeconds: Math.round(upToReady * 10) / 10,
    provisionerAndKwokSeconds: Math.round(rest * 10) / 10,
  };
}
saveResult('cluster', figures, cold ? 'cold' : 'warm');
