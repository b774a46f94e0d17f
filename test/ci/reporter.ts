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
  /** Each failed test's name with the start of its error, for CI's last lines. */
  errors: string[];
}

interface Outcome {
  name: string;
  nesting: number;
  kind: 'passed' | 'failed' | 'skipped';
  error?: string;
}

interface Event {
  type: string;
  data: {
    name: string;
    nesting: number;
    file?: string;
    skip?: string | boolean;
    todo?: string | boolean;
    details?: { type?: 'suite' | 'test'; error?: unknown };
  };
}

/** The first lines of a failed test's error (node:test wraps it: the cause is the test's own). */
export function errorStart(error: unknown, lines = 6): string {
  const e = error as { cause?: unknown } | undefined;
  const inner = e?.cause ?? error;
  const text =
    inner instanceof Error ? inner.message : typeof inner === 'string' ? inner : String(inner);
  const kept = text.split('\n').filter((l) => l.trim() !== '');
  return (
    kept.slice(0, lines).join('\n') +
    (kept.length > lines ? `\n… (${kept.length - lines} more lines)` : '')
  );
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
        // a failing before/after
        counted.push({
          name: `${d.name} (a hook of the suite)`,
          nesting: d.nesting,
          kind,
          error: errorStart(d.details?.error),
        });
    } else {
      stack.push({
        name: d.name,
        nesting: d.nesting,
        kind,
        ...(kind === 'failed' ? { error: errorStart(d.details?.error) } : {}),
      });
    }
  }
  for (const stack of pending.values()) counted.push(...stack);
  return {
    passed: counted.filter((o) => o.kind === 'passed').length,
    failed: counted.filter((o) => o.kind === 'failed').length,
    skipped: counted.filter((o) => o.kind === 'skipped').length,
    errors: counted
      .filter((o) => o.kind === 'failed')
      .map((o) => `${o.name}: ${o.error || '(no error message)'}`),
  };
}

export default async function* reporter(source: AsyncIterable<Event>): AsyncGenerator<string> {
  yield JSON.stringify(await count(source)) + '\n';
}
