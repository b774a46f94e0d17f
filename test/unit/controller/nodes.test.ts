// Node health (src/controller/nodes.ts): the pure decision table, and the reconciler against the
// fake API server with a fake fencer (no BMC) and a hand-driven clock for the Lease observations.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import type { Condition, HealingSpec } from '../../../src/api/v1alpha1/spec.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import type { Fencer, PowerState } from '../../../src/controller/fencing.ts';
import {
  LeaseClock,
  NodeHealthReconciler,
  decideNodeHealth,
  nodeHealthCondition,
  fencedAnnotation,
  nodesCondition,
  outOfServiceTaint,
  selects,
  type NodeFacts,
} from '../../../src/controller/nodes.ts';
import { Manager } from '../../../src/controller/manager.ts';
import { FakeApi } from '../fake-api.ts';

const clouds = '/apis/stackanetes.io/v1alpha1/openstackclouds';
const nodesPath = '/api/v1/nodes';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const names = ['stackanetes-node', 'stackanetes-node-2', 'stackanetes-node-3'];

/** A fake fencer: power per node in a map, every call logged; `failOff` makes powerOff throw. */
class FakeFencer implements Fencer {
  readonly power = new Map<string, PowerState>(names.map((n) => [n, 'On']));
  readonly calls: string[] = [];
  failOff: string | undefined;
  /** Called after a successful power-off (to see what the API server held at that moment). */
  afterOff: ((node: string) => void) | undefined;

  powerState(node: string): Promise<PowerState> {
    this.calls.push(`state ${node}`);
    return Promise.resolve(this.power.get(node) ?? 'Unknown');
  }

  powerOff(node: string): Promise<void> {
    this.calls.push(`off ${node}`);
    if (this.failOff) return Promise.reject(new Error(this.failOff));
    this.power.set(node, 'Off');
    this.afterOff?.(node);
    return Promise.resolve();
  }

  get offs(): string[] {
    return this.calls.filter((c) => c.startsWith('off '));
  }
}

interface Harness {
  api: FakeApi;
  fencer: FakeFencer;
  events: { reason: string; message: string }[];
  /** The clock the Lease observations use (ms). */
  at(ms: number): void;
  /** Each named node's kubelet renews its Lease now. */
  renew(...nodes: string[]): void;
  /** A new reconciler with empty memory and a fresh Lease clock (an operator restarted). */
  restart(): void;
  reconcile(): Promise<{ requeueAfterMs?: number }>;
  node(name: string): KubeObject;
  condition(): Condition | undefined;
  setReady(name: string, ready: boolean): void;
}

async function withHarness(
  healing: Record<string, unknown>,
  body: (h: Harness) => Promise<void>,
  opts: { realSecret?: boolean } = {},
): Promise<void> {
  const api = await FakeApi.start();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfig());
  const client = await KubeClient.create(kc);
  try {
    const doc = parse(readFileSync('examples/minimal.yaml', 'utf8')) as KubeObject;
    api.put(clouds, {
      ...doc,
      metadata: { ...doc.metadata, generation: 1 },
      spec: { ...(doc.spec as object), healing },
    });
    for (const name of names)
      api.put(nodesPath, {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: {
          name,
          labels: {
            'stackanetes.io/control-plane': 'true',
            'stackanetes.io/compute': 'true',
            'stackanetes.io/network': 'true',
          },
        },
        spec: {},
        status: { conditions: [{ type: 'Ready', status: 'True' }] },
      });
    // A node no role selects: never judged.
    api.put(nodesPath, { apiVersion: 'v1', kind: 'Node', metadata: { name: 'other' }, spec: {} });
    let now = 0;
    const fencer = new FakeFencer();
    const events: { reason: string; message: string }[] = [];
    const make = () => {
      const leases = new LeaseClock(() => now);
      const r = new NodeHealthReconciler({
        client,
        cloud: (ns, n) => api.get(clouds, ns, n),
        nodes: () =>
          [...api.objects.entries()]
            .filter(([k]) => k.startsWith(`${nodesPath}|`))
            .map(([, o]) => o),
        leases,
        events: {
          record: (_c, _t, reason, message) => {
            events.push({ reason, message });
            return Promise.resolve();
          },
        },
        log: quiet,
        pollMs: 1,
        ...(opts.realSecret ? {} : { fencer: () => Promise.resolve(fencer) }),
      });
      // The operator's first list of the Leases.
      for (const n of [...names, 'other']) leases.observe(lease(n, `first ${n}`));
      return { r, leases };
    };
    let current = make();
    let beat = 0;
    await body({
      api,
      fencer,
      events,
      at: (ms) => (now = ms),
      renew: (...nodes) => {
        beat++;
        for (const n of nodes) current.leases.observe(lease(n, `beat ${beat}`));
      },
      restart: () => (current = make()),
      reconcile: () => current.r.reconcile('openstack', 'minimal'),
      node: (name) => api.get(nodesPath, undefined, name)!,
      condition: () =>
        (
          (
            api.get(clouds, 'openstack', 'minimal')?.status as
              { conditions?: Condition[] } | undefined
          )?.conditions ?? []
        ).find((c) => c.type === nodesCondition),
      setReady: (name, ready) => {
        const n = api.get(nodesPath, undefined, name)!;
        api.put(nodesPath, {
          ...n,
          status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'Unknown' }] },
        });
      },
    });
  } finally {
    client.close();
    await api.close();
  }
}

