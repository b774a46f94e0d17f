// The first member of OVN's northbound Raft cluster loses its volume while the two others are
// down (src/render/openstack/ovn.ts, join_or_create): it must not create a second, empty cluster
// (which Neutron would take for the database), but wait until a member of the cluster answers and
// join it. The two others are "down" by having their ovsdb-server frozen from the host (SIGSTOP:
// no answer, no closed connection); member 0's claim and pod are deleted, as a member rebuild does.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { getPod, isReady, kubectl, namespace, osJson, inClient, skip, until } from './helpers.ts';
import { dbs, hasSwitch, raftStatus, serverPid } from './ovn.ts';

const db = dbs[0]!;
const [first, ...others] = [0, 1, 2].map((i) => `${db.set}-${i}`) as [string, string, string];

async function log(pod: string): Promise<string> {
  return kubectl(['-n', namespace, 'logs', pod, '-c', 'ovsdb-server']).catch(() => '');
}

describe(
  "OVN's first member loses its volume while the others are down (HA cloud)",
  { skip },
  () => {
    const frozen: number[] = [];
    let network = '';

    after(async () => {
      for (const pid of frozen.splice(0)) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // already gone
        }
      }
      if (network) await inClient(`openstack network delete ${network}`).catch(() => undefined);
    });

    test('it creates no second cluster: it waits, and joins the same cluster with its data when the others are back', async () => {
      network = `volume-loss-${Date.now().toString(36)}`;
      const created = await osJson<{ id: string }>(`network create ${network}`, 180_000);
      for (const m of others)
        await until(() => hasSwitch(db, m, created.id), `the switch on ${m}`, 120_000, 2000);
      const cluster = (await raftStatus(db, others[0])).cluster;
      assert.ok(cluster, 'a cluster id');

      for (const m of others) {
        const pid = await serverPid(m);
        process.kill(pid, 'SIGSTOP');
        frozen.push(pid);
      }
      const old = await getPod(first);
      assert.ok(old?.metadata.uid);
      await kubectl(['-n', namespace, 'delete', 'pvc', `data-${first}`, '--wait=false']);
      await kubectl(['-n', namespace, 'delete', 'pod', first, '--wait=false']);
      const t0 = Date.now();

      // Its new pod, with an empty volume, finds no member that answers and not every other one
      // empty: it says so on each round (two rounds seen), and never creates a cluster.
      const waiting =
        /only 0 of the 2 others say they have no data: the cluster may be on members that are down; waiting for one rather than creating a second cluster/g;
      const text = await until(
        async () => {
          const p = await getPod(first);
          if (!p || p.metadata.uid === old.metadata.uid) return undefined;
          const l = await log(first);
          return (l.match(waiting) ?? []).length >= 2 ? l : undefined;
        },
        `${first} (new pod) waiting two rounds for a member`,
        10 * 60_000,
        3000,
      );
      assert.doesNotMatch(text, /creating the cluster/);
      const waitingPod = await getPod(first);
      assert.ok(waitingPod && !isReady(waitingPod), `${first} is not Ready while it waits`);
      console.log(
        `# ${first} waiting for a member ${((Date.now() - t0) / 1000).toFixed(0)} s after its volume was deleted`,
      );

      for (const pid of frozen.splice(0)) process.kill(pid, 'SIGCONT');
      await until(
        async () => {
          const s = await raftStatus(db, first).catch(() => undefined);
          return (
            s?.status === 'cluster member' &&
            s.cluster === cluster &&
            s.servers === 3 &&
            (await hasSwitch(db, first, created.id))
          );
        },
        `${first} a member of the same cluster of 3, with the switch made before`,
        10 * 60_000,
        3000,
      );
      const joined = await log(first);
      assert.match(joined, /joining the cluster of OVN_Northbound through/);
      assert.doesNotMatch(joined, /creating the cluster/);
      console.log(
        `# ${first} joined ${((Date.now() - t0) / 1000).toFixed(0)} s after its volume was deleted`,
      );
      await until(
        async () => {
          const p = await getPod(first);
          return p !== undefined && isReady(p);
        },
        `${first} Ready`,
        5 * 60_000,
        3000,
      );
    });
  },
);
