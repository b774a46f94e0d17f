// The reconciler against a fake API server and a store that says every Job has completed and
// every workload is ready, except what a test changes: what the cloud's status then says.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import {
  CloudReconciler,
  type ObjectStore,
  type ReconciledBy,
} from '../../../src/controller/cloud.ts';
import type { Condition } from '../../../src/api/v1alpha1/spec.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { FakeApi } from '../fake-api.ts';
import { KubeConfig } from '@kubernetes/client-node';

const clouds = '/apis/stackanetes.io/v1alpha1/openstackclouds';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Live objects as their controllers would report them once done; `edit` changes one. */
function doneStore(api: FakeApi, edit: (o: KubeObject) => KubeObject = (o) => o): ObjectStore {
  const live = (kind: string, name: string, namespace?: string): KubeObject | undefined => {
    const metadata = { name, namespace, generation: 1 };
    switch (kind) {
      case 'OpenStackCloud':
        return api.get(clouds, namespace, name);
      case 'Job':
        return {
          apiVersion: 'batch/v1',
          kind,
          metadata,
          status: { conditions: [{ type: 'Complete', status: 'True' }] },
        };
      case 'Deployment':
      case 'StatefulSet':
        return {
          apiVersion: 'apps/v1',
          kind,
          metadata,
          spec: { replicas: 1 },
          status: {
            observedGeneration: 1,
            replicas: 1,
            readyReplicas: 1,
            availableReplicas: 1,
            updatedReplicas: 1,
          },
        };
      case 'CronJob':
        return { apiVersion: 'batch/v1', kind, metadata };
      case 'DaemonSet':
        return {
          apiVersion: 'apps/v1',
          kind,
          metadata,
          status: {
            observedGeneration: 1,
            desiredNumberScheduled: 2,
            numberReady: 2,
            updatedNumberScheduled: 2,
          },
        };
      default:
        return undefined;
    }
  };
  return {
    get: (_a, kind, namespace, name) => {
      const o = live(kind, name, namespace);
      return o && edit(o);
    },
    list: () => [],
  };
}

async function fakeClient(api: FakeApi): Promise<KubeClient> {
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfig());
  return KubeClient.create(kc);
}

async function withReconciler<T>(
  opts: { edit?: (o: KubeObject) => KubeObject; now?: () => Date; reconciledBy?: ReconciledBy },
  body: (r: CloudReconciler, api: FakeApi) => Promise<T>,
): Promise<T> {
  const api = await FakeApi.start();
  const client = await fakeClient(api);
  try {
    const doc = parse(readFileSync('examples/minimal.yaml', 'utf8')) as KubeObject;
    api.put(clouds, { ...doc, metadata: { ...doc.metadata, generation: 1 } });
    const r = new CloudReconciler({
      client,
      store: doneStore(api, opts.edit),
      events: { record: () => Promise.resolve() },
      log: quiet,
      ...(opts.now ? { now: opts.now } : {}),
      ...(opts.reconciledBy ? { reconciledBy: opts.reconciledBy } : {}),
    });
    return await body(r, api);
  } finally {
    client.close();
    await api.close();
  }
}

function cloudStatus(api: FakeApi): Record<string, any> {
  return api.get(clouds, 'openstack', 'minimal')?.status as Record<string, any>;
}

function reconciledConditions(edit?: (o: KubeObject) => KubeObject): Promise<Condition[]> {
  return withReconciler({ ...(edit ? { edit } : {}) }, async (r, api) => {
    await r.reconcile('openstack', 'minimal');
    return cloudStatus(api).conditions as Condition[];
  });
}

test('with every workload ready and every Job complete the cloud is Ready', async () => {
  const conds = await reconciledConditions();
  const ready = conds.find((c) => c.type === 'Ready')!;
  assert.equal(ready.status, 'True', ready.message);
});

