// bench/heal rabbitmq: rabbitmq-0 deleted: seconds until it is Ready, until nova-compute reports
// through it again, and until one server (e2e-boot, no network) booted after that is ACTIVE; a
// boot before the deletion is the baseline.
import { getPod, hostPid, isReady } from '../../test/e2e/helpers.ts';
import { bootServer, computeReportedAt, computeUp } from './cloud.ts';
import {
  deleteAndAwait,
  errText,
  Prober,
  record,
  secs,
  watchExit,
  whenTrue,
  type Scenario,
} from './shared.ts';

export async function run(): Promise<void> {
  const sc: Scenario = 'rabbitmq';
  const old = await getPod('rabbitmq-0');
  if (!old || !isReady(old)) throw new Error('rabbitmq-0 is not Ready');
  let novaBefore: string | null;
  try {
    novaBefore = await computeUp();
  } catch (err) {
    novaBefore = errText(err);
  }
  record(
    sc,
    'computeBefore',
    'compute services before',
    novaBefore ?? 'conductor, scheduler, compute up',
  );
  if (novaBefore === null) {
    const b = await bootServer('before');
    record(
      sc,
      'bootBeforeSeconds',
      'baseline: server create → ACTIVE before the deletion (s)',
      b.seconds ?? b.detail,
    );
    if (b.seconds !== null) record(sc, 'bootBeforeDetail', 'baseline detail', b.detail);
  }
  const exited = watchExit(await hostPid(old, 'rabbitmq'));
  // Listed all along (each listing takes a few seconds): do the services show as down while
  // RabbitMQ is away? They report through the database (nova-compute through the conductor, so
  // over RPC) and count as down after service_down_time (60 s) without a report.
  const services = novaBefore === null ? new Prober(computeUp, 1000) : undefined;
  try {
    const { tDelete, ready } = await deleteAndAwait(
      sc,
      'rabbitmq-0',
      old.metadata.uid,
      exited,
      'rabbitmq',
    );
    if (ready === undefined) return;
    if (!services) {
      record(sc, 'bootSeconds', 'server create → ACTIVE', `not measured: ${novaBefore}`);
      return;
    }
    // nova-compute reports every 10 s through nova-conductor, over RabbitMQ: its first report
    // after RabbitMQ is back shows that it reconnected. Waited for at most 3 minutes; then one
    // server is booted, once, whatever the wait found.
    const reported = await whenTrue(
      'nova-compute to report through RabbitMQ again',
      async () => ((await computeReportedAt()) ?? 0) > ready,
      2000,
      180_000,
    );
    await services.stop();
    record(
      sc,
      'computeReportedSeconds',
      'seconds until nova-compute reported again (through RabbitMQ)',
      secs(tDelete, reported),
    );
    record(
      sc,
      'computeFailures',
      'listings during the outage that were not all up, by kind',
      services.failures(tDelete),
    );
    const b = await bootServer('after');
    record(
      sc,
      'bootSeconds',
      'one server create → ACTIVE after RabbitMQ came back (s)',
      b.seconds ?? b.detail,
    );
    if (b.seconds !== null) {
      record(
        sc,
        'bootActiveSeconds',
        'seconds from delete until the server was ACTIVE',
        secs(tDelete, Date.now()),
      );
      record(sc, 'bootDetail', 'detail', b.detail);
    }
  } finally {
    exited.stop();
    await services?.stop();
  }
}
