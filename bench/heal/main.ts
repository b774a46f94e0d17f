// bench/heal: self-healing of the cloud that `npx stackanetes up` deployed (examples/minimal.yaml,
// namespace `openstack`), measured on the real local cluster, one module per scenario:
//   keystone-2  2 replicas under token load, one pod deleted (keystone-2.ts)
//   keystone-1  1 replica, its pod deleted: tokens again after (keystone-1.ts)
//   mariadb     mariadb-0 deleted: Ready, tokens, image list, marker image kept (mariadb.ts)
//   rabbitmq    rabbitmq-0 deleted: Ready, nova-compute reporting, one server booted (rabbitmq.ts)
//   kill        Keystone's uWSGI master, then one worker, SIGKILLed from the host (kill.ts)
//   sigstop     Keystone hung (SIGSTOP) until its liveness probe restarts it (sigstop.ts)
// Prints progress lines and a table of figures, and saves each scenario's figures through
// bench/results.ts (bench `heal`, variant = scenario) for the README's table (bench/report.ts).
// It asserts nothing about timing. The Keystone replica count is changed through the
// OpenStackCloud and restored at the end, also on failure or Ctrl-C; stopped processes are
// continued; the marker image and test servers are deleted.
// Usage: eval "$(npx stackanetes cluster env)"   # KUBECONFIG, kubectl and crictl
//   npm run bench:heal -- [--only keystone-2,keystone-1,mariadb,rabbitmq,kill,sigstop | a,b,…,f]
//                         [--rate 20] [--load-auth token|password] [--wait 300]
// Sending signals to container processes needs root on the node (this host).
import { parseArgs } from 'node:util';
import { client, cloudName, getPod, isReady, namespace } from '../../test/e2e/helpers.ts';
import { requireKubeconfig } from '../progress.ts';
import { saveResult } from '../results.ts';
import { cleanup, continueStopped, tokenProbe } from './cloud.ts';
import * as keystone1 from './keystone-1.ts';
import * as keystone2 from './keystone-2.ts';
import * as kill from './kill.ts';
import * as mariadb from './mariadb.ts';
import * as rabbitmq from './rabbitmq.ts';
import {
  errText,
  keystoneSettled,
  log,
  record,
  rememberReplicas,
  restoreReplicas,
  result,
  rows,
  scenarios,
  settings,
  specReplicas,
  state,
  whenTrue,
  type Row,
  type Scenario,
} from './shared.ts';
import * as sigstop from './sigstop.ts';

const runners: Record<Scenario, () => Promise<void>> = {
  'keystone-2': keystone2.run,
  'keystone-1': keystone1.run,
  mariadb: mariadb.run,
  rabbitmq: rabbitmq.run,
  kill: kill.run,
  sigstop: sigstop.run,
};

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    rate: { type: 'string', default: '20' },
    'load-auth': { type: 'string', default: 'token' },
    wait: { type: 'string', default: '300' },
  },
});
const letters = 'abcdef';
const selected: Scenario[] = values.only
  ? values.only.split(',').map((s) => {
      const name = s.trim();
      const sc = name.length === 1 ? scenarios[letters.indexOf(name)] : (name as Scenario);
      if (!sc || !scenarios.includes(sc)) {
        console.error(`unknown scenario ${name}; choose from ${scenarios.join(', ')} (or a-f)`);
        process.exit(2);
      }
      return sc;
    })
  : [...scenarios];
const loadAuth = values['load-auth'];
if (loadAuth !== 'token' && loadAuth !== 'password') {
  console.error('--load-auth is token or password');
  process.exit(2);
}
settings.rate = Number(values.rate);
settings.loadAuth = loadAuth;
settings.waitMs = Number(values.wait) * 1000;

requireKubeconfig();

process.on('SIGINT', () => {
  if (state.interrupted) process.exit(130);
  state.interrupted = true;
  log('interrupted: cleaning up (Ctrl-C again to leave at once)');
  continueStopped();
  void cleanup().finally(() => process.exit(130));
});

log(
  `bench/heal: ${selected.join(', ')} on ${namespace}/${cloudName}; waits bounded by ${settings.waitMs / 1000} s`,
);
const originalReplicas = await rememberReplicas();
log(`spec.services.keystone.replicas is ${originalReplicas}`);
const completed: Scenario[] = [];
try {
  for (const sc of selected) {
    if (state.interrupted) break;
    log(`== ${sc}`);
    const started = Date.now();
    try {
      await runners[sc]();
      completed.push(sc);
    } catch (err) {
      record(sc, 'error', 'not measured', errText(err));
    } finally {
      continueStopped();
      if (sc === 'keystone-2' || sc === 'keystone-1') await restoreReplicas();
    }
    log(`== ${sc} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
} finally {
  await cleanup();
  const healthy =
    (await whenTrue(
      'the cloud to be healthy (keystone, mariadb-0, rabbitmq-0 Ready; a token issued)',
      async () =>
        (await keystoneSettled(originalReplicas)) &&
        isReady((await getPod('mariadb-0'))!) &&
        isReady((await getPod('rabbitmq-0'))!) &&
        (await tokenProbe(5000)) === null,
      2000,
    )) !== undefined;
  log(`cloud healthy at the end: ${healthy ? 'yes' : 'NO'}`);
  result.end = { healthy, keystoneReplicas: await specReplicas().catch(() => undefined) };
  (await client()).close();
}

printTable(rows);
const options = {
  rate: settings.rate,
  loadAuth: settings.loadAuth,
  waitSeconds: settings.waitMs / 1000,
};
for (const sc of selected) {
  // A scenario that threw is saved too (its `error` says why): a failed run is a result as well.
  if (result[sc])
    saveResult(
      'heal',
      { ...options, completed: completed.includes(sc), ...result[sc], end: result.end },
      sc,
    );
}

function printTable(rows: Row[]): void {
  const width = (k: keyof Row) => Math.max(k.length, ...rows.map((r) => r[k].length));
  const w = {
    scenario: width('scenario'),
    figure: width('figure'),
    value: Math.min(70, width('value')),
  };
  console.log();
  console.log(
    `${'scenario'.padEnd(w.scenario)}  ${'figure'.padEnd(w.figure)}  ${'value'.padEnd(w.value)}  goal`,
  );
  for (const r of rows)
    console.log(
      `${r.scenario.padEnd(w.scenario)}  ${r.figure.padEnd(w.figure)}  ${r.value.padEnd(w.value)}  ${r.goal}`,
    );
}