test('a DaemonSet scheduled on no node is not Ready, and says which node label is missing', async () => {
  const conds = await reconciledConditions((o) =>
    o.kind === 'DaemonSet' && o.metadata.name === 'nova-compute'
      ? {
          ...o,
          status: {
            observedGeneration: 1,
            desiredNumberScheduled: 0,
            numberReady: 0,
            updatedNumberScheduled: 0,
          },
        }
      : o,
  );
  const nova = conds.find((c) => c.type === 'NovaReady')!;
  assert.equal(nova.status, 'False');
  assert.equal(nova.reason, 'NoNodeForRole');
  assert.match(
    nova.message,
    /daemonset\/nova-compute .*no node has the label stackanetes\.io\/compute=true \(spec\.nodeRoles\.compute\)/,
  );
  const ready = conds.find((c) => c.type === 'Ready')!;
  assert.equal(ready.status, 'False');
  assert.equal(ready.reason, 'NoNodeForRole');
  assert.match(ready.message, /^nova: .*stackanetes\.io\/compute=true/);
});

test('status says which operator reconciled and when; a steady cloud refreshes it every 5 minutes, not on every pass', async () => {
  let now = new Date('2026-01-01T10:00:00Z');
  const by = {
    identity: 'op-7d9f-x2',
    lease: 'stackanetes-system/stackanetes-operator',
    resyncSeconds: 600,
  };
  await withReconciler({ now: () => now, reconciledBy: by }, async (r, api) => {
    const statusWrites = () =>
      api.requests.filter((q) => q.method === 'PATCH' && q.path.endsWith('/status')).length;
    await r.reconcile('openstack', 'minimal');
    assert.deepEqual(cloudStatus(api).reconciledBy, by);
    assert.equal(cloudStatus(api).lastReconcileTime, '2026-01-01T10:00:00Z');
    const written = statusWrites();
    now = new Date('2026-01-01T10:04:00Z');
    await r.reconcile('openstack', 'minimal');
    assert.equal(statusWrites(), written, 'nothing changed: no status write');
    now = new Date('2026-01-01T10:05:00Z');
    await r.reconcile('openstack', 'minimal');
    assert.equal(statusWrites(), written + 1);
    assert.equal(cloudStatus(api).lastReconcileTime, '2026-01-01T10:05:00Z');
  });
});

test('with a CRD that drops the new status fields, a steady cloud is not written over and over', async () => {
  const now = new Date('2026-01-01T10:00:00Z');
  await withReconciler({ now: () => now }, async (r, api) => {
    api.pruneStatus = (status) => {
      const {
        lastReconcileTime: _l,
        reconciledBy: _b,
        ...rest
      } = status as Record<string, unknown>;
      return rest;
    };
    const statusWrites = () =>
      api.requests.filter((q) => q.method === 'PATCH' && q.path.endsWith('/status')).length;
    await r.reconcile('openstack', 'minimal');
    const written = statusWrites();
    assert.ok(written >= 1);
    await r.reconcile('openstack', 'minimal');
    await r.reconcile('openstack', 'minimal');
    assert.equal(statusWrites(), written, 'no write when only the dropped fields differ');
  });
});

