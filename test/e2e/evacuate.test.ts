// A server dies (issue 12), on the HA cloud of examples/ha.yaml: the node that runs a guest is
// power-cut (`cluster node kill`, everything in it dies at once). Nobody acts afterwards. The
// operator sees its Lease stop, powers it off through the BMC and confirms Off (./nodes.ts), marks
// it out of service; then forces its nova-compute down and evacuates the guest
// (src/controller/nova-healing.ts); the scheduler places it on a surviving node. The leader
// operator pod is deleted as soon as the evacuations have started. Asserted: each guest is ACTIVE
// on another node and boots there (its console, read from the new host, says SSH is up), Nova
// recorded exactly one evacuation of each (the new leader did not evacuate again), exactly one
// QEMU process exists for each on all nodes, a row committed to Galera before the cut is still
// there, Keystone issues tokens; when the node is powered on again its compute service comes back
// enabled, and the old copies do not start (still one QEMU each). Times are printed from the cut.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isNotFound } from '../../src/kube/errors.ts';
import {
  consoleLog,
  createServer,
  deleteServers,
  guestMarkers,
  qemuPids,
  waitGuestReady,
  waitStatus,
} from './guests.ts';
import {
  client,
  cloudReady,
  dataPlaneNamespace,
  issueToken,
  keystoneAdmin,
  mariadbSql,
  osJson,
  skip,
  until,
} from './helpers.ts';
import {
  cli,
  untilActiveElsewhere,
  untilComputeBack,
  untilForcedDown,
  events,
  leaderPod,
  memberOff,
  operatorNamespace,
  untilFenced,
  untilUnfenced,
  victim,
} from './evacuation.ts';

const stamp = Date.now().toString(36);
const names = [`e2e-evac-a-${stamp}`, `e2e-evac-b-${stamp}`];

