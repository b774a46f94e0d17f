// `stackanetes status` tells the truth when the operator is gone: readiness from the live
// workloads, and a plain statement that nothing is reconciling.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { cloudView, liveComponents, readStatus, viewText } from '../../../src/cli/cloud-view.ts';
import { operatorState, type LeaseView } from '../../../src/controller/liveness.ts';
import { componentNames } from '../../../src/catalog/types.ts';
import { collectionPath } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { cloudObjects } from '../../../src/cli/render.ts';
import { cloudNamespaceLabel, dataPlaneNamespace } from '../../../src/render/namespaces.ts';
import { redactedSecrets } from '../../../src/render/secrets.ts';
import { FakeApi } from '../fake-api.ts';
import { runCli } from '../helpers.ts';
import { loadExample } from '../render/fixtures.ts';

const now = Date.parse('2026-03-01T12:00:00Z');
const at = (secondsAgo: number) => new Date(now - secondsAgo * 1000).toISOString();
const by = {
  identity: 'stackanetes-operator-6c9d-k2x',
  lease: 'stackanetes-system/stackanetes-operator',
  resyncSeconds: 600,
};

function lease(holder: string, stampedSecondsAgo: number, renewTime = at(0)): LeaseView {
  return {
    spec: { holderIdentity: holder, leaseDurationSeconds: 15, renewTime },
    metadata: { managedFields: [{ manager: 'stackanetes', time: at(stampedSecondsAgo) }] },
  };
}

const state = (l: Parameters<typeof operatorState>[0]['lease'], lastSecondsAgo = 60) =>
  operatorState({
    status: { lastReconcileTime: at(lastSecondsAgo), reconciledBy: by },
    createdAt: at(86_400),
    lease: l,
    serverNow: now,
  });

test('an operator holding a fresh Lease that reconciled recently is reconciling', () => {
  const s = state(lease(by.identity, 3));
  assert.equal(s.reconciling, true, s.summary);
  assert.match(s.summary, /last reconciled 1m ago by stackanetes-operator-6c9d-k2x/);
});

test('an expired, released or deleted Lease means no operator is reconciling', () => {
  const expired = state(lease(by.identity, 130));
  assert.equal(expired.reconciling, false);
  assert.match(expired.summary, /last renewed 2m10s ago \(it lasts 15s\): that operator is gone/);
  // The holder's clock was an hour ahead: its renewTime says nothing; the server's stamp does.
  const skewed = state(lease(by.identity, 130, at(-3600)));
  assert.equal(skewed.reconciling, false);
  const released = state(lease('', 1));
  assert.equal(released.reconciling, false);
  assert.match(
    released.summary,
    /no operator holds the Lease stackanetes-system\/stackanetes-operator/,
  );
  assert.equal(state('missing').reconciling, false);
});

test('a status not refreshed for three resync periods means no operator is reconciling it', () => {
  const stuck = state(lease(by.identity, 3), 31 * 60);
  assert.equal(stuck.reconciling, false);
  assert.match(stuck.summary, /holds the Lease .* but has not reconciled this cloud for 31m/);
  assert.match(stuck.advice ?? '', /log/);
  const unknownLease = state('unreadable', 31 * 60);
  assert.equal(unknownLease.reconciling, false);
  assert.match(unknownLease.summary, /last reconciled 31m ago/);
  assert.match(unknownLease.advice ?? '', /until an operator runs/);
});

test('a cloud nobody reconciled for a minute after its creation says so', () => {
  const s = operatorState({
    status: undefined,
    createdAt: at(300),
    lease: undefined,
    serverNow: now,
  });
  assert.equal(s.reconciling, false);
  assert.match(s.summary, /no operator has reconciled this cloud in the 5m since it was created/);
  const fresh = operatorState({
    status: undefined,
    createdAt: at(5),
    lease: undefined,
    serverNow: now,
  });
  assert.equal(fresh.reconciling, undefined);
});

/**
 * The workloads and Jobs of examples/minimal.yaml, as their controllers report them when done, in
 * the namespaces the render puts them in.
 */
function liveObjects(): KubeObject[] {
  return cloudObjects(loadExample('minimal'), redactedSecrets(), { namespace: 'openstack' })
    .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob'].includes(o.kind))
    .map((o) => {
      const obj = structuredClone(o);
      obj.metadata = {
        ...obj.metadata,
        namespace: obj.metadata.namespace ?? 'openstack',
        generation: 1,
        creationTimestamp: at(600),
      };
      const replicas = (obj.spec as { replicas?: number }).replicas ?? 1;
      if (o.kind === 'Job') obj.status = { conditions: [{ type: 'Complete', status: 'True' }] };
      else if (o.kind === 'DaemonSet')
        obj.status = {
          observedGeneration: 1,
          desiredNumberScheduled: 1,
          numberReady: 1,
          updatedNumberScheduled: 1,
        };
      else if (o.kind !== 'CronJob')
        obj.status = {
          observedGeneration: 1,
          replicas,
          readyReplicas: replicas,
          availableReplicas: replicas,
          updatedReplicas: replicas,
          currentRevision: 'a',
          updateRevision: 'a',
        };
      return obj;
    });
}