test('a cloud whose status names another live operator is left alone until that operator’s Lease expires', async () => {
  const api = await FakeApi.start();
  const client = await fakeClient(api);
  try {
    const doc = parse(readFileSync('examples/minimal.yaml', 'utf8')) as KubeObject;
    api.put(clouds, { ...doc, metadata: { ...doc.metadata, generation: 1 } });
    const said: string[] = [];
    const operator = (lease: string) =>
      new CloudReconciler({
        client,
        store: doneStore(api),
        events: {
          record: (_o, _type, reason, message) => {
            said.push(`${reason}: ${message}`);
            return Promise.resolve();
          },
        },
        log: quiet,
        reconciledBy: { identity: `pod-of-${lease}`, lease: `ns/${lease}`, resyncSeconds: 600 },
      });
    const lease = (renewedSecondsAgo: number) =>
      api.put('/apis/coordination.k8s.io/v1/leases', {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'first', namespace: 'ns' },
        spec: {
          holderIdentity: 'pod-of-first',
          leaseDurationSeconds: 15,
          renewTime: new Date(Date.now() - renewedSecondsAgo * 1000).toISOString(),
        },
      });
    const statusWrites = () =>
      api.requests.filter((q) => q.method === 'PATCH' && q.path.endsWith('/status')).length;

    await operator('first').reconcile('openstack', 'minimal');
    lease(1);
    const second = operator('second');
    const before = statusWrites();
    for (let i = 0; i < 3; i++) {
      const r = await second.reconcile('openstack', 'minimal');
      assert.equal(r.ready, false);
      assert.ok(r.requeueAfterMs, 'it comes back to look again');
    }
    assert.equal(statusWrites(), before, 'no status write while the first operator runs');
    assert.equal(cloudStatus(api).reconciledBy.lease, 'ns/first');
    const warned = said.filter((s) => s.startsWith('AnotherOperator'));
    assert.equal(warned.length, 1, `said once: ${said.join('\n')}`);
    assert.match(warned[0]!, /pod-of-first leads \(Lease ns\/first\).*Lease ns\/second/);

    lease(60);
    await second.reconcile('openstack', 'minimal');
    assert.equal(cloudStatus(api).reconciledBy.lease, 'ns/second', 'taken over');
    assert.equal(statusWrites(), before + 1);
  } finally {
    client.close();
    await api.close();
  }
});

test('a cloud that is gone is reported gone, and nothing is asked of the API server', async () => {
  await withReconciler({}, async (r, api) => {
    const before = api.requests.length;
    const result = await r.reconcile('openstack', 'deleted-long-ago');
    assert.deepEqual(result, { ready: false, gone: true });
    assert.equal(api.requests.length, before);
  });
});

test("a not-ready workload's pods are looked at for a crash-looping container once per 30 s, not on every pass", async () => {
  let now = Date.parse('2026-12-01T12:00:00Z');
  const notReady = (o: KubeObject) =>
    o.kind === 'DaemonSet' && o.metadata.name === 'nova-compute'
      ? {
          ...o,
          spec: { selector: { matchLabels: { 'app.kubernetes.io/name': 'nova-compute' } } },
          status: {
            observedGeneration: 1,
            desiredNumberScheduled: 2,
            numberReady: 1,
            updatedNumberScheduled: 2,
          },
        }
      : o;
  await withReconciler({ edit: notReady, now: () => new Date(now) }, async (r, api) => {
    const podLists = () =>
      api.requests.filter((q) => q.method === 'GET' && q.path.endsWith('/pods')).length;
    await r.reconcile('openstack', 'minimal');
    assert.equal(podLists(), 1);
    now += 10_000;
    await r.reconcile('openstack', 'minimal');
    assert.equal(podLists(), 1, 'a second pass 10 s later reuses what the first found');
    now += 25_000;
    await r.reconcile('openstack', 'minimal');
    assert.equal(podLists(), 2, '35 s after the first look, another');
  });
});

test("the Remediation condition and status.remediation (remediate's and the scan's, under their own field manager) are neither written nor counted by the cloud reconciler", async () => {
  const now = new Date('2026-01-01T10:00:00Z');
  await withReconciler({ now: () => now }, async (r, api) => {
    const statusPatches = () =>
      api.requests.filter((q) => q.method === 'PATCH' && q.path.endsWith('/status'));
    await r.reconcile('openstack', 'minimal');
    // What `stackanetes rollout` writes under its own field manager: a failed gate.
    const cloud = api.get(clouds, 'openstack', 'minimal')!;
    const status = cloud.status as { conditions: Condition[] };
    api.put(clouds, {
      ...cloud,
      status: {
        ...status,
        conditions: [
          ...status.conditions,
          {
            type: 'Remediation',
            status: 'False',
            reason: 'GateFailed',
            message: 'keystone: gate failed',
            lastTransitionTime: '2026-01-01T10:00:00Z',
          },
        ],
        remediation: { state: 'RolledBack', startedAt: '2026-01-01T10:00:00Z', message: 'x' },
      },
    });
    const before = statusPatches().length;
    await r.reconcile('openstack', 'minimal');
    assert.equal(statusPatches().length, before, 'only the foreign entries differ: no write');
    const ready = (cloudStatus(api).conditions as Condition[]).find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'True', 'a failed remediation does not make the cloud not Ready');
    for (const p of statusPatches()) {
      assert.doesNotMatch(
        p.body,
        /Remediation|remediation/,
        'the cloud reconciler never applies them',
      );
    }
  });
});

