// Members whose volume is on a node that stays fenced (src/controller/members.ts): the pure
// decision, and the pass against the fake API server (the claim deleted before the pod, each by
// its uid, an Event that says what was given up).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import {
  decideRebuilds,
  rebuildMembers,
  selectedNodeAnnotation,
  type MemberClaim,
  type MemberPod,
  type MemberSet,
} from '../../../src/controller/members.ts';
import { memberRebuildAnnotation } from '../../../src/render/statefulset.ts';
import { FakeApi } from '../fake-api.ts';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const galera: MemberSet = { name: 'mariadb', replicas: 3, rebuild: 'Galera SST', claim: 'data' };
const rabbit: MemberSet = { name: 'rabbitmq', replicas: 3, rebuild: 'rejoin', claim: 'data' };
const ovn: MemberSet = { name: 'ovn-nb-db', replicas: 1, rebuild: undefined, claim: 'data' };
const node = (i: number) => (i === 0 ? 'stackanetes-node-3' : `worker-${i}`);

/** Members 0..2 of each set, volume i on node(i), every pod Ready unless named in `unready`. */
function facts(o: {
  sets?: MemberSet[];
  unready?: string[];
  fencedAgoS?: number;
  afterSeconds?: number;
  deleting?: string[];
}) {
  const sets = o.sets ?? [galera];
  const pods = new Map<string, MemberPod>();
  const claims = new Map<string, MemberClaim>();
  for (const s of sets)
    for (let i = 0; i < s.replicas; i++) {
      const m = `${s.name}-${i}`;
      pods.set(m, { name: m, uid: `pod-${m}`, ready: !(o.unready ?? []).includes(m) && i !== 0 });
      claims.set(`data-${m}`, {
        name: `data-${m}`,
        uid: `claim-${m}`,
        node: node(i),
        deleting: (o.deleting ?? []).includes(m),
      });
    }
  const now = 1_000_000;
  return {
    sets,
    pods,
    claims,
    fenced: new Map([['stackanetes-node-3', now - (o.fencedAgoS ?? 400) * 1000]]),
    now,
    afterSeconds: o.afterSeconds ?? 300,
  };
}

test('a member whose volume is on a node fenced past the threshold is rebuilt', () => {
  const plan = decideRebuilds(facts({}));
  assert.deepEqual(
    plan.rebuilds.map((r) => [r.member, r.claim.name, r.node, r.fencedSeconds, r.pod?.uid]),
    [['mariadb-0', 'data-mariadb-0', 'stackanetes-node-3', 400, 'pod-mariadb-0']],
  );
  assert.deepEqual(plan.waiting, []);
});

test('before the threshold nothing is rebuilt, and the plan says when to look again', () => {
  const plan = decideRebuilds(facts({ fencedAgoS: 100 }));
  assert.deepEqual(plan.rebuilds, []);
  assert.deepEqual(plan.waiting, [
    { member: 'mariadb-0', why: 'stackanetes-node-3 fenced 100 s ago' },
  ]);
  assert.equal(plan.nextInMs, 200_000);
});

test('no rebuild while another member is not Ready: a state transfer needs every donor running', () => {
  const plan = decideRebuilds(facts({ unready: ['mariadb-2'] }));
  assert.deepEqual(plan.rebuilds, []);
  assert.match(plan.waiting[0]!.why, /mariadb-2 not Ready/);
});

test('a set the renderer did not mark rebuildable, or with one member, is never touched', () => {
  const plan = decideRebuilds(
    facts({ sets: [{ ...galera, rebuild: undefined }, ovn], fencedAgoS: 10_000 }),
  );
  assert.deepEqual(plan, { rebuilds: [], waiting: [], nextInMs: undefined });
});

test('each cluster rebuilds one member at a time; different clusters at once', () => {
  const five = { ...galera, replicas: 5 };
  const f = facts({ sets: [five, rabbit] });
  // Two Galera members on the fenced node (as after an earlier rebuild put two on one node).
  f.claims.set('data-mariadb-1', {
    ...f.claims.get('data-mariadb-1')!,
    node: 'stackanetes-node-3',
  });
  const plan = decideRebuilds(f);
  assert.deepEqual(
    plan.rebuilds.map((r) => r.member),
    ['mariadb-0', 'rabbitmq-0'],
  );
  assert.deepEqual(plan.waiting, [
    { member: 'mariadb-1', why: 'one member of a cluster at a time' },
  ]);
});

