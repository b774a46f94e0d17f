// bench/report: regenerates the README's table of figures (between `<!-- figures:begin -->` and
// `<!-- figures:end -->`) from the newest saved result of each bench and variant (bench/results/),
// and the table of what each probe costs (between `<!-- probes:begin -->` and `<!-- probes:end -->`)
// from the newest probes result of bench/load.ts,
// and prints where each figure comes from. The table shows each figure with the commit it was
// measured at, and nothing that depends on HEAD, so a commit that changes code does not by itself
// make the README wrong; which figures were measured on other code than today's (the paths they
// measure differ between the result's commit and HEAD, or the commit is unknown) is printed by
// this script (STALE lines). A run with uncommitted changes is not trusted: its row says so, with
// the old value; a figure with no result at all says "not measured yet".
// Usage: npm run bench:report             (rewrites README.md)
//        npm run bench:report -- --check  (exit 1 when README.md is not what the results give)
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as prettier from 'prettier';
import { figures as allFigures, type Figure } from './figures.ts';
import { readResults, type BenchResult } from './results.ts';

export const beginMarker = '<!-- figures:begin -->';
export const endMarker = '<!-- figures:end -->';

/** Whether `paths` are the same at `commit` as at HEAD; why not, when they are not. */
export type Freshness = (
  commit: string,
  paths: readonly string[],
) => { fresh: boolean; why?: string };

export interface Row {
  figure: Figure;
  result?: BenchResult;
  fresh: boolean;
  why?: string;
}

/** The newest saved result of a bench and variant. */
export function newestResult(
  results: readonly BenchResult[],
  bench: string,
  variant: string | undefined,
): BenchResult | undefined {
  return results
    .filter((r) => r.bench === bench && (variant ?? undefined) === (r.variant ?? undefined))
    .sort((a, b) => a.date.localeCompare(b.date))
    .at(-1);
}

/** The newest result for each figure, and whether it measured today's code. */
export function figureRows(
  figures: readonly Figure[],
  results: readonly BenchResult[],
  freshness: Freshness,
): Row[] {
  return figures.map((figure) => {
    const result = newestResult(results, figure.bench, figure.variant);
    if (!result) return { figure, fresh: false, why: 'no saved result' };
    if (result.dirty)
      return { figure, result, fresh: false, why: 'measured with uncommitted changes' };
    return { figure, result, ...freshness(result.commit, figure.paths) };
  });
}

const short = (commit: string) => commit.slice(0, 7);

function source(r: BenchResult): string {
  const load = r.machine.loadAverage?.[1];
  return `\`${short(r.commit)}\` ${r.date.slice(0, 10)}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB${load !== undefined ? `, load ${load}` : ''}`;
}

/** A table cell: no line breaks, no column separators. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');

/** The markdown table the README shows between the markers. */
export function figuresTable(rows: readonly Row[]): string {
  const lines = ['| what | figure | goal | measured at | how |', '| --- | --- | --- | --- | --- |'];
  for (const { figure, result, why } of rows) {
    let value: string;
    if (!result) value = 'not measured yet';
    else if (result.dirty) value = `not trusted (${why}: ${figure.text(result.data)})`;
    else value = figure.text(result.data);
    lines.push(
      `| ${[figure.what, value, figure.goal ?? '', result ? source(result) : '—', figure.how].map(cell).join(' | ')} |`,
    );
  }
  return lines.join('\n');
}

/** The README with the text between the markers replaced by `table`. */
export function replaceFigures(
  readme: string,
  table: string,
  markers: readonly [string, string] = [beginMarker, endMarker],
): string {
  const [beginText, endText] = markers;
  const begin = readme.indexOf(beginText);
  const end = readme.indexOf(endText);
  if (begin < 0 || end < begin)
    throw new Error(`README.md needs ${beginText} and, after it, ${endText} around the figures`);
  return `${readme.slice(0, begin + beginText.length)}\n${table}\n${readme.slice(end)}`;
}

export const probesMarkers = ['<!-- probes:begin -->', '<!-- probes:end -->'] as const;

