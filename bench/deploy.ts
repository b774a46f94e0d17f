// bench/deploy: a whole cloud from nothing on the local cluster's real nodes, images cached.
// Deletes the cloud's namespace (volumes included), then times `stackanetes apply -f
// examples/minimal.yaml` to Ready=True and to the first ACTIVE server (the spec's Nova driver:
// libvirt in examples/minimal.yaml, the server from the 64 KiB e2e-boot image), and
// samples the node's memory in use (MemTotal − MemAvailable) every second; then reads where the
// time went (when each component turned Ready, how long each Job ran). Prints the figures and
// saves them (bench/results.ts, variant = the spec file's name).
// Needs the operator running (`npx stackanetes up` starts it).
// Usage: eval "$(npx stackanetes cluster env)"; node bench/deploy.ts [-f examples/minimal.yaml]
//        the HA cloud: `sudo npx stackanetes up --nodes 3 --no-cloud`, then
//        STACKANETES_E2E_CLOUD=ha node bench/deploy.ts -f examples/ha.yaml
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import type { KubeObject } from '../src/render/kube.ts';
import { fakeNodeAnnotation } from '../src/cluster/components.ts';
import { dataPlaneNamespace } from '../src/render/namespaces.ts';
import {
  client,
  cloudName,
  cloudReady,
  createServer,
  deleteServer,
  ensureTinyFlavor,
  inClient,
  namespace as followedNamespace,
  serverSettled,
  until,
} from '../test/e2e/helpers.ts';
import { figures } from './figures.ts';
import { saveResult } from './results.ts';

if (!process.env.KUBECONFIG) {
  console.error(
    'KUBECONFIG is not set: run `npx stackanetes up`, then `eval "$(npx stackanetes cluster env)"`',
  );
  process.exit(2);
}
const fileArg = process.argv.indexOf('-f');
const file = fileArg > 0 ? process.argv[fileArg + 1]! : 'examples/minimal.yaml';
const doc = parse(readFileSync(file, 'utf8')) as { metadata: { name: string; namespace?: string } };
const namespace = doc.metadata.namespace ?? 'openstack';
// The helpers follow one cloud (STACKANETES_E2E_NAMESPACE, STACKANETES_E2E_CLOUD): another one
// would be waited on for ever.
for (const [what, spec, followed, variable] of [
  ['into namespace', namespace, followedNamespace, 'STACKANETES_E2E_NAMESPACE'],
  ['cloud', doc.metadata.name, cloudName, 'STACKANETES_E2E_CLOUD'],
] as const) {
  if (spec !== followed) {
    console.error(`${file} deploys ${what} ${spec}; set ${variable}=${spec}`);
    process.exit(2);
  }
}

function memUsedMiB(): number {
  const m = readFileSync('/proc/meminfo', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(m)?.[1] ?? 0);
  return (kb('MemTotal') - kb('MemAvailable')) / 1024;
}

const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
const c = await client();

// 1. An empty cluster: no namespace, no volumes, no cloud.
log(`deleting namespace ${namespace} (the cloud, its Jobs, Secrets and volumes)`);
spawnSync(
  'kubectl',
  ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=10m'],
  {
    stdio: 'inherit',
  },
);
// The cloud's data plane has a namespace of its own, which the operator deletes with the cloud.
spawnSync(
  'kubectl',
  ['wait', '--for=delete', `namespace/${dataPlaneNamespace(namespace)}`, '--timeout=5m'],
  { stdio: 'inherit' },
);
await until(
  async () => {
    const pvs = (await c.list('v1', 'PersistentVolume')).items.filter(
      (pv) => (pv.spec as { claimRef?: { namespace?: string } }).claimRef?.namespace === namespace,
    );
    return pvs.length === 0;
  },
  "the namespace's volumes to be released and deleted",
  5 * 60_000,
  2000,
);
await sleep(5000);
const baseline = memUsedMiB();
log(`node memory in use with no cloud: ${baseline.toFixed(0)} MiB`);

