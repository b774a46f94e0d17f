// What `stackanetes apply` answers before changing a running cloud's release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseChange } from '../../../src/cli/release-change.ts';

const all = ['keystone', 'glance', 'placement', 'nova', 'neutron', 'horizon'] as const;

test('an allowed upgrade shows its plan and the point of no return', () => {
  const r = releaseChange({ spec: '2025.1', running: '2025.1' }, '2026.1', all);
  assert.equal(r.refuse, undefined);
  assert.match(r.plan!, /^upgrade 2025\.1 → 2026\.1, \d+ steps:/);
  assert.match(r.plan!, /preflight\/nova: check `nova-status upgrade check`/);
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
