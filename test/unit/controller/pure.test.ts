// Conditions, readiness and the no-write comparison: pure logic of the reconciler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition } from '../../../src/api/v1alpha1/spec.ts';
import { setCondition, summarise } from '../../../src/controller/conditions.ts';
import { contains, secretAsData } from '../../../src/controller/compare.ts';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  CloudReconciler,
  dataPlaneFinalizer,
  jobState,
  workloadReadiness,
  type ObjectStore,
} from '../../../src/controller/cloud.ts';
import { cloudNamespaceLabel, dataPlaneNamespace } from '../../../src/render/namespaces.ts';
import { ApiError } from '../../../src/kube/errors.ts';

test('a condition keeps its transition time until its status changes', () => {
  const conds: Condition[] = [];
  const t1 = new Date('2026-01-01T00:00:00Z');
  const t2 = new Date('2026-01-01T00:01:00Z');
  assert.equal(
    setCondition(
      conds,
      'KeystoneReady',
      { status: 'False', reason: 'RunningDbSync', message: 'a' },
      1,
      t1,
    ),
    true,
  );
  assert.equal(
    setCondition(
      conds,
      'KeystoneReady',
      { status: 'False', reason: 'RunningDbSync', message: 'b' },
      1,
      t2,
    ),
    false,
  );
  assert.equal(conds[0]!.lastTransitionTime, '2026-01-01T00:00:00Z');
  assert.equal(
    setCondition(conds, 'KeystoneReady', { status: 'True', reason: 'Ready', message: 'ok' }, 2, t2),
    true,
  );
  assert.equal(conds[0]!.status, 'True');
  assert.equal(conds[0]!.lastTransitionTime, '2026-01-01T00:01:00Z');
  assert.equal(conds[0]!.observedGeneration, 2);
});

test('Ready names the failing component first, then the one in progress', () => {
  const c = (status: 'True' | 'False', reason: string): Condition => ({
    type: 'x',
    status,
    reason,
    message: reason,
    lastTransitionTime: '',
  });
  const s = summarise([
    { name: 'database', condition: c('True', 'Ready') },
    { name: 'keystone', condition: c('False', 'WaitingForPods') },
    { name: 'glance', condition: c('False', 'DbSyncFailed') },
    { name: 'nova', condition: c('False', 'WaitingForKeystone') },
  ]);
  assert.equal(s.status, 'False');
  assert.equal(s.reason, 'DbSyncFailed');
  assert.match(s.message, /^glance: .*1\/4 components ready/);
  const ok = summarise([{ name: 'database', condition: c('True', 'Ready') }]);
  assert.equal(ok.status, 'True');
});

test('live objects with server defaults still contain the desired ones; hand edits do not', () => {
  const desired = {
    spec: {
      replicas: 1,
      template: { spec: { containers: [{ name: 'a', ports: [{ containerPort: 80 }] }] } },
    },
  };
  const live = {
    spec: {
      replicas: 1,
      revisionHistoryLimit: 10,
      template: {
        spec: {
          dnsPolicy: 'ClusterFirst',
          containers: [{ name: 'a', ports: [{ containerPort: 80, protocol: 'TCP' }] }],
        },
      },
    },
  };
  assert.equal(contains(live, desired), true);
  assert.equal(contains({ ...live, spec: { ...live.spec, replicas: 3 } }, desired), false);
  assert.equal(contains({ spec: { template: { spec: { containers: [] } } } }, desired), false);
});

test('Secrets compare as base64 data', () => {
  const s = secretAsData({ kind: 'Secret', stringData: { a: 'hé' } });
  assert.deepEqual(s, { kind: 'Secret', data: { a: Buffer.from('hé').toString('base64') } });
});

