// A release upgrade of the running cloud, 2025.1 → 2026.1, carried out by the operator while a
// user keeps asking for tokens, image lists and server lists and a guest booted before keeps being
// pinged on its floating IP: every step of the plan done once, in order; at the end every
// OpenStack pod runs a 2026.1 image (what is not OpenStack keeps 2025.1's build, the catalog's
// imageTags), Nova has no online data migration left, the guest booted before is still ACTIVE,
// answers again after a reboot, and a new server boots. The operator is killed three times on
// the way; no Job runs twice. Needs a cloud on 2025.1 and builds the 2026.1 images it lacks
// (from PyPI, about 10 min; cached after); leaves the cloud on 2026.1, so it runs last (the long
// tier's last file).
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { deleteServers, pings, waitStatus } from './guests.ts';
import {
  bootServer,
  client,
  cloudRequests,
  inClient,
  kubectl,
  mariadbSql,
  namespace,
  skip,
  startLoad,
  summariseLoad,
  until,
  type Load,
} from './helpers.ts';
import {
  followUpgrade,
  pingableGuest,
  pingLoop,
  prepareUpgrade,
  settleOnRelease,
  type Pinged,
} from './upgrade.ts';

const from = '2025.1';
const to = '2026.1';
const guest = `e2e-upgrade-${Date.now().toString(36)}`;

