// Where bench figures are kept: one JSON file per run under bench/results/, named
// `<bench>[-<variant>]-<UTC time>.json`, with the commit, date and machine they were measured on. The README's
// figures are generated from these files (bench/report.ts), never typed by hand.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const resultsDir = join(dirname(fileURLToPath(import.meta.url)), 'results');

export interface Machine {
  cores: number;
  memoryGiB: number;
  cpu: string;
  kernel: string;
  /** The 1, 5 and 15 minute load averages when the result was saved: was the machine busy? */
  loadAverage?: number[];
}

export interface BenchResult<T = unknown> {
  bench: string;
  /** What was measured, in a word or two (e.g. the scenario or spec file). */
  variant?: string;
  commit: string;
  /** True when the work tree had uncommitted changes: the commit alone does not reproduce it. */
  dirty: boolean;
  date: string;
  machine: Machine;
  data: T;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  } catch {
    return '';
  }
}

export function machine(): Machine {
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  return {
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    cpu: cpus()[0]?.model ?? 'unknown',
    kernel,
    loadAverage: loadavg().map((x) => Math.round(x * 10) / 10),
  };
}

/** Writes one run's figures; returns the file's path. */
export function saveResult<T>(bench: string, data: T, variant?: string): string {
  const result: BenchResult<T> = {
    bench,
    ...(variant ? { variant } : {}),
    commit: git(['rev-parse', 'HEAD']) || 'unknown',
    // The e2e tier rewrites its screenshots in the tree: they are output, not measured code.
    dirty:
      git([
        'status',
        '--porcelain',
        '--untracked-files=no',
        '--',
        '.',
        ':(exclude)test/e2e/screenshots',
      ]) !== '',
    date: new Date().toISOString(),
    machine: machine(),
    data,
  };
  mkdirSync(resultsDir, { recursive: true });
  const stamp = result.date.replace(/[:.]/g, '-');
  const file = join(
    resultsDir,
    `${bench}${variant ? `-${variant.replace(/[^A-Za-z0-9_.-]+/g, '_')}` : ''}-${stamp}.json`,
  );
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  console.log(`# saved ${file}`);
  return file;
}

/** Every result saved in `dir` (bench/results/ by default), in no particular order. */
export function readResults(dir = resultsDir): BenchResult[] {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as BenchResult);
}

/** Every saved run of `bench` (optionally one variant), oldest first. */
export function loadResults<T = unknown>(bench: string, variant?: string): BenchResult<T>[] {
  return (readResults() as BenchResult<T>[])
    .filter((r) => r.bench === bench && (variant === undefined || r.variant === variant))
    .sort((a, b) => a.date.localeCompare(b.date));
}

/** The newest saved run of `bench`, if any. */
export function latestResult<T = unknown>(
  bench: string,
  variant?: string,
): BenchResult<T> | undefined {
  return loadResults<T>(bench, variant).at(-1);
}
