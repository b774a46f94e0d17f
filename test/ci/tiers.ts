// CI's test tiers, in the order .ci/run runs them, and what CI says it proved. Each tier runs its
// files with node:test: the spec reporter to the console and, when STACKANETES_TEST_RESULTS names
// a directory, test/ci/reporter.ts's counts to <dir>/<tier>.json. A tier that does not run writes
// why instead, and its tests count as skipped (test/ci/count.ts counts them without running
// them). `summary` ends a CI run with one line over all tiers, `N passed, N failed, N skipped`,
// then one line per tier that did not run, naming it and why.
//   node test/ci/tiers.ts run <tier>            run the tier's tests (exit status of node --test)
//   node test/ci/tiers.ts begin <tier>          note when the tier's work (setup included) began
//   node test/ci/tiers.ts skip <tier> <why…>    the tier did not run, and why
//   node test/ci/tiers.ts summary [--save --cache warm|cold]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { countTests } from './count.ts';
import type { TierCounts } from './reporter.ts';

export interface Tier {
  readonly name: string;
  /** What it is, for people. */
  readonly about: string;
  /** Files or globs, as node --test takes them, in the order they run. */
  readonly files: readonly string[];
  /**
   * Files run at the same time as `files`, in a second node --test (their spec output is shown
   * after): tests that mostly wait, and share nothing with the others.
   */
  readonly beside?: readonly string[];
  /** Files run after `files` and `beside` have both finished. */
  readonly after?: readonly string[];
  /** Files run one at a time, in the order listed (they share a cluster or a cloud). */
  readonly serial: boolean;
}

