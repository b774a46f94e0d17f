// The one way Stackanetes runs a program: a failure names the command and what it said on
// stderr, never what it was given on stdin; a log gets the output; a missing program says so.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { CommandError, capture, openLog, run, stdoutOf } from '../../../src/util/exec.ts';

test('a failure says which command, its exit status and the tail of its stderr', async () => {
  const err = await run('sh', ['-c', 'echo progress; echo "E: no such package" >&2; exit 3']).then(
    () => assert.fail('resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CommandError);
  assert.equal(
    err.message,
    'sh -c echo progress; echo "E: no such package" >&2; exit 3 exited with 3:\nE: no such package',
  );
  assert.equal(err.result.code, 3);
  assert.equal(err.output, 'progress\nE: no such package\n');
});

test('what goes in on stdin is not in the error', async () => {
  await assert.rejects(
    run('sh', ['-c', 'cat >/dev/null; echo refused >&2; exit 1'], { input: 'password=hunter2' }),
    (e: Error) => !e.message.includes('hunter2') && e.message.endsWith('exited with 1:\nrefused'),
  );
});

test('allowFailure hands back the exit status instead of throwing', async () => {
  const r = await run('sh', ['-c', 'echo out; exit 2'], { allowFailure: true });
  assert.deepEqual([r.code, r.stdout], [2, 'out\n']);
});

test('a program that is not there: an error that says so, or 127 with allowFailure', async () => {
  await assert.rejects(
    run('stackanetes-no-such-program', []),
    /^CommandError: cannot run stackanetes-no-such-program: /,
  );
  await assert.rejects(stdoutOf('stackanetes-no-such-program', []), /cannot run/);
  const r = await run('stackanetes-no-such-program', [], { allowFailure: true });
  assert.equal(r.code, 127);
});

test('stdoutOf reads what a program prints even when it exits non-zero', async () => {
  assert.equal(await stdoutOf('sh', ['-c', 'echo found; exit 1']), 'found\n');
  assert.equal(await capture('sh', ['-c', 'echo "$X"'], { env: { X: 'from env' } }), 'from env\n');
});

test('output goes to a log file, and the error points at it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stackanetes-exec-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = join(dir, 'build.log');
  await assert.rejects(
    run('sh', ['-c', 'echo one; echo two >&2; exit 1'], { logFile }),
    new RegExp(`exited with 1\\n\\(full log: ${logFile}\\)$`),
  );
  assert.equal(readFileSync(logFile, 'utf8'), 'one\ntwo\n');

  const streamed = join(dir, 'stream.log');
  const log = openLog(streamed);
  const lines: string[] = [];
  const r = await run('sh', ['-c', 'echo a; echo b'], { log, onLine: (l) => lines.push(l) });
  await new Promise((resolve) => log.end(resolve));
  assert.deepEqual(
    [r.stdout, lines, readFileSync(streamed, 'utf8')],
    ['a\nb\n', ['a', 'b'], 'a\nb\n'],
  );
});
