// A full Galera outage (bench for issue 12), on the HA cloud of examples/ha.yaml: each run kills
// every MariaDB server at once from the host under a writer (test/e2e/galera-outage.ts, the same
// as test/e2e/galera-outage.test.ts) and nobody acts. Measured from the kill: when no member was
// Ready, when a row sent after the kill was acknowledged (writable again), when the three members
// were Synced in a primary component; acknowledged rows lost; how many members bootstrapped.
// Between runs the cloud must be Ready again. Saves bench/results/galera-outage-<time>.json.
//   sudo STACKANETES_E2E_CLOUD=ha node bench/galera-outage.ts [--runs 3]
import { parseArgs } from 'node:util';
import { fullGaleraOutage, type GaleraOutage } from '../test/e2e/galera-outage.ts';
import { cloudReady, until } from '../test/e2e/helpers.ts';
import { progressLog, requireKubeconfig } from './progress.ts';
import { saveResult } from './results.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const runs = Number(values.runs);
requireKubeconfig();
const log = progressLog();

const results: GaleraOutage[] = [];
for (let i = 1; i <= runs; i++) {
  await until(() => cloudReady(), 'the cloud to be Ready before the run', 20 * 60_000, 5000);
  log(`run ${i} of ${runs}`);
  const o = await fullGaleraOutage((l) => log(`  ${l}`));
  log(
    `  run ${i}: writable ${o.writableS} s, synced ${o.syncedS} s, lost ${o.lost.length} of ${o.acked}, bootstrapped ${o.bootstrapped}`,
  );
  results.push(o);
}
const file = saveResult('galera-outage', { runs: results });
log(`saved ${file}`);