export const tiers: readonly Tier[] = [
  {
    name: 'unit',
    about: 'unit tests (no cluster)',
    files: ['test/unit/**/*.test.ts'],
    serial: false,
  },
  {
    name: 'integration',
    about: 'the local cluster, the API server, the kube layer and the operator',
    files: [
      'test/integration/render/*.test.ts',
      'test/integration/kube/leader.test.ts',
      'test/integration/operator/operator.test.ts',
    ],
    // The informer's real 410 waits about 2 minutes for the API server's watch cache to drop
    // its version, with the cores mostly idle; the operator's role and status tests (about 100 s)
    // run an operator of their own on a namespace of their own, with its own Lease and metrics
    // port, as operator.test.ts does: beside it.
    beside: [
      'test/integration/kube/informer.test.ts',
      'test/integration/operator/roles.test.ts',
      'test/integration/operator/status.test.ts',
      'test/integration/operator/release-admission.test.ts',
    ],
    // The cluster's own tests, last: one of them takes the whole cluster down and up again.
    after: ['test/integration/cluster/*.test.ts'],
    serial: true,
  },
  {
    name: 'images',
    about: 'the images in real containers',
    files: ['test/integration/images/*.test.ts'],
    serial: true,
  },
  {
    name: 'e2e',
    about: 'a real cloud, checked with real clients and broken on purpose',
    // Real guests (vm) need the guest set-up `up` made and a cloud nothing has disturbed: they
    // run beside the checks of a steady cloud, which leave Nova, Neutron and Glance alone (the
    // operator's test deletes Horizon and the leader operator pod; netpol starts a stranger pod).
    // Guests mostly wait for QEMU (TCG) and the checks for clients. The tests after them change
    // the cloud, in this order (the order they ran in while node --test sorted them by name, kept
    // now that the order is our own): limits requires that no container of the cloud restarts
    // or is replaced while it runs, so it goes before remediate, whose Keystone roll settles
    // after the test ends (run after remediate, limits saw keystone-api replaced). netpol runs on
    // the one-node cloud too: kube-router enforces the policies on every node. Tempest, which
    // boots its own guests, is the long tier's.
    files: [
      'test/e2e/cloud.test.ts',
      'test/e2e/dashboard.test.ts',
      'test/e2e/horizon.test.ts',
      'test/e2e/netpol.test.ts',
      'test/e2e/operator.test.ts',
    ],
    beside: ['test/e2e/vm.test.ts'],
    // compute-roll replaces the nova-compute pod under a running guest; heal disrupts the cloud
    // and waits for it to heal; jobs breaks Placement's migration and puts it back; nova-services
    // restarts nova-scheduler and waits for the operator to remove its old row; remediate rolls
    // Keystone (images built without updates, fixed, and two broken ones stopped at the canary)
    // and puts the release's image back.
    after: [
      'test/e2e/compute-roll.test.ts',
      'test/e2e/heal.test.ts',
      'test/e2e/jobs.test.ts',
      'test/e2e/limits.test.ts',
      'test/e2e/nova-services.test.ts',
      'test/e2e/remediate.test.ts',
    ],
    serial: true,
  },
  {
    name: 'long',
    about:
      'the same cloud for an hour more: Tempest, 10 minutes of saturated CPU, RabbitMQ stopped, then the release upgrade to 2026.1',
    // Run by test/e2e/run.sh after the e2e tier when STACKANETES_E2E_LONG=1 (CI's 90 minutes do
    // not hold it beside the multi-node tiers), or by `npm run test:e2e:long` against a cloud.
    // upgrade.test.ts last: it leaves the cloud on the next release.
    files: ['test/e2e/load.test.ts', 'test/e2e/tempest.test.ts', 'test/e2e/upgrade.test.ts'],
    serial: true,
  },
  {
    name: 'multinode',
    about:
      'three real nodes (node containers): their network, policies, registry, power cut and clean stop',
    files: ['test/integration/multinode/*.test.ts'],
    serial: true,
  },
  {
    name: 'ha',
    about: 'the HA cloud of examples/ha.yaml on three real nodes, checked with real clients',
    // cloud.test.ts asks the HA cloud what it asks the one-node cloud (STACKANETES_E2E_CLOUD=ha).
    // evacuate.test.ts power-cuts a node with a guest on it and powers it on again;
    // galera-outage.test.ts kills every database server at once; ha.test.ts checks the members
    // and replicas are spread again; member-rebuild.test.ts leaves a node off until its Galera,
    // RabbitMQ and OVN members are rebuilt on the others; ovn-raft.test.ts freezes the leaders of
    // OVN's databases while Neutron writes; ovn-volume-loss.test.ts empties the first NB member
    // while the two others are frozen; tunnels.test.ts pins two guests to different nodes;
    // member-canary.test.ts rolls Memcached and a broken RabbitMQ last member first;
    // two-nodes.test.ts (last: Galera loses its quorum) cuts two nodes at once. This
    // is the order they ran in while node --test sorted them by name (kept now that the order is
    // our own).
    files: [
      'test/e2e/cloud.test.ts',
      'test/e2e/evacuate.test.ts',
      'test/e2e/galera-outage.test.ts',
      'test/e2e/ha.test.ts',
      'test/e2e/member-rebuild.test.ts',
      'test/e2e/netpol.test.ts',
      'test/e2e/ovn-raft.test.ts',
      'test/e2e/ovn-volume-loss.test.ts',
      'test/e2e/tunnels.test.ts',
      'test/e2e/member-canary.test.ts',
      'test/e2e/two-nodes.test.ts',
    ],
    serial: true,
  },
];

/** What a tier left in the results directory. */
export type TierRecord =
  | ({ tier: string; ran: true; begunAt?: number; endedAt: number; exitCode: number } & TierCounts)
  | { tier: string; ran: false; why: string; begunAt?: number; endedAt: number };

export interface Summary {
  passed: number;
  failed: number;
  skipped: number;
  /** The summary line and one line per tier that did not run. */
  lines: string[];
  /** Each failed test, by tier, with the start of its error. */
  errors: string[];
  tiers: Record<
    string,
    {
      ran: boolean;
      seconds?: number;
      why?: string;
      passed: number;
      failed: number;
      skipped: number;
    }
  >;
}

/**
 * Adds the tiers up. A tier with no record did not run either (CI stopped before it); its
 * declared tests count as skipped. `declared` gives a tier's number of tests.
 */
