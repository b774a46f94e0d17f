// OVN's northbound and southbound databases as 3-member Raft clusters on the HA cloud
// (src/render/openstack/ovn.ts): each member reports a cluster of 3 with one leader; then the
// ovsdb-server of both leaders is frozen (SIGSTOP from the host, as a hung or cut-off server would
// be; found on the host by the pod's UID in its cgroup) and, while it is frozen, the two others elect a new leader and Neutron creates a network
// whose logical switch reaches the northbound database and, through ovn-northd, the southbound
// one. Thawed, the old leader is a follower of the same cluster again and holds the new switch.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { KubeObject } from '../../src/render/kube.ts';
import {
  getPod,
  inClient,
  isReady,
  kubectl,
  namespace,
  osJson,
  pods,
  procInfo,
  skip,
  until,
} from './helpers.ts';
import { dbs, hasSwitch, members, raftStatus, serverPid, type Db } from './ovn.ts';

/** The member whose own status says it leads, among `candidates`. */
async function leaderOf(db: Db, candidates: string[]): Promise<string | undefined> {
  for (const m of candidates) {
    const s = await raftStatus(db, m).catch(() => undefined);
    if (s?.role === 'leader') return m;
  }
  return undefined;
}

/**
 * What each neutron-server pod logged about its OVSDB connections, and its errors, since `since`
 * (so that a network create that times out says where Neutron was).
 */
async function neutronLog(since: number): Promise<string> {
  const out: string[] = [];
  for (const pod of await pods('neutron-server')) {
    const log = await kubectl([
      '-n',
      namespace,
      'logs',
      pod.metadata.name,
      '-c',
      'server',
      `--since-time=${new Date(since - 5000).toISOString()}`,
    ]).catch((err: unknown) => String(err));
    const lines = log
      .split('\n')
      .filter((l) => /ovsdb|ovs_idl|ERROR|WARNING|Timeout|timed out/i.test(l))
      .slice(-40);
    out.push(`${pod.metadata.name}:`, ...lines.map((l) => `  ${l.slice(0, 300)}`));
  }
  return out.join('\n');
}

describe('OVN databases as 3-member Raft clusters (HA cloud)', { skip }, () => {
  const frozen: number[] = [];
  let network = '';

  after(async () => {
    for (const pid of frozen) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // already gone
      }
    }
    if (network) await inClient(`openstack network delete ${network}`).catch(() => undefined);
  });

  test('each database: every member reports the same cluster of 3 servers, and one of them leads', async () => {
    for (const db of dbs) {
      const all = await Promise.all(members(db).map((m) => raftStatus(db, m)));
      for (const [i, s] of all.entries()) {
        assert.equal(s.status, 'cluster member', `${db.set}-${i}: ${JSON.stringify(s)}`);
        assert.equal(s.servers, 3, `${db.set}-${i} sees 3 servers: ${JSON.stringify(s)}`);
        assert.equal(s.cluster, all[0]!.cluster, 'one cluster');
      }
      assert.equal(all.filter((s) => s.role === 'leader').length, 1, `one leader of ${db.name}`);
    }
  });

  test('both leaders frozen: the others elect new leaders, Neutron creates a network that reaches both databases; thawed, the old leaders follow and have it', async (t) => {
    const leaders = new Map<Db, string>();
    for (const db of dbs) {
      const l = await leaderOf(db, members(db));
      assert.ok(l, `a leader of ${db.name}`);
      leaders.set(db, l);
    }
    const stopped = new Map<Db, number>();
    for (const [db, l] of leaders) {
      const pid = await serverPid(l);
      process.kill(pid, 'SIGSTOP');
      frozen.push(pid);
      stopped.set(db, pid);
      await until(() => procInfo(pid)?.state === 'T', `${l}'s ovsdb-server stopped`, 10_000, 100);
    }
    const t0 = Date.now();
    const others = (db: Db) => members(db).filter((m) => m !== leaders.get(db));
    for (const db of dbs) {
      const next = await until(
        () => leaderOf(db, others(db)),
        `a new leader of ${db.name} among ${others(db).join(', ')}`,
        120_000,
        2000,
      );
      t.diagnostic(
        `${db.name}: ${next} leads ${((Date.now() - t0) / 1000).toFixed(0)} s after the freeze`,
      );
    }
    network = `raft-${Date.now().toString(36)}`;
    const created = await osJson<{ id: string }>(`network create ${network}`, 120_000).catch(
      async (err: unknown) => {
        throw new Error(
          `${err instanceof Error ? err.message : String(err)}\nneutron-server since the freeze:\n${await neutronLog(t0)}`,
          { cause: err },
        );
      },
    );
    t.diagnostic(`network created ${((Date.now() - t0) / 1000).toFixed(0)} s after the freeze`);
    for (const db of dbs) {
      await until(
        () => hasSwitch(db, others(db)[0]!, created.id),
        `the network's switch in ${db.name} (on ${others(db)[0]})`,
        120_000,
        2000,
      );
    }
    // Still frozen while all of the above happened (not restarted by its liveness probe).
    for (const [db, pid] of stopped) {
      assert.equal(procInfo(pid)?.state, 'T', `${leaders.get(db)} stayed frozen throughout`);
    }
    t.diagnostic(
      `both databases had the switch ${((Date.now() - t0) / 1000).toFixed(0)} s after the freeze`,
    );

    for (const pid of frozen.splice(0)) process.kill(pid, 'SIGCONT');
    for (const [db, old] of leaders) {
      await until(
        async () => {
          const pod: KubeObject | undefined = await getPod(old);
          if (!pod || !isReady(pod)) return false;
          const s = await raftStatus(db, old).catch(() => undefined);
          return (
            s?.role === 'follower' && s.servers === 3 && (await hasSwitch(db, old, created.id))
          );
        },
        `${old} a follower of ${db.name} again, with the new switch`,
        180_000,
        2000,
      );
    }
  });
});
