// Stays up under load: probes that never kill a slow but healthy service. With both cores of the
// node kept busy by a best-effort pod beside the cloud while users ask for tokens, image lists
// and server lists, nothing of the cloud restarts, it stays Ready and answers everything (slower
// is fine; latencies are printed, and measured by bench/load.ts, not asserted). With RabbitMQ
// stopped, the RPC services go unready instead of being restarted, and come back by themselves.
// Environment: STACKANETES_E2E_LOAD_MINUTES (default 10), STACKANETES_E2E_LOAD_RATE (requests
// per second in all, the three kinds in turn; default 5), STACKANETES_E2E_BROKER_STOP_SECONDS
// (default 120). Runs before heal.test.ts, which breaks things on purpose.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  bootServer,
  cloudReady,
  cloudRequests,
  deleteServer,
  isReady,
  killLoads,
  kubectl,
  namespace,
  pods,
  restartCounts,
  restartsBetween,
  skip,
  startCpuHog,
  startLoad,
  summariseLoad,
  until,
  watchCloudReady,
} from './helpers.ts';

const minutes = Number(process.env.STACKANETES_E2E_LOAD_MINUTES ?? 10);
const rate = Number(process.env.STACKANETES_E2E_LOAD_RATE ?? 5);
const brokerStopMs = Number(process.env.STACKANETES_E2E_BROKER_STOP_SECONDS ?? 120) * 1000;
/** A request not answered in this long counts as unanswered. */
const answerWithinMs = 120_000;
const rpcServices = ['nova-conductor', 'nova-scheduler', 'nova-compute'];
const stamp = Date.now().toString(36);

let hog: Awaited<ReturnType<typeof startCpuHog>> | undefined;
let stoppedBrokers: string[] = [];
/** When the CPU hog and the requests of the first test stopped. */
let loadEndedAt: number | undefined;

async function rabbitmqctl(pod: string, command: 'stop_app' | 'start_app'): Promise<void> {
  await kubectl(['-n', namespace, 'exec', pod, '-c', 'rabbitmq', '--', 'rabbitmqctl', command]);
}

async function startBrokers(): Promise<void> {
  for (const b of stoppedBrokers) await rabbitmqctl(b, 'start_app');
  stoppedBrokers = [];
}

async function allReady(names: readonly string[]): Promise<boolean> {
  for (const n of names) {
    const ps = await pods(n);
    if (ps.length === 0 || !ps.every(isReady)) return false;
  }
  return true;
}