/** The image the rendered keystone-api Deployment runs, as applied to the API server. */
function keystoneImage(api: FakeApi): string {
  const d = api.get('/apis/apps/v1/deployments', 'openstack', 'keystone-api') as
    { spec: { template: { spec: { containers: { image: string }[] } } } } | undefined;
  assert.ok(d, 'keystone-api was applied');
  return d.spec.template.spec.containers[0]!.image;
}

test('a cloud Ready for the first time records the release it runs in status.release', async () => {
  await withReconciler({}, async (r, api) => {
    await r.reconcile('openstack', 'minimal');
    assert.equal(cloudStatus(api).release, '2025.1');
    assert.equal(
      (cloudStatus(api).conditions as Condition[]).find((c) => c.type === 'Upgraded'),
      undefined,
      'no Upgraded condition while spec and status agree',
    );
  });
});

test('spec.release moved to 2026.1 starts an upgrade at its first step (a pre-flight check), not a re-render at the new release', async () => {
  await withReconciler({}, async (r, api) => {
    await r.reconcile('openstack', 'minimal');
    assert.match(keystoneImage(api), /:2025\.1$/);
    const cloud = api.get(clouds, 'openstack', 'minimal')!;
    api.put(clouds, {
      ...cloud,
      metadata: { ...cloud.metadata, generation: 2 },
      spec: { ...(cloud.spec as object), release: '2026.1' },
    });
    await r.reconcile('openstack', 'minimal');
    assert.match(keystoneImage(api), /:2025\.1$/, 'keystone still runs the 2025.1 image');
    const status = cloudStatus(api);
    assert.equal(status.release, '2025.1');
    const up = (status.conditions as Condition[]).find((c) => c.type === 'Upgraded')!;
    assert.equal(up.status, 'False');
    assert.equal(up.reason, 'Upgrading');
    // This store reports every Job complete: the first check is done in the first pass.
    assert.equal(up.message, '2025.1 → 2026.1, step 1/24 preflight/keystone: done');
    assert.equal(status.upgrade.from, '2025.1');
    assert.equal(status.upgrade.to, '2026.1');
    assert.deepEqual(status.upgrade.completed, ['preflight/keystone']);
    assert.equal(status.upgrade.step, 'preflight/glance');
    const ready = (status.conditions as Condition[]).find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'True', 'the cloud still serves on 2025.1');
  });
});

test('a cloud on 2026.1 whose spec goes back to 2025.1 stays on 2026.1: UpgradeRefused names the allowed paths', async () => {
  await withReconciler({}, async (r, api) => {
    const cloud = api.get(clouds, 'openstack', 'minimal')!;
    api.put(clouds, { ...cloud, status: { release: '2026.1' } });
    await r.reconcile('openstack', 'minimal');
    assert.match(keystoneImage(api), /:2026\.1$/, 'rendered at the release it runs');
    const up = (cloudStatus(api).conditions as Condition[]).find((c) => c.type === 'Upgraded')!;
    assert.equal(up.reason, 'UpgradeRefused');
    assert.match(up.message, /2026\.1 → 2025\.1 is a downgrade/);
    assert.match(up.message, /From 2026\.1 the allowed upgrades are: 2026\.2/);
  });
});
