// bench/dashboard: what the dashboard costs the operator at the scale of bench/operator's 1000
// kwok nodes, without a cluster: the heap its pod cache takes with whole pods and with the fields
// it keeps, and the time and size of one snapshot. Prints figures; asserts nothing.
// Usage: npm run bench:dashboard [-- --nodes 1000 --pods 4033]
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { KubeObject } from '../src/render/kube.ts';
import { fixedSecrets, renderExample } from '../test/unit/render/fixtures.ts';
import { slimPod } from '../src/server/dashboard-informers.ts';
import { snapshot } from '../src/server/dashboard-view.ts';
import { saveResult } from './results.ts';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    pods: { type: 'string', default: '4033' },
  },
});
const nodes = Number(values.nodes);
const count = Number(values.pods);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:dashboard)');

// Pod templates of the rendered minimal cloud, made into pods as the API server returns them:
// the template's spec, server defaults, managedFields of three writers, a full status.
const templates = renderExample('minimal', fixedSecrets())
  .filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind))
  .map((o) => (o as unknown as { spec: { template: { metadata: any; spec: any } } }).spec.template);

function pod(i: number): KubeObject {
  const t = templates[i % templates.length]!;
  const name = `${t.metadata.labels['app.kubernetes.io/name']}-${i.toString(36).padStart(5, '0')}`;
  const node = `kwok-node-${i % nodes}`;
  const now = '2026-03-01T10:00:00Z';
  return JSON.parse(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: 'openstack',
        uid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`,
        resourceVersion: String(100000 + i),
        creationTimestamp: now,
        labels: { ...t.metadata.labels, 'pod-template-hash': '5d8f7c9b4' },
        annotations: t.metadata.annotations,
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid: `rs-${i}`, controller: true },
        ],
        managedFields: ['kube-controller-manager', 'kube-scheduler', 'kubelet'].map((m) => ({
          manager: m,
          operation: 'Update',
          apiVersion: 'v1',
          time: now,
          fieldsType: 'FieldsV1',
          fieldsV1: { 'f:metadata': { 'f:labels': { '.': {} } }, 'f:spec': { 'f:containers': {} } },
        })),
      },
      spec: {
        ...t.spec,
        nodeName: node,
        dnsPolicy: 'ClusterFirst',
        schedulerName: 'default-scheduler',
        tolerations: [
          { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
        ],
      },
      status: {
        phase: 'Running',
        hostIP: '10.0.0.1',
        podIP: `10.244.${(i >> 8) & 255}.${i & 255}`,
        startTime: now,
        qosClass: 'Burstable',
        conditions: [
          'PodReadyToStartContainers',
          'Initialized',
          'Ready',
          'ContainersReady',
          'PodScheduled',
        ].map((type) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: now })),
        containerStatuses: (t.spec.containers as { name: string; image: string }[]).map((c) => ({
          name: c.name,
          image: c.image,
          imageID: `${c.image}@sha256:${'0'.repeat(64)}`,
          containerID: `containerd://${'f'.repeat(64)}`,
          ready: true,
          started: true,
          restartCount: 0,
          state: { running: { startedAt: now } },
        })),
      },
    }),
  ) as KubeObject;
}

function heapWith(make: (i: number) => KubeObject): { mib: number; held: Map<string, KubeObject> } {
  gc!();
  const before = process.memoryUsage().heapUsed;
  const held = new Map<string, KubeObject>();
  for (let i = 0; i < count; i++) {
    const p = make(i);
    held.set(p.metadata.name, p);
  }
  gc!();
  return { mib: (process.memoryUsage().heapUsed - before) / 2 ** 20, held };
}

const full = heapWith(pod);
const fullBytes = JSON.stringify([...full.held.values()]).length;
full.held.clear();
const slim = heapWith((i) => slimPod(pod(i)));
const slimBytes = JSON.stringify([...slim.held.values()]).length;

const cloud: KubeObject = {
  apiVersion: 'stackanetes.io/v1alpha1',
  kind: 'OpenStackCloud',
  metadata: { name: 'minimal', namespace: 'openstack', generation: 1 },
  spec: { release: '2025.1', endpoints: { public: {} }, services: { horizon: { enabled: true } } },
  status: { observedGeneration: 1, conditions: [] },
};
const pods = [...slim.held.values()].map((p) => ({
  ...p,
  metadata: {
    ...p.metadata,
    labels: { ...p.metadata.labels, 'app.kubernetes.io/instance': 'minimal' },
  },
}));
const times: number[] = [];
let json = '';
for (let i = 0; i < 20; i++) {
  const t = performance.now();
  json = JSON.stringify(snapshot([cloud], pods));
  times.push(performance.now() - t);
}
times.sort((a, b) => a - b);

const data = {
  nodes,
  pods: count,
  heapMiBWholePods: Number(full.mib.toFixed(1)),
  heapMiBDashboardPods: Number(slim.mib.toFixed(1)),
  jsonKiBWholePods: Math.round(fullBytes / 1024),
  jsonKiBDashboardPods: Math.round(slimBytes / 1024),
  snapshotMsMedian: Number(times[times.length >> 1]!.toFixed(1)),
  snapshotKiB: Math.round(json.length / 1024),
};
console.log(`pods cached by the dashboard: ${count} on ${nodes} nodes`);
console.log(
  `heap: ${data.heapMiBWholePods} MiB as whole pods, ${data.heapMiBDashboardPods} MiB as the dashboard keeps them (${(data.heapMiBWholePods / data.heapMiBDashboardPods).toFixed(1)}x less)`,
);
console.log(
  `one snapshot (what /api/clouds answers and the stream sends): ${data.snapshotMsMedian} ms, ${data.snapshotKiB} KiB`,
);
saveResult('dashboard', data);
