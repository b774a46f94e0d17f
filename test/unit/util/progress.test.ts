// Progress in a log (CI, a file): a line when a step starts and one when it ends, with the step's
// note, its time and the seconds since the command began; lines of work that reports as it goes
// in the same shape; all on standard error, standard output left to the command's result.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { figures } from 'listr2';
import { progressLines, runSteps } from '../../../src/util/progress.ts';

/** What `f` writes to stderr and stdout, with stderr taken for a log (not a terminal). */
async function captured(f: () => Promise<unknown>): Promise<{ err: string; out: string }> {
  const writes = { err: '', out: '' };
  const err = mock.method(process.stderr, 'write', (s: string) => ((writes.err += s), true));
  const out = mock.method(process.stdout, 'write', (s: string) => ((writes.out += s), true));
  // Under `node --test` stderr is a pipe already; say so in case it is run from a terminal.
  const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
  Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
  try {
    await f();
  } finally {
    err.mock.restore();
    out.mock.restore();
    if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
    else delete (process.stderr as { isTTY?: boolean }).isTTY;
  }
  return writes;
}

// Without colours, and with listr2's icons written as on a terminal that shows Unicode.
const plain = (s: string) =>
  s
    .replace(/\x1b\[[0-9;]*m/g, '') // eslint-disable-line no-control-regex
    .replaceAll(figures.pointer, '❯')
    .replaceAll(figures.tick, '✔')
    .replaceAll(figures.cross, '✖')
    .replaceAll(figures.warning, '⚠')
    .replace(/\(\d+\.\d s\)/g, '(0.0 s)');

test('steps in a log: a line as each starts, one as it ends with its note and time', async () => {
  let times: Awaited<ReturnType<typeof runSteps>> = [];
  const { err, out } = await captured(async () => {
    times = await runSteps([
      { title: 'etcd', run: () => Promise.resolve('pid 4711') },
      { title: 'kube-apiserver', run: () => Promise.resolve() },
    ]);
  });
  assert.equal(out, '');
  assert.deepEqual(plain(err).split('\n'), [
    '❯ [   0s] etcd',
    '✔ [   0s] etcd — pid 4711 (0.0 s)',
    '❯ [   0s] kube-apiserver',
    '✔ [   0s] kube-apiserver (0.0 s)',
    '',
  ]);
  assert.deepEqual(
    times.map((t) => t.title),
    ['etcd', 'kube-apiserver'],
  );
});

test('a failed step stops the list; its error comes back as it was thrown', async () => {
  const failure = new Error('etcd exited; last lines of etcd.log: …');
  let ran = false;
  const { err } = await captured(() =>
    assert.rejects(
      runSteps([
        { title: 'etcd', run: () => Promise.reject(failure) },
        { title: 'kube-apiserver', run: () => Promise.resolve(void (ran = true)) },
      ]),
      (e) => e === failure,
    ),
  );
  assert.equal(ran, false);
  assert.match(plain(err), /✖ \[ {3}0s\] etcd/);
});

test('lines of work that reports as it goes: icon, seconds since start, text', async () => {
  const { err, out } = await captured(() => {
    const line = progressLines(Date.now() - 42_000);
    line('start', 'keystone  the Identity service');
    line('done', 'keystone  layer 45 MB compressed');
    line('skip', 'mariadb   cached (0123456789ab)');
    line('warn', 'registry  not pushed');
    return Promise.resolve();
  });
  assert.equal(out, '');
  assert.deepEqual(plain(err).split('\n'), [
    '❯ [  42s] keystone  the Identity service',
    '✔ [  42s] keystone  layer 45 MB compressed',
    '↓ [  42s] mariadb   cached (0123456789ab)',
    '⚠ [  42s] registry  not pushed',
    '',
  ]);
});
