// What CI says it proved: a tier's tests counted from a real node:test run and, for a tier that
// did not run, from its files without running them — the same number either way — and the one
// summary line over all tiers with a line per tier that did not run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { countTests } from '../../ci/count.ts';
import type { TierCounts } from '../../ci/reporter.ts';
import { addCounts, summarise, tierFiles, tiers, type TierRecord } from '../../ci/tiers.ts';

const sample = 'test/fixtures/ci/sample-tests.ts';

/** The environment without NODE_TEST_CONTEXT: a node --test started with it reports to this run. */
function outsideThisRun(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}
const reporter = fileURLToPath(new URL('../../ci/reporter.ts', import.meta.url));

test('a run is counted per declared test: subtests fold into their test, cancelled ones fail, each failure keeps the start of its error', () => {
  const r = spawnSync(
    process.execPath,
    ['--test', `--test-reporter=${reporter}`, '--test-reporter-destination=stdout', sample],
    { encoding: 'utf8', env: outsideThisRun() },
  );
  assert.equal(r.status, 1, `the sample has failing tests: ${r.stderr}`);
  const counts = JSON.parse(r.stdout.trim().split('\n').pop()!) as TierCounts;
  assert.deepEqual(
    { ...counts, errors: [...counts.errors].sort() },
    {
      passed: 4,
      failed: 3,
      skipped: 2,
      errors: [
        'cancelled 1: test did not finish before its parent and was cancelled',
        'cancelled 2: test did not finish before its parent and was cancelled',
        'fails: on purpose',
      ],
    },
  );
});

test('the tests of files that do not run are counted without running them', async () => {
  assert.deepEqual(await countTests([sample]), { tests: 9, files: 1 });
  // Every tier's files can be counted (none needs a cluster to be imported).
  for (const t of tiers) assert.ok((await countTests(tierFiles(t))).tests > 0, t.name);
});

test('the summary: one line over all tiers, then each tier that did not run and why', () => {
  const ran = (tier: string, c: Partial<TierCounts>, exitCode = 0): TierRecord => ({
    tier,
    ran: true,
    begunAt: 0,
    endedAt: 60_000,
    exitCode,
    passed: 0,
    failed: 0,
    skipped: 0,
    errors: [],
    ...c,
  });
  const s = summarise(
    {
      unit: ran('unit', { passed: 100, skipped: 1 }),
      integration: ran('integration', { passed: 20, failed: 2, errors: ['a: boom', 'b: bang'] }, 1),
      images: { tier: 'images', ran: false, why: 'STACKANETES_SKIP_IMAGES=1 was set', endedAt: 0 },
    },
    (t) => ({ images: 13, e2e: 18, long: 2, multinode: 8, ha: 20 })[t.name] ?? 0,
  );
  assert.deepEqual(s.lines, [
    '120 passed, 2 failed, 62 skipped',
    'tier images did not run (13 tests skipped): STACKANETES_SKIP_IMAGES=1 was set',
    'tier e2e did not run (18 tests skipped): CI stopped before it',
    'tier long did not run (2 tests skipped): CI stopped before it',
    'tier multinode did not run (8 tests skipped): CI stopped before it',
    'tier ha did not run (20 tests skipped): CI stopped before it',
  ]);
  assert.deepEqual(s.tiers.unit, { ran: true, seconds: 60, passed: 100, failed: 0, skipped: 1 });
  assert.deepEqual(s.errors, ['[integration] a: boom', '[integration] b: bang']);
});

test('a tier whose run failed with no failed test (a file that would not load) counts as a failure', () => {
  const s = summarise(
    {
      unit: {
        tier: 'unit',
        ran: true,
        endedAt: 0,
        exitCode: 1,
        passed: 5,
        failed: 0,
        skipped: 0,
        errors: [],
      },
    },
    () => 0,
  );
  assert.equal(s.failed, 1);
  assert.match(s.lines.join('\n'), /tier unit: node --test exited 1 with no failed test/);
});

test("a tier's counts add up over its runs (files, beside, after); a run without counts leaves none", () => {
  const a: TierCounts = { passed: 3, failed: 1, skipped: 0, errors: ['x: no'] };
  const b: TierCounts = { passed: 2, failed: 0, skipped: 1, errors: [] };
  assert.deepEqual(addCounts([a, b]), {
    passed: 5,
    failed: 1,
    skipped: 1,
    errors: ['x: no'],
  });
  assert.equal(addCounts([a, undefined]), undefined);
  // Every file of the integration tier runs in exactly one of its three runs.
  const integration = tiers.find((t) => t.name === 'integration')!;
  const all = tierFiles(integration);
  assert.equal(new Set(all).size, all.length);
  assert.ok(
    integration.after?.some((f) => f.includes('cluster/')),
    'the cluster tests run last',
  );
});

test('a tier with files beside and after runs all three and records their counts together', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stackanetes-tier-'));
  try {
    const tier = {
      name: 'phased',
      about: 'test',
      files: [sample],
      beside: [sample],
      after: [sample],
      serial: true,
    };
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(new URL('../../ci/tiers.ts', import.meta.url).href)}); process.exit(await m.runTier(${JSON.stringify(tier)}));`,
      ],
      { encoding: 'utf8', env: { ...outsideThisRun(), STACKANETES_TEST_RESULTS: dir } },
    );
    assert.equal(r.status, 1, `the sample has failing tests: ${r.stderr}`);
    assert.match(r.stdout, /== phased: run beside the tests above/);
    const record = JSON.parse(readFileSync(join(dir, 'phased.result.json'), 'utf8')) as TierRecord;
    assert.ok(record.ran);
    assert.deepEqual(
      { passed: record.passed, failed: record.failed, skipped: record.skipped },
      { passed: 12, failed: 9, skipped: 6 },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a serial tier runs its files in the order it lists them, not by name (node --test sorts them)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stackanetes-order-'));
  try {
    const log = join(dir, 'order.log');
    for (const name of ['a', 'b', 'c'])
      writeFileSync(
        join(dir, `${name}.test.mjs`),
        `import { appendFileSync } from 'node:fs';\nimport { test } from 'node:test';\ntest('${name}', () => appendFileSync(${JSON.stringify(log)}, '${name}\\n'));\n`,
      );
    const tier = {
      name: 'ordered',
      about: 'test',
      files: [join(dir, 'c.test.mjs'), join(dir, 'a.test.mjs')],
      after: [join(dir, 'b.test.mjs'), join(dir, 'a.test.mjs')],
      serial: true,
    };
    const r = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(new URL('../../ci/tiers.ts', import.meta.url).href)}); process.exit(await m.runTier(${JSON.stringify(tier)}));`,
      ],
      { encoding: 'utf8', env: { ...outsideThisRun(), STACKANETES_TEST_RESULTS: dir } },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(log, 'utf8'), 'c\na\nb\na\n');
    const record = JSON.parse(readFileSync(join(dir, 'ordered.result.json'), 'utf8')) as TierRecord;
    assert.ok(record.ran);
    assert.deepEqual({ passed: record.passed, failed: record.failed }, { passed: 4, failed: 0 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