/** One probe's cost as bench/probe-cost.ts saves it. */
interface ProbeCost {
  container: string;
  probe: string;
  what: string;
  runsPerMin: number;
  containerMs: number;
  runtimeMs: number;
  msPerMin: number;
}

/** `nova-compute-8bc6p/compute` → `nova-compute/compute`: the workload, not the pod. */
const workloadOf = (container: string) =>
  container.replace(/-[a-z0-9]{8,10}-[a-z0-9]{5}\//, '/').replace(/-[a-z0-9]{5}\//, '/');

/**
 * The README's table of what each probe of the cloud costs, from the newest saved probes result
 * of bench/load.ts (variant current-probes), dearest first.
 */
export function probesTable(result: BenchResult | undefined): string {
  if (!result) return 'Not measured yet: `npm run bench:load -- --only probes`.';
  const d = result.data as { probes?: ProbeCost[]; msPerMin?: number; percentOfOneCore?: number };
  const ms = (n: number) => Math.max(0, n).toFixed(0);
  const lines = [
    '| container | probe | what it runs | runs a minute | CPU a run, ms (container + runtime) | CPU a minute, ms |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const p of [...(d.probes ?? [])].sort((a, b) => b.msPerMin - a.msPerMin)) {
    lines.push(
      `| ${[workloadOf(p.container), p.probe, `\`${p.what}\``, String(p.runsPerMin), `${ms(p.containerMs)} + ${ms(p.runtimeMs)}`, ms(p.msPerMin)].map(cell).join(' | ')} |`,
    );
  }
  lines.push(
    `| all ${d.probes?.length ?? '?'} probes | | | | | ${ms(d.msPerMin ?? 0)} = ${(d.percentOfOneCore ?? 0).toFixed(2)} % of one core |`,
  );
  const trust = result.dirty ? ' (measured with uncommitted changes: not trusted)' : '';
  return `${lines.join('\n')}\n\nMeasured at ${source(result)}${trust}.`;
}

/** Freshness from git: the measured paths must not differ between the result's commit and HEAD. */
export function gitFreshness(cwd: string): Freshness {
  const git = (args: string[]) =>
    execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return (commit, paths) => {
    try {
      git(['cat-file', '-e', `${commit}^{commit}`]);
    } catch {
      return { fresh: false, why: `commit ${short(commit)} is not in this repository` };
    }
    const changed = git(['diff', '--name-only', commit, 'HEAD', '--', ...paths]).trim();
    if (!changed) return { fresh: true };
    const files = changed.split('\n');
    return {
      fresh: false,
      why: `${files.slice(0, 2).join(', ')}${files.length > 2 ? ` and ${files.length - 2} more` : ''} changed since`,
    };
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
  const root = join(import.meta.dirname, '..');
  const results = readResults();
  const rows = figureRows(allFigures, results, gitFreshness(root));
  for (const { figure, result, fresh, why } of rows) {
    const from = result ? `${result.commit} ${result.date} (${result.machine.cores} cores)` : '-';
    console.log(
      `${fresh ? 'ok   ' : 'STALE'} ${figure.bench}${figure.variant ? `/${figure.variant}` : ''}: ${figure.what} — from ${from}${fresh ? '' : `: ${why}`}`,
    );
  }
  const file = join(root, 'README.md');
  const readme = readFileSync(file, 'utf8');
  const text = replaceFigures(
    replaceFigures(readme, figuresTable(rows)),
    probesTable(newestResult(results, 'load', 'current-probes')),
    probesMarkers,
  );
  // Written as prettier writes Markdown (npm test checks the README's formatting).
  const updated = await prettier.format(text, {
    ...(await prettier.resolveConfig(file)),
    filepath: file,
  });
  if (values.check) {
    if (updated !== readme) {
      console.error(
        'README.md does not show what bench/results/ gives: run `npm run bench:report`',
      );
      process.exit(1);
    }
  } else if (updated !== readme) {
    writeFileSync(file, updated);
    console.log('README.md: figures rewritten');
  } else {
    console.log('README.md: figures unchanged');
  }
  const stale = rows.filter((r) => !r.fresh).length;
  console.log(`${rows.length - stale} of ${rows.length} figures measured at this commit`);
}
