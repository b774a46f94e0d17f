// A full Galera outage on the HA cloud (./galera-outage.ts): every MariaDB server of the three
// members is SIGKILLed at the same moment from the host while a writer commits a sequence of rows.
// Nobody acts afterwards. Asserted: every member restarted and none was Ready for a while, the
// cluster is back with 3 synced members and takes writes again, exactly one member's log says it
// bootstrapped as the most advanced, and no acknowledged row is missing.
// Runs in the ha tier after the checks of a steady cloud: it breaks the cloud's database on purpose.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { skip } from './helpers.ts';
import { fullGaleraOutage, galeraMembers } from './galera-outage.ts';

void test(
  'every MariaDB server killed at once: the cluster comes back by itself from its most advanced member, no acknowledged write lost',
  { skip, timeout: 25 * 60_000 },
  async (t) => {
    const o = await fullGaleraOutage((l) => t.diagnostic(l));
    for (const [i, m] of galeraMembers.entries())
      assert.ok(
        o.restartsAfter[i]! > o.restartsBefore[i]!,
        `${m} restarted (${o.restartsBefore[i]} → ${o.restartsAfter[i]} restarts)`,
      );
    assert.equal(o.bootstrapped, 1, 'exactly one member bootstrapped, as the most advanced');
    for (const p of o.positions) t.diagnostic(p);
    assert.ok(o.acked > o.ackedBeforeKill, 'rows acknowledged after the outage');
    assert.deepEqual(
      o.lost,
      [],
      `acknowledged rows missing after the outage: ${o.lost.join(', ')}`,
    );
  },
);