/** examples/minimal.yaml with the status an operator wrote when it was Ready. */
function readyCloud(): KubeObject {
  const doc = parse(readFileSync('examples/minimal.yaml', 'utf8')) as KubeObject;
  const names = componentNames;
  const cond = (type: string) => ({
    type,
    status: 'True',
    reason: 'Ready',
    message: 'ready',
    lastTransitionTime: at(900),
  });
  return {
    ...doc,
    metadata: { ...doc.metadata, generation: 1, creationTimestamp: at(3600) },
    status: {
      observedGeneration: 1,
      conditions: [
        ...names.map((n) => cond(`${n.charAt(0).toUpperCase()}${n.slice(1)}Ready`)),
        cond('Ready'),
      ],
      components: Object.fromEntries(
        names.map((n) => [n, { ready: true, replicas: 1, readyReplicas: 1 }]),
      ),
      lastReconcileTime: at(400),
      reconciledBy: by,
    },
  };
}

test('a deleted Deployment shows as missing although the recorded status says Ready', () => {
  const live = liveObjects().filter(
    (o) => !(o.kind === 'Deployment' && o.metadata.name === 'horizon-server'),
  );
  const view = cloudView(
    readStatus(readyCloud()),
    liveComponents(loadExample('minimal'), 'openstack', live),
    state('missing', 400),
  );
  const horizon = view.components.find((c) => c.name === 'horizon')!;
  assert.equal(horizon.cond.status, 'False');
  assert.equal(horizon.cond.reason, 'Missing');
  assert.match(
    horizon.cond.message,
    /^deployment\/horizon-server missing \(the operator last recorded it Ready\)/,
  );
  assert.equal(horizon.readyReplicas, 0);
  assert.equal(view.components.find((c) => c.name === 'keystone')!.cond.status, 'True');
  assert.equal(view.ready.status, 'False');
  assert.match(view.ready.message, /^horizon: deployment\/horizon-server missing/);
  const text = viewText('openstack/minimal', view);
  assert.match(text, /^Operator: NOT RECONCILING: the operator's Lease .* is gone/m);
  assert.match(text, /^horizon +False +0\/1 +Missing +deployment\/horizon-server missing/m);
});

test('with every workload there and ready the live view agrees with the recorded one', () => {
  const view = cloudView(
    readStatus(readyCloud()),
    liveComponents(loadExample('minimal'), 'openstack', liveObjects()),
    state(lease(by.identity, 2)),
  );
  assert.equal(view.ready.status, 'True', view.ready.message);
  assert.ok(view.components.every((c) => c.cond.status === 'True'));
});

test('stackanetes status reads the live workloads and the Lease, not the recorded conditions alone', async () => {
  const api = await FakeApi.start();
  try {
    const cloud = readyCloud();
    api.put(collectionPath('stackanetes.io/v1alpha1', 'OpenStackCloud'), cloud);
    for (const o of liveObjects()) {
      if (o.kind === 'Deployment' && o.metadata.name === 'horizon-server') continue; // deleted by hand
      api.put(collectionPath(o.apiVersion, o.kind), o);
    }
    // The operator was killed: its Lease (stamped by the fake server's clock) is old. The CLI
    // reads the server's time from its Date header, whole seconds, so the stamp is on a whole
    // second too: the age it prints is then at least the 90 s given here.
    const stamped = Math.floor(Date.now() / 1000) * 1000 - 90_000;
    (cloud.status as { lastReconcileTime: string }).lastReconcileTime = new Date(
      Date.now() - 120_000,
    ).toISOString();
    api.put(collectionPath('stackanetes.io/v1alpha1', 'OpenStackCloud'), cloud);
    api.put(collectionPath('coordination.k8s.io/v1', 'Lease'), {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: 'stackanetes-operator',
        namespace: 'stackanetes-system',
        managedFields: [{ manager: 'stackanetes', time: new Date(stamped).toISOString() }],
      },
      spec: {
        holderIdentity: by.identity,
        leaseDurationSeconds: 15,
        renewTime: new Date().toISOString(),
      },
    });
    const r = await runCli(['status', 'minimal', '-n', 'openstack'], '', {
      KUBECONFIG: api.kubeconfig(),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Ready: +False — horizon: deployment\/horizon-server missing \(9\/10 components ready; the operator last recorded the cloud Ready\)$/m,
    );
    const age = /^Operator: NOT RECONCILING: .*last renewed 1m(\d+)s ago/m.exec(r.stdout);
    assert.ok(age, r.stdout);
    // 90 s, plus however long the CLI took to start and ask.
    const latest = Math.ceil((Date.now() - stamped) / 1000);
    assert.ok(
      60 + Number(age[1]) >= 90 && 60 + Number(age[1]) <= latest,
      `${age[0]} (at most ${latest} s)`,
    );
    assert.match(r.stdout, /^horizon +False +0\/1 +Missing +deployment\/horizon-server missing/m);
    assert.match(r.stdout, /^keystone +True +2\/2 /m);
  } finally {
    await api.close();
  }
});

/** The live objects with the data plane's DaemonSets in the data plane's namespace, labelled as its own. */
function splitLiveObjects(): KubeObject[] {
  return liveObjects().map((o) =>
    o.kind === 'DaemonSet'
      ? {
          ...o,
          metadata: {
            ...o.metadata,
            namespace: dataPlaneNamespace('openstack'),
            labels: { ...o.metadata.labels, [cloudNamespaceLabel]: 'openstack' },
          },
        }
      : o,
  );
}

test("stackanetes status finds the data plane's DaemonSets in the data plane's namespace", async () => {
  const api = await FakeApi.start();
  try {
    api.put(collectionPath('stackanetes.io/v1alpha1', 'OpenStackCloud'), readyCloud());
    const live = splitLiveObjects();
    assert.deepEqual(
      live
        .filter((o) => o.metadata.namespace === 'openstack-dataplane')
        .map((o) => o.metadata.name)
        .sort(),
      [
        'neutron-ovn-metadata-agent',
        'nova-compute',
        'nova-libvirt',
        'ovn-controller',
        'ovn-openvswitch',
      ],
    );
    for (const o of live) {
      // One DaemonSet deleted by hand.
      if (o.kind === 'DaemonSet' && o.metadata.name === 'ovn-controller') continue;
      api.put(collectionPath(o.apiVersion, o.kind), o);
    }
    const r = await runCli(['status', 'minimal', '-n', 'openstack'], '', {
      KUBECONFIG: api.kubeconfig(),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^nova +True +\d+\/\d+ /m, 'nova-compute is found');
    assert.match(r.stdout, /^neutron +True /m, 'the metadata agent is found');
    assert.match(r.stdout, /^ovn +False +\d+\/\d+ +Missing +daemonset\/ovn-controller missing/m);
    assert.doesNotMatch(r.stdout, /ovn-openvswitch|nova-compute|metadata-agent/);
  } finally {
    await api.close();
  }
});

test('a workload is taken from the namespace the render puts it in, else from the other one', () => {
  const cloud = loadExample('minimal');
  const rendered = liveObjects();
  const ds = rendered.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'nova-compute')!;
  const notReady = (o: KubeObject, namespace: string): KubeObject => ({
    ...o,
    metadata: { ...o.metadata, namespace },
    status: { ...(o.status as object), numberReady: 0 },
  });
  const nova = (live: KubeObject[]) =>
    liveComponents(cloud, 'openstack', live).find((c) => c.name === 'nova')!;
  const other =
    ds.metadata.namespace === 'openstack' ? dataPlaneNamespace('openstack') : 'openstack';
  // The same DaemonSet in both namespaces, Ready only where the render puts it: that one counts.
  const both = [...rendered, notReady(ds, other)];
  assert.deepEqual(nova(both).problems, []);
  // Only in the other namespace: found there.
  const moved = [...rendered.filter((o) => o !== ds), notReady(ds, other)];
  assert.deepEqual(nova(moved).problems, ['daemonset/nova-compute 0/1 ready']);
});

test('conditions that are not a component (Remediation, NodesHealthy) are not listed as components', () => {
  const cloud = readyCloud();
  const st = cloud.status as { conditions: Record<string, string>[] };
  st.conditions.push(
    {
      type: 'Remediation',
      status: 'False',
      reason: 'GateFailed',
      message: 'x',
      lastTransitionTime: at(10),
    },
    {
      type: 'NodesHealthy',
      status: 'True',
      reason: 'NodesHealthy',
      message: 'y',
      lastTransitionTime: at(10),
    },
  );
  const names = readStatus(cloud).components.map((c) => c.name);
  assert.deepEqual(names, [...componentNames]);
});

test("mid-upgrade the cloud is checked against the release it runs: the target's new workloads (Neutron's workers) are not missing", async () => {
  const api = await FakeApi.start();
  try {
    const cloud = readyCloud();
    cloud.spec = { ...(cloud.spec as object), release: '2026.1' };
    (cloud.status as Record<string, unknown>).release = '2025.1';
    cloud.metadata.generation = 2;
    api.put(collectionPath('stackanetes.io/v1alpha1', 'OpenStackCloud'), cloud);
    for (const o of liveObjects()) api.put(collectionPath(o.apiVersion, o.kind), o);
    const r = await runCli(['status', 'minimal', '-n', 'openstack'], '', {
      KUBECONFIG: api.kubeconfig(),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /release 2026\.1 \(runs 2025\.1\)/);
    assert.match(r.stdout, /^neutron +True /m);
    assert.doesNotMatch(r.stdout, /periodic-workers|maintenance-worker/);
  } finally {
    await api.close();
  }
});
