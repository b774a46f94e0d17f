// `stackanetes … | head`: the reader of standard output goes away early; the command stops
// quietly with exit 0 (as cat or grep do), not with an unhandled EPIPE and its stack.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';

test('a reader that closes early (| head) ends the command quietly, exit 0', async () => {
  // render writes the whole cloud's YAML to standard output: far more than one pipe buffer.
  const child = spawn(
    process.execPath,
    ['bin/stackanetes.js', 'render', '-f', 'examples/minimal.yaml'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let first = '';
  child.stdout.setEncoding('utf8');
  await new Promise<void>((resolve) =>
    child.stdout.once('data', (d: string) => {
      first = d;
      child.stdout.destroy();
      resolve();
    }),
  );
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.match(first, /apiVersion|kind/);
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Unhandled/);
});
