// What `stackanetes apply` answers before changing a running cloud's release, and what
// `stackanetes status` says of an upgrade.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseChange } from '../../../src/cli/release-change.ts';
import { upgradeLine } from '../../../src/cli/status.ts';
import type { KubeObject } from '../../../src/render/kube.ts';

const all = ['keystone', 'glance', 'placement', 'nova', 'neutron', 'horizon'] as const;

test('an allowed upgrade shows its plan and the point of no return', () => {
  const r = releaseChange({ spec: '2025.1', running: '2025.1' }, '2026.1', all);
  assert.equal(r.refuse, undefined);
  assert.match(r.plan!, /^upgrade 2025\.1 → 2026\.1, \d+ steps:/);
  assert.match(r.plan!, /preflight\/nova: check `nova-status upgrade check \|\| \[ \$\? -eq 1 \]`/);
  assert.match(
    r.plan!,
    /Until keystone\/contract the cloud can go back to 2025\.1; after it, it cannot/,
  );
});

test('a downgrade and a skip upstream does not allow are refused with the allowed paths', () => {
  const down = releaseChange({ spec: '2026.1', running: '2026.1' }, '2025.1', all);
  assert.match(down.refuse!, /^spec\.release: 2026\.1 → 2025\.1 is a downgrade/);
  const skip = releaseChange({ spec: '2025.1', running: '2025.1' }, '2026.2', all);
  assert.match(skip.refuse!, /skips 2025\.2, 2026\.1/);
  assert.match(skip.refuse!, /2026\.1 \(SLURP to SLURP\)/);
});

test('no new release while an upgrade runs; the same release is no change', () => {
  const upgrade = {
    from: '2025.1',
    to: '2026.1',
    startedAt: '2026-12-02T10:00:00Z',
    step: 'nova/computes',
    completed: [],
  };
  const r = releaseChange({ spec: '2026.1', running: '2025.1', upgrade }, '2025.1', all);
  assert.match(r.refuse!, /an upgrade 2025\.1 → 2026\.1 is running \(step nova\/computes\)/);
  assert.deepEqual(releaseChange({ spec: '2025.1', running: '2025.1' }, '2025.1', all), {});
  const done = { ...upgrade, finishedAt: '2026-12-02T11:00:00Z' };
  assert.deepEqual(
    releaseChange({ spec: '2026.1', running: '2026.1', upgrade: done }, '2026.1', all),
    {},
  );
});

test('a cloud never Ready is judged by its spec.release', () => {
  assert.match(releaseChange({ spec: '2026.1' }, '2025.1', all).refuse!, /downgrade/);
});

test('status shows where an upgrade is, a failed step, and a finished one', () => {
  const cloud = (status: object, release = '2026.1') =>
    ({
      apiVersion: 'stackanetes.io/v1alpha1',
      kind: 'OpenStackCloud',
      metadata: { name: 'c' },
      spec: { release },
      status,
    }) as KubeObject;
  const upgrade = {
    from: '2025.1',
    to: '2026.1',
    startedAt: '2026-12-02T10:00:00Z',
    step: 'keystone/roll',
    completed: ['preflight/keystone', 'keystone/expand'],
  };
  assert.match(
    upgradeLine(cloud({ release: '2025.1', upgrade })),
    /^Upgrade: 2025\.1 → 2026\.1 since 2026-12-02T10:00:00Z, 2 steps done, now keystone\/roll\n$/,
  );
  const failed = { ...upgrade, failed: { step: 'keystone/roll', message: 'x broke', at: 'y' } };
  assert.match(
    upgradeLine(cloud({ release: '2025.1', upgrade: failed })),
    /FAILED at keystone\/roll: x broke/,
  );
  const done = { ...upgrade, finishedAt: '2026-12-02T11:00:00Z' };
  assert.match(
    upgradeLine(cloud({ release: '2026.1', upgrade: done })),
    /finished 2026-12-02T11:00:00Z/,
  );
  assert.equal(upgradeLine(cloud({ release: '2025.1' }, '2025.1')), '');
  const refused = {
    release: '2026.1',
    conditions: [{ type: 'Upgraded', reason: 'UpgradeRefused', message: 'a downgrade' }],
  };
  assert.equal(upgradeLine(cloud(refused, '2025.1')), 'Upgrade: UpgradeRefused: a downgrade\n');
});
