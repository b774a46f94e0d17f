// Upgrade paths: upstream's rule (the next release, or SLURP to the next SLURP) and the releases
// Stackanetes has catalogs for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allowedPairs,
  upgradeRefusal,
  upstreamAllows,
  upstreamTargets,
} from '../../../src/catalog/upgrades.ts';
import { knownReleases } from '../../../src/catalog/index.ts';

test('upstream allows the next release and SLURP to SLURP, nothing else', () => {
  assert.ok(upstreamAllows('2025.1', '2025.2'));
  assert.ok(upstreamAllows('2025.1', '2026.1'));
  assert.ok(upstreamAllows('2025.2', '2026.1'));
  assert.ok(!upstreamAllows('2025.1', '2026.2'), '2026.2 is not a SLURP release');
  assert.ok(!upstreamAllows('2025.2', '2026.2'), '2025.2 is not a SLURP release');
  assert.ok(!upstreamAllows('2026.1', '2025.1'), 'a downgrade');
  assert.ok(!upstreamAllows('2025.1', '2025.1'));
  assert.ok(!upstreamAllows('2024.1', '2026.1'), 'two SLURPs skipped');
  assert.deepEqual(
    upstreamTargets('2025.1').map((t) => `${t.release} (${t.why})`),
    ['2025.2 (the next release)', '2026.1 (SLURP to SLURP)'],
  );
});

test('2025.1 → 2026.1 is allowed between the releases Stackanetes knows, and only that', () => {
  const known = knownReleases();
  assert.deepEqual(known, ['2025.1', '2026.1']);
  assert.deepEqual(allowedPairs(known), ['2025.1>2026.1']);
  assert.equal(upgradeRefusal('2025.1', '2026.1', known), undefined);
  assert.equal(upgradeRefusal('2025.1', '2025.1', known), undefined, 'no change');
});

test('a refused path says why and names the allowed ones', () => {
  const known = ['2025.1', '2026.1'];
  const down = upgradeRefusal('2026.1', '2025.1', known);
  assert.match(down!, /2026\.1 → 2025\.1 is a downgrade/);
  assert.match(
    down!,
    /From 2026\.1 the allowed upgrades are: 2026\.2 \(the next release; Stackanetes has no catalog for it yet\)/,
  );
  const skip = upgradeRefusal('2025.1', '2026.2', known);
  assert.match(skip!, /2025\.1 → 2026\.2 skips 2025\.2, 2026\.1/);
  assert.match(
    skip!,
    /allowed upgrades are: 2025\.2 \(the next release; Stackanetes has no catalog for it yet\), 2026\.1 \(SLURP to SLURP\)/,
  );
  assert.match(
    upgradeRefusal('2025.1', '2025.2', known)!,
    /Stackanetes has no catalog for 2025\.2/,
  );
  assert.match(upgradeRefusal('2025.1', 'zed', known)!, /zed is not an OpenStack release/);
});