/** A node's Lease as the informer hands it over. */
const lease = (name: string, renewTime: string): KubeObject => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name, namespace: 'kube-node-lease' },
  spec: { renewTime },
});

const redfish = {
  fencing: {
    method: 'redfish',
    redfish: { url: 'http://10.244.0.1:8000', secretName: 'bmc', timeoutSeconds: 5 },
  },
};
const taints = (n: KubeObject) =>
  (n.spec as { taints?: { key: string; effect: string }[] }).taints ?? [];
const tainted = (n: KubeObject) =>
  taints(n).some((t) => t.key === outOfServiceTaint.key && t.effect === 'NoExecute');

/** Nodes 1 and 2 renew every 10 s up to `untilMs`; node 3 died after its first Lease was seen. */
function liveUntil(h: Harness, untilMs: number, nodes = names.slice(0, 2)) {
  for (let t = 10_000; t <= untilMs; t += 10_000) {
    h.at(t);
    h.renew(...nodes);
  }
  h.at(untilMs);
}

test('a dead node is fenced (powered off, confirmed Off) and only then tainted out of service', async () => {
  await withHarness(redfish, async (h) => {
    liveUntil(h, 29_000);
    await h.reconcile();
    assert.deepEqual(h.fencer.calls, [], 'before nodeDeadSeconds (30 s) nothing is done');
    let taintedAtPowerOff: boolean | undefined;
    h.fencer.afterOff = (n) => (taintedAtPowerOff = tainted(h.node(n)));
    liveUntil(h, 31_000);
    await h.reconcile();
    assert.deepEqual(h.fencer.calls, [
      'state stackanetes-node-3',
      'off stackanetes-node-3',
      'state stackanetes-node-3',
    ]);
    assert.equal(taintedAtPowerOff, false, 'not tainted before the power was off');
    const node = h.node('stackanetes-node-3');
    assert.ok(tainted(node), 'tainted out of service after the power-off');
    assert.ok(node.metadata.annotations?.[fencedAnnotation], 'the fencing recorded on the node');
    assert.ok(!tainted(h.node('stackanetes-node-2')));
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['NodeFenced'],
    );
    assert.match(
      h.events[0]!.message,
      /stackanetes-node-3: no Lease renewal for 31s; powered off and marked node.kubernetes.io\/out-of-service/,
    );
    assert.equal(h.condition()?.reason, 'NodeFenced');
    assert.equal(h.condition()?.status, 'False');
    // Another pass: nothing more.
    h.at(40_000);
    await h.reconcile();
    assert.equal(h.fencer.offs.length, 1);
    assert.equal(h.events.length, 1);
  });
});

