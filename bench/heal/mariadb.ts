// bench/heal mariadb: a marker Glance image, then mariadb-0 deleted: seconds until it is Ready,
// until a token is issued, until `openstack image list` works, and whether it lists the marker.
import { setTimeout as sleep } from 'node:timers/promises';
import { getPod, hostPid, isReady, osJson } from '../../test/e2e/helpers.ts';
import { ensureMarker, tokenProbe } from './cloud.ts';
import {
  deleteAndAwait,
  outageStart,
  Prober,
  record,
  secs,
  waitRecovered,
  watchExit,
  type Scenario,
} from './shared.ts';

/** Whether each successful `image list` (by the start of its attempt) showed the marker. */
const hasMarker = new Map<number, boolean>();

async function imageListProbe(name: string): Promise<string | null> {
  const start = Date.now();
  const images = await osJson<{ ID: string; Name: string }[]>('image list', 90_000);
  hasMarker.set(
    start,
    images.some((i) => i.Name === name),
  );
  return null;
}

export async function run(): Promise<void> {
  const sc: Scenario = 'mariadb';
  const m = await ensureMarker();
  const before = await osJson<{ Name: string }[]>('image list', 90_000);
  if (!before.some((i) => i.Name === m.name)) {
    throw new Error(`the marker ${m.name} is not listed before the deletion`);
  }
  const old = await getPod('mariadb-0');
  if (!old || !isReady(old)) throw new Error('mariadb-0 is not Ready');
  const exited = watchExit(await hostPid(old, 'mariadb'));
  const token = new Prober(() => tokenProbe(2000), 250);
  const images = new Prober(() => imageListProbe(m.name), 500);
  try {
    await sleep(1000);
    const { tDelete } = await deleteAndAwait(sc, 'mariadb-0', old.metadata.uid, exited, 'mariadbd');
    const tok = await waitRecovered('a token issued again', token, () =>
      outageStart(token, tDelete, exited.at),
    );
    record(sc, 'tokenSeconds', 'seconds until a token is issued again', secs(tDelete, tok));
    const fail = token.firstFailure(tDelete);
    record(sc, 'tokenOutageSeconds', 'tokens failing for (s)', fail ? secs(fail.start, tok) : 0);
    record(sc, 'tokenFailures', 'failed token polls by kind', token.failures(tDelete));
    // `image list` works again: the first listing started after the outage began.
    const works = await waitRecovered(
      '`openstack image list` works again',
      images,
      () => outageStart(images, tDelete, exited.at),
      250,
    );
    const listing = images.attempts.find((a) => a.ok && a.end === works);
    record(
      sc,
      'imageListSeconds',
      'seconds until `openstack image list` works again',
      secs(tDelete, works),
    );
    record(
      sc,
      'markerListed',
      `marker ${m.name} still listed (data not lost)`,
      listing ? hasMarker.get(listing.start) === true : 'unknown',
      'yes',
    );
    record(sc, 'imageListFailures', 'failed image lists by kind', images.failures(tDelete));
  } finally {
    exited.stop();
    await Promise.all([token.stop(), images.stop()]);
  }
}