export function summarise(
  records: Record<string, TierRecord | undefined>,
  declared: (tier: Tier) => number,
): Summary {
  const out: Summary = { passed: 0, failed: 0, skipped: 0, lines: [], errors: [], tiers: {} };
  const notRun: string[] = [];
  for (const tier of tiers) {
    const r = records[tier.name];
    const seconds =
      r?.begunAt !== undefined ? Math.round((r.endedAt - r.begunAt) / 1000) : undefined;
    if (r?.ran) {
      out.passed += r.passed;
      out.failed += r.failed;
      out.skipped += r.skipped;
      out.errors.push(...(r.errors ?? []).map((e) => `[${tier.name}] ${e}`));
      // A run that failed without a failed test (a file that would not load, a crash) is a failure.
      const crashed = r.exitCode !== 0 && r.failed === 0 ? 1 : 0;
      out.failed += crashed;
      out.tiers[tier.name] = {
        ran: true,
        ...(seconds !== undefined ? { seconds } : {}),
        passed: r.passed,
        failed: r.failed + crashed,
        skipped: r.skipped,
      };
      if (crashed)
        notRun.push(
          `tier ${tier.name}: node --test exited ${r.exitCode} with no failed test (counted as 1 failed)`,
        );
      continue;
    }
    const why = r ? r.why : 'CI stopped before it';
    const n = declared(tier);
    out.skipped += n;
    out.tiers[tier.name] = {
      ran: false,
      ...(seconds !== undefined ? { seconds } : {}),
      why,
      passed: 0,
      failed: 0,
      skipped: n,
    };
    notRun.push(`tier ${tier.name} did not run (${n} tests skipped): ${why}`);
  }
  out.lines = [`${out.passed} passed, ${out.failed} failed, ${out.skipped} skipped`, ...notRun];
  return out;
}

const resultsDir = process.env.STACKANETES_TEST_RESULTS;

function tierNamed(name: string | undefined): Tier {
  const t = tiers.find((x) => x.name === name);
  if (!t) {
    console.error(`unknown tier ${name}; the tiers are ${tiers.map((x) => x.name).join(', ')}`);
    process.exit(2);
  }
  return t;
}

function readJson<T>(file: string): T | undefined {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as T) : undefined;
}

function begunAt(tier: string): number | undefined {
  return resultsDir
    ? readJson<{ at: number }>(join(resultsDir, `${tier}.begin.json`))?.at
    : undefined;
}

