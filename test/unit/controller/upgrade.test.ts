// A release upgrade carried out by the cloud reconciler against a fake API server whose store
// reports what was applied as done (Jobs complete, workloads rolled and Ready) unless a test says
// otherwise: the steps go one at a time in the plan's order, services move one by one, a new
// reconciler resumes where the last one stopped, and a failed migration holds the upgrade.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import { CloudReconciler, type ObjectStore } from '../../../src/controller/cloud.ts';
import type { Condition, UpgradeStatus } from '../../../src/api/v1alpha1/spec.ts';
import { getCatalog, knownReleases } from '../../../src/catalog/index.ts';
import { planUpgrade } from '../../../src/plan/upgrade.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { jobTaskLabel } from '../../../src/render/jobs.ts';
import { FakeApi } from '../fake-api.ts';

const clouds = '/apis/stackanetes.io/v1alpha1/openstackclouds';
const collections: Record<string, string> = {
  Job: '/apis/batch/v1/jobs',
  Deployment: '/apis/apps/v1/deployments',
  DaemonSet: '/apis/apps/v1/daemonsets',
  StatefulSet: '/apis/apps/v1/statefulsets',
  CronJob: '/apis/batch/v1/cronjobs',
};
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * What was applied, as its controllers would report it once done: a Job complete (or failed, when
 * `failed` says so), a workload rolled out and Ready with the template it was given.
 */
function mirrorStore(
  api: FakeApi,
  failed: (job: KubeObject) => boolean = () => false,
  notReady: (workload: KubeObject) => boolean = () => false,
): ObjectStore {
  return {
    get: (_a, kind, namespace, name) => {
      if (kind === 'OpenStackCloud') return api.get(clouds, namespace, name);
      const c = collections[kind];
      const o = c && api.get(c, namespace, name);
      if (!o) return undefined;
      const metadata = { ...o.metadata, generation: 1 };
      switch (kind) {
        case 'Job':
          return {
            ...o,
            metadata,
            status: { conditions: [{ type: failed(o) ? 'Failed' : 'Complete', status: 'True' }] },
          };
        case 'DaemonSet':
          return {
            ...o,
            metadata,
            status: {
              observedGeneration: 1,
              desiredNumberScheduled: 1,
              numberReady: 1,
              updatedNumberScheduled: 1,
            },
          };
        case 'CronJob':
          return { ...o, metadata };
        default: {
          const replicas = (o.spec as { replicas?: number }).replicas ?? 1;
          const ready = notReady(o) ? 0 : replicas;
          return {
            ...o,
            metadata,
            status: {
              observedGeneration: 1,
              replicas,
              readyReplicas: ready,
              availableReplicas: ready,
              updatedReplicas: replicas,
            },
          };
        }
      }
    },
    list: () => [],
  };
}

interface World {
  api: FakeApi;
  client: KubeClient;
  events: { reason: string; message: string }[];
  reconciler: (
    failed?: (job: KubeObject) => boolean,
    notReady?: (workload: KubeObject) => boolean,
  ) => CloudReconciler;
}

async function withWorld(body: (w: World) => Promise<void>): Promise<void> {
  const api = await FakeApi.start();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfig());
  const client = await KubeClient.create(kc);
  const events: { reason: string; message: string }[] = [];
  try {
    const doc = parse(readFileSync('examples/minimal.yaml', 'utf8')) as KubeObject;
    api.put(clouds, { ...doc, metadata: { ...doc.metadata, generation: 1 } });
    await body({
      api,
      client,
      events,
      reconciler: (failed, notReady) =>
        new CloudReconciler({
          client,
          store: mirrorStore(api, failed, notReady),
          events: {
            record: (_c, _t, reason, message) => {
              events.push({ reason, message });
              return Promise.resolve();
            },
          },
          log: quiet,
        }),
    });
  } finally {
    client.close();
    await api.close();
  }
}

const status = (api: FakeApi) =>
  api.get(clouds, 'openstack', 'minimal')!.status as {
    release?: string;
    upgrade?: UpgradeStatus;
    conditions: Condition[];
  };

