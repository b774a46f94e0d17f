// The cluster's command lines: what the controller manager and kwok are started with.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { components } from '../../../src/cluster/components.ts';
import { layout } from '../../../src/cluster/layout.ts';

const flag = (args: string[], name: string) =>
  args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];

test('simulated nodes renew their Leases well within the grace period, more slowly past 200 of them', () => {
  const l = layout('/nonexistent/stackanetes-test');
  for (const [fake, lease, grace] of [
    [0, '40', '20s'],
    [100, '40', '20s'],
    [1000, '120', '90s'],
  ] as const) {
    const c = components(l, fake);
    assert.equal(flag(c.kwok!.args, 'node-lease-duration-seconds'), lease, `${fake} nodes`);
    assert.equal(
      flag(c['kube-controller-manager']!.args, 'node-monitor-grace-period'),
      grace,
      `${fake} nodes`,
    );
    // kwok renews every quarter of the lease: at least twice per grace period.
    assert.ok((Number(lease) / 4) * 2 <= Number.parseInt(grace), `${fake} nodes`);
  }
});