test('fencing fails: no taint, a FencingFailed condition and one Event per distinct failure', async () => {
  await withHarness(redfish, async (h) => {
    h.fencer.failOff = 'Redfish POST http://10.244.0.1:8000/…: 500 BMC busy';
    liveUntil(h, 31_000);
    await h.reconcile();
    await h.reconcile();
    assert.ok(!tainted(h.node('stackanetes-node-3')));
    assert.equal(h.node('stackanetes-node-3').metadata.annotations?.[fencedAnnotation], undefined);
    assert.equal(h.condition()?.reason, 'FencingFailed');
    assert.match(
      h.condition()!.message,
      /stackanetes-node-3: Redfish POST .*500 BMC busy; nothing is moved off an unfenced node/,
    );
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['FencingFailed'],
    );
  });
});

test('fencing with a Secret that does not exist: nothing is powered off or tainted, the condition names the Secret', async () => {
  await withHarness(
    redfish,
    async (h) => {
      liveUntil(h, 31_000);
      await h.reconcile();
      assert.ok(!tainted(h.node('stackanetes-node-3')));
      assert.equal(h.condition()?.reason, 'FencingFailed');
      assert.match(
        h.condition()!.message,
        /Secret openstack\/bmc \(spec.healing.fencing.redfish.secretName\) does not exist/,
      );
    },
    { realSecret: true },
  );
});

test('fencing method none: a dead node is left as it is, and the condition says why', async () => {
  await withHarness({}, async (h) => {
    liveUntil(h, 31_000);
    await h.reconcile();
    assert.deepEqual(h.fencer.calls, []);
    assert.ok(!tainted(h.node('stackanetes-node-3')));
    assert.equal(h.condition()?.reason, 'FencingDisabled');
    assert.match(
      h.condition()!.message,
      /stackanetes-node-3: .*spec.healing.fencing.method is none/,
    );
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['FencingDisabled'],
    );
  });
});

test('two of three nodes dead at once: nothing is fenced, the condition suspects a partition', async () => {
  await withHarness(redfish, async (h) => {
    liveUntil(h, 31_000, ['stackanetes-node']);
    await h.reconcile();
    assert.deepEqual(h.fencer.calls, []);
    for (const n of names) assert.ok(!tainted(h.node(n)), n);
    assert.equal(h.condition()?.reason, 'SuspectedPartition');
    assert.match(
      h.condition()!.message,
      /2 of 3 nodes .*\(stackanetes-node-2, stackanetes-node-3\)/,
    );
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['SuspectedPartition'],
    );
  });
});

test('a fenced node that comes back loses the taint once its kubelet is Ready, not before', async () => {
  await withHarness(redfish, async (h) => {
    liveUntil(h, 31_000);
    await h.reconcile();
    assert.ok(tainted(h.node('stackanetes-node-3')));
    h.setReady('stackanetes-node-3', false);
    // A person powers it on: its Lease renews, its kubelet is not Ready yet.
    h.fencer.power.set('stackanetes-node-3', 'On');
    h.at(60_000);
    h.renew(...names);
    await h.reconcile();
    assert.ok(tainted(h.node('stackanetes-node-3')), 'still out of service: not Ready');
    assert.equal(h.condition()?.reason, 'NodeReturning');
    h.setReady('stackanetes-node-3', true);
    await h.reconcile();
    const node = h.node('stackanetes-node-3');
    assert.ok(!tainted(node), 'taint removed');
    assert.ok(!node.metadata.annotations?.[fencedAnnotation], 'record removed');
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['NodeFenced', 'NodeReturned'],
    );
    assert.equal(h.condition()?.status, 'True');
    assert.equal(h.fencer.offs.length, 1, 'not fenced again');
  });
});

test('an operator started after the fencing does not take the first sight of a Lease for a renewal', async () => {
  await withHarness(redfish, async (h) => {
    liveUntil(h, 31_000);
    await h.reconcile();
    // Restarted while the node is off and its Node object still says Ready (the node monitor's
    // grace period can outlast nodeDeadSeconds).
    h.restart();
    await h.reconcile();
    assert.ok(tainted(h.node('stackanetes-node-3')), 'still out of service');
    assert.equal(h.condition()?.reason, 'NodeFenced');
  });
});