function image(api: FakeApi, name: string, kind = 'Deployment', ns = 'openstack'): string {
  const o = api.get(collections[kind]!, ns, name) as
    { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined;
  assert.ok(o, `${kind} ${ns}/${name} applied`);
  return o.spec.template.spec.containers[0]!.image;
}

function askFor(api: FakeApi, release: string): void {
  const cloud = api.get(clouds, 'openstack', 'minimal')!;
  api.put(clouds, {
    ...cloud,
    metadata: { ...cloud.metadata, generation: (cloud.metadata.generation ?? 1) + 1 },
    spec: { ...(cloud.spec as object), release },
  });
}

/** Every Job ever created or applied, by task label: its distinct names. */
function appliedJobs(api: FakeApi): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const q of api.requests) {
    if (!/\/jobs(\/[^/]+)?$/.test(q.path) || !['PATCH', 'POST'].includes(q.method)) continue;
    const body = JSON.parse(q.body) as KubeObject;
    const task = body.metadata.labels?.[jobTaskLabel];
    if (!task) continue;
    let s = out.get(task);
    if (!s) out.set(task, (s = new Set()));
    s.add(body.metadata.name);
  }
  return out;
}

// examples/minimal.yaml runs all six.
const minimalServices = ['keystone', 'glance', 'placement', 'nova', 'neutron', 'horizon'] as const;
const plan = planUpgrade(
  getCatalog('2025.1'),
  getCatalog('2026.1'),
  minimalServices,
  knownReleases(),
);