describe('under load', { skip }, () => {
  before(async () => {
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
  });

  after(async () => {
    killLoads();
    await hog?.stop().catch(() => undefined);
    await startBrokers().catch(() => undefined);
  });

  test(`both cores saturated by a best-effort pod for ${minutes} min while tokens, image lists and server lists are asked for at ${rate}/s: nothing restarts, the cloud stays Ready, every request is answered, a server boots`, async () => {
    const restartsBefore = await restartCounts();
    const ready = await watchCloudReady();
    const requests = await cloudRequests();
    hog = await startCpuHog(2);
    console.log(`# CPU hog ${hog.namespace}/${hog.name} on node ${hog.nodeName}`);
    const load = startLoad(requests, rate, answerWithinMs);
    const started = Date.now();
    const server = `load-vm-${stamp}`;
    const boot = bootServer(server)
      .then((s) =>
        s.status === 'ACTIVE'
          ? 'ACTIVE'
          : `${s.status} (fault: ${JSON.stringify(s.fault ?? null)})`,
      )
      .catch((err: Error) => `failed: ${err.message}`);
    let totals: Awaited<ReturnType<typeof load.stop>>;
    let booted: string;
    try {
      booted = await boot;
      const rest = minutes * 60_000 - (Date.now() - started);
      if (rest > 0) await sleep(rest);
    } finally {
      totals = await load.stop();
      await hog.stop();
      hog = undefined;
      loadEndedAt = Date.now();
      await ready.stop();
      await deleteServer(server).catch((err: Error) =>
        console.log(`# could not delete the server ${server}: ${err.message}`),
      );
    }
    const restarts = restartsBetween(restartsBefore, await restartCounts());
    for (const [kind, s] of Object.entries(summariseLoad(load.lines))) {
      console.log(
        `# ${kind}: ${s.sent} sent, ${s.failed} failed ${JSON.stringify(s.errors)}, p50 ${s.p50Ms} ms, p99 ${s.p99Ms} ms, max ${s.maxMs} ms`,
      );
    }
    console.log(`# server ${server}: ${booted}; restarts: ${JSON.stringify(restarts)}`);
    const problems: string[] = [];
    if (restarts.total > 0)
      problems.push(
        `containers restarted: ${[...restarts.restarted, ...restarts.replaced.map((r) => `${r} (pod replaced)`)].join(', ')}`,
      );
    for (const n of ready.notReady)
      problems.push(
        `the cloud was not Ready ${((n.at - started) / 1000).toFixed(0)} s into the load: ${n.reason}: ${n.message}`,
      );
    if (!(totals.sent > 0)) problems.push('no request was sent');
    if (totals.failed > 0)
      problems.push(
        `${totals.failed} of ${totals.sent} requests were not answered: ${JSON.stringify(totals.errors)}`,
      );
    if (booted !== 'ACTIVE') problems.push(`the server did not boot: ${booted}`);
    assert.deepEqual(problems, []);
  });

  test('after the load ends the cloud is Ready again within 2 minutes, without anyone acting', async () => {
    assert.ok(loadEndedAt, 'the load ran (the test before)');
    const deadline = loadEndedAt + 120_000;
    if (await cloudReady()) return;
    const left = deadline - Date.now();
    assert.ok(left > 0, 'the cloud was not Ready 2 minutes after the load ended');
    await until(
      () => cloudReady(),
      'the cloud to be Ready within 2 minutes of the load',
      left,
      1000,
    );
  });

  test(`RabbitMQ stopped for ${brokerStopMs / 1000} s: the RPC services go unready, none restarts, all are ready within a minute of its return`, async () => {
    await until(() => allReady(rpcServices), 'the RPC services to be ready', 300_000, 2000);
    const restartsBefore = await restartCounts();
    const brokers = (await pods('messaging-rabbitmq')).map((p) => p.metadata.name);
    assert.ok(brokers.length > 0, 'a RabbitMQ pod');
    const sawUnready = new Set<string>();
    let returnedAt: number;
    try {
      // The broker stops for real (connections closed, nothing listening on AMQP); its pod and
      // Erlang VM stay, so neither the StatefulSet nor the operator brings it back early.
      for (const b of brokers) {
        await rabbitmqctl(b, 'stop_app');
        stoppedBrokers.push(b);
      }
      const stoppedAt = Date.now();
      console.log(`# stopped the broker on ${brokers.join(', ')}`);
      while (Date.now() - stoppedAt < brokerStopMs) {
        for (const name of rpcServices) {
          if ((await pods(name)).some((p) => !isReady(p))) sawUnready.add(name);
        }
        await sleep(2000);
      }
    } finally {
      await startBrokers();
      returnedAt = Date.now();
    }
    const problems: string[] = [];
    for (const name of rpcServices)
      if (!sawUnready.has(name)) problems.push(`${name} was never seen unready`);
    try {
      await until(
        () => allReady(rpcServices),
        'the RPC services to be ready within a minute of the broker’s return',
        Math.max(1000, returnedAt + 60_000 - Date.now()),
        1000,
      );
      console.log(`# RPC services ready ${((Date.now() - returnedAt) / 1000).toFixed(0)} s after`);
    } catch (err) {
      problems.push((err as Error).message);
    }
    const restarts = restartsBetween(restartsBefore, await restartCounts());
    if (restarts.total > 0)
      problems.push(
        `containers restarted: ${[...restarts.restarted, ...restarts.replaced.map((r) => `${r} (pod replaced)`)].join(', ')}`,
      );
    assert.deepEqual(problems, []);
  });
});
