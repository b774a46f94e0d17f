// bench/operator-memory: the operator's memory without a cluster. A fake API server (this
// process) holds what a 1000-node kwok cluster with one cloud holds: 1000 Nodes, 4000 Pods (the
// DaemonSet pods of every node, plus the cloud's Job pods) and the cloud's objects, every one
// with managedFields as the API server writes them. Measured in child processes:
//  1. an informer for every Pod and Node, caching them whole, without managedFields (the
//     default), and with Pods reduced to what a dashboard reads (slimPod): resident memory after
//     the caches are synced (and a GC);
//  2. `stackanetes operator` itself (its informers, metrics server, leader election) run from
//     the TypeScript sources (type stripping) and from the compiled dist/ (`npm run build`):
//     peak resident memory (VmHWM) once its caches are synced.
// Prints figures and saves them with bench/results.ts; asserts nothing. Usage:
//   npm run build && npm run bench:operator-memory [-- --baseline DIR]
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { KubeObject } from '../src/render/kube.ts';

const { values } = parseArgs({
  options: {
    child: { type: 'string' },
    nodes: { type: 'string', default: '1000' },
    'pods-per-node': { type: 'string', default: '4' },
    /** Another checkout's src/cli/main.ts (e.g. `git archive <commit> src | tar -x -C DIR`), measured too. */
    baseline: { type: 'string' },
  },
});

const mib = (bytes: number) => Math.round((bytes / 2 ** 20) * 10) / 10;

function vmHwmMiB(pid: number | 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round((Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024) * 10) / 10;
}

if (values.child) {
  // Child: informers for every Pod and Node of the fake API server named by KUBECONFIG.
  const { KubeClient } = await import('../src/kube/client.ts');
  const { Informer } = await import('../src/kube/informer.ts');
  const { slimPod } = await import('../src/kube/slim.ts');
  const variant = values.child;
  const client = await KubeClient.create();
  const keep = (o: KubeObject) => o;
  const pods = new Informer(client, {
    apiVersion: 'v1',
    kind: 'Pod',
    ...(variant === 'whole'
      ? { transform: keep }
      : variant === 'slimPod'
        ? { transform: slimPod }
        : {}),
  });
  const nodes = new Informer(client, {
    apiVersion: 'v1',
    kind: 'Node',
    ...(variant === 'whole' ? { transform: keep } : {}),
  });
  global.gc?.();
  const before = process.memoryUsage();
  pods.start();
  nodes.start();
  await Promise.all([pods.waitForSync(), nodes.waitForSync()]);
  global.gc?.();
  await sleep(200);
  global.gc?.();
  const after = process.memoryUsage();
  process.stdout.write(
    JSON.stringify({
      pods: pods.size,
      nodes: nodes.size,
      rssBeforeMiB: mib(before.rss),
      rssAfterMiB: mib(after.rss),
      heapUsedAfterMiB: mib(after.heapUsed),
      heapTotalAfterMiB: mib(after.heapTotal),
      externalAfterMiB: mib(after.external),
      cacheHeapMiB: mib(after.heapUsed - before.heapUsed),
      peakRssMiB: vmHwmMiB('self'),
    }),
  );
  await Promise.all([pods.stop(), nodes.stop()]);
  client.close();
  process.exit(0);
}

const { FakeApi } = await import('../test/unit/fake-api.ts');
const { collectionPath } = await import('../src/kube/client.ts');
const { cloudObjects } = await import('../src/cli/render.ts');
const { redactedSecrets } = await import('../src/render/secrets.ts');
const { validateText } = await import('../src/api/v1alpha1/validate.ts');
const { saveResult } = await import('./results.ts');

const nodeCount = Number(values.nodes);
const perNode = Number(values['pods-per-node']);
const namespace = 'bench';
const t = '2026-03-01T12:00:00Z';

/** managedFields as the API server keeps them: one entry per writer, a tree of field names. */
function managedFields(obj: object, managers: string[]): object[] {
  const tree = (o: unknown): unknown => {
    if (!o || typeof o !== 'object') return {};
    if (Array.isArray(o)) return { '.': {} };
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [`f:${k}`, tree(v)]));
  };
  return managers.map((manager) => ({
    manager,
    operation: 'Update',
    apiVersion: 'v1',
    time: t,
    fieldsType: 'FieldsV1',
    fieldsV1: tree(obj),
  }));
}

const parsed = validateText(readFileSync('examples/ha.yaml', 'utf8'));
if (!parsed.ok) throw new Error('examples/ha.yaml does not validate');
const objects = cloudObjects(parsed.cloud, redactedSecrets(), { namespace });
const daemonSets = objects.filter((o) => o.kind === 'DaemonSet');

