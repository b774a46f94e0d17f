// `stackanetes operator` as a process, against a fake API server: what its HTTP endpoints say.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startOperator } from '../../integration/operator/helpers.ts';
import { FakeApi } from '../fake-api.ts';

async function answer(url: string): Promise<number | undefined> {
  try {
    return (await fetch(url)).status;
  } catch {
    return undefined;
  }
}

async function until<T>(f: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 300; i++) {
    const v = await f();
    if (ok(v)) return v;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

test('/readyz answers 503 until the caches are synced, then 200', async () => {
  const api = await FakeApi.start();
  // The first list of Deployments does not come back until released.
  api.heldLists.add('/apis/apps/v1/deployments');
  process.env.KUBECONFIG = api.kubeconfig();
  const op = startOperator('openstack');
  const base = `http://127.0.0.1:${op.port}`;
  let exitedOnTerm: boolean;
  try {
    await until(
      () => answer(`${base}/healthz`),
      (s) => s === 200,
      'the operator to answer',
    );
    // Every other informer has listed by now; the Deployments one is still waiting.
    await until(
      () => Promise.resolve(api.requests.filter((r) => r.query.get('watch')).length),
      (n) => n > 0,
      'the first watches',
    );
    assert.equal(
      await answer(`${base}/readyz`),
      503,
      `ready before the caches synced:\n${op.log()}`,
    );
    api.releaseLists();
    await until(
      () => answer(`${base}/readyz`),
      (s) => s === 200,
      'ready after sync',
    );
  } finally {
    const killer = setTimeout(() => void op.stop('SIGKILL'), 20_000);
    await op.stop('SIGTERM');
    clearTimeout(killer);
    exitedOnTerm = op.proc.signalCode === null;
    await api.close();
  }
  assert.ok(exitedOnTerm, `the operator did not exit on SIGTERM:\n${op.log()}`);
});