function write(tier: string, what: string, value: object): void {
  if (!resultsDir) return;
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${tier}.${what}.json`), JSON.stringify(value) + '\n');
}

/** Every file of a tier, in the order they start. */
export function tierFiles(tier: Tier): string[] {
  return [...tier.files, ...(tier.beside ?? []), ...(tier.after ?? [])];
}

/**
 * One node --test over `files`: the spec reporter to standard output, or to `specFile` (shown
 * after, for files run beside others), and the counts to `counts`.
 */
function runFiles(
  tier: Tier,
  files: readonly string[],
  counts: string | undefined,
  specFile?: string,
): Promise<number> {
  const args = [
    '--test',
    ...(tier.serial ? ['--test-concurrency=1'] : []),
    '--test-reporter=spec',
    `--test-reporter-destination=${specFile ?? 'stdout'}`,
    ...(counts
      ? [
          `--test-reporter=${new URL('./reporter.ts', import.meta.url).pathname}`,
          `--test-reporter-destination=${counts}`,
        ]
      : []),
    ...files,
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: 'inherit' });
    child.on('error', () => resolve(1));
    child.on('close', (code) => resolve(code ?? 1));
  });
}

/** Adds up the counts of a tier's node --test runs. */
export function addCounts(parts: readonly (TierCounts | undefined)[]): TierCounts | undefined {
  if (parts.some((c) => c === undefined)) return undefined;
  return parts.reduce<TierCounts>(
    (a, c) => ({
      passed: a.passed + c!.passed,
      failed: a.failed + c!.failed,
      skipped: a.skipped + c!.skipped,
      errors: [...a.errors, ...(c!.errors ?? [])],
    }),
    { passed: 0, failed: 0, skipped: 0, errors: [] },
  );
}

export async function runTier(tier: Tier): Promise<number> {
  const counts = (part: string) =>
    resultsDir ? join(resultsDir, `${tier.name}.counts${part}.json`) : undefined;
  if (begunAt(tier.name) === undefined) write(tier.name, 'begin', { at: Date.now() });
  const besideSpec = join(resultsDir ?? tmpdir(), `${tier.name}.beside.spec.txt`);
  const parts: string[] = [];
  // node --test sorts the files it is given by name; a serial tier's order is its own (one test
  // leaves the cloud as the next expects it): one node --test per entry, in the order declared.
  const inOrder = async (files: readonly string[], part: string): Promise<number[]> => {
    const groups = tier.serial ? files.map((f) => [f]) : [files];
    const codes: number[] = [];
    for (const [i, group] of groups.entries()) {
      const p = groups.length > 1 ? `${part}.${i}` : part;
      parts.push(p);
      codes.push(await runFiles(tier, group, counts(p)));
    }
    return codes;
  };
  const main = inOrder(tier.files, '');
  if (tier.beside?.length) parts.push('.beside');
  const beside = tier.beside?.length
    ? runFiles(tier, tier.beside, counts('.beside'), besideSpec)
    : undefined;
  const codes = await main;
  if (beside) {
    codes.push(await beside);
    console.log(`== ${tier.name}: run beside the tests above: ${tier.beside!.join(' ')}`);
    if (existsSync(besideSpec)) process.stdout.write(readFileSync(besideSpec, 'utf8'));
  }
  if (tier.after?.length) codes.push(...(await inOrder(tier.after, '.after')));
  const exitCode = Math.max(...codes);
  const c = resultsDir ? addCounts(parts.map((p) => readJson<TierCounts>(counts(p)!))) : undefined;
  const record: TierRecord = c
    ? {
        tier: tier.name,
        ran: true,
        begunAt: begunAt(tier.name),
        endedAt: Date.now(),
        exitCode,
        ...c,
      }
    : {
        tier: tier.name,
        ran: false,
        why: `node --test left no counts (exit ${exitCode})`,
        begunAt: begunAt(tier.name),
        endedAt: Date.now(),
      };
  write(tier.name, 'result', record);
  return exitCode;
}

/** Prints (and with --save records) the one summary line over all tiers. Not awaited at the top
 * level: counting imports the test files, and test/unit/ci/tiers.test.ts imports this module. */
async function summary(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(3),
    options: {
      save: { type: 'boolean', default: false },
      cache: { type: 'string', default: 'warm' },
    },
  });
  if (!resultsDir) {
    console.error('STACKANETES_TEST_RESULTS is not set: no tier left its results anywhere');
    process.exit(2);
  }
  const records = Object.fromEntries(
    tiers.map((t) => [t.name, readJson<TierRecord>(join(resultsDir, `${t.name}.result.json`))]),
  );
  const declared = new Map<string, number>();
  for (const t of tiers)
    if (!records[t.name]?.ran) declared.set(t.name, (await countTests(tierFiles(t))).tests);
  const summary = summarise(records, (t) => declared.get(t.name) ?? 0);
  if (values.save) {
    const started = Number(process.env.STACKANETES_CI_STARTED ?? 0) * 1000;
    const { saveResult } = await import('../../bench/results.ts');
    saveResult(
      'ci',
      {
        totalSeconds: started ? Math.round((Date.now() - started) / 1000) : undefined,
        summary: summary.lines[0],
        passed: summary.passed,
        failed: summary.failed,
        skipped: summary.skipped,
        tiers: summary.tiers,
      },
      values.cache,
    );
  }
  // Last, where the tail of a long log shows them: each failed test and how its error began.
  if (summary.errors.length > 0)
    console.log(
      [`== ${summary.errors.length} failed, each with the start of its error:`, ...summary.errors]
        .join('\n')
        .replace(/^/gm, '  ')
        .trimStart(),
    );
  console.log(summary.lines.join('\n'));
}

if (import.meta.main) {
  const [command, name, ...rest] = process.argv.slice(2);
  if (command === 'run') void runTier(tierNamed(name)).then((code) => process.exit(code));
  else if (command === 'begin') write(tierNamed(name).name, 'begin', { at: Date.now() });
  else if (command === 'skip') {
    const tier = tierNamed(name);
    const why = rest.join(' ') || 'no reason given';
    console.log(`== SKIPPED tier ${tier.name} (${tier.about}): ${why}`);
    write(tier.name, 'result', {
      tier: tier.name,
      ran: false,
      why,
      begunAt: begunAt(tier.name),
      endedAt: Date.now(),
    });
  } else if (command === 'summary') {
    void summary();
  } else {
    console.error('usage: node test/ci/tiers.ts run|begin|skip|summary …');
    process.exit(2);
  }
}
