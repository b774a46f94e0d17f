// The README's figures: for each row, which saved bench result it comes from (bench and variant,
// see bench/results.ts), how its text is made from that result's data, the goal it is held
// against, the command that measures it, and the paths whose code it measures (a result older
// than a change to those paths is stale). bench/report.ts turns these into the README's table.

export interface Figure {
  /** What is measured, as the table's first column says it. */
  readonly what: string;
  readonly bench: string;
  readonly variant?: string;
  /** The figure's text from a result's data (missing values show as `?`). */
  readonly text: (data: any) => string;
  readonly goal?: string;
  /** The command that measures it. */
  readonly how: string;
  /** Files and folders whose code the figure measures. */
  readonly paths: readonly string[];
}

/** `12.3 s`, `timeout` for a wait that ran out (null), `?` when absent. */
export function s(x: unknown): string {
  if (x === null) return 'timeout';
  return typeof x === 'number' ? `${x} s` : '?';
}

const n = (x: unknown): string => (typeof x === 'number' ? String(x) : '?');

/** A scenario that could not be measured says why instead of its figures. */
const orError =
  (text: (d: any) => string) =>
  (d: any): string =>
    typeof d?.error === 'string' ? `not measured: ${d.error}` : text(d);

const heal = (
  variant: string,
  what: string,
  goal: string | undefined,
  text: (d: any) => string,
): Figure => ({
  what,
  bench: 'heal',
  variant,
  text: orError(text),
  ...(goal ? { goal } : {}),
  how: `\`npm run bench:heal -- --only ${variant}\``,
  paths: ['src/render', 'src/catalog', 'src/images', 'bench/heal', 'test/e2e/helpers.ts'],
});

const operator = (nodes: number): Figure => ({
  what: `operator: apply → Ready, ${nodes} kwok nodes`,
  bench: 'operator',
  variant: `${nodes}-nodes`,
  text: (d) =>
    `${s(d.readySeconds)}, ${n(d.pods)} pods, Ready ${s(d.readyAfterLastPodSeconds)} after the last pod; ${n(d.requests)} API requests (${n(d.writes)} writes), ${n(d.requestsPerReconcile)} per reconcile; peak RSS ${n(d.peakRssMiB)} MiB`,
  goal: 'peak RSS under 150 MB',
  how: `\`cluster up --fake-nodes ${nodes}\`, \`npm run bench:operator\``,
  paths: [
    'src/controller',
    'src/kube',
    'src/plan',
    'src/render',
    'src/catalog',
    'src/api',
    'bench/operator.ts',
  ],
});

const renderPaths = [
  'src/api',
  'src/catalog',
  'src/render',
  'src/cli/render.ts',
  'examples/ha.yaml',
  'bench/render.ts',
];

const ci = (variant: 'warm' | 'cold'): Figure => ({
  what: `CI (\`bash .ci/run\`), ${variant} cache`,
  bench: 'ci',
  variant,
  text: (d) =>
    `${d.totalSeconds ? `${(d.totalSeconds / 60).toFixed(1)} min` : '?'}: ${d.summary ?? '?'}; ${Object.entries(
      (d.tiers ?? {}) as Record<string, { seconds?: number; ran?: boolean; why?: string }>,
    )
      .map(([t, x]) => (x.ran ? `${t} ${s(x.seconds)}` : `${t} not run (${x.why ?? '?'})`))
      .join(', ')}`,
  goal: variant === 'warm' ? 'under 30 min, every tier run' : 'under 90 min',
  how: '`bash .ci/run` (saves its result)',
  paths: ['src', 'test', 'bench', '.ci', 'examples', 'package.json', 'package-lock.json'],
});

