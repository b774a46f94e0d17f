// A release upgrade of the running cloud, 2025.1 → 2026.1, carried out by the operator while a
// user keeps asking for tokens, image lists and server lists: every step of the plan done once,
// in order; at the end every OpenStack pod runs a 2026.1 image (what is not OpenStack keeps
// 2025.1's build, the catalog's imageTags), Nova has no online data migration left, the server
// booted before is still ACTIVE and a new one boots. The operator is killed three times on the
// way; no Job runs twice. Needs the 2026.1 images
// (`sudo npx stackanetes images build --release 2026.1`); leaves the cloud on 2026.1.
//
// Not yet in a tier: written after a first upgrade of the real one-node cloud by hand (every
// step done, the guest's QEMU process kept throughout), and not yet run whole, because the
// 2026.1 Horizon image answers its login page with 500 (so its roll never ends).
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { getCatalog, knownReleases } from '../../src/catalog/index.ts';
import { enabledServices } from '../../src/plan/components.ts';
import { planUpgrade } from '../../src/plan/upgrade.ts';
import { validateLive } from '../../src/api/v1alpha1/validate.ts';
import type { KubeObject } from '../../src/render/kube.ts';
import {
  bootServer,
  client,
  cloudName,
  cloudPods,
  cloudRequests,
  kubectl,
  namespace,
  skip,
  startLoad,
  summariseLoad,
  type Load,
} from './helpers.ts';
import { patchCloud } from './remediation.ts';

const from = '2025.1';
const to = '2026.1';

async function cloud(): Promise<KubeObject> {
  return (await client()).get('stackanetes.io/v1alpha1', 'OpenStackCloud', cloudName, namespace);
}

interface Upgrade {
  completed: string[];
  step?: string;
  startedAt: string;
  finishedAt?: string;
  failed?: { step: string; message: string };
}

describe(`release upgrade ${from} → ${to} of the running cloud`, { skip }, () => {
  let load: Load | undefined;
  let planned: string[] = [];
  let before1: Record<string, any> = {};
  const stepSeconds: [string, number][] = [];

  before(async () => {
    const c = await cloud();
    assert.equal((c.status as { release?: string }).release, from, `the cloud runs ${from}`);
    const checked = validateLive(c);
    assert.ok(checked.ok);
    const services = enabledServices(checked.cloud);
    planned = planUpgrade(getCatalog(from), getCatalog(to), services, knownReleases()).steps.map(
      (s) => s.id,
    );
    before1 = await bootServer('e2e-before-upgrade');
    assert.equal(before1.status, 'ACTIVE', JSON.stringify(before1.fault ?? {}));
    load = startLoad(await cloudRequests('token'), 6, 10_000);
  });

  after(async () => {
    await load?.stop();
  });

  test(`spec.release ${to}: every step of the plan done once, in order, then the cloud runs ${to}`, async (t: TestContext) => {
    await patchCloud({ spec: { release: to } });
    const t0 = Date.now();
    let seen = 0;
    let upgrade: Upgrade | undefined;
    // The operator is killed three times mid-upgrade, after these many steps.
    const kills = [3, 9, 17].filter((n) => n < planned.length);
    for (;;) {
      const c = await cloud();
      const st = c.status as { release?: string; upgrade?: Upgrade };
      upgrade = st.upgrade;
      for (const id of upgrade?.completed.slice(seen) ?? []) {
        stepSeconds.push([id, (Date.now() - t0) / 1000]);
        t.diagnostic(`${Math.round((Date.now() - t0) / 1000)} s: ${id} done`);
      }
      seen = upgrade?.completed.length ?? seen;
      if (kills.length && seen >= kills[0]!) {
        kills.shift();
        await kubectl([
          '-n',
          'stackanetes-system',
          'delete',
          'pod',
          '-l',
          'app.kubernetes.io/name=stackanetes-operator',
          '--wait=false',
        ]);
        t.diagnostic(
          `${Math.round((Date.now() - t0) / 1000)} s: operator pods deleted at ${upgrade?.step}`,
        );
      }
      if (upgrade?.failed) assert.fail(`${upgrade.failed.step} failed: ${upgrade.failed.message}`);
      if (st.release === to) break;
      if (Date.now() - t0 > 60 * 60_000) assert.fail(`not finished in 60 min; at ${upgrade?.step}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    assert.deepEqual(upgrade!.completed, planned);
    t.diagnostic(`upgrade took ${Math.round((Date.now() - t0) / 1000)} s`);
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

  test(`every OpenStack pod runs a ${to} image; MariaDB, RabbitMQ, OVN and libvirt keep ${from}'s build`, async () => {
    const shared = new Set(Object.keys(getCatalog(to).imageTags ?? {}));
    const wrong: string[] = [];
    for (const pod of await cloudPods()) {
      if ((pod.status as { phase?: string }).phase !== 'Running') continue;
      for (const c of (pod.spec as { containers: { name: string; image: string }[] }).containers) {
        const m = /\/([^/:@]+)[:@]([^/]+)$/.exec(c.image);
        if (!m || m[1] === 'operator') continue;
        const want = shared.has(m[1]!) ? from : to;
        if (m[2] !== want) wrong.push(`${pod.metadata.name}/${c.name}: ${c.image} (want :${want})`);
      }
    }
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
    // A table of migrations with "Total Needed" and "Completed": nothing needed any more.
    const needed = [...out.matchAll(/^\|\s*\w+\s*\|\s*(\d+)\s*\|\s*(\d+)\s*\|$/gm)].filter(
      (m) => Number(m[1]) > 0,
    );
    assert.deepEqual(
      needed.map((m) => m[0]),
      [],
      out,
    );
  });

  test(`the server booted on ${from} is still ACTIVE, and a server boots on ${to}`, async () => {
    const after1 = await bootServer('e2e-after-upgrade');
    assert.equal(after1.status, 'ACTIVE', JSON.stringify(after1.fault ?? {}));
    const again = JSON.parse(
      await kubectl([
        '-n',
        namespace,
        'exec',
        'deploy/openstack-client',
        '--',
        'openstack',
        'server',
        'show',
        before1.id as string,
        '-f',
        'json',
      ]),
    ) as { status: string };
    assert.equal(again.status, 'ACTIVE');
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
