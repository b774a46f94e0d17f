// The upgrade plan 2025.1 → 2026.1: pre-flight checks before any change, services in upstream's
// order with their own expand/roll/contract steps, Nova pinned while old and new computes mix.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getCatalog, knownReleases } from '../../../src/catalog/index.ts';
import { describePlan, nextStep, planUpgrade } from '../../../src/plan/upgrade.ts';

const all = ['keystone', 'glance', 'placement', 'nova', 'neutron', 'horizon'] as const;
const plan = planUpgrade(getCatalog('2025.1'), getCatalog('2026.1'), all, knownReleases());

test('every pre-flight check comes before the first change', () => {
  const ids = plan.steps.map((s) => s.id);
  const lastCheck = Math.max(...plan.steps.flatMap((s, i) => (s.kind === 'check' ? [i] : [])));
  const firstChange = plan.steps.findIndex((s) => s.kind !== 'check');
  assert.ok(lastCheck < firstChange, ids.join(' '));
  assert.deepEqual(
    plan.steps.filter((s) => s.kind === 'check').map((s) => s.command),
    [
      'keystone-status upgrade check || [ $? -eq 1 ]',
      'glance-status --config-file /etc/glance/glance-api.conf upgrade check || [ $? -eq 1 ]',
      'placement-status upgrade check || [ $? -eq 1 ]',
      'nova-status upgrade check || [ $? -eq 1 ]',
      'neutron-status --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade check || [ $? -eq 1 ]',
    ],
  );
});

test('services go in upstream order, each expand → roll → contract where it has them', () => {
  const changes = plan.steps.filter((s) => s.kind !== 'check').map((s) => s.id);
  assert.deepEqual(changes, [
    'keystone/expand',
    'keystone/roll',
    'keystone/contract',
    'glance/expand',
    'glance/migrate',
    'glance/roll',
    'glance/contract',
    'placement/db-sync',
    'placement/roll',
    'placement/online-data-migrations',
    'nova/db-sync',
    'nova/control-plane',
    'nova/computes',
    'nova/online-data-migrations',
    'nova/unpin',
    'neutron/expand',
    'neutron/roll',
    'neutron/contract',
    'horizon/roll',
  ]);
  assert.equal(plan.pointOfNoReturn, 'keystone/contract');
  assert.deepEqual(
    plan.steps.filter((s) => s.contract).map((s) => s.id),
    ['keystone/contract', 'glance/contract', 'neutron/contract'],
  );
});

test('Nova runs pinned from its db sync through its online data migrations, then unpinned', () => {
  const nova = plan.steps.filter((s) => s.service === 'nova' && s.kind !== 'check');
  assert.deepEqual(
    nova.map((s) => `${s.id}:${s.pinned}`),
    [
      'nova/db-sync:true',
      'nova/control-plane:true',
      'nova/computes:true',
      'nova/online-data-migrations:true',
      'nova/unpin:false',
    ],
  );
  assert.ok(plan.steps.filter((s) => s.service !== 'nova').every((s) => !s.pinned));
});

test('only the services the cloud runs are planned', () => {
  const small = planUpgrade(
    getCatalog('2025.1'),
    getCatalog('2026.1'),
    ['keystone', 'glance'],
    knownReleases(),
  );
  assert.deepEqual([...new Set(small.steps.map((s) => s.service))], ['keystone', 'glance']);
});

test('a resumed upgrade goes on at the first step not recorded as done', () => {
  const done = plan.steps.slice(0, 7).map((s) => s.id);
  assert.equal(nextStep(plan, done)?.id, plan.steps[7]!.id);
  assert.equal(
    nextStep(
      plan,
      plan.steps.map((s) => s.id),
    ),
    undefined,
  );
  assert.equal(nextStep(plan, [])?.id, 'preflight/keystone');
});

test('refused paths throw the reason; the description warns where there is no way back', () => {
  assert.throws(
    () => planUpgrade(getCatalog('2026.1'), getCatalog('2025.1'), all, knownReleases()),
    /downgrade/,
  );
  assert.throws(
    () => planUpgrade(getCatalog('2025.1'), getCatalog('2025.1'), all, knownReleases()),
    /already runs 2025\.1/,
  );
  const text = describePlan(plan);
  assert.match(
    text,
    /keystone\/contract: run `keystone-manage db_sync --contract` \[NO ROLLBACK AFTER THIS\]/,
  );
  assert.match(text, /after it, it cannot/);
});
