// bench/render: how long a render takes and how much memory it needs, for examples/production.yaml
// and for a cloud whose compute role selects 1000 nodes by host name. Prints figures and saves them
// (bench/results.ts); asserts nothing.
// Usage: npm run bench:render [-- --iterations 200]
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { saveResult } from './results.ts';

const t0 = performance.now();
const { validateText } = await import('../src/api/v1alpha1/validate.ts');
const { cloudObjects, objectYaml, toYaml } = await import('../src/cli/render.ts');
const { generateSecrets } = await import('../src/secrets/cloud-secrets.ts');
const startup = performance.now() - t0;

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '100' } } });
const iterations = Number(values.iterations);

const production = readFileSync('examples/production.yaml', 'utf8');
const hosts = Array.from({ length: 1000 }, (_, i) => `compute-${String(i).padStart(4, '0')}`);
const thousand = production.replace(
  /compute:\n(\s+)matchLabels:.*\n(\s+)matchExpressions:\n(\s+)- .*\n/,
  (_m, a: string, b: string, c: string) =>
    `compute:\n${a}matchLabels: { node-role.kubernetes.io/openstack-compute: 'true' }\n${b}matchExpressions:\n${c}- key: kubernetes.io/hostname\n${c}  operator: In\n${c}  values: [${hosts.join(', ')}]\n`,
);
if (thousand === production)
  throw new Error('could not build the 1000-node spec from examples/production.yaml');

const secrets = generateSecrets();
let peakRss = process.memoryUsage().rss;

function measure(label: string, text: string) {
  const times: number[] = [];
  let objects = 0;
  let bytes = 0;
  for (let i = 0; i < iterations + 5; i++) {
    const start = performance.now();
    const r = validateText(text);
    if (!r.ok) throw new Error(`${label}: ${JSON.stringify(r.problems)}`);
    const objs = cloudObjects(r.cloud, secrets);
    const yaml = toYaml(objs);
    const took = performance.now() - start;
    if (i >= 5) times.push(took); // the first few runs warm the JIT up
    objects = objs.length;
    bytes = yaml.length;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  times.sort((a, b) => a - b);
  const pct = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  const mean = times.reduce((a, b) => a + b, 0) / times.length;
  console.log(
    `${label.padEnd(34)} objects ${String(objects).padStart(4)}  yaml ${(bytes / 1024).toFixed(0).padStart(4)} KiB  ` +
      `mean ${mean.toFixed(1)} ms  p50 ${pct(0.5).toFixed(1)} ms  p95 ${pct(0.95).toFixed(1)} ms`,
  );
  return {
    objects,
    yamlKiB: Math.round(bytes / 1024),
    meanMs: round(mean),
    p50Ms: round(pct(0.5)),
    p95Ms: round(pct(0.95)),
  };
}

const round = (x: number) => Math.round(x * 10) / 10;

console.log(
  `node ${process.version}, ${iterations} timed iterations each (validate + render + YAML)`,
);
console.log(`start-up (module load): ${startup.toFixed(0)} ms`);
const a = measure('examples/production.yaml', production);
const b = measure('production with 1000 compute nodes by name', thousand);
// Why `render` writes YAML with js-yaml and not the `yaml` library the rest of the project uses:
// both emit the 1000-node cloud's objects, in one run, and the ratio is printed and saved.
const { stringify } = await import('yaml');
const objs1000 = (() => {
  const r = validateText(thousand);
  if (!r.ok) throw new Error('1000-node spec invalid');
  return cloudObjects(r.cloud, secrets);
})();
function emitMs(emit: (o: (typeof objs1000)[number]) => string): number {
  for (let i = 0; i < 5; i++) objs1000.map(emit); // warm-up
  const start = performance.now();
  for (let i = 0; i < iterations; i++) objs1000.map(emit).join('---\n');
  return round((performance.now() - start) / iterations);
}
const jsYamlMs = emitMs(objectYaml);
const yamlLibMs = emitMs((o) => stringify(o));
console.log(
  `YAML of the 1000-node cloud: js-yaml ${jsYamlMs} ms, yaml ${yamlLibMs} ms (yaml/js-yaml ${(yamlLibMs / jsYamlMs).toFixed(1)}×)`,
);
const peakRssMiB = Math.round(Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 1048576);
console.log(
  `object count ratio 1000-node / production: ${(b.objects / a.objects).toFixed(2)} (compute runs as DaemonSets)`,
);
console.log(`peak RSS: ${peakRssMiB} MiB`);
console.log(
  `goal: under 100 ms per render after start-up — ${Math.max(a.meanMs, b.meanMs) < 100 ? 'met' : 'NOT met'}`,
);
saveResult('render', {
  node: process.version,
  iterations,
  startupMs: Math.round(startup),
  production: a,
  thousandNodes: b,
  peakRssMiB,
  yamlEmit: { jsYamlMs, yamlLibMs },
});