test('no rebuild when the members left are not a majority', () => {
  const f = facts({});
  f.claims.set('data-mariadb-1', {
    ...f.claims.get('data-mariadb-1')!,
    node: 'stackanetes-node-3',
  });
  const plan = decideRebuilds(f);
  assert.deepEqual(plan.rebuilds, []);
  assert.match(plan.waiting[0]!.why, /1 of 3 members Ready, not a majority/);
});

test('a claim that already has its deletion mark (an operator stopped half-way) still gets its pod deleted', () => {
  const plan = decideRebuilds(facts({ deleting: ['mariadb-0'] }));
  assert.equal(plan.rebuilds[0]?.claim.deleting, true);
});

test('the pass deletes the claim, then the pod, and says so in an Event', async () => {
  const api = await FakeApi.start();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfig());
  const client = await KubeClient.create(kc);
  const ns = 'openstack';
  const sts = '/apis/apps/v1/statefulsets';
  const pods = '/api/v1/pods';
  const pvcs = '/api/v1/persistentvolumeclaims';
  const labels = {
    'app.kubernetes.io/managed-by': 'stackanetes',
    'app.kubernetes.io/instance': 'ha',
  };
  try {
    for (const [name, rebuild] of [
      ['mariadb', 'it receives a full copy'],
      ['ovn-nb-db', undefined],
    ] as const)
      api.put(sts, {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: {
          name,
          namespace: ns,
          labels,
          ...(rebuild ? { annotations: { [memberRebuildAnnotation]: rebuild } } : {}),
        },
        spec: {
          replicas: name === 'mariadb' ? 3 : 1,
          volumeClaimTemplates: [{ metadata: { name: 'data' } }],
        },
      });
    for (const m of ['mariadb-0', 'mariadb-1', 'mariadb-2', 'ovn-nb-db-0']) {
      const i = Number(m.at(-1));
      const onFenced = i === 0;
      api.put(pods, {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: m,
          namespace: ns,
          uid: `pod-${m}`,
          labels: { 'app.kubernetes.io/instance': 'ha' },
        },
        status: { conditions: [{ type: 'Ready', status: onFenced ? 'False' : 'True' }] },
      });
      api.put(pvcs, {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: {
          name: `data-${m}`,
          namespace: ns,
          uid: `claim-${m}`,
          annotations: {
            [selectedNodeAnnotation]: onFenced ? 'stackanetes-node-3' : 'stackanetes-node',
          },
        },
      });
    }
    const events: string[] = [];
    const cloud: KubeObject = {
      apiVersion: 'stackanetes.io/v1alpha1',
      kind: 'OpenStackCloud',
      metadata: { name: 'ha', namespace: ns },
    };
    const o = {
      client,
      log: quiet,
      events: {
        record: (_c: KubeObject, _t: string, reason: string, message: string) => {
          events.push(`${reason}: ${message}`);
          return Promise.resolve();
        },
      },
      now: () => 1_000_000,
    };
    const fenced = new Map([['stackanetes-node-3', 1_000_000 - 120_000]]);

    const plan = await rebuildMembers(o, cloud, fenced, 60);
    // A delete by uid leaves an object made again under the same name alone.
    await assert.rejects(
      client.delete('v1', 'Pod', 'mariadb-1', ns, 'Background', 'an older uid'),
      /409|Conflict|Precondition/,
    );
    assert.deepEqual(
      plan.rebuilds.map((r) => r.member),
      ['mariadb-0'],
    );
    assert.equal(api.get(pvcs, ns, 'data-mariadb-0'), undefined);
    assert.equal(
      api.get(pods, ns, 'mariadb-0'),
      undefined,
      'the Pending pod goes, so the StatefulSet makes it again',
    );
    assert.ok(
      api.get(pods, ns, 'mariadb-1') && api.get(pvcs, ns, 'data-mariadb-1'),
      'the other members are untouched',
    );
    assert.ok(api.get(pvcs, ns, 'data-ovn-nb-db-0'));
    assert.match(
      events.at(-1)!,
      /^MemberRebuilt: mariadb-0: its volume \(data-mariadb-0\) is on stackanetes-node-3, fenced 120 s ago .*it receives a full copy$/,
    );

    // Before the threshold: nothing.
    api.put(pvcs, {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: 'data-mariadb-0',
        namespace: ns,
        uid: 'claim-3',
        annotations: { [selectedNodeAnnotation]: 'stackanetes-node-3' },
      },
    });
    const early = await rebuildMembers(o, cloud, fenced, 600);
    assert.deepEqual(early.rebuilds, []);
    assert.ok(api.get(pvcs, ns, 'data-mariadb-0'));
  } finally {
    client.close();
    await api.close();
  }
});
