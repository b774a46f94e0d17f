// bench/heal keystone-1: 1 Keystone replica, its pod deleted: seconds until a token is issued
// again (polled every 100 ms; 0 when no poll failed), how long tokens failed, when the old
// container exited and when the new pod was Ready. Goal: tokens again in under 8 s.
import { setTimeout as sleep } from 'node:timers/promises';
import { hostPid, readyCount } from '../../test/e2e/helpers.ts';
import { tokenProbe } from './cloud.ts';
import {
  deletePod,
  keystonePods,
  log,
  Prober,
  record,
  secs,
  setKeystoneReplicas,
  waitRecovered,
  Watch,
  watchExit,
  whenTrue,
  type Scenario,
} from './shared.ts';

export async function run(): Promise<void> {
  const sc: Scenario = 'keystone-1';
  if (!(await setKeystoneReplicas(1))) {
    record(sc, 'error', 'not measured', 'keystone-api did not reach 1 Ready replica');
    return;
  }
  const victim = (await keystonePods())[0]!;
  const exited = watchExit(await hostPid(victim, 'api'));
  const probe = new Prober(() => tokenProbe(2000), 100);
  try {
    await sleep(1000);
    log(`${sc}: deleting pod ${victim.metadata.name}`);
    const tDelete = await deletePod(victim.metadata.name);
    const ready = new Watch(async () => (await readyCount('keystone-api')) >= 1, 200);
    // The old pod serves through its preStop pause, the new one once Ready: tokens stop, if at
    // all, between the two. Both must have happened, and then some polls more, before it is known
    // whether they stopped.
    await whenTrue('a Ready keystone-api pod', () => ready.at !== undefined, 200);
    ready.stop();
    await whenTrue('the old container to exit', () => exited.at !== undefined, 100);
    await sleep(3000);
    const fail = probe.firstFailure(tDelete);
    const back = fail
      ? await waitRecovered('a token issued again', probe, () => fail.start)
      : tDelete;
    record(
      sc,
      'tokenSeconds',
      'seconds from delete until a token is issued again (0: tokens were never refused)',
      secs(tDelete, back),
      '< 8',
    );
    record(sc, 'outageSeconds', 'tokens failing for (s)', fail ? secs(fail.start, back) : 0);
    record(
      sc,
      'processExitSeconds',
      'old container (dumb-init, uWSGI) exited after (s)',
      secs(tDelete, exited.at),
    );
    record(sc, 'readySeconds', 'new pod Ready after (s)', secs(tDelete, ready.at));
    record(sc, 'failures', 'failed polls by kind', probe.failures(tDelete));
  } finally {
    exited.stop();
    await probe.stop();
  }
}