test('2025.1 → 2026.1: every step once, in order; services move one at a time; then the cloud runs 2026.1', async () => {
  await withWorld(async ({ api, events, reconciler }) => {
    const r = reconciler();
    await r.reconcile('openstack', 'minimal');
    assert.equal(status(api).release, '2025.1');
    askFor(api, '2026.1');
    let sawMixed = false;
    let sawPinnedCompute = false;
    for (let pass = 0; pass < 3 * plan.steps.length && status(api).release !== '2026.1'; pass++) {
      await r.reconcile('openstack', 'minimal');
      const done = status(api).upgrade?.completed ?? [];
      if (done.includes('keystone/roll') && !done.includes('glance/roll')) {
        assert.match(image(api, 'keystone-api'), /:2026\.1$/);
        assert.match(image(api, 'glance-api'), /:2025\.1$/, 'glance waits for its turn');
        sawMixed = true;
      }
      if (status(api).upgrade?.step === 'nova/online-data-migrations') {
        assert.match(image(api, 'nova-compute', 'DaemonSet', 'openstack-dataplane'), /:2026\.1$/);
        const up = status(api).conditions.find((c) => c.type === 'Upgraded')!;
        assert.equal(up.reason, 'Upgrading');
        sawPinnedCompute = true;
      }
    }
    assert.ok(sawMixed && sawPinnedCompute);
    const st = status(api);
    assert.equal(st.release, '2026.1', 'the upgrade finished');
    assert.deepEqual(
      st.upgrade!.completed,
      plan.steps.map((s) => s.id),
      'every step, in order',
    );
    assert.ok(st.upgrade!.finishedAt);
    for (const d of ['keystone-api', 'glance-api', 'placement-api', 'nova-api', 'neutron-server']) {
      assert.match(image(api, d), /:2026\.1$/, d);
    }
    for (const s of ['mariadb', 'rabbitmq', 'memcached', 'ovn-nb-db']) {
      const o = api.get(collections.StatefulSet!, 'openstack', s) as
        { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined;
      assert.ok(o, s);
      assert.match(o.spec.template.spec.containers[0]!.image, /:2025\.1$/, `${s} not rolled`);
    }
    const jobs = appliedJobs(api);
    for (const task of ['upgrade-check', 'upgrade-expand', 'upgrade-contract', 'upgrade-db-sync']) {
      assert.ok(jobs.has(task), `a ${task} Job was applied`);
    }
    assert.equal(
      events.filter((e) => e.reason === 'UpgradeStepDone').length,
      plan.steps.length - 1,
    );
    assert.ok(events.some((e) => e.reason === 'UpgradeFinished'));
    // Progress is the condition's; Events mark steps, not every change of its message (the real
    // upgrade wrote 915 Events before).
    assert.equal(events.filter((e) => e.reason === 'Upgrading').length, 0);
    await r.reconcile('openstack', 'minimal');
    assert.equal(
      status(api).conditions.find((c) => c.type === 'Upgraded'),
      undefined,
      'no Upgraded condition once the cloud runs its spec.release',
    );
  });
});

test('a new operator resumes at the step the last one was in: no step twice, each Job applied under one name', async () => {
  await withWorld(async ({ api, reconciler }) => {
    await reconciler().reconcile('openstack', 'minimal');
    askFor(api, '2026.1');
    const first = reconciler();
    for (let pass = 0; pass < 12; pass++) await first.reconcile('openstack', 'minimal');
    const stoppedAt = status(api).upgrade!;
    assert.ok(stoppedAt.completed.length > 0 && !stoppedAt.finishedAt);
    const second = reconciler();
    for (let pass = 0; pass < 3 * plan.steps.length && status(api).release !== '2026.1'; pass++) {
      await second.reconcile('openstack', 'minimal');
    }
    const done = status(api).upgrade!;
    assert.deepEqual(
      done.completed,
      plan.steps.map((s) => s.id),
    );
    assert.equal(done.startedAt, stoppedAt.startedAt, 'the same upgrade went on');
    // Jobs are named by their inputs: a step's Job keeps its name across operators.
    for (const step of plan.steps.filter((s) => s.kind === 'job')) {
      const task = `upgrade-${step.id.split('/')[1]}`;
      const names = [...(appliedJobs(api).get(task) ?? [])].filter((n) =>
        n.startsWith(getCatalog('2026.1').services[step.service].component),
      );
      assert.equal(names.length, 1, `${step.id}: ${names.join(', ')}`);
    }
  });
});

test('a failed migration holds the upgrade at that step, says so, and moves nothing after it', async () => {
  await withWorld(async ({ api, reconciler }) => {
    await reconciler().reconcile('openstack', 'minimal');
    askFor(api, '2026.1');
    const r = reconciler(
      (job) =>
        job.metadata.labels?.[jobTaskLabel] === 'upgrade-expand' &&
        job.metadata.name.startsWith('keystone'),
    );
    for (let pass = 0; pass < 15; pass++) await r.reconcile('openstack', 'minimal');
    const st = status(api);
    assert.equal(st.release, '2025.1');
    assert.equal(st.upgrade!.step, 'keystone/expand');
    assert.equal(st.upgrade!.failed?.step, 'keystone/expand');
    assert.ok(!st.upgrade!.completed.includes('keystone/expand'));
    const up = st.conditions.find((c) => c.type === 'Upgraded')!;
    assert.equal(up.reason, 'UpgradeStepFailed');
    assert.match(
      up.message,
      /keystone\/expand: Job openstack\/keystone-upgrade-expand-\S+ failed: `keystone-manage db_sync --expand`/,
    );
    assert.match(image(api, 'keystone-api'), /:2025\.1$/, 'keystone was not rolled');
  });
});

test('a roll moves its processes one at a time, in order: while nova-scheduler is not Ready on 2026.1, nova-api and the rest keep 2025.1', async () => {
  await withWorld(async ({ api, reconciler }) => {
    await reconciler().reconcile('openstack', 'minimal');
    askFor(api, '2026.1');
    // nova-scheduler never becomes Ready once it runs 2026.1.
    const r = reconciler(undefined, (w) => {
      const containers = (w.spec as { template: { spec: { containers: { image: string }[] } } })
        .template.spec.containers;
      return w.metadata.name === 'nova-scheduler' && /:2026\.1$/.test(containers[0]!.image);
    });
    for (let pass = 0; pass < 3 * plan.steps.length; pass++) {
      await r.reconcile('openstack', 'minimal');
    }
    const st = status(api);
    assert.equal(st.upgrade!.step, 'nova/control-plane', 'the upgrade waits in the roll');
    assert.match(image(api, 'nova-conductor'), /:2026\.1$/, 'the first process moved');
    assert.match(image(api, 'nova-scheduler'), /:2026\.1$/, 'the second moved');
    for (const d of ['nova-api', 'nova-metadata', 'nova-novncproxy']) {
      assert.match(image(api, d), /:2025\.1$/, `${d} waits for nova-scheduler`);
    }
    const up = st.conditions.find((c) => c.type === 'Upgraded')!;
    assert.match(
      up.message,
      /nova\/control-plane: rolling nova-scheduler onto the new release; then nova-api, nova-metadata, nova-novncproxy/,
    );
  });
});

test('an upgrade does not start while the cloud is not Ready', async () => {
  await withWorld(async ({ api, reconciler }) => {
    const cloud = api.get(clouds, 'openstack', 'minimal')!;
    api.put(clouds, { ...cloud, status: { release: '2025.1' } });
    askFor(api, '2026.1');
    await reconciler().reconcile('openstack', 'minimal');
    const st = status(api);
    assert.equal(st.upgrade, undefined);
    assert.equal(st.conditions.find((c) => c.type === 'Upgraded')!.reason, 'WaitingForReady');
  });
});
