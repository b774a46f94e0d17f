// A full Galera outage on the HA cloud: every MariaDB server of the three members is SIGKILLed at
// the same moment from the host (as a power cut of the database would), while a writer commits a
// sequence of rows and records each one the server acknowledged. Nobody acts afterwards: the
// members restart in place, find no running cluster, say how far their data goes, the most
// advanced one bootstraps and the others join (src/render/infra/database.ts). Asserted: every
// member restarted and none was Ready for a while, the cluster is back with 3 synced members,
// one member's log says it bootstrapped as the most advanced, and no acknowledged row is missing.
// Runs last in the ha tier: it breaks the cloud's database on purpose.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import {
  containerStatus,
  galeraStatus as status,
  getPod,
  isReady,
  kubectl,
  mariadbSql as sql,
  namespace,
  skip,
  until,
} from './helpers.ts';

const run = promisify(execFile);
const members = ['mariadb-0', 'mariadb-1', 'mariadb-2'];
async function restarts(): Promise<number[]> {
  return Promise.all(
    members.map(async (m) => {
      const p = await getPod(m);
      return p ? (containerStatus(p, 'mariadb')?.restartCount ?? 0) : -1;
    }),
  );
}

void test(
  'every MariaDB server killed at once: the cluster comes back by itself from its most advanced member, no acknowledged write lost',
  { skip, timeout: 25 * 60_000 },
  async (t) => {
    for (const m of members) {
      const s = await status(m);
      assert.equal(s.wsrep_cluster_size, '3', `${m} before: ${JSON.stringify(s)}`);
    }
    await sql(
      'mariadb-0',
      'CREATE DATABASE IF NOT EXISTS stackanetes_e2e; DROP TABLE IF EXISTS stackanetes_e2e.acks; CREATE TABLE stackanetes_e2e.acks (n INT PRIMARY KEY, member VARCHAR(16))',
    );
    const before = await restarts();
    const { stdout } = await run('pgrep', ['-x', 'mariadbd']);
    const pids = stdout.trim().split('\n').filter(Boolean);
    assert.equal(pids.length, 3, `one mariadbd per member on this machine: ${pids.join(' ')}`);

    // The writer: one row at a time, each member in turn; a row counts once its INSERT returned.
    const acked: number[] = [];
    let failed = 0;
    let stop = false;
    const writer = (async () => {
      for (let n = 1; !stop; n++) {
        const m = members[n % 3]!;
        try {
          await sql(m, `INSERT INTO stackanetes_e2e.acks VALUES (${n}, '${m}')`, 10_000);
          acked.push(n);
        } catch {
          failed++;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
    await until(() => acked.length >= 10, '10 acknowledged rows before the kill', 120_000, 200);

    const killedAt = Date.now();
    const ackedBeforeKill = acked.length;
    for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
    t.diagnostic(`SIGKILLed mariadbd ${pids.join(', ')} with ${ackedBeforeKill} rows acknowledged`);

    // Ready goes away: no member is Ready at some moment after the kill.
    await until(
      async () => {
        const ps = await Promise.all(members.map((m) => getPod(m)));
        return ps.every((p) => p === undefined || !isReady(p));
      },
      'no member Ready after the kill',
      120_000,
      500,
    );
    // Back: every member Ready, 3 synced members in a primary component, writable.
    await until(
      async () => {
        const ps = await Promise.all(members.map((m) => getPod(m)));
        if (!ps.every((p) => p !== undefined && isReady(p))) return false;
        for (const m of members) {
          const s = await status(m);
          if (s.wsrep_cluster_size !== '3' || s.wsrep_cluster_status !== 'Primary') return false;
          if (s.wsrep_local_state_comment !== 'Synced') return false;
        }
        return true;
      },
      'the three members Ready, Synced, in a primary component of 3',
      20 * 60_000,
      3000,
    );
    const backAfter = Math.round((Date.now() - killedAt) / 1000);
    await until(
      () => acked.length > ackedBeforeKill,
      'a row acknowledged after the outage',
      120_000,
    );
    stop = true;
    await writer;
    t.diagnostic(
      `back after ${backAfter} s; ${acked.length} rows acknowledged in all, ${failed} INSERTs failed`,
    );

    const after = await restarts();
    for (const [i, m] of members.entries())
      assert.ok(after[i]! > before[i]!, `${m} restarted (${before[i]} → ${after[i]} restarts)`);

    const logs = await Promise.all(
      members.map((m) => kubectl(['-n', namespace, 'logs', m, '-c', 'mariadb'])),
    );
    const boot = logs.filter((l) => /this one is the most advanced: bootstrapping/.test(l));
    assert.equal(boot.length, 1, 'exactly one member bootstrapped, as the most advanced');
    for (const l of logs) t.diagnostic(l.split('\n').find((x) => /position: /.test(x)) ?? '');

    const rows = new Set(
      (await sql('mariadb-1', 'SELECT n FROM stackanetes_e2e.acks')).trim().split('\n').map(Number),
    );
    const lost = acked.filter((n) => !rows.has(n));
    assert.deepEqual(lost, [], `acknowledged rows missing after the outage: ${lost.join(', ')}`);
    await sql('mariadb-0', 'DROP DATABASE stackanetes_e2e');
  },
);