const api = await FakeApi.start();
const put = (o: KubeObject) => api.put(collectionPath(o.apiVersion, o.kind), o);
for (const o of objects) {
  const obj = structuredClone(o);
  obj.metadata = { ...obj.metadata, namespace, generation: 1, creationTimestamp: t };
  obj.metadata.managedFields = managedFields(obj, ['stackanetes']);
  put(obj);
}
let podCount = 0;
for (let n = 0; n < nodeCount; n++) {
  const node = `kwok-node-${n}`;
  const nodeObj: KubeObject = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: node,
      labels: {
        'kubernetes.io/hostname': node,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        'stackanetes.io/fake': 'true',
      },
      annotations: { 'kwok.x-k8s.io/node': 'fake', 'node.alpha.kubernetes.io/ttl': '0' },
      creationTimestamp: t,
    },
    spec: { taints: [{ key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' }] },
    status: {
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      conditions: [
        'Ready',
        'MemoryPressure',
        'DiskPressure',
        'PIDPressure',
        'NetworkUnavailable',
      ].map((type) => ({
        type,
        status: type === 'Ready' ? 'True' : 'False',
        lastHeartbeatTime: t,
        lastTransitionTime: t,
        reason: 'KubeletReady',
        message: 'kubelet is ready',
      })),
      addresses: [{ type: 'InternalIP', address: `10.0.${n >> 8}.${n & 255}` }],
      nodeInfo: {
        kubeletVersion: 'fake',
        kubeProxyVersion: 'fake',
        osImage: '',
        kernelVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
        containerRuntimeVersion: '',
        machineID: '',
        systemUUID: '',
        bootID: '',
      },
    },
  };
  nodeObj.metadata.managedFields = managedFields(nodeObj, ['kwok', 'kube-controller-manager']);
  put(nodeObj);
  for (let p = 0; p < perNode; p++) {
    const ds = daemonSets[p % daemonSets.length]!;
    const template = (
      ds as unknown as { spec: { template: { metadata: KubeObject['metadata']; spec: object } } }
    ).spec.template;
    const pod: KubeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...template.metadata,
        name: `${ds.metadata.name}-${n.toString(36)}`,
        namespace,
        creationTimestamp: t,
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'DaemonSet',
            name: ds.metadata.name,
            uid: 'x',
            controller: true,
          },
        ],
      },
      spec: { ...template.spec, nodeName: node },
      status: {
        phase: 'Running',
        podIP: `10.244.${n >> 8}.${n & 255}`,
        hostIP: `10.0.${n >> 8}.${n & 255}`,
        startTime: t,
        conditions: [
          'PodReadyToStartContainers',
          'Initialized',
          'Ready',
          'ContainersReady',
          'PodScheduled',
        ].map((type) => ({ type, status: 'True', lastTransitionTime: t, lastProbeTime: null })),
        containerStatuses: [
          {
            name: 'main',
            ready: true,
            started: true,
            restartCount: 0,
            state: { running: { startedAt: t } },
            image: 'localhost/stackanetes/x:2025.1',
            imageID: '',
            containerID: 'kwok://x',
          },
        ],
      },
    };
    pod.metadata.managedFields = managedFields(pod, ['kube-controller-manager', 'kwok']);
    put(pod);
    podCount++;
  }
}

function child(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ out: string; pid: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, args, {
      env: { ...process.env, KUBECONFIG: api.kubeconfig(), ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    c.on('error', reject);
    c.on('exit', (code) =>
      code === 0 ? resolve({ out, pid: c.pid! }) : reject(new Error(`exit ${code}: ${out}`)),
    );
  });
}

const caches: Record<string, unknown> = {};
for (const variant of ['whole', 'slim', 'slimPod']) {
  const { out } = await child(['--expose-gc', 'bench/operator-memory.ts', '--child', variant]);
  caches[variant] = JSON.parse(out);
}

/** `stackanetes operator` from `entry`: its peak RSS once every informer has listed. */
async function operatorPeak(entry: string): Promise<number> {
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const before = api.requests.length;
  const c = spawn(
    process.execPath,
    [
      entry,
      'operator',
      '--metrics-host',
      '127.0.0.1',
      '--metrics-port',
      String(port),
      '--lease-namespace',
      namespace,
    ],
    { env: { ...process.env, KUBECONFIG: api.kubeconfig() }, stdio: 'ignore' },
  );
  try {
    for (let i = 0; i < 600; i++) {
      await sleep(100);
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) break;
    }
    await sleep(3000); // leader election, first reconciles
    if (api.requests.length === before) throw new Error(`${entry}: the operator made no requests`);
    return vmHwmMiB(c.pid!);
  } finally {
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
  }
}

const operator: Record<string, number> = { sourcesMiB: await operatorPeak('src/cli/main.ts') };
if (existsSync('dist/cli/main.js')) operator.compiledMiB = await operatorPeak('dist/cli/main.js');
else console.log('# dist/ is missing: run `npm run build` to measure the compiled operator too');
if (values.baseline)
  operator.baselineMiB = await operatorPeak(`${values.baseline}/src/cli/main.ts`);
await api.close();

const data = {
  nodes: nodeCount,
  pods: podCount,
  cloudObjects: objects.length,
  caches,
  operator,
  ...(values.baseline ? { baseline: values.baseline } : {}),
};
console.log(
  `fake cluster: ${nodeCount} nodes, ${podCount} pods, ${objects.length} objects of examples/ha.yaml, all with managedFields`,
);
for (const [variant, r] of Object.entries(caches) as [
  string,
  { rssAfterMiB: number; cacheHeapMiB: number; peakRssMiB: number },
][])
  console.log(
    `informers for every Pod and Node, ${variant.padEnd(7)}: RSS ${r.rssAfterMiB} MiB after sync (peak ${r.peakRssMiB}); cache ${r.cacheHeapMiB} MiB of heap`,
  );
console.log(
  `stackanetes operator peak RSS: from sources ${operator.sourcesMiB} MiB${operator.compiledMiB ? `, compiled ${operator.compiledMiB} MiB` : ''}${operator.baselineMiB ? `; ${values.baseline} from its sources ${operator.baselineMiB} MiB` : ''} (goal: under 150 MB)`,
);
saveResult('operator-memory', data, `${nodeCount}-nodes`);
