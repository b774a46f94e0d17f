// bench/heal sigstop: every process of the Keystone container stopped (SIGSTOP), as a hung
// process would be: when token requests start to time out, when the kubelet kills the container
// for its liveness probe, and when it serves again, against the budget its probe states.
import { setTimeout as sleep } from 'node:timers/promises';
import {
  cgroupPids,
  containerStatus,
  getPod,
  hostPid,
  isReady,
  livenessRestartBudget,
} from '../../test/e2e/helpers.ts';
import {
  continueStopped,
  killingEventAt,
  restartedAndReady,
  stopped,
  tokenProbe,
  watchRestart,
} from './cloud.ts';
import {
  errText,
  guard,
  keystonePods,
  log,
  procStat,
  Prober,
  record,
  secs,
  settings,
  waitRecovered,
  whenTrue,
  type Scenario,
} from './shared.ts';

export async function run(): Promise<void> {
  const sc: Scenario = 'sigstop';
  const pod = (await keystonePods())[0];
  if (!pod) throw new Error('no Ready keystone-api pod');
  const name = pod.metadata.name;

  // The process hangs: only the liveness probe can notice.
  {
    const p = await getPod(name);
    if (!p || !isReady(p)) throw new Error(`${name} is not Ready after the restart`);
    let budget: number;
    try {
      const b = livenessRestartBudget(p, 'api');
      budget = b.seconds;
      record(
        sc,
        'livenessProbe',
        'liveness probe (period × failureThreshold + timeout + grace)',
        b.text,
      );
    } catch (err) {
      record(sc, 'stopError', 'not measured', errText(err));
      return;
    }
    const restarts = containerStatus(p, 'api')!.restartCount;
    const pid = await hostPid(p, 'api');
    const pids = cgroupPids(pid);
    const probe = new Prober(() => tokenProbe(2000), 1000);
    try {
      await sleep(1000);
      log(`${sc}: SIGSTOP ${pids.length} processes of ${name} (${pids.join(' ')})`);
      const tStop = Date.now();
      guard();
      for (const q of pids) {
        const st = procStat(q);
        if (!st) continue;
        stopped.set(q, st.start);
        process.kill(q, 'SIGSTOP');
      }
      // A running process takes the stop at its next scheduling: look a moment later.
      await sleep(200);
      const states = pids.map((q) => procStat(q)?.state ?? '-').join('');
      log(`${sc}: process states 200 ms later: ${states} (T = stopped)`);
      const restarted = watchRestart(name, restarts, 250);
      const ready = await whenTrue(
        'keystone container restarted by the liveness probe and Ready',
        () => restartedAndReady(name, restarts),
        500,
        Math.max(settings.waitMs, (budget + 120) * 1000),
      );
      restarted.stop();
      const tok = await waitRecovered('a token issued again', probe, () => tStop, 250);
      const after = await getPod(name);
      const cs = after && containerStatus(after, 'api');
      const finished = cs?.lastState?.terminated?.finishedAt;
      const started = cs?.state?.running?.startedAt;
      const killing = await killingEventAt(name, tStop).catch(() => undefined);
      const hung = probe.firstFailure(tStop);
      record(
        sc,
        'stopApiHungSeconds',
        'stop: first failed token poll after (s)',
        hung ? secs(tStop, hung.start) : 'never failed',
      );
      record(
        sc,
        'stopKillingEventSeconds',
        'stop: kubelet "Killing" event after (s, 1 s resolution)',
        killing ? secs(tStop, killing) : 'not found',
      );
      record(
        sc,
        'stopTerminatedSeconds',
        'stop: old container finished after (s, 1 s resolution)',
        finished ? secs(tStop, Date.parse(finished)) : 'unknown',
      );
      record(
        sc,
        'stopStartedSeconds',
        'stop: new container started after (s, 1 s resolution)',
        started ? secs(tStop, Date.parse(started)) : 'unknown',
      );
      record(
        sc,
        'stopRestartSeconds',
        'stop: restartCount+1 seen after (s)',
        secs(tStop, restarted.at),
        `≤ ${budget}`,
      );
      record(sc, 'stopReadySeconds', 'stop: seconds until restarted and Ready', secs(tStop, ready));
      record(
        sc,
        'stopTokenSeconds',
        'stop: seconds until a token is issued again',
        secs(tStop, tok),
      );
      record(
        sc,
        'stopWithinBudget',
        `stop: restarted within the stated budget (${budget} s)`,
        restarted.at !== undefined && restarted.at - tStop <= budget * 1000,
      );
    } finally {
      continueStopped();
      await probe.stop();
    }
  }
}