test('job and workload readiness read status the way kubectl does', () => {
  const meta = { name: 'x', generation: 2 };
  assert.equal(jobState(undefined), 'absent');
  assert.equal(
    jobState({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta,
      status: { conditions: [{ type: 'Complete', status: 'True' }] },
    }),
    'complete',
  );
  assert.equal(
    jobState({
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: meta,
      status: { conditions: [{ type: 'Failed', status: 'True' }] },
    }),
    'failed',
  );
  const dep = (status: object) =>
    workloadReadiness({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta,
      spec: { replicas: 2 },
      status,
    });
  assert.equal(
    dep({ observedGeneration: 1, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 })
      .ready,
    false,
  );
  assert.equal(
    dep({ observedGeneration: 2, readyReplicas: 1, availableReplicas: 1, updatedReplicas: 2 })
      .ready,
    false,
  );
  assert.equal(
    dep({ observedGeneration: 2, readyReplicas: 2, availableReplicas: 2, updatedReplicas: 2 })
      .ready,
    true,
  );
  // Mid-roll (maxSurge 1): both old pods Ready and Available, the new ones created but one not
  // Ready. Counting every Ready pod said "rolled out" here (seen: an upgrade's Horizon roll taken
  // as done while the new pod answered 500); kubectl waits while old replicas remain.
  assert.equal(
    dep({
      observedGeneration: 2,
      replicas: 3,
      readyReplicas: 2,
      availableReplicas: 2,
      updatedReplicas: 2,
    }).ready,
    false,
    'old replicas still running',
  );
  assert.equal(
    dep({
      observedGeneration: 2,
      replicas: 2,
      readyReplicas: 2,
      availableReplicas: 2,
      updatedReplicas: 2,
    }).ready,
    true,
  );
  // Every pod Ready, one not yet Ready for the Deployment's minReadySeconds: not rolled out, and
  // the note says why the Ready count is not enough.
  const settling = workloadReadiness({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta,
    spec: { replicas: 2, minReadySeconds: 20 },
    status: {
      observedGeneration: 2,
      replicas: 2,
      readyReplicas: 2,
      availableReplicas: 1,
      updatedReplicas: 2,
    },
  });
  assert.equal(settling.ready, false);
  assert.equal(settling.note, '1 available: a new pod counts once Ready for 20 s');
  const ds = workloadReadiness({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta,
    status: {
      observedGeneration: 2,
      desiredNumberScheduled: 0,
      numberReady: 0,
      updatedNumberScheduled: 0,
    },
  });
  assert.equal(ds.ready, false, 'a DaemonSet on no node is not ready');
  assert.equal(ds.unscheduled, true);
});

