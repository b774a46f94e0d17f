// bench/operator: the operator deploying examples/minimal.yaml-shaped cloud onto the local
// cluster's kwok nodes (`cluster up --fake-nodes N`, all labelled for every role): time from apply
// to Ready, API requests made (and per reconcile), and the operator's peak RSS. The operator runs
// compiled (`npm run build` first, as in its image). Prints figures and saves them
// (bench/results.ts, variant `<N>-nodes`).
// Usage: eval "$(npx stackanetes cluster env)"; npm run bench:operator
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  client,
  deleteNamespace,
  kwokCloud,
  kwokVolumes,
  makeNamespace,
  specFile,
  startOperator,
  waitForMetrics,
  waitReady,
  writes,
} from '../test/integration/operator/helpers.ts';
import { spawnSync } from 'node:child_process';
import type { KubeObject } from '../src/render/kube.ts';
import { dataPlaneNamespace } from '../src/render/namespaces.ts';
import { saveResult } from './results.ts';

if (!process.env.KUBECONFIG) {
  console.error(
    'KUBECONFIG is not set: run `eval "$(npx stackanetes cluster env)"` after `npx stackanetes cluster up --fake-nodes 1000`',
  );
  process.exit(2);
}

function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

// The operator as it ships: compiled ahead of time, no type stripping at run time.
const build = spawnSync('npm', ['run', 'build'], { encoding: 'utf8' });
if (build.status !== 0) throw new Error(`npm run build failed:\n${build.stdout}${build.stderr}`);

/**
 * An operator installed in the cluster by `stackanetes up` watches every namespace: it would
 * reconcile the bench's cloud too, and the bench would count the other operator's work (or the
 * two would fight over the status). It is scaled to 0 for the run; the returned function gives
 * its replicas back.
 */
function pauseInClusterOperator(): () => void {
  const kubectl = (...args: string[]) =>
    spawnSync('kubectl', ['-n', 'stackanetes-system', ...args], { encoding: 'utf8' });
  const replicas = Number(
    kubectl('get', 'deployment', 'stackanetes-operator', '-o', 'jsonpath={.spec.replicas}')
      .stdout || 0,
  );
  if (!(replicas > 0)) return () => undefined;
  console.log(`pausing the in-cluster operator (stackanetes-system, ${replicas} replicas)`);
  kubectl('scale', 'deployment', 'stackanetes-operator', '--replicas=0');
  kubectl(
    'wait',
    'pod',
    '-l',
    'app.kubernetes.io/name=stackanetes-operator',
    '--for=delete',
    '--timeout=120s',
  );
  return () => {
    kubectl('scale', 'deployment', 'stackanetes-operator', `--replicas=${replicas}`);
    console.log(`in-cluster operator given back its ${replicas} replicas`);
  };
}

const c = await client();
const resume = pauseInClusterOperator();
const nodes = (
  await c.list<KubeObject>('v1', 'Node', { labelSelector: 'stackanetes.io/fake=true' })
).items.length;
const ns = await makeNamespace(c, 'bench');
const drop = await kwokVolumes(c, ns);
const op = startOperator(ns);
try {
  await waitForMetrics(op);
  const reconcilesBefore = await reconciles(op.port);
  const started = performance.now();
  const r = spawnSync(
    process.execPath,
    ['bin/stackanetes.js', 'apply', '-f', specFile(kwokCloud('bench', ns)), '--no-wait'],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  await waitReady(c, ns, 'bench', op, 20 * 60_000);
  const readyAfter = (performance.now() - started) / 1000;
  // When did the last pod become Ready? The operator's share is the time after that.
  // The cloud's pods are in its namespace and its data plane's (the node agents, one per node).
  const pods = [
    ...(await c.list<KubeObject>('v1', 'Pod', { namespace: ns })).items,
    ...(await c.list<KubeObject>('v1', 'Pod', { namespace: dataPlaneNamespace(ns) })).items,
  ];
  const lastPodReady = Math.max(
    ...pods.map((p) => {
      const cond = (
        (p.status as { conditions?: { type: string; lastTransitionTime: string }[] }).conditions ??
        []
      ).find((x) => x.type === 'Ready' || x.type === 'PodReadyToStartContainers');
      return cond ? Date.parse(cond.lastTransitionTime) : 0;
    }),
  );
  const cloud = await c.get<KubeObject>('stackanetes.io/v1alpha1', 'OpenStackCloud', 'bench', ns);
  const readyCond = (
    cloud.status as { conditions: { type: string; lastTransitionTime: string }[] }
  ).conditions.find((x) => x.type === 'Ready')!;
  const afterPods = (Date.parse(readyCond.lastTransitionTime) - lastPodReady) / 1000;
  await sleep(2000);
  const counts = await op.requests();
  const n = (await reconciles(op.port)) - reconcilesBefore;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const w = writes(counts);
  console.log(`kwok nodes: ${nodes}; pods: ${pods.length}`);
  console.log(
    `apply → Ready: ${readyAfter.toFixed(1)} s; Ready ${afterPods.toFixed(1)} s after the last pod was Ready (1 s resolution)`,
  );
  console.log(
    `API requests: ${total} (writes ${w}, Lease ${writes(counts, true) - w}); reconciles: ${n}; requests per reconcile: ${(total / Math.max(1, n)).toFixed(1)}`,
  );
  console.log(`by verb and resource: ${JSON.stringify(counts)}`);
  const rss = peakRssMiB(op.proc.pid!);
  console.log(`operator peak RSS: ${rss.toFixed(0)} MiB (goal: under 150 MB)`);
  saveResult(
    'operator',
    {
      nodes,
      pods: pods.length,
      readySeconds: Math.round(readyAfter * 10) / 10,
      readyAfterLastPodSeconds: afterPods,
      requests: total,
      writes: w,
      leaseWrites: writes(counts, true) - w,
      reconciles: n,
      requestsPerReconcile: Math.round((total / Math.max(1, n)) * 10) / 10,
      byVerbAndResource: counts,
      peakRssMiB: Math.round(rss),
    },
    `${nodes}-nodes`,
  );
} finally {
  await op.stop();
  await deleteNamespace(c, ns);
  await drop();
  resume();
  c.close();
}

async function reconciles(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return [...text.matchAll(/^stackanetes_reconcile_total\{outcome="[^"]+"\} (\d+)/gm)].reduce(
    (a, m) => a + Number(m[1]),
    0,
  );
}
