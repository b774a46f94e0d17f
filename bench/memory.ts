// bench/memory: what each container of the running cloud uses, next to the memory request and
// limit it was given (src/catalog/<release>.ts), to size them from measurements. Samples every
// node's kubelet summary (/api/v1/nodes/<node>/proxy/stats/summary: the container cgroup's
// working set, what the kernel counts against the limit, and its RSS) a number of times and keeps
// each container's mean and peak. Prints a table and the totals; saves the figures.
// Usage: eval "$(npx stackanetes cluster env)"; node bench/memory.ts [--samples 30] [--every 10]
//   (run while the cloud does its usual work, e.g. during or after `npm run bench:load`)
import { setTimeout as sleep } from 'node:timers/promises';
import { memoryBytes } from '../src/render/quantity.ts';
import {
  client,
  cloudName,
  cloudPods,
  dataPlaneNamespace,
  namespace,
} from '../test/e2e/helpers.ts';
import { saveResult } from './results.ts';

if (!process.env.KUBECONFIG) {
  console.error(
    'KUBECONFIG is not set: run `npx stackanetes up`, then `eval "$(npx stackanetes cluster env)"`',
  );
  process.exit(2);
}
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const samples = arg('--samples', 30);
const everySeconds = arg('--every', 10);

interface Summary {
  pods?: {
    podRef: { name: string; namespace: string };
    containers?: { name: string; memory?: { workingSetBytes?: number; rssBytes?: number } }[];
  }[];
}

interface Figures {
  /** pod/container */
  container: string;
  /** The workload's app.kubernetes.io/name. */
  workload: string;
  request?: string;
  limit?: string;
  meanWorkingSetMiB: number;
  peakWorkingSetMiB: number;
  peakRssMiB: number;
  samples: number;
}

const c = await client();
const mib = (b: number) => b / 2 ** 20;
const seen = new Map<string, { ws: number[]; rss: number[] }>();

for (let i = 0; i < samples; i++) {
  const nodes = (await c.list('v1', 'Node')).items.map((n) => n.metadata.name);
  for (const node of nodes) {
    const s = await c
      .request<Summary>('GET', `/api/v1/nodes/${node}/proxy/stats/summary`)
      .catch(() => undefined); // kwok nodes have no kubelet
    for (const p of s?.pods ?? []) {
      // The cloud's two namespaces: its control plane's and its data plane's.
      if (p.podRef.namespace !== namespace && p.podRef.namespace !== dataPlaneNamespace) continue;
      for (const ct of p.containers ?? []) {
        const key = `${p.podRef.name}/${ct.name}`;
        const entry = seen.get(key) ?? { ws: [], rss: [] };
        entry.ws.push(ct.memory?.workingSetBytes ?? 0);
        entry.rss.push(ct.memory?.rssBytes ?? 0);
        seen.set(key, entry);
      }
    }
  }
  process.stdout.write(`\r# sample ${i + 1}/${samples}`);
  if (i + 1 < samples) await sleep(everySeconds * 1000);
}
process.stdout.write('\n');

const items = await cloudPods();
const figures: Figures[] = [];
for (const p of items) {
  const spec = p.spec as {
    containers: {
      name: string;
      resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    }[];
  };
  for (const ct of spec.containers) {
    const m = seen.get(`${p.metadata.name}/${ct.name}`);
    if (!m || m.ws.length === 0) continue;
    figures.push({
      container: `${p.metadata.name}/${ct.name}`,
      workload: p.metadata.labels?.['app.kubernetes.io/name'] ?? '',
      ...(ct.resources?.requests?.memory ? { request: ct.resources.requests.memory } : {}),
      ...(ct.resources?.limits?.memory ? { limit: ct.resources.limits.memory } : {}),
      meanWorkingSetMiB: Math.round(mib(m.ws.reduce((a, b) => a + b, 0) / m.ws.length)),
      peakWorkingSetMiB: Math.round(mib(Math.max(...m.ws))),
      peakRssMiB: Math.round(mib(Math.max(...m.rss))),
      samples: m.ws.length,
    });
  }
}
figures.sort((a, b) => b.peakWorkingSetMiB - a.peakWorkingSetMiB);

const pad = (s: string | number, n: number) => String(s).padStart(n);
console.log(
  `${'container'.padEnd(58)} ${pad('request', 8)} ${pad('limit', 8)} ${pad('mean', 6)} ${pad('peak', 6)} ${pad('rss', 6)} ${pad('peak/limit', 10)}`,
);
for (const f of figures) {
  const ratio = f.limit
    ? `${Math.round((100 * f.peakWorkingSetMiB) / mib(memoryBytes(f.limit)))} %`
    : '-';
  console.log(
    `${f.container.padEnd(58)} ${pad(f.request ?? '-', 8)} ${pad(f.limit ?? '-', 8)} ${pad(f.meanWorkingSetMiB, 6)} ${pad(f.peakWorkingSetMiB, 6)} ${pad(f.peakRssMiB, 6)} ${pad(ratio, 10)}`,
  );
}
const sum = (k: 'meanWorkingSetMiB' | 'peakWorkingSetMiB') => figures.reduce((a, f) => a + f[k], 0);
const requested = figures.reduce((a, f) => a + (f.request ? mib(memoryBytes(f.request)) : 0), 0);
console.log(
  `# ${figures.length} containers: working set ${sum('meanWorkingSetMiB')} MiB mean, peaks add up to ${sum('peakWorkingSetMiB')} MiB; requests ${Math.round(requested)} MiB (MiB, ${samples} samples every ${everySeconds} s)`,
);
saveResult('memory', { namespace, cloud: cloudName, samples, everySeconds, figures }, cloudName);
c.close();