// 2. apply → Ready → first ACTIVE server, sampling memory all along.
let peak = baseline;
const sampler = setInterval(() => (peak = Math.max(peak, memUsedMiB())), 1000);
const t0 = performance.now();
const started = Date.now();
const r = spawnSync(process.execPath, ['bin/stackanetes.js', 'apply', '-f', file, '--no-wait'], {
  encoding: 'utf8',
});
if (r.status !== 0) throw new Error(`apply failed: ${r.stderr}`);
log('applied; waiting for Ready');
await until(() => cloudReady(), 'the cloud to be Ready', 20 * 60_000, 1000);
const ready = (performance.now() - t0) / 1000;
log(`Ready after ${ready.toFixed(0)} s; booting a server`);
const flavor = await ensureTinyFlavor();
const image = (
  await inClient(
    'head -c 65536 /dev/zero > /tmp/b.img && openstack image create --disk-format raw --container-format bare --file /tmp/b.img bench -f value -c id',
  )
)
  .trim()
  .split('\n')
  .pop()!;
const id = await createServer('bench-1', `--flavor ${flavor} --image ${image} --nic none`);
const server = await serverSettled(id, 15 * 60_000); // polled every 2 s
const active = (performance.now() - t0) / 1000;
clearInterval(sampler);
const { components, jobs } = await whereTheTimeWent();
const status = String(server.status);
await deleteServer(id);
const settled = memUsedMiB();

// The real nodes the cloud ran on (kwok's simulated ones run nothing), and this example's goal
// as the README's table holds it (bench/figures.ts).
const realNodes = (await c.list('v1', 'Node')).items.filter(
  (n) => n.metadata?.annotations?.[fakeNodeAnnotation.key] === undefined,
).length;
const goal = figures.find(
  (f) => f.bench === 'deploy' && f.variant === basename(file, '.yaml'),
)?.goal;
console.log('');
console.log(
  `deploy of ${file} on ${realNodes} real node${realNodes === 1 ? '' : 's'} (${cpus().length} cores), images cached${goal ? ` (goal: ${goal})` : ''}:`,
);
console.log(`  apply → Ready=True:           ${ready.toFixed(0)} s`);
console.log(`  apply → first server ${status}: ${active.toFixed(0)} s`);
console.log(
  `  node memory in use: ${baseline.toFixed(0)} MiB before, peak ${peak.toFixed(0)} MiB, ${settled.toFixed(0)} MiB after (cloud: +${(settled - baseline).toFixed(0)} MiB)`,
);
console.log(
  '  components Ready after (s from apply, 1 s resolution; each waits for what it needs):',
);
for (const [name, at] of Object.entries(components)) console.log(`    ${name.padEnd(10)} ${at}`);
console.log('  Jobs (s from start to completion):');
for (const [name, secs] of Object.entries(jobs)) console.log(`    ${name.padEnd(40)} ${secs}`);
saveResult(
  'deploy',
  {
    file,
    realNodes,
    readySeconds: Math.round(ready),
    activeSeconds: Math.round(active),
    status,
    baselineMiB: Math.round(baseline),
    peakMiB: Math.round(peak),
    settledMiB: Math.round(settled),
    componentsReadySeconds: components,
    jobSeconds: jobs,
  },
  basename(file, '.yaml'),
);
c.close();

/**
 * Where the time went: when each component's condition last turned True (seconds after the
 * apply), and how long each Job ran (start to completion), read from the cluster after the run.
 */
async function whereTheTimeWent(): Promise<{
  components: Record<string, number>;
  jobs: Record<string, number>;
}> {
  const cloud = await c.get<KubeObject>(
    'stackanetes.io/v1alpha1',
    'OpenStackCloud',
    doc.metadata.name,
    namespace,
  );
  const conds =
    (
      cloud.status as {
        conditions?: { type: string; status: string; lastTransitionTime: string }[];
      }
    ).conditions ?? [];
  const components = Object.fromEntries(
    conds
      .filter((x) => x.type !== 'Ready' && x.status === 'True')
      .map(
        (x) =>
          [
            x.type.replace(/Ready$/, '').toLowerCase(),
            Math.round((Date.parse(x.lastTransitionTime) - started) / 1000),
          ] as const,
      )
      .sort((a, b) => a[1] - b[1]),
  );
  const { items } = await c.list<KubeObject>('batch/v1', 'Job', { namespace });
  const jobs = Object.fromEntries(
    items
      .map((j) => {
        const st = j.status as { startTime?: string; completionTime?: string };
        const secs =
          st.startTime && st.completionTime
            ? (Date.parse(st.completionTime) - Date.parse(st.startTime)) / 1000
            : NaN;
        return [j.metadata.name.replace(/-[0-9a-f]{10}$/, ''), secs] as const;
      })
      .sort((a, b) => b[1] - a[1]),
  );
  return { components, jobs };
}