test('operator killed between the power-off and the taint: the next one finds the node off and does not power it off again', async () => {
  await withHarness(redfish, async (h) => {
    liveUntil(h, 31_000);
    // The API server becomes unreachable the moment the power is off (as if the operator died).
    h.fencer.afterOff = () => (h.api.accept = () => false);
    await assert.rejects(h.reconcile());
    assert.ok(!tainted(h.node('stackanetes-node-3')));
    assert.equal(h.fencer.offs.length, 1);
    h.api.accept = undefined;
    h.fencer.afterOff = undefined;
    h.restart();
    liveUntil(h, 62_000);
    await h.reconcile();
    assert.ok(tainted(h.node('stackanetes-node-3')), 'tainted by the new operator');
    assert.equal(h.fencer.offs.length, 1, 'powered off once in all');
    assert.match(h.events.at(-1)!.message, /found powered off/);
  });
});

const facts = (
  name: string,
  leaseUnchangedMs: number | undefined,
  extra: Partial<NodeFacts> = {},
): NodeFacts => ({
  name,
  leaseUnchangedMs,
  leaseRenewed: true,
  ready: true,
  outOfService: false,
  fencedAt: undefined,
  ...extra,
});
const policy = (over: Partial<HealingSpec> = {}): HealingSpec => ({
  nodeDeadSeconds: 30,
  maxDeadFraction: 0.5,
  fencing: {
    method: 'redfish',
    redfish: { url: 'http://x', systemId: '{node}', secretName: 's', timeoutSeconds: 30 },
  },
  ...over,
});

test('decision table: threshold, fraction, records, returns, next look', () => {
  const d = decideNodeHealth([facts('a', 5_000), facts('b', 8_000), facts('c', 30_000)], policy());
  assert.deepEqual(d.steps, [{ action: 'fence', node: 'c', unchangedMs: 30_000 }]);
  // b a second from the threshold too: c is not fenced alone (two of three are going silent).
  const two = decideNodeHealth(
    [facts('a', 5_000), facts('b', 29_000), facts('c', 30_000)],
    policy(),
  );
  assert.equal(two.withheld, 'partition');
  assert.equal(
    two.requeueAfterMs,
    1000,
    'b passes the threshold within a second: look again then (at least 1 s)',
  );
  // One of two is not more than half: fenced.
  assert.equal(decideNodeHealth([facts('a', 0), facts('b', 40_000)], policy()).steps.length, 1);
  // Two of three with maxDeadFraction 0.7: fenced; with 0.5: withheld.
  const three = [facts('a', 0), facts('b', 40_000), facts('c', 40_000)];
  assert.equal(decideNodeHealth(three, policy({ maxDeadFraction: 0.7 })).steps.length, 2);
  assert.equal(decideNodeHealth(three, policy()).withheld, 'partition');
  // Cut together, b passes the threshold first while c is 8 s behind: still a partition, and the
  // condition names both.
  const behind = decideNodeHealth(
    [facts('a', 0), facts('b', 30_000), facts('c', 22_000)],
    policy(),
  );
  assert.equal(behind.withheld, 'partition');
  assert.match(
    nodeHealthCondition(behind, { fencedNow: [], failed: new Map() }, policy()).message,
    /^2 of 3 nodes .* for 30 s \(b\) or for over half of it \(c\)/,
  );
  // c renewing on time (silent for under half the threshold): b alone is fenced.
  assert.equal(
    decideNodeHealth([facts('a', 0), facts('b', 30_000), facts('c', 9_000)], policy()).steps.length,
    1,
  );
  // The partition ending (b back, c still silent): c gets one more threshold before it is fenced.
  const ending = [facts('a', 0), facts('b', 0), facts('c', 60_000)];
  const grace = decideNodeHealth(ending, policy(), 10_000);
  assert.equal(grace.withheld, 'after-partition');
  assert.deepEqual(grace.steps, []);
  assert.equal(
    nodeHealthCondition(grace, { fencedNow: [], failed: new Map() }, policy()).reason,
    'SuspectedPartition',
  );
  assert.deepEqual(decideNodeHealth(ending, policy(), 30_000).steps, [
    { action: 'fence', node: 'c', unchangedMs: 60_000 },
  ]);
  // Dead, fenced and tainted: nothing to do; fenced but the taint gone: fence (confirm) again.
  const fencedAt = '2026-01-01T00:00:00Z';
  assert.deepEqual(
    decideNodeHealth(
      [facts('a', 0), facts('b', 90_000, { fencedAt, outOfService: true })],
      policy(),
    ).steps,
    [],
  );
  assert.equal(
    decideNodeHealth([facts('a', 0), facts('b', 90_000, { fencedAt })], policy()).steps[0]?.action,
    'fence',
  );
  // Back: only when its Lease was seen renewed and its kubelet is Ready; a taint of someone else's is left alone.
  const back = (extra: Partial<NodeFacts>) =>
    decideNodeHealth([facts('a', 0), facts('b', 1_000, extra)], policy()).steps;
  assert.deepEqual(back({ fencedAt, outOfService: true }), [{ action: 'release', node: 'b' }]);
  assert.deepEqual(back({ fencedAt, outOfService: true, leaseRenewed: false }), []);
  assert.deepEqual(back({ fencedAt, outOfService: true, ready: false }), []);
  assert.deepEqual(back({ outOfService: true }), []);
  // A node without a Lease is not judged; nothing alive: look again in 10 s.
  assert.deepEqual(decideNodeHealth([facts('a', undefined)], policy()).steps, []);
  assert.equal(decideNodeHealth([], policy()).requeueAfterMs, 10_000);
});

