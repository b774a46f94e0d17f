// A node:test reporter that counts, for CI's summary, the tests a run declared at file or suite
// level: passed, failed (cancelled included) and skipped (todo included), with the names of the
// failed ones, as one JSON object. Subtests a test creates while it runs (`t.test`) are folded
// into that test, so that a tier counts the same tests whether it ran (here) or was skipped
// (test/ci/count.ts, which cannot run test bodies). A skipped suite counts as one skipped test:
// its body, and so its tests, never ran.
// Used as a second reporter: node --test --test-reporter=spec --test-reporter-destination=stdout
//   --test-reporter=./test/ci/reporter.ts --test-reporter-destination=<file> …

export interface TierCounts {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}

interface Outcome {
  name: string;
  nesting: number;
  kind: 'passed' | 'failed' | 'skipped';
}

interface Event {
  type: string;
  data: {
    name: string;
    nesting: number;
    file?: string;
    skip?: string | boolean;
    todo?: string | boolean;
    details?: { type?: 'suite' | 'test' };
  };
}

/** Counts from node:test's events (exported for the unit test). */
export async function count(source: AsyncIterable<Event>): Promise<TierCounts> {
  // Per file (files may report interleaved), the outcomes not yet known to be a test's subtests.
  // Events come after those of everything nested in them: a test's descendants are the pending
  // outcomes nested deeper than it.
  const pending = new Map<string, Outcome[]>();
  const counted: Outcome[] = [];
  for await (const e of source) {
    if (e.type !== 'test:pass' && e.type !== 'test:fail') continue;
    const d = e.data;
    const stack = pending.get(d.file ?? '') ?? pending.set(d.file ?? '', []).get(d.file ?? '')!;
    const inner: Outcome[] = [];
    while (stack.length > 0 && stack.at(-1)!.nesting > d.nesting) inner.unshift(stack.pop()!);
    const kind =
      d.skip !== undefined || d.todo !== undefined
        ? 'skipped'
        : e.type === 'test:pass'
          ? 'passed'
          : 'failed';
    if (d.details?.type === 'suite') {
      counted.push(...inner);
      if (kind === 'skipped') counted.push({ name: d.name, nesting: d.nesting, kind });
      else if (kind === 'failed' && inner.every((o) => o.kind !== 'failed'))
        counted.push({ name: `${d.name} (a hook of the suite)`, nesting: d.nesting, kind }); // a failing before/after
    } else {
      stack.push({ name: d.name, nesting: d.nesting, kind });
    }
  }
  for (const stack of pending.values()) counted.push(...stack);
  return {
    passed: counted.filter((o) => o.kind === 'passed').length,
    failed: counted.filter((o) => o.kind === 'failed').length,
    skipped: counted.filter((o) => o.kind === 'skipped').length,
    failures: counted.filter((o) => o.kind === 'failed').map((o) => o.name),
  };
}

export default async function* reporter(source: AsyncIterable<Event>): AsyncGenerator<string> {
  yield JSON.stringify(await count(source)) + '\n';
}
