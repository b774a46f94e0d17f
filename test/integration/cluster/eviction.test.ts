// A simulated node that goes NotReady loses its pods: the real controller-manager taints the node
// and evicts them (kwok only plays the kubelet; the decision is Kubernetes' own).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { fakeNodeAnnotation } from '../../../src/cluster/components.ts';
import { fakeNodePrefix } from '../../../src/cluster/manifests.ts';
import {
  apply,
  container,
  deleteNamespace,
  getJson,
  isReady,
  kubectl,
  makeNamespace,
  seconds,
  waitFor,
  type Condition,
  type PodList,
} from './helpers.ts';

let ns = '';
let node = '';

interface Node {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { taints?: { key: string; effect: string }[] };
  status: { conditions?: Condition[] };
}

before(async () => {
  const nodes = await getJson<{ items: Node[] }>(['nodes', '-l', 'type=kwok']);
  const candidates = nodes.items.filter(
    (n) => n.metadata.name.startsWith(fakeNodePrefix) && isReady(n.status.conditions),
  );
  assert.ok(
    candidates.length > 0,
    'needs simulated nodes: run `stackanetes cluster up --fake-nodes 20`',
  );
  node = candidates[candidates.length - 1]?.metadata.name ?? '';
  ns = await makeNamespace('stk-evict');
});

after(async () => {
  // Hand the node back to kwok: it reports Ready again and finishes deleting the evicted pods.
  if (node) {
    await kubectl([
      'annotate',
      'node',
      node,
      '--overwrite',
      `${fakeNodeAnnotation.key}=${fakeNodeAnnotation.value}`,
    ]).catch(() => undefined);
    await waitFor(
      `node ${node} to be Ready again`,
      async () => isReady((await getJson<Node>(['node', node])).status.conditions),
      60_000,
      500,
    ).catch(() => undefined);
  }
  await deleteNamespace(ns);
});

void test('marking a simulated node NotReady gets its pods evicted by the controller-manager', async () => {
  await apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'pinned', namespace: ns },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: 'pinned' } },
      template: {
        metadata: { labels: { app: 'pinned' } },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': node },
          tolerations: [
            { key: fakeNodeAnnotation.key, operator: 'Exists', effect: 'NoSchedule' },
            {
              key: 'node.kubernetes.io/not-ready',
              operator: 'Exists',
              effect: 'NoExecute',
              tolerationSeconds: 5,
            },
            {
              key: 'node.kubernetes.io/unreachable',
              operator: 'Exists',
              effect: 'NoExecute',
              tolerationSeconds: 5,
            },
          ],
          containers: [container('app', ['sleep', 'infinity'])],
        },
      },
    },
  });
  const running = await waitFor(
    `3 pods Running on ${node}`,
    async () => {
      const pods = await getJson<PodList>(['pods', '-n', ns, '-l', 'app=pinned']);
      const ok = pods.items.filter((p) => p.spec.nodeName === node && p.status.phase === 'Running');
      return ok.length === 3 ? ok : undefined;
    },
    60_000,
    500,
  );

  // Take the node away from kwok (so nothing reports it healthy again), then report it NotReady,
  // as a kubelet would.
  await kubectl(['annotate', 'node', node, `${fakeNodeAnnotation.key}-`]);
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const patch = {
    status: {
      conditions: [
        {
          type: 'Ready',
          status: 'False',
          reason: 'KubeletNotReady',
          message: 'marked NotReady by a test',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
    },
  };
  const t = Date.now();
  await kubectl([
    'patch',
    'node',
    node,
    '--subresource=status',
    '--type=strategic',
    '-p',
    JSON.stringify(patch),
  ]);

  await waitFor(
    `node ${node} to be tainted not-ready:NoExecute`,
    async () => {
      const n = await getJson<Node>(['node', node]);
      return n.spec.taints?.some(
        (x) => x.key === 'node.kubernetes.io/not-ready' && x.effect === 'NoExecute',
      );
    },
    60_000,
    500,
  );
  await waitFor(
    'every pod on the node to be evicted',
    async () => {
      const pods = await getJson<PodList>(['pods', '-n', ns, '-l', 'app=pinned']);
      const left = pods.items.filter(
        (p) =>
          running.some((r) => r.metadata.uid === p.metadata.uid) && !p.metadata.deletionTimestamp,
      );
      return left.length === 0;
    },
    90_000,
    500,
  );
  console.log(`# 3 pods evicted ${seconds(Date.now() - t)} after the node went NotReady`);
  const events = await kubectl([
    'get',
    'events',
    '-n',
    ns,
    '--field-selector',
    'reason=TaintManagerEviction',
    '-o',
    'name',
  ]);
  assert.ok(
    events.trim().split('\n').filter(Boolean).length >= 3,
    'TaintManagerEviction events for the evicted pods',
  );
});
