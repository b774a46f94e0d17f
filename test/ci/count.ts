// How many tests some test files declare, without running any of them: for a CI tier that did
// not run, so that its tests count as skipped. Each file is imported with `node:test` replaced by
// a recorder: suite bodies run (that is where their tests are declared, loops included); test
// bodies, hooks and skip conditions do not. Counted as test/ci/reporter.ts counts a run: tests at
// file or suite level (subtests a test creates while it runs are part of it), statically skipped
// ones included. Importing a file runs its top-level code: test files keep I/O inside hooks and
// tests.
// Usage: node test/ci/count.ts <file|glob>…   → prints {"tests":N,"files":N}
import { globSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Recorder from './node-test-recorder.ts';

const recorder = new URL('./node-test-recorder.ts', import.meta.url).href;

/** The test files that `patterns` (paths or globs, as given to node --test) name, sorted. */
export function testFiles(patterns: readonly string[]): string[] {
  return [...new Set(patterns.flatMap((p) => globSync(p)))].sort();
}

export async function countTests(
  patterns: readonly string[],
): Promise<{ tests: number; files: number }> {
  const hooks = registerHooks({
    resolve(specifier, context, next) {
      if (specifier === 'node:test' || specifier === 'test')
        return { url: recorder, shortCircuit: true };
      return next(specifier, context);
    },
  });
  try {
    const { declared } = (await import(recorder)) as typeof Recorder;
    const files = testFiles(patterns);
    for (const f of files) await import(pathToFileURL(resolve(f)).href);
    return { tests: await declared(), files: files.length };
  } finally {
    hooks.deregister();
  }
}

if (import.meta.main) {
  // No top-level await: a test file that imports this module would wait on it forever.
  void countTests(process.argv.slice(2)).then((c) => console.log(JSON.stringify(c)));
}
