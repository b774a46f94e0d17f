// The work queue's promises: de-duplication, one worker per key, N workers, back-off on error,
// requeue-after and a clean shut-down. Short real delays, but no assertions about durations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExponentialBackoff, WorkQueue } from '../../../src/kube/workqueue.ts';

/** A promise with its resolve function outside, to hold a handler until the test lets it go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => undefined as void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await sleep(5);
  }
  assert.fail(`timed out waiting for ${what}`);
}

void test('adding a key already waiting is a no-op', async () => {
  const seen: string[] = [];
  const hold = gate();
  const q = new WorkQueue(async (key) => {
    if (key === 'block') await hold.promise;
    seen.push(key);
  });
  q.add('block'); // occupies the only worker so the rest wait
  q.add('a');
  q.add('b');
  q.add('a');
  q.add('b');
  q.add('a');
  assert.equal(q.length, 2);
  hold.open();
  await until(() => seen.length === 3 && q.inFlight === 0, 'three keys processed');
  assert.deepEqual(seen, ['block', 'a', 'b']);
  await q.shutDown();
});

void test('a key re-added while being processed runs once more afterwards, never concurrently', async () => {
  let active = 0;
  let maxActive = 0;
  let runs = 0;
  const first = gate();
  const q = new WorkQueue(
    async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      runs++;
      if (runs === 1) await first.promise;
      active--;
    },
    { workers: 4 },
  );
  q.add('k');
  await until(() => q.inFlight === 1, 'k in flight');
  q.add('k');
  q.add('k');
  q.add('k');
  assert.equal(q.length, 0, 'a key being processed is not handed to a second worker');
  first.open();
  await until(() => runs === 2 && q.inFlight === 0, 'the second run');
  await sleep(20);
  assert.equal(runs, 2, 'three adds during the run collapse into one more run');
  assert.equal(maxActive, 1);
  await q.shutDown();
});

void test('at most N keys are processed at once, and all of them get processed', async () => {
  let active = 0;
  let maxActive = 0;
  const done = new Set<string>();
  const q = new WorkQueue(
    async (key) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(2);
      active--;
      done.add(key);
    },
    { workers: 3 },
  );
  for (let i = 0; i < 20; i++) q.add(`k${i}`);
  await until(() => done.size === 20, 'all keys');
  assert.equal(maxActive, 3);
  await q.shutDown();
});

void test('a failing key is retried with a growing back-off, and forgotten after it succeeds', async () => {
  const delays: number[] = [];
  let calls = 0;
  const q = new WorkQueue(
    () => {
      calls++;
      if (calls <= 3) return Promise.reject(new Error(`failure ${calls}`));
      return Promise.resolve();
    },
    { baseDelayMs: 1, maxDelayMs: 1000, onError: (_key, _err, ms) => delays.push(ms) },
  );
  q.add('k');
  await until(() => calls === 4 && q.inFlight === 0, 'the fourth try');
  assert.deepEqual(delays, [1, 2, 4], 'back-off doubles per failure');
  assert.equal(q.numRequeues('k'), 0, 'success resets the back-off');
  await q.shutDown();
});

void test('back-off is per key and capped', () => {
  const b = new ExponentialBackoff(500, 5 * 60_000);
  const seq = Array.from({ length: 12 }, () => b.when('a'));
  assert.deepEqual(seq.slice(0, 4), [500, 1000, 2000, 4000]);
  assert.equal(seq.at(-1), 300_000);
  assert.equal(Math.max(...seq), 300_000);
  assert.equal(b.when('b'), 500, 'another key starts from the base');
  for (let i = 0; i < 2000; i++) b.when('a');
  assert.equal(b.when('a'), 300_000, 'still capped after very many failures');
  b.forget('a');
  assert.equal(b.when('a'), 500);
});

void test('requeue-after: a handler asking to be looked at again is run again', async () => {
  const seen: string[] = [];
  const q = new WorkQueue((key) => {
    seen.push(key);
    return Promise.resolve(seen.length === 1 ? { requeueAfterMs: 5 } : undefined);
  });
  q.add('k');
  await until(() => seen.length === 2, 'the requeued run');
  await q.shutDown();
});

void test('addAfter holds a key back; a second addAfter keeps the earlier time, add runs it now', async () => {
  const seen: string[] = [];
  const q = new WorkQueue((key) => {
    seen.push(key);
    return Promise.resolve();
  });
  q.addAfter('late', 60_000);
  q.addAfter('late', 10);
  assert.equal(q.delayed, 1);
  assert.equal(q.length, 0);
  q.addAfter('never', 60_000);
  q.add('now');
  await until(() => seen.includes('late'), 'the delayed key');
  assert.deepEqual(seen, ['now', 'late']);
  assert.equal(q.delayed, 1, 'the key an hour out is still waiting');
  await q.shutDown();
  assert.equal(q.delayed, 0, 'shut-down cancels timers');
});

void test('shutDown waits for the work in flight and drops the rest', async () => {
  const hold = gate();
  let finished = 0;
  const started: string[] = [];
  const q = new WorkQueue(
    async (key) => {
      started.push(key);
      await hold.promise;
      finished++;
    },
    { workers: 2 },
  );
  for (const k of ['a', 'b', 'c', 'd']) q.add(k);
  await until(() => q.inFlight === 2, 'two in flight');
  let shutDownDone = false;
  const down = q.shutDown().then(() => (shutDownDone = true));
  await sleep(10);
  assert.equal(shutDownDone, false, 'shutDown waits for handlers still running');
  q.add('e');
  hold.open();
  await down;
  assert.equal(finished, 2);
  assert.deepEqual(started, ['a', 'b'], 'waiting keys are dropped and new adds ignored');
  assert.equal(q.length, 0);
});

void test('shutDown({ abort: true }) aborts the signal handed to running handlers', async () => {
  let aborted = false;
  const q = new WorkQueue(async (_key, signal) => {
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
    aborted = signal.aborted;
  });
  q.add('k');
  await until(() => q.inFlight === 1, 'k in flight');
  await q.shutDown({ abort: true });
  assert.equal(aborted, true);
});