/** A reconciler over a hand-made client and store, recording no Events and logging nothing. */
function quietReconciler(client: object, store: ObjectStore): CloudReconciler {
  return new CloudReconciler({
    client: client as never,
    store,
    events: { record: () => Promise.resolve() },
    log: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

test('PriorityClasses are applied cluster-wide, once: not into the cloud’s namespace, not rewritten', async () => {
  type Obj = { apiVersion: string; kind: string; metadata: Record<string, any> } & Record<
    string,
    any
  >;
  const live = new Map<string, Obj>();
  const key = (k: string, ns: string | undefined, n: string) => `${k}/${ns ?? ''}/${n}`;
  const cloud = parse(readFileSync('examples/minimal.yaml', 'utf8')) as Obj;
  cloud.metadata = { ...cloud.metadata, uid: 'u1', generation: 1 };
  live.set(key('OpenStackCloud', 'openstack', 'minimal'), cloud);
  const applied: Obj[] = [];
  const store = {
    get: (_a: string, kind: string, ns: string | undefined, name: string) =>
      live.get(key(kind, ns, name)) as never,
    list: () => [],
  };
  const client = {
    apply: (o: Obj) => {
      applied.push(o);
      live.set(key(o.kind, o.metadata.namespace, o.metadata.name), o);
      return Promise.resolve(o);
    },
    create: (o: Obj) => {
      live.set(key(o.kind, o.metadata.namespace, o.metadata.name), o);
      return Promise.resolve(o);
    },
    get: () => Promise.reject(new ApiError('GET', '/x', 404, 'NotFound', 'not found')),
    applyStatus: (o: Obj) => Promise.resolve(o),
    delete: () => Promise.resolve(),
    podLog: () => Promise.resolve(''),
    mergePatch: (_a: string, kind: string, name: string, ns: string, patch: { metadata: Obj }) => {
      const o = live.get(key(kind, ns, name))!;
      o.metadata = { ...o.metadata, finalizers: patch.metadata.finalizers };
      return Promise.resolve(o);
    },
  };
  const r = quietReconciler(client, store);
  await r.reconcile('openstack', 'minimal');
  const classes = applied.filter((o) => o.kind === 'PriorityClass');
  assert.deepEqual(classes.map((o) => o.metadata.name).sort(), [
    'stackanetes-core',
    'stackanetes-node',
    'stackanetes-service',
  ]);
  for (const pc of classes) assert.equal(pc.metadata.namespace, undefined, pc.metadata.name);
  // The database's pods are applied after the classes they name.
  const first = applied.findIndex((o) => o.kind === 'StatefulSet');
  assert.ok(applied.findIndex((o) => o.kind === 'PriorityClass') < first);
  applied.length = 0;
  await r.reconcile('openstack', 'minimal');
  assert.deepEqual(
    applied.filter((o) => o.kind === 'PriorityClass'),
    [],
    'unchanged classes are not written again',
  );
});

test('a deleted cloud: its data plane goes (objects, then its namespace), then the finalizer that held the cloud', async () => {
  type Obj = { apiVersion: string; kind: string; metadata: Record<string, any> } & Record<
    string,
    any
  >;
  const dp = dataPlaneNamespace('openstack');
  const labels = (cloud: string) => ({
    'app.kubernetes.io/instance': cloud,
    'app.kubernetes.io/managed-by': 'stackanetes',
    [cloudNamespaceLabel]: 'openstack',
  });
  const run = async (otherCloudThere: boolean) => {
    const cloud = parse(readFileSync('examples/minimal.yaml', 'utf8')) as Obj;
    cloud.metadata = {
      ...cloud.metadata,
      uid: 'u1',
      generation: 1,
      deletionTimestamp: '2026-12-01T18:00:00Z',
      finalizers: ['example.com/other', dataPlaneFinalizer],
    };
    const objects: Obj[] = [
      {
        apiVersion: 'apps/v1',
        kind: 'DaemonSet',
        metadata: { name: 'nova-compute', namespace: dp, labels: labels('minimal') },
      },
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'nova-compute-config', namespace: dp, labels: labels('minimal') },
      },
      ...(otherCloudThere
        ? [
            {
              apiVersion: 'apps/v1',
              kind: 'DaemonSet',
              metadata: { name: 'other-compute', namespace: dp, labels: labels('other') },
            },
          ]
        : []),
    ];
    const namespace: Obj = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: dp, labels: labels('minimal') },
    };
    const deleted: string[] = [];
    const patches: unknown[] = [];
    const store = {
      get: (_a: string, kind: string, _ns: string | undefined, name: string) =>
        (kind === 'OpenStackCloud'
          ? cloud
          : kind === 'Namespace' && name === dp
            ? namespace
            : undefined) as never,
      list: (_a: string, kind: string, ns: string, sel: Record<string, string>) =>
        objects.filter(
          (o) =>
            o.kind === kind &&
            o.metadata.namespace === ns &&
            Object.entries(sel).every(([k, v]) => o.metadata.labels[k] === v),
        ) as never,
    };
    const client = {
      delete: (_a: string, kind: string, name: string, ns?: string) => {
        deleted.push(`${kind}/${ns ?? ''}/${name}`);
        return Promise.resolve();
      },
      mergePatch: (_a: string, _k: string, _n: string, _ns: string, patch: unknown) => {
        patches.push(patch);
        return Promise.resolve(cloud);
      },
    };
    const r = quietReconciler(client, store);
    await r.reconcile('openstack', 'minimal');
    return { deleted, patches };
  };
  const alone = await run(false);
  assert.deepEqual(alone.deleted.sort(), [
    `DaemonSet/${dp}/nova-compute`,
    `Namespace//${dp}`,
    `Secret/${dp}/nova-compute-config`,
  ]);
  assert.deepEqual(alone.patches, [
    { metadata: { finalizers: ['example.com/other'], resourceVersion: undefined } },
  ]);
  // Another cloud of the same namespace still has its data plane there: the namespace stays.
  const shared = await run(true);
  assert.deepEqual(shared.deleted.sort(), [
    `DaemonSet/${dp}/nova-compute`,
    `Secret/${dp}/nova-compute-config`,
  ]);
  assert.equal(shared.patches.length, 1);
});
