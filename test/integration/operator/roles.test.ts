// `Ready` means the cloud works: with no node for the compute role, the cloud does not become
// Ready, and its status names the label no node has. Real API server, kwok nodes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { KubeClient } from '../../../src/kube/client.ts';
import {
  cloudStatus,
  kwokCloud,
  operatorNamespace,
  skip,
  specFile,
  until,
  type Operator,
} from './helpers.ts';

describe('a role without nodes', { skip, concurrency: 1 }, () => {
  let c: KubeClient;
  let ns = '';
  let op: Operator;
  let close = async () => {};

  before(async () => {
    ({ c, ns, op, close } = await operatorNamespace('roles'));
  });

  after(() => close());

  test('no compute node: not Ready, and the reason names the missing label', async () => {
    const fake = { matchLabels: { 'stackanetes.io/fake': 'true' } };
    const nowhere = { matchLabels: { 'stackanetes.io/compute-nowhere': 'true' } };
    const doc = kwokCloud('noroles', ns, {
      nodeRoles: { controlPlane: fake, compute: nowhere, network: fake },
    });
    const r = spawnSync(
      process.execPath,
      ['bin/stackanetes.js', 'apply', '-f', specFile(doc), '--no-wait'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    let last = '';
    await until(
      async () => {
        const s = await cloudStatus(c, ns, 'noroles');
        last = `${s.ready?.reason}: ${s.ready?.message}`;
        return s.ready?.reason === 'NoNodeForRole';
      },
      'Ready=False with reason NoNodeForRole',
      10 * 60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; last: ${last}\n${op.log().slice(-2000)}`);
    });
    const s = await cloudStatus(c, ns, 'noroles');
    assert.equal(s.ready?.status, 'False');
    assert.match(
      s.ready?.message ?? '',
      /no node has the label stackanetes\.io\/compute-nowhere=true \(spec\.nodeRoles\.compute\)/,
    );
    console.log(`Ready: ${s.ready?.reason}: ${s.ready?.message}`);
  });
});