test('LeaseClock: unchanged time by our clock since a change; a first sight is no renewal', () => {
  let t = 0;
  const c = new LeaseClock(() => t);
  c.observe(lease('n', '2000-01-01T00:00:00Z'));
  t = 5000;
  assert.equal(c.unchangedMs('n'), 5000);
  assert.equal(c.changed('n'), false);
  c.observe(lease('n', '2000-01-01T00:00:00Z')); // the same Lease again (a relist): no change
  assert.equal(c.unchangedMs('n'), 5000);
  c.observe(lease('n', '1999-01-01T00:00:00Z')); // renewTime from a skewed clock: a change all the same
  t = 6000;
  assert.equal(c.unchangedMs('n'), 1000);
  assert.equal(c.changed('n'), true);
  assert.equal(c.unchangedMs('other'), undefined);
});

test('selects: matchLabels and every matchExpressions operator', () => {
  const labels = { role: 'compute', zone: 'a' };
  assert.ok(selects({ matchLabels: { role: 'compute' } }, labels));
  assert.ok(!selects({ matchLabels: { role: 'control' } }, labels));
  assert.ok(
    selects({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }, labels),
  );
  assert.ok(
    !selects({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, labels),
  );
  assert.ok(selects({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, labels));
  assert.ok(!selects({ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, labels));
});

test('the manager watches the nodes and their Leases and runs node health for every cloud', async () => {
  const api = await FakeApi.start();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfig());
  const client = await KubeClient.create(kc);
  const stop = new AbortController();
  const manager = new Manager({ client, log: quiet });
  try {
    const doc = parse(readFileSync('examples/minimal.yaml', 'utf8')) as KubeObject;
    api.put(clouds, { ...doc, metadata: { ...doc.metadata, generation: 1 } });
    api.put(nodesPath, {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'stackanetes-node', labels: { 'stackanetes.io/compute': 'true' } },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    api.put('/apis/coordination.k8s.io/v1/leases', lease('stackanetes-node', 'a'));
    const leading = manager.lead(stop.signal);
    for (let i = 0; i < 100 && !condition(api); i++) await sleep(50);
    assert.equal(manager.leases.unchangedMs('stackanetes-node') !== undefined, true);
    assert.equal(condition(api)?.status, 'True');
    assert.equal(condition(api)?.message, 'its one node renews its Lease');
    stop.abort();
    await leading;
  } finally {
    stop.abort();
    await manager.stop();
    client.close();
    await api.close();
  }
});

function condition(api: FakeApi): Condition | undefined {
  return (
    (api.get(clouds, 'openstack', 'minimal')?.status as { conditions?: Condition[] } | undefined)
      ?.conditions ?? []
  ).find((c) => c.type === nodesCondition);
}
