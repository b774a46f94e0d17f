// bench/report: the README's figures come from the newest saved result of each bench and variant,
// say at which commit they were measured, and the table does not depend on HEAD (a later commit
// does not make the README wrong); whether the code changed since is printed, not written. Fixture results in test/fixtures/bench-results/.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { figures, s, type Figure } from '../../../bench/figures.ts';
import {
  beginMarker,
  endMarker,
  figureRows,
  figuresTable,
  gitFreshness,
  probesTable,
  replaceFigures,
  type Freshness,
} from '../../../bench/report.ts';
import { readResults } from '../../../bench/results.ts';

const results = readResults('test/fixtures/bench-results');
const fresh = 'a'.repeat(40);
/** Commit aaaa… measured today's code; bbbb… is older than a change to src/render. */
const freshness: Freshness = (commit) =>
  commit === fresh ? { fresh: true } : { fresh: false, why: 'src/render/index.ts changed since' };

const fig = (bench: string, variant?: string): Figure => ({
  what: `${bench}${variant ? ` ${variant}` : ''}`,
  bench,
  ...(variant ? { variant } : {}),
  text: (d) => `ready ${s(d.readySeconds)}, objects ${d.ha?.objects ?? '?'}`,
  how: `npm run bench:${bench}`,
  paths: ['src/render'],
});

function table(...fs: Figure[]): string[] {
  return figuresTable(figureRows(fs, results, freshness))
    .split('\n')
    .slice(2);
}

test('a figure comes from the newest result of its bench and says where (and how busy) it was measured', () => {
  const [row] = table(fig('render'));
  assert.equal(
    row,
    '| render | ready ?, objects 151 |  | `aaaaaaa` 2025-02-01, 2 cores, 8 GiB, load 0.5 | npm run bench:render |',
  );
});

test('a result older than the code it measures shows its value and its commit, and the table is the same whatever HEAD is', () => {
  const [row] = table(fig('operator', '100-nodes'));
  assert.match(row!, /\| ready 40 s, objects \? \|/);
  assert.match(row!, /`bbbbbbb` 2025-01-15/);
  const all = figures.slice();
  const atHead = figuresTable(figureRows(all, results, () => ({ fresh: true })));
  const later = figuresTable(
    figureRows(all, results, () => ({ fresh: false, why: 'everything changed since' })),
  );
  assert.equal(later, atHead);
  const rows = figureRows([fig('operator', '100-nodes')], results, freshness);
  assert.equal(rows[0]!.fresh, false, 'the report still knows the figure is older than the code');
});

test('a figure never measured says so; one measured with uncommitted changes is not trusted', () => {
  const [never, dirty] = table(fig('images', 'all'), fig('deploy', 'minimal'));
  assert.equal(never, '| images all | not measured yet |  | — | npm run bench:images |');
  assert.match(dirty!, /not trusted \(measured with uncommitted changes: ready 230 s/);
});

test('a scenario that failed shows why instead of figures', () => {
  const keystone1 = figures.find((f) => f.variant === 'keystone-1')!;
  const [row] = table(keystone1);
  assert.match(row!, /\| not measured: keystone-api did not reach 1 Ready replica \|/);
  assert.match(row!, /\| under 8 s \|/);
});

test('every README figure can be written from an empty or partial result', () => {
  for (const f of figures) {
    assert.equal(typeof f.text({}), 'string', f.what);
    assert.ok(f.paths.length > 0, `${f.what} names the code it measures`);
  }
  const rows = figureRows(figures, [], freshness);
  assert.ok(rows.every((r) => !r.fresh && r.why === 'no saved result'));
});

test('the README is rewritten between its markers only', () => {
  const readme = `# Title\n\nbefore\n${beginMarker}\nold table\n${endMarker}\nafter\n`;
  assert.equal(
    replaceFigures(readme, '| new |'),
    `# Title\n\nbefore\n${beginMarker}\n| new |\n${endMarker}\nafter\n`,
  );
  assert.throws(() => replaceFigures('# no markers\n', 'x'), /figures:begin/);
});

test('gitFreshness: fresh when the measured paths are unchanged since the result’s commit', () => {
  const repo = mkdtempSync(join(tmpdir(), 'report-git-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], {
      encoding: 'utf8',
    }).trim();
  git('init', '-q');
  mkdirSync(join(repo, 'src/render'), { recursive: true });
  mkdirSync(join(repo, 'src/cluster'), { recursive: true });
  writeFileSync(join(repo, 'src/render/a.ts'), '1');
  writeFileSync(join(repo, 'src/cluster/b.ts'), '1');
  git('add', '.');
  git('commit', '-q', '-m', 'one');
  const measured = git('rev-parse', 'HEAD');
  writeFileSync(join(repo, 'src/cluster/b.ts'), '2');
  git('commit', '-q', '-am', 'two');
  const f = gitFreshness(repo);
  assert.deepEqual(f(measured, ['src/render']), { fresh: true });
  assert.deepEqual(f(measured, ['src/cluster']), {
    fresh: false,
    why: 'src/cluster/b.ts changed since',
  });
  assert.match(f('c'.repeat(40), ['src/render']).why ?? '', /not in this repository/);
});

test('the probes table lists each probe by workload, dearest first, with the total and where it was measured', () => {
  const probe = (container: string, probe: string, msPerMin: number) => ({
    container,
    probe,
    what: 'exec true',
    runsPerMin: 2,
    containerMs: msPerMin / 4,
    runtimeMs: msPerMin / 4,
    msPerMin,
  });
  const result = {
    bench: 'load',
    variant: 'current-probes',
    commit: fresh,
    dirty: false,
    date: '2026-12-01T00:00:00.000Z',
    machine: { cores: 2, memoryGiB: 24 },
    data: {
      probes: [
        probe('nova-conductor-55569cccd4-zthd8/conductor', 'liveness', 10),
        probe('nova-compute-8bc6p/compute', 'readiness', 300),
        probe('mariadb-0/mariadb', 'readiness', 90),
      ],
      msPerMin: 400,
      percentOfOneCore: 0.667,
    },
  } as unknown as Parameters<typeof probesTable>[0];
  const lines = probesTable(result).split('\n');
  const rows = lines.filter((l) => l.startsWith('| ') && !/^\| (container|---)/.test(l));
  assert.deepEqual(
    rows.map((l) => l.split(' | ')[0]),
    [
      '| nova-compute/compute',
      '| mariadb-0/mariadb',
      '| nova-conductor/conductor',
      '| all 3 probes',
    ],
  );
  assert.match(rows.at(-1)!, /400 = 0\.67 % of one core/);
  assert.match(lines.at(-1)!, /^Measured at `aaaaaaa` 2026-12-01, 2 cores, 24 GiB\.$/);
  assert.match(probesTable(undefined), /Not measured yet/);
});
