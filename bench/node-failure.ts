// A server dies under load (bench for issue 12), on the HA cloud of examples/ha.yaml (three real
// nodes, fencing through the local BMC). Each run: a guest pinned to the victim node, a row
// committed to Galera, then --rate requests/s in all to Keystone (a token-authenticated project
// list) and to the Nova API (the server list), half each; the victim is power-cut
// (`cluster node kill`) and nobody acts. Measured from the cut: when the node was fenced, when its
// compute was forced down, when the guest was ACTIVE on another node and when its console (from
// the new host) said SSH was up; the failed requests and the last second any request failed (after
// it every API served fully); whether the committed row is there and how many QEMU processes run
// the guest. Then the node is powered on: the seconds until its compute is up and enabled.
// Saves bench/results/node-failure-<time>.json.
// The issue asks for 20 requests/s to each of the two APIs; this machine (three nodes sharing 2
// cores) holds about 2 each with room (bench/upgrade's rate): at 20 each the Nova API's queue
// alone is longer than the probes' and the operator's timeouts, and what is measured is the
// overload, not the node's loss (README). So the default is 4 in all, and a run says how many
// requests failed in the 20 s before the cut: a baseline that fails is not a node-failure figure.
//   sudo node bench/node-failure.ts [--runs 3] [--rate 4]
import { parseArgs } from 'node:util';
import {
  createServer,
  deleteServers,
  qemuPids,
  waitGuestReady,
  waitStatus,
} from '../test/e2e/guests.ts';
import {
  cloudReady,
  keystoneAdmin,
  killLoads,
  mariadbSql,
  newToken,
  serviceUrl,
  startLoad,
  summariseLoad,
  sumLoad,
  until,
} from '../test/e2e/helpers.ts';
import {
  cli,
  untilActiveElsewhere,
  untilComputeBack,
  untilForcedDown,
  memberOff,
  untilFenced,
  untilUnfenced,
  victim,
} from '../test/e2e/evacuation.ts';
import { progressLog, requireKubeconfig } from './progress.ts';
import { saveResult } from './results.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    rate: { type: 'string', default: '4' },
  },
});
const runs = Number(values.runs);
const rate = Number(values.rate);
requireKubeconfig();
const log = progressLog();

await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
const results = [];
try {
  for (let i = 1; i <= runs; i++) {
    const name = `bench-evac-${Date.now().toString(36)}`;
    log(`run ${i}/${runs}: a guest on ${victim}`);
    await createServer(name, { availabilityZone: `nova:${victim}` });
    const before = await waitStatus(name, ['ACTIVE']);
    const instance = before['OS-EXT-SRV-ATTR:instance_name']!;
    await waitGuestReady(name);
    const counter = `${Date.now()}`;
    await mariadbSql(
      await memberOff(victim),
      `CREATE DATABASE IF NOT EXISTS bench_evac; CREATE TABLE IF NOT EXISTS bench_evac.counter (id INT PRIMARY KEY, v VARCHAR(32)); REPLACE INTO bench_evac.counter VALUES (1, '${counter}')`,
    );

    const admin = await keystoneAdmin();
    const token = await newToken(admin.url, admin.body);
    const auth = { 'x-auth-token': token, accept: 'application/json' };
    const nova = await serviceUrl('nova-api');
    const load = startLoad(
      [
        {
          kind: 'keystone',
          method: 'GET',
          url: `${admin.url}/v3/auth/projects`,
          headers: auth,
          expect: 200,
        },
        { kind: 'nova', method: 'GET', url: `${nova}/v2.1/servers`, headers: auth, expect: 200 },
      ],
      rate,
      10_000,
    );
    // 20 s of load before the cut: its failures are the baseline, the later ones the cut's.
    await new Promise((r) => setTimeout(r, 20_000));
    const cut = Date.now();
    const since = () => (Date.now() - cut) / 1000;
    await cli(['cluster', 'node', 'kill', victim]);
    log(`run ${i}: ${victim} power-cut`);
    await untilFenced(victim);
    const fencedS = since();
    await untilForcedDown(victim, 600_000, 1000);
    const forcedS = since();
    const moved = await untilActiveElsewhere(name, victim, 600_000, 1000);
    const activeS = since();
    await waitGuestReady(name, 600_000);
    const bootedS = since();
    log(
      `run ${i}: fenced ${fencedS.toFixed(0)} s, forced down ${forcedS.toFixed(0)} s, ACTIVE on ${moved['OS-EXT-SRV-ATTR:host']} ${activeS.toFixed(0)} s, SSH up ${bootedS.toFixed(0)} s`,
    );
    // 30 s more of load after the guest is back, so that a late failure is seen.
    await new Promise((r) => setTimeout(r, 30_000));
    const totals = await load.stop();
    // Each line is one second of load, `t` its start (epoch ms).
    const last = load.lines
      .filter((l) => l.failed > 0 && l.t + 1000 > cut)
      .map((l) => l.t)
      .at(-1);
    const servingFullyS = last === undefined ? 0 : (last + 1000 - cut) / 1000;
    const { sent, failed } = sumLoad(load.lines.filter((l) => l.t + 1000 <= cut));
    const baseline = { sent, failed };
    const row = (
      await mariadbSql(await memberOff(victim), 'SELECT v FROM bench_evac.counter WHERE id = 1')
    ).trim();
    const qemu = qemuPids(instance).length;

    await cli(['cluster', 'node', 'start', victim]);
    const t0 = Date.now();
    await untilUnfenced(victim);
    await untilComputeBack(victim, 600_000, 3000);
    const computeBackS = (Date.now() - t0) / 1000;
    const qemuAfter = qemuPids(instance).length;
    await deleteServers([name]);
    results.push({
      fencedS,
      forcedDownS: forcedS,
      activeElsewhereS: activeS,
      sshUpElsewhereS: bootedS,
      servingFullyS,
      baseline,
      totals,
      kinds: summariseLoad(load.lines),
      committedRowIntact: row === counter,
      qemuProcesses: qemu,
      qemuProcessesAfterReturn: qemuAfter,
      computeBackS,
    });
    log(
      `run ${i}: failed ${totals.failed}/${totals.sent} (before the cut ${baseline.failed}/${baseline.sent}), serving fully ${servingFullyS.toFixed(0)} s after the cut; row ${row === counter ? 'intact' : 'LOST'}; QEMU ${qemu} (after return ${qemuAfter}); compute back ${computeBackS.toFixed(0)} s`,
    );
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready again', 15 * 60_000, 2000);
  }
} finally {
  // A run that failed half-way leaves the node powered on, as it found it.
  killLoads();
  await cli(['cluster', 'node', 'start', victim]).catch(() => undefined);
}
const file = saveResult('node-failure', { victim, rate, runs: results });
log(`saved ${file}`);