describe(`release upgrade ${from} → ${to} of the running cloud`, { skip }, () => {
  let load: Load | undefined;
  let planned: string[] = [];
  let ns = '';
  let ip = '';
  let ping: ReturnType<typeof pingLoop> | undefined;

  before(async () => {
    planned = await prepareUpgrade(from, to);
    ({ ns, ip } = await pingableGuest(guest));
    ping = pingLoop(ns, ip);
    load = startLoad(await cloudRequests('token'), 6, 10_000);
  });

  after(async () => {
    await load?.stop();
    await ping?.stop();
    await deleteServers([guest]);
  });

  test(`spec.release ${to}: every step of the plan done once, in order, then the cloud runs ${to}`, async (t: TestContext) => {
    // The operator is killed three times mid-upgrade, after a random number of steps each
    // (three different counts, said first so that a failing run can be repeated).
    const counts = Array.from({ length: planned.length - 1 }, (_, i) => i + 1);
    const kills = counts
      .map((n) => ({ n, r: Math.random() }))
      .sort((a, b) => a.r - b.r)
      .slice(0, 3)
      .map(({ n }) => n)
      .sort((a, b) => a - b);
    t.diagnostic(`the operator is killed after ${kills.join(', ')} of ${planned.length} steps`);
    const { seconds, steps, upgrade } = await followUpgrade(to, async (upgrade, seen) => {
      if (!kills.length || seen.length < kills[0]!) return;
      kills.shift();
      await kubectl([
        ...['-n', 'stackanetes-system', 'delete', 'pod'],
        ...['-l', 'app.kubernetes.io/name=stackanetes-operator', '--wait=false'],
      ]);
      t.diagnostic(
        `${Math.round(seen.at(-1)?.at ?? 0)} s: operator pods deleted at ${upgrade?.step}`,
      );
    });
    for (const s of steps) t.diagnostic(`${Math.round(s.at)} s: ${s.id} done`);
    assert.deepEqual(upgrade.completed, planned);
    t.diagnostic(`upgrade took ${Math.round(seconds)} s`);
  });

  test('each upgrade Job ran once: one Job per step, one pod per Job', async () => {
    const { items } = await (await client()).list('v1', 'Event', { namespace });
    const jobs = new Map<string, Set<string>>();
    const pods = new Map<string, number>();
    for (const e of items as unknown as {
      involvedObject: { kind: string; name: string };
      reason: string;
    }[]) {
      const m = /^(\w+)-(upgrade-[a-z-]+)-[0-9a-f]+$/.exec(e.involvedObject.name);
      if (e.involvedObject.kind !== 'Job' || !m) continue;
      const step = `${m[1]}/${m[2]}`;
      jobs.set(step, (jobs.get(step) ?? new Set()).add(e.involvedObject.name));
      if (e.reason === 'SuccessfulCreate')
        pods.set(e.involvedObject.name, (pods.get(e.involvedObject.name) ?? 0) + 1);
    }
    const planJobs = planned.filter((id) => !/\/(roll|control-plane|computes|unpin)$/.test(id));
    assert.equal(jobs.size, planJobs.length, [...jobs.keys()].join(' '));
    for (const [step, names] of jobs)
      assert.equal(names.size, 1, `${step}: ${[...names].join(', ')}`);
    for (const [job, n] of pods) assert.equal(n, 1, `${job} created ${n} pods`);
  });

  test(`every OpenStack pod runs a ${to} image; MariaDB, RabbitMQ, OVN and libvirt keep ${from}'s build`, async (t: TestContext) => {
    const { wrong, seconds } = await settleOnRelease(from, to);
    t.diagnostic(`the last old pod was gone ${seconds} s after the upgrade finished`);
    assert.deepEqual(wrong, []);
  });

  test('nova-manage db online_data_migrations has nothing left to do', async () => {
    const out = await kubectl([
      '-n',
      namespace,
      'exec',
      'deploy/nova-conductor',
      '--',
      'nova-manage',
      'db',
      'online_data_migrations',
    ]);
    // A table of migrations with "Total Needed" and "Completed": nothing needed any more, but for
    // one row Nova itself never migrates: fill_virtual_interface_list leaves a deleted marker
    // instance (uuid 00000000-…, no host) that populate_instance_compute_id matches every time
    // (1 matched, 0 migrated). Every instance that exists must have its compute_id.
    const needed = [...out.matchAll(/^\|\s*(\w+)\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|$/gm)].filter(
      (m) => Number(m[2]) > 0,
    );
    const unmigrated = (
      await mariadbSql(
        'mariadb-0',
        'SELECT uuid, deleted, IFNULL(host, "-") FROM nova.instances WHERE compute_id IS NULL',
      )
    )
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t'));
    const marker = unmigrated.filter(
      ([uuid, deleted, host]) =>
        uuid === '00000000-0000-0000-0000-000000000000' && deleted !== '0' && host === '-',
    );
    assert.deepEqual(
      unmigrated.filter((r) => !marker.includes(r)),
      [],
      'instances without compute_id',
    );
    assert.deepEqual(
      needed
        .filter((m) => !(m[1] === 'populate_instance_compute_id' && Number(m[2]) <= marker.length))
        .map((m) => m[0]),
      [],
      out,
    );
  });

  test(`the guest booted on ${from} answered ping throughout, is ACTIVE, and answers again after a reboot; a server boots on ${to}`, async (t: TestContext) => {
    const pinged: Pinged = await ping!.stop();
    ping = undefined;
    t.diagnostic(
      `ping: ${pinged.lost} of ${pinged.sent} lost${pinged.lost ? ` (${pinged.losses.join(', ')})` : ''}`,
    );
    const now = JSON.parse(await inClient(`openstack server show ${guest} -f json`)) as {
      status: string;
    };
    assert.equal(now.status, 'ACTIVE');
    await inClient(`openstack server reboot --hard --wait ${guest}`, 600_000);
    await waitStatus(guest, ['ACTIVE']);
    await until(() => pings(ns, ip), `${ip} to answer ping after the reboot`, 300_000, 1000);
    const after1 = await bootServer('e2e-after-upgrade');
    assert.equal(after1.status, 'ACTIVE', JSON.stringify(after1.fault ?? {}));
    assert.equal(pinged.lost, 0, `pings lost at ${pinged.losses.join(', ')}`);
  });

  test('tokens, image lists and server lists were answered throughout', async (t: TestContext) => {
    const totals = await load!.stop();
    const perKind = summariseLoad(load!.lines);
    load = undefined;
    for (const [kind, k] of Object.entries(perKind)) {
      t.diagnostic(`${kind}: ${k.failed} of ${k.sent} failed`);
    }
    assert.equal(totals.failed, 0, JSON.stringify(totals.errors));
  });
});