describe('a node with a running guest is power-cut', { skip }, () => {
  const instances = new Map<string, string>();
  const ids = new Map<string, string>();
  let cut = 0;
  const at = () => `${((Date.now() - cut) / 1000).toFixed(0)} s`;
  const counter = `${Date.now()}`;
  let keystone: { url: string; body: string };
  const tokens = { ok: 0, failed: 0 };
  let polling = true;
  let poller: Promise<void> | undefined;

  before(async () => {
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
    keystone = await keystoneAdmin();
  });

  after(async () => {
    polling = false;
    await poller;
    await cli(['cluster', 'node', 'start', victim]).catch(() => undefined);
    await deleteServers(names).catch(() => undefined);
  });

  test(`two guests run on ${victim}, and a counter is committed to Galera`, async () => {
    for (const n of names) await createServer(n, { availabilityZone: `nova:${victim}` });
    for (const n of names) {
      const s = await waitStatus(n, ['ACTIVE']);
      assert.equal(s['OS-EXT-SRV-ATTR:host'], victim);
      instances.set(n, s['OS-EXT-SRV-ATTR:instance_name']!);
      ids.set(n, s.id);
    }
    for (const n of names) {
      await waitGuestReady(n);
      assert.equal(qemuPids(instances.get(n)!).length, 1, `one QEMU process for ${n}`);
    }
    const member = await memberOff(victim);
    await mariadbSql(
      member,
      `CREATE DATABASE IF NOT EXISTS e2e_evac; CREATE TABLE IF NOT EXISTS e2e_evac.counter (id INT PRIMARY KEY, v VARCHAR(32)); REPLACE INTO e2e_evac.counter VALUES (1, '${counter}')`,
    );
  });

  test(`power cut: ${victim} is fenced, the guests are evacuated once each and boot on other nodes`, async () => {
    assert.equal(instances.size, names.length, 'the guests of the first test');
    // Keystone asked twice a second all along: what a user of the API sees.
    poller = (async () => {
      while (polling) {
        const status = await issueToken(keystone.url, keystone.body, 5000);
        if (status === 201) tokens.ok++;
        else tokens.failed++;
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    cut = Date.now();
    await cli(['cluster', 'node', 'kill', victim]);
    console.log(`# ${victim} power-cut`);
    const when = await untilFenced(victim);
    console.log(`# ${at()}: fenced (${when})`);
    const forced = await untilForcedDown(victim, 120_000, 2000);
    console.log(`# ${at()}: nova-compute on ${victim} forced down, ${forced.Status}`);
    // The evacuations have started: the leader operator is deleted; the other replica leads on.
    await until(
      async () => {
        const e = await events('Evacuating');
        return names.every((n) =>
          e.some((x) => x.message.includes(n) && x.message.includes(victim)),
        );
      },
      `an Event Evacuating for each guest`,
      120_000,
      1000,
    );
    const leader = await leaderPod();
    console.log(`# ${at()}: both evacuations started; deleting the leader operator pod ${leader}`);
    // (A leader that ran on the cut node is gone already: its pod was released with the node.)
    await (await client()).delete('v1', 'Pod', leader, operatorNamespace).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    for (const n of names) {
      const moved = await untilActiveElsewhere(n, victim, 300_000, 2000);
      console.log(`# ${at()}: ${n} ACTIVE on ${moved['OS-EXT-SRV-ATTR:host']}`);
    }
    for (const n of names) {
      // Its console now comes from the new host: a fresh boot that reached SSH.
      const log = await waitGuestReady(n, 300_000);
      assert.ok(log.includes(guestMarkers.ready));
      console.log(`# ${at()}: ${n} booted on its new node (console: "${guestMarkers.ready}")`);
      assert.equal(qemuPids(instances.get(n)!).length, 1, `exactly one QEMU process for ${n}`);
    }
    // Long enough for the new leader to have made several passes (every 10 s) after the moves.
    await new Promise((r) => setTimeout(r, 30_000));
    for (const n of names) {
      const evacuations = await osJson<{ 'Migration Type'?: string; Type?: string }[]>(
        `--os-compute-api-version 2.59 server migration list --server ${ids.get(n)} --type evacuation`,
      );
      assert.equal(
        evacuations.length,
        1,
        `${n} evacuated exactly once: ${JSON.stringify(evacuations)}`,
      );
    }
    const member = await memberOff(victim);
    assert.equal(
      (await mariadbSql(member, 'SELECT v FROM e2e_evac.counter WHERE id = 1')).trim(),
      counter,
      'the counter committed before the cut',
    );
    assert.equal(
      await issueToken(keystone.url, keystone.body, 10_000),
      201,
      'Keystone issues a token',
    );
    polling = false;
    await poller;
    console.log(`# tokens during the failure: ${tokens.ok} issued, ${tokens.failed} failed`);
  });

  test(`${victim} powered on again: its compute is enabled once up, and the old copy does not start`, async () => {
    assert.ok(cut, 'the power cut of the test before');
    await cli(['cluster', 'node', 'start', victim]);
    const t0 = Date.now();
    const back = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
    await untilUnfenced(victim);
    console.log(`# ${back()}: ${victim} no longer fenced`);
    const c = await untilComputeBack(victim, 600_000, 3000);
    console.log(`# ${back()}: nova-compute on ${victim} ${c.State}, ${c.Status}`);
    for (const n of names) {
      const s = await waitStatus(n, ['ACTIVE']);
      assert.notEqual(s['OS-EXT-SRV-ATTR:host'], victim, `${n} stays where it was evacuated to`);
      assert.equal(
        qemuPids(instances.get(n)!).length,
        1,
        `still exactly one QEMU process for ${n}`,
      );
      assert.ok((await consoleLog(n)).includes(guestMarkers.ready));
    }
    // The data plane's pods run on the node again.
    const { items } = await (
      await client()
    ).list('v1', 'Pod', {
      namespace: dataPlaneNamespace,
      labelSelector: 'app.kubernetes.io/name=nova-compute',
    });
    assert.ok(
      items.some((p) => (p.spec as { nodeName?: string }).nodeName === victim),
      `a nova-compute pod on ${victim}`,
    );
  });
});
