// bench/heal kill: Keystone's own processes killed from the host (SIGKILL). The uWSGI master
// (the child of dumb-init, the container's PID 1): seconds until the kubelet has restarted the
// container, until it is Ready and until a token is issued again. Then one uWSGI worker: seconds
// until the master has forked a replacement, and how many token polls (every 100 ms) failed.
import { setTimeout as sleep } from 'node:timers/promises';
import { containerStatus, getPod, uwsgiProcesses } from '../../test/e2e/helpers.ts';
import { restartedAndReady, tokenProbe, watchRestart } from './cloud.ts';
import {
  guard,
  keystonePods,
  log,
  outageStart,
  Prober,
  record,
  secs,
  waitRecovered,
  watchExit,
  whenTrue,
  type Scenario,
} from './shared.ts';

export async function run(): Promise<void> {
  const sc: Scenario = 'kill';
  const pod = (await keystonePods())[0];
  if (!pod) throw new Error('no Ready keystone-api pod');
  const name = pod.metadata.name;

  // (1) the uWSGI master dies: dumb-init exits with it, the kubelet restarts the container.
  {
    const restarts = containerStatus(pod, 'api')!.restartCount;
    const { master } = await uwsgiProcesses(pod, 'api');
    const exited = watchExit(master);
    const probe = new Prober(() => tokenProbe(2000), 250);
    try {
      await sleep(1000);
      log(
        `${sc}: SIGKILL the uWSGI master (host pid ${master}) of ${name}, restarts so far ${restarts}`,
      );
      guard();
      const tKill = Date.now();
      process.kill(master, 'SIGKILL');
      const restarted = watchRestart(name, restarts, 100);
      const ready = await whenTrue(
        'keystone container restarted and Ready',
        () => restartedAndReady(name, restarts),
        200,
      );
      restarted.stop();
      const tok = await waitRecovered('a token issued again', probe, () =>
        outageStart(probe, tKill, exited.at),
      );
      const after = await getPod(name);
      const started = containerStatus(after!, 'api')?.state?.running?.startedAt;
      record(
        sc,
        'masterRestartSeconds',
        'master: restartCount+1 seen after (s)',
        secs(tKill, restarted.at),
      );
      record(
        sc,
        'masterStartedSeconds',
        'master: new container started after (s, 1 s resolution)',
        started ? secs(tKill, Date.parse(started)) : 'unknown',
      );
      record(
        sc,
        'masterReadySeconds',
        'master: seconds until restarted and Ready',
        secs(tKill, ready),
      );
      record(
        sc,
        'masterTokenSeconds',
        'master: seconds until a token is issued again',
        secs(tKill, tok),
      );
    } finally {
      exited.stop();
      await probe.stop();
    }
  }

  // (2) one worker dies: the master forks a new one; the other worker keeps serving.
  {
    const p = await getPod(name);
    const restarts = containerStatus(p!, 'api')!.restartCount;
    const { master, workers } = await uwsgiProcesses(p!, 'api');
    const victim = workers[0];
    if (!victim) throw new Error(`no uWSGI worker under master ${master}`);
    const probe = new Prober(() => tokenProbe(5000), 100);
    try {
      await sleep(2000);
      log(`${sc}: SIGKILL uWSGI worker ${victim} (master ${master}, workers ${workers.join(' ')})`);
      guard();
      const tKill = Date.now();
      process.kill(victim, 'SIGKILL');
      const respawned = await whenTrue(
        'the master to have 2 workers again',
        async () => {
          const now = await uwsgiProcesses(p!, 'api');
          return now.master === master && now.workers.length === 2 && !now.workers.includes(victim);
        },
        50,
      );
      await sleep(3000);
      const failures = probe.failures(tKill);
      const polls = probe.attempts.filter((a) => a.start >= tKill).length;
      const now = await getPod(name);
      record(
        sc,
        'workerRespawnSeconds',
        'worker: a new worker forked after (s)',
        secs(tKill, respawned),
      );
      record(
        sc,
        'workerFailedPolls',
        'worker: failed token polls after the kill',
        `${Object.values(failures).reduce((a, b) => a + b, 0)} of ${polls}${Object.keys(failures).length ? ` ${JSON.stringify(failures)}` : ''}`,
        '≤ 1',
      );
      record(
        sc,
        'workerContainerRestarted',
        'worker: container restarted',
        (containerStatus(now!, 'api')?.restartCount ?? restarts) > restarts,
        'no',
      );
    } finally {
      await probe.stop();
    }
  }
}