export const figures: readonly Figure[] = [
  {
    what: 'validate + render + YAML, examples/ha.yaml',
    bench: 'render',
    text: (d) =>
      `${n(d.ha?.objects)} objects, ${n(d.ha?.meanMs)} ms mean (p95 ${n(d.ha?.p95Ms)} ms)`,
    goal: 'under 100 ms',
    how: '`npm run bench:render`',
    paths: renderPaths,
  },
  {
    what: 'the same with 1000 compute nodes by host name',
    bench: 'render',
    text: (d) =>
      `${n(d.thousandNodes?.objects)} objects, ${n(d.thousandNodes?.meanMs)} ms mean; peak RSS ${n(d.peakRssMiB)} MiB`,
    goal: 'under 100 ms, as many objects as for ha.yaml',
    how: '`npm run bench:render`',
    paths: renderPaths,
  },
  operator(100),
  operator(1000),
  {
    what: 'images: cold build of all of them, then warm',
    bench: 'images',
    variant: 'all',
    text: (d) =>
      `${n(d.images)} images: cold ${s(d.cold?.seconds)}, warm ${s(d.warm?.seconds)}; ${n(d.totalMB)} MB`,
    how: '`npm run bench:images`',
    paths: ['src/images', 'src/catalog', 'bench/images.ts'],
  },
  {
    what: 'cluster: cold build (as recorded) and warm `cluster up`',
    bench: 'cluster',
    variant: 'warm',
    text: (d) =>
      `cold build ${n(d.coldBuild?.minutes)} min (recorded when built); warm up to a Ready node ${s(d.warm?.upToReadySeconds)} (+${s(d.warm?.provisionerAndKwokSeconds)} provisioner and kwok)`,
    how: '`npm run bench:cluster`',
    paths: ['src/cluster', 'bench/cluster.ts'],
  },
  {
    what: 'cluster: cold build, measured now',
    bench: 'cluster',
    variant: 'cold',
    text: (d) => `${n(d.coldBuild?.minutes)} min`,
    how: '`node bench/cluster.ts --cold`',
    paths: ['src/cluster', 'bench/cluster.ts'],
  },
  {
    what: 'deploy examples/minimal.yaml from an empty namespace (images cached)',
    bench: 'deploy',
    variant: 'minimal',
    text: (d) =>
      `apply → Ready ${s(d.readySeconds)}; → first ACTIVE server ${s(d.activeSeconds)}; node memory ${n(d.baselineMiB)} MiB before, peak ${n(d.peakMiB)} MiB`,
    goal: 'Ready under 240 s, ACTIVE under 300 s',
    how: '`npm run bench:deploy`',
    paths: ['src', 'examples/minimal.yaml', 'bench/deploy.ts'],
  },
  {
    what: 'the same deploy: each component Ready after',
    bench: 'deploy',
    variant: 'minimal',
    text: (d) =>
      Object.entries((d.componentsReadySeconds ?? {}) as Record<string, number>)
        .map(([c, t]) => `${c} ${t} s`)
        .join(', ') || '?',
    how: '`npm run bench:deploy`',
    paths: ['src', 'examples/minimal.yaml', 'bench/deploy.ts'],
  },
  heal(
    'keystone-2',
    'Keystone, 2 replicas under token load, one pod deleted',
    '0 failed',
    (d) =>
      `${n(d.failed)} of ${n(d.sent)} requests failed (${d.rate ?? '?'}); 2 Ready again after ${s(d.readySeconds)}`,
  ),
  heal(
    'keystone-1',
    'Keystone, 1 replica, pod deleted',
    'under 8 s',
    (d) => `tokens again after ${s(d.tokenSeconds)} (new pod Ready ${s(d.readySeconds)})`,
  ),
  heal(
    'mariadb',
    'MariaDB pod deleted (1 replica)',
    undefined,
    (d) =>
      `mariadb-0 Ready ${s(d.readySeconds)}, tokens ${s(d.tokenSeconds)}, \`image list\` ${s(d.imageListSeconds)}; image uploaded before still listed: ${d.markerListed === true ? 'yes' : String(d.markerListed ?? '?')}`,
  ),
  heal(
    'rabbitmq',
    'RabbitMQ pod deleted (1 replica)',
    undefined,
    (d) =>
      `rabbitmq-0 Ready ${s(d.readySeconds)}; nova-compute reported again ${s(d.computeReportedSeconds)}; one server booted after it ACTIVE ${s(d.bootActiveSeconds)} after the delete (${typeof d.bootSeconds === 'number' ? `boot ${s(d.bootSeconds)}` : String(d.bootSeconds ?? '?')})`,
  ),
  heal(
    'kill',
    "Keystone's uWSGI master, then a worker, SIGKILLed from the host",
    'worker: ≤ 1 failed request, no restart',
    (d) =>
      `master: container restarted and Ready ${s(d.masterReadySeconds)}, tokens ${s(d.masterTokenSeconds)}; worker: replaced after ${s(d.workerRespawnSeconds)}, failed token polls ${d.workerFailedPolls ?? '?'}, container restarted: ${d.workerContainerRestarted === false ? 'no' : String(d.workerContainerRestarted ?? '?')}`,
  ),
  heal(
    'sigstop',
    'Keystone hung (SIGSTOP)',
    'restarted within its liveness budget',
    (d) =>
      `restarted after ${s(d.stopRestartSeconds)}, Ready ${s(d.stopReadySeconds)}, tokens ${s(d.stopTokenSeconds)}; budget ${d.livenessProbe ?? '?'}`,
  ),
  ci('warm'),
  ci('cold'),
];
