// The operator against the real API server of the local cluster, with kwok nodes: pods become
// Ready and Jobs complete without real images. What a person operating the cloud would notice.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../../../src/kube/client.ts';
import { ApiError } from '../../../src/kube/errors.ts';
import { configHashAnnotation, type KubeObject } from '../../../src/render/kube.ts';
import { getCatalog } from '../../../src/catalog/index.ts';
import {
  client,
  cloudStatus,
  deleteNamespace,
  kwokCloud,
  kwokVolumes,
  makeNamespace,
  operatorNamespace,
  seconds,
  skip,
  specFile,
  startOperator,
  until,
  waitForMetrics,
  waitReady,
  writes,
  type Operator,
} from './helpers.ts';

const cloudName = 'kwok';

function cli(args: string[], timeoutMs = 12 * 60_000) {
  return spawnSync(process.execPath, ['bin/stackanetes.js', ...args], {
    encoding: 'utf8',
    timeout: timeoutMs,
  });
}

describe('operator', { skip, concurrency: 1 }, () => {
  let c: KubeClient;
  let ns = '';
  let op: Operator;
  let close = async () => {};

  before(async () => {
    ({ c, ns, op, close } = await operatorNamespace('op'));
  });

  after(() => close());

  test('apply -f reaches Ready=True, components in dependency order', async () => {
    const started = Date.now();
    const r = cli(['apply', '-f', specFile(kwokCloud(cloudName, ns)), '--timeout', '10']);
    assert.equal(r.status, 0, `apply failed:\n${r.stderr}\n${op.log().slice(-3000)}`);
    assert.match(r.stdout, /is Ready/);
    console.log(`apply to Ready: ${seconds(Date.now() - started)}`);

    const events = (await c.list<KubeObject>('v1', 'Event', { namespace: ns })).items
      .filter((e) => (e.involvedObject as { name?: string }).name === cloudName)
      .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    const readyAt = new Map<string, number>();
    const startedAt = new Map<string, number>();
    events.forEach((e, i) => {
      const [type] = String(e.message).split(':');
      const comp = type!.replace(/Ready$/, '').toLowerCase();
      if (e.reason === 'Ready' && !readyAt.has(comp)) readyAt.set(comp, i);
      if (
        !String(e.reason).startsWith('WaitingFor') &&
        e.reason !== 'Ready' &&
        !startedAt.has(comp)
      )
        startedAt.set(comp, i);
    });
    const needs = getCatalog('2025.1').needs;
    for (const [comp, deps] of Object.entries(needs)) {
      const start = startedAt.get(comp) ?? readyAt.get(comp);
      assert.ok(
        start !== undefined,
        `no event for ${comp}: ${events.map((e) => `${String(e.reason)} ${String(e.message)}`).join('\n')}`,
      );
      for (const d of deps) {
        assert.ok(readyAt.get(d)! < start, `${comp} started before ${d} was ready`);
      }
    }
  });

  test('a converged cloud causes no API writes over a steady minute', async () => {
    await waitReady(c, ns, cloudName, op);
    await sleep(5000);
    const before = await op.requests();
    await sleep(60_000);
    const after = await op.requests();
    const delta = writes(after) - writes(before);
    const leases = writes(after, true) - writes(before, true) - delta;
    const which = Object.entries(after)
      .map(([k, n]) => [k, n - (before[k] ?? 0)] as const)
      .filter(([k, n]) => n > 0 && writes({ [k]: n }) > 0)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    console.log(
      `writes in 60 s after convergence: ${delta} (plus ${leases} Lease renewals by the leader)${which ? `: ${which}` : ''}`,
    );
    assert.equal(
      delta,
      0,
      `writes: before ${JSON.stringify(before)} after ${JSON.stringify(after)}`,
    );
  });

  test('changing a config override rolls only that service’s pods', async () => {
    const hashes = async () => {
      const out: Record<string, string> = {};
      for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet']) {
        for (const w of (await c.list<KubeObject>('apps/v1', kind, { namespace: ns })).items) {
          const t = (w.spec as { template: { metadata: { annotations?: Record<string, string> } } })
            .template;
          out[`${kind}/${w.metadata.name}`] = t.metadata.annotations?.[configHashAnnotation] ?? '';
        }
      }
      return out;
    };
    const before = await hashes();
    const r = cli([
      'apply',
      '-f',
      specFile(
        kwokCloud(cloudName, ns, {
          services: {
            nova: { computeDriver: 'fake' },
            keystone: { config: { token: { expiration: 7200 } } },
          },
        }),
      ),
      '--timeout',
      '10',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const after = await hashes();
    const rolled = Object.keys(after).filter((k) => after[k] !== before[k]);
    assert.deepEqual(rolled, ['Deployment/keystone-api']);
  });

  test('a hand edit of an owned Deployment is reverted', async () => {
    await c.mergePatch('apps/v1', 'Deployment', 'glance-api', ns, { spec: { replicas: 3 } });
    const started = Date.now();
    await until(
      async () => {
        const d = await c.get<KubeObject>('apps/v1', 'Deployment', 'glance-api', ns);
        return (d.spec as { replicas: number }).replicas === 1;
      },
      'glance-api back to 1 replica',
      60_000,
    );
    console.log(`hand edit reverted in ${seconds(Date.now() - started)}`);
  });

  test('the API server rejects an invalid OpenStackCloud with the field path', async () => {
    const bad = kwokCloud('bad', ns, { services: { nova: { replicas: -1 } } });
    await assert.rejects(c.apply(bad), (err: unknown) => {
      assert.ok(err instanceof ApiError && err.invalid, String(err));
      assert.match(err.message, /spec\.services\.nova\.replicas/);
      return true;
    });
    const unknown = kwokCloud('bad', ns, { flavors: [] });
    await assert.rejects(c.apply(unknown), /spec\.flavors|unknown field/);
  });
});

describe('operator killed at random points', { skip, concurrency: 1 }, () => {
  test('20 kills during convergence: same objects, no Job run twice', async () => {
    const c = await client();
    const ns = await makeNamespace(c, 'kill');
    const dropVolumes = await kwokVolumes(c, ns);
    try {
      const apply = cli(['apply', '-f', specFile(kwokCloud(cloudName, ns)), '--no-wait']);
      assert.equal(apply.status, 0, apply.stderr);
      // A short lease, so that a new operator takes over from a killed one within its life: a
      // candidate waits one lease duration (3 s) after it last saw the Lease change.
      let leaders = 0;
      for (let i = 0; i < 20; i++) {
        const op = startOperator(ns, ['--lease-duration', '3']);
        await sleep(3500 + Math.floor(Math.random() * 3000));
        if (/became leader/.test(op.log())) leaders++;
        await op.stop('SIGKILL');
      }
      console.log(`${leaders} of the 20 killed operators were leading when killed`);
      assert.ok(leaders > 1, `only ${leaders} of the 20 killed operators ever led`);
      const op = startOperator(ns);
      try {
        await waitReady(c, ns, cloudName, op);
      } finally {
        await op.stop();
      }
      const jobs = (await c.list<KubeObject>('batch/v1', 'Job', { namespace: ns })).items;
      const pods = (await c.list<KubeObject>('v1', 'Pod', { namespace: ns })).items;
      const byTask = new Map<string, string[]>();
      for (const j of jobs) {
        const key = `${j.metadata.labels?.['stackanetes.io/component']}/${j.metadata.labels?.['stackanetes.io/job-task']}`;
        byTask.set(key, [...(byTask.get(key) ?? []), j.metadata.name]);
        const runs = pods.filter((p) => p.metadata.labels?.['job-name'] === j.metadata.name).length;
        assert.equal(runs, 1, `${j.metadata.name} ran ${runs} pods`);
      }
      for (const [task, names] of byTask)
        assert.equal(names.length, 1, `${task} has jobs ${names.join(', ')}`);
      console.log(`after 20 kills: ${jobs.length} jobs, each run once`);
    } finally {
      await deleteNamespace(c, ns);
      await dropVolumes();
      c.close();
    }
  });
});

describe('two operator replicas', { skip, concurrency: 1 }, () => {
  test('only the leader writes; killing it hands over within the lease duration', async () => {
    const c = await client();
    const ns = await makeNamespace(c, 'ha');
    const dropVolumes = await kwokVolumes(c, ns);
    const a = startOperator(ns);
    const b = startOperator(ns);
    try {
      await Promise.all([waitForMetrics(a), waitForMetrics(b)]);
      await until(
        async () => (await a.isLeader()) !== (await b.isLeader()),
        'exactly one leader',
        60_000,
      );
      const [leader, follower] = (await a.isLeader()) ? [a, b] : [b, a];
      const apply = cli(['apply', '-f', specFile(kwokCloud(cloudName, ns)), '--no-wait']);
      assert.equal(apply.status, 0, apply.stderr);
      await sleep(15_000);
      assert.ok(writes(await leader.requests()) > 0, 'the leader made no writes');
      const followerWrites = writes(await follower.requests());
      assert.equal(
        followerWrites,
        0,
        `the follower made ${followerWrites} writes besides its Lease`,
      );
      const killed = Date.now();
      await leader.stop('SIGKILL');
      await until(() => follower.isLeader(), 'the follower to lead', 60_000);
      const handOver = Date.now() - killed;
      console.log(
        `leader killed: hand-over in ${seconds(handOver)} (lease 15 s); follower writes before: ${followerWrites}`,
      );
      assert.ok(handOver < 15_000 + 10_000, `hand-over took ${seconds(handOver)}`);
      await waitReady(c, ns, cloudName, follower);
      const st = await cloudStatus(c, ns, cloudName);
      assert.equal(st.ready?.status, 'True');
    } finally {
      await a.stop();
      await b.stop();
      await deleteNamespace(c, ns);
      await dropVolumes();
      c.close();
    }
  });
});
