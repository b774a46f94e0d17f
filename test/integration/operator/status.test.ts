// `stackanetes status` tells the truth when the operator is gone (as a new user found it: the
// operator process killed and the Horizon Deployment deleted, status still said horizon True
// 1/1 Ready and the cloud Ready). Against the real API server, with kwok nodes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../../../src/kube/client.ts';
import { isNotFound } from '../../../src/kube/errors.ts';
import {
  kwokCloud,
  operatorNamespace,
  skip,
  specFile,
  startOperator,
  until,
  waitForMetrics,
  waitReady,
  type Operator,
} from './helpers.ts';

const cloudName = 'kwok';

function status(ns: string): string {
  const r = spawnSync(process.execPath, ['bin/stackanetes.js', 'status', cloudName, '-n', ns], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, COLUMNS: '200' },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe('status when the operator is gone', { skip, concurrency: 1 }, () => {
  let c: KubeClient;
  let ns = '';
  let op: Operator | undefined;
  let close = async (_current?: Operator) => {};

  before(async () => {
    let first: Operator;
    ({ c, ns, op: first, close } = await operatorNamespace('status'));
    op = first;
    const r = spawnSync(
      process.execPath,
      ['bin/stackanetes.js', 'apply', '-f', specFile(kwokCloud(cloudName, ns)), '--timeout', '10'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, `apply failed:\n${r.stderr}\n${first.log().slice(-3000)}`);
  });

  after(() => close(op));

  test('with the operator running, status says it is reconciling and the cloud is Ready', () => {
    const out = status(ns);
    assert.match(out, /^Ready: +True/m, out);
    assert.match(out, /^Operator: reconciling: .* leads \(Lease /m, out);
    assert.match(out, /^horizon +True +1\/1 /m, out);
  });

  test('operator killed and the Horizon Deployment deleted: status says not reconciling and horizon missing', async () => {
    await op!.stop('SIGKILL');
    await c.delete('apps/v1', 'Deployment', 'horizon-server', ns);
    await until(async () => {
      try {
        await c.get('apps/v1', 'Deployment', 'horizon-server', ns);
        return false;
      } catch (err) {
        return isNotFound(err);
      }
    }, 'the Deployment to be gone');
    // The killed operator's Lease (15 s) runs out: it did not release it.
    await sleep(25_000);
    const out = status(ns);
    console.log(out);
    assert.match(out, /^Ready: +False — horizon: deployment\/horizon-server missing/m, out);
    assert.match(
      out,
      /^Operator: NOT RECONCILING: .*was last renewed .* ago \(it lasts 15s\)/m,
      out,
    );
    assert.match(out, /^horizon +False +0\/1 +Missing +deployment\/horizon-server missing/m, out);
    assert.match(out, /^keystone +True /m, out);
  });

  test('an operator started again restores Horizon and status says so', async () => {
    op = startOperator(ns);
    await waitForMetrics(op);
    await until(
      async () => {
        try {
          await c.get('apps/v1', 'Deployment', 'horizon-server', ns);
          return true;
        } catch {
          return false;
        }
      },
      'horizon-server recreated',
      120_000,
    );
    await waitReady(c, ns, cloudName, op);
    await until(() => /^Ready: +True/m.test(status(ns)), 'status to say Ready', 120_000);
    const out = status(ns);
    assert.match(out, /^Operator: reconciling: /m, out);
    assert.match(out, /^horizon +True +1\/1 /m, out);
  });
});
