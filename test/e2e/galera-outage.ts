// A full Galera outage on the HA cloud, as test/e2e/galera-outage.test.ts asserts it and
// bench/galera-outage.ts measures it: every MariaDB server of the three members is SIGKILLed at
// the same moment from the host (as a power cut of the database would), while a writer commits a
// sequence of rows, one member after the other, and records each one the server acknowledged.
// Nobody acts afterwards: the members restart in place, find no running cluster, say how far
// their data goes, the most advanced one bootstraps and the others join
// (src/render/infra/database.ts). What happened is returned; the caller judges it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  containerStatus,
  galeraStatus as status,
  getPod,
  isReady,
  kubectl,
  mariadbSql as sql,
  namespace,
  until,
} from './helpers.ts';

const run = promisify(execFile);
export const galeraMembers = ['mariadb-0', 'mariadb-1', 'mariadb-2'];

async function restarts(): Promise<number[]> {
  return Promise.all(
    galeraMembers.map(async (m) => {
      const p = await getPod(m);
      return p ? (containerStatus(p, 'mariadb')?.restartCount ?? 0) : -1;
    }),
  );
}

export interface GaleraOutage {
  /** The mariadbd processes killed (host PIDs). */
  killed: string[];
  ackedBeforeKill: number;
  acked: number;
  /** INSERTs that failed or timed out (while the database was down, mostly). */
  failedWrites: number;
  /** From the kill until no member was Ready (Ready seen going away). */
  notReadyS: number;
  /** From the kill until the three members were Ready, Synced, in a primary component of 3. */
  syncedS: number;
  /** From the kill until a row sent after it was acknowledged (the database writable again). */
  writableS: number;
  restartsBefore: number[];
  restartsAfter: number[];
  /** How many members' logs say they bootstrapped as the most advanced. */
  bootstrapped: number;
  /** Each member's log line that says how far its data went. */
  positions: string[];
  /** Acknowledged rows not in the table afterwards. */
  lost: number[];
}

/** Kills every member's server at once under a writer and waits for the cluster to come back. */
export async function fullGaleraOutage(log: (line: string) => void): Promise<GaleraOutage> {
  for (const m of galeraMembers) {
    const s = await status(m);
    assert.equal(s.wsrep_cluster_size, '3', `${m} before: ${JSON.stringify(s)}`);
  }
  await sql(
    'mariadb-0',
    'CREATE DATABASE IF NOT EXISTS stackanetes_e2e; DROP TABLE IF EXISTS stackanetes_e2e.acks; CREATE TABLE stackanetes_e2e.acks (n INT PRIMARY KEY, member VARCHAR(16))',
  );
  const restartsBefore = await restarts();
  const { stdout } = await run('pgrep', ['-x', 'mariadbd']);
  const killed = stdout.trim().split('\n').filter(Boolean);
  assert.equal(killed.length, 3, `one mariadbd per member on this machine: ${killed.join(' ')}`);

  // The writer: one row at a time, each member in turn; a row counts once its INSERT returned.
  const acked: { n: number; started: number; at: number }[] = [];
  let failedWrites = 0;
  let stop = false;
  const writer = (async () => {
    for (let n = 1; !stop; n++) {
      const m = galeraMembers[n % 3]!;
      const started = Date.now();
      try {
        await sql(m, `INSERT INTO stackanetes_e2e.acks VALUES (${n}, '${m}')`, 10_000);
        acked.push({ n, started, at: Date.now() });
      } catch {
        failedWrites++;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();
  try {
    await until(() => acked.length >= 10, '10 acknowledged rows before the kill', 120_000, 200);
    const killedAt = Date.now();
    const since = () => Math.round((Date.now() - killedAt) / 100) / 10;
    const ackedBeforeKill = acked.length;
    for (const pid of killed) process.kill(Number(pid), 'SIGKILL');
    log(`SIGKILLed mariadbd ${killed.join(', ')} with ${ackedBeforeKill} rows acknowledged`);

    // Ready goes away: no member is Ready at some moment after the kill.
    await until(
      async () => {
        const ps = await Promise.all(galeraMembers.map((m) => getPod(m)));
        return ps.every((p) => p === undefined || !isReady(p));
      },
      'no member Ready after the kill',
      120_000,
      500,
    );
    const notReadyS = since();
    // Back: every member Ready, 3 synced members in a primary component.
    await until(
      async () => {
        const ps = await Promise.all(galeraMembers.map((m) => getPod(m)));
        if (!ps.every((p) => p !== undefined && isReady(p))) return false;
        for (const m of galeraMembers) {
          const s = await status(m);
          if (s.wsrep_cluster_size !== '3' || s.wsrep_cluster_status !== 'Primary') return false;
          if (s.wsrep_local_state_comment !== 'Synced') return false;
        }
        return true;
      },
      'the three members Ready, Synced, in a primary component of 3',
      20 * 60_000,
      1000,
    );
    const syncedS = since();
    const first = await until(
      // Sent after the kill: an INSERT in flight at the kill may return just after it.
      () => acked.find((a) => a.started > killedAt),
      'a row sent after the kill and acknowledged',
      120_000,
    );
    const writableS = Math.round((first.at - killedAt) / 100) / 10;
    stop = true;
    await writer;
    log(
      `no member Ready ${notReadyS} s after the kill, writable again ${writableS} s, 3 synced ${syncedS} s; ${acked.length} rows acknowledged in all, ${failedWrites} INSERTs failed`,
    );

    const logs = await Promise.all(
      galeraMembers.map((m) => kubectl(['-n', namespace, 'logs', m, '-c', 'mariadb'])),
    );
    const rows = new Set(
      (await sql('mariadb-1', 'SELECT n FROM stackanetes_e2e.acks')).trim().split('\n').map(Number),
    );
    const result: GaleraOutage = {
      killed,
      ackedBeforeKill,
      acked: acked.length,
      failedWrites,
      notReadyS,
      syncedS,
      writableS,
      restartsBefore,
      restartsAfter: await restarts(),
      bootstrapped: logs.filter((l) => /this one is the most advanced: bootstrapping/.test(l))
        .length,
      positions: logs.map((l) => l.split('\n').find((x) => /position: /.test(x)) ?? ''),
      lost: acked.map((a) => a.n).filter((n) => !rows.has(n)),
    };
    await sql('mariadb-0', 'DROP DATABASE stackanetes_e2e');
    return result;
  } finally {
    stop = true;
    await writer;
  }
}
