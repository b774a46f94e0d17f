// The README's figures: for each row, which saved bench result it comes from (bench and variant,
// see bench/results.ts), how its text is made from that result's data, the goal it is held
// against, the command that measures it, and the paths whose code it measures (a result older
// than a change to those paths is stale). bench/report.ts turns these into the README's table.
import { memoryBytes } from '../src/render/quantity.ts';

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

/** `node-2 87 MiB, node-3 180 MiB`: one entry per node container, its name without the prefix. */
const perNode = <T>(byNode: unknown, text: (v: T) => string): string =>
  Object.entries((byNode ?? {}) as Record<string, T>)
    .map(([node, v]) => `${node.replace('stackanetes-', '')} ${text(v)}`)
    .join(', ');

/** A deploy of an example from an empty namespace (bench/deploy.ts, variant = the file's name). */
const deploy = (example: 'minimal' | 'ha', memory: string, goal: string, how: string): Figure => ({
  what:
    example === 'minimal'
      ? 'deploy examples/minimal.yaml from an empty namespace (images cached)'
      : 'deploy examples/ha.yaml on three nodes from an empty namespace (images cached)',
  bench: 'deploy',
  variant: example,
  text: (d) =>
    `apply → Ready ${s(d.readySeconds)}; → first ACTIVE server ${s(d.activeSeconds)}; ${memory} ${n(d.baselineMiB)} MiB before, peak ${n(d.peakMiB)} MiB`,
  goal,
  how,
  paths: ['src', `examples/${example}.yaml`, 'bench/deploy.ts'],
});

/**
 * The guest booted before an upgrade: pings lost, and whether its QEMU process is the one it had
 * (results before the gateway node's namespace was pinged from have only the latter on ha).
 */
const guestText = (d: any): string => {
  const qemu = d.guest?.qemuBefore
    ? `guest ${String(d.guest.status)}, its QEMU process ${JSON.stringify(d.guest.qemuBefore) === JSON.stringify(d.guest.qemuAfter) && d.guest.qemuBefore.length === 1 ? 'the same throughout' : `${JSON.stringify(d.guest.qemuBefore)} before, ${JSON.stringify(d.guest.qemuAfter)} after`}`
    : undefined;
  const ping = d.upgrade?.ping
    ? `guest ping lost ${n(d.upgrade.ping.lost)} of ${n(d.upgrade.ping.sent)}`
    : undefined;
  if (ping) return qemu ? `${ping}; ${qemu}` : ping;
  return qemu ? `${qemu} (not pinged)` : 'guest not measured';
};

/** The release upgrade of an example under load (bench/upgrade.ts, variant = the example). */
const upgrade = (example: 'minimal' | 'ha'): Figure[] => {
  const on = example === 'minimal' ? 'examples/minimal.yaml' : 'examples/ha.yaml on three nodes';
  const how = `\`${example === 'ha' ? 'STACKANETES_E2E_CLOUD=ha ' : ''}sudo npm run bench:upgrade\` (on a cloud deployed at 2025.1; leaves it on 2026.1)`;
  const paths = ['src', 'bench/upgrade.ts', 'test/e2e/upgrade.ts'];
  return [
    {
      what: `release upgrade 2025.1 → 2026.1 of ${on} under load, with a guest running`,
      bench: 'upgrade',
      variant: example,
      text: orError(
        (d) =>
          `${n(Math.round(d.seconds))} s for ${n(d.planned)} steps; failed requests ${n(d.upgrade?.totals?.failed)} of ${n(d.upgrade?.totals?.sent)} at ${n(d.rate)}/s to each of ${n(d.apis?.length)} APIs (the same load with nothing changing: ${n(d.baseline?.totals?.failed)} of ${n(d.baseline?.totals?.sent)} in ${n(d.baseline?.seconds)} s); ${guestText(d)}`,
      ),
      goal:
        example === 'ha'
          ? '0 failed requests (APIs with 2+ replicas); the guest kept running'
          : '0 pings lost (APIs with 1 replica: 0 failed requests is the goal only with 2+)',
      how,
      paths,
    },
    {
      what: `release upgrade 2025.1 → 2026.1 of ${on}: time per service (each until its last step was seen done)`,
      bench: 'upgrade',
      variant: example,
      text: orError((d) =>
        Object.entries((d.services ?? {}) as Record<string, number>)
          .map(([k, v]) => `${k} ${v} s`)
          .join(', '),
      ),
      how,
      paths,
    },
  ];
};

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
  paths: [
    'src/render',
    'src/catalog',
    'src/images',
    'bench/heal',
    'bench/progress.ts',
    'test/e2e/helpers.ts',
    'test/e2e/load-gen.ts',
  ],
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

/** bench/load's phases, each saved as variant `current-<phase>` (bench/load.ts --variant). */
const loadPaths = [
  'src/render',
  'src/catalog',
  'src/images',
  'bench/load.ts',
  'bench/probe-cost.ts',
  'bench/progress.ts',
  'test/e2e/helpers.ts',
  'test/e2e/load-gen.ts',
];

/** How many times the kubelet killed for liveness: each event (`pod container ×count`) counted. */
export const kills = (events: string[]): number =>
  events.reduce((sum, e) => sum + Number(/×(\d+)$/.exec(e)?.[1] ?? 1), 0);

/** Requests per kind (p50/p99, failed/sent), restarts and Ready transitions of a load phase. */
function loadText(d: any): string {
  const kinds = Object.entries((d.kinds ?? {}) as Record<string, any>)
    .map(
      ([k, x]) =>
        `${k} p50 ${n(x.p50Ms)} ms, p99 ${n(x.p99Ms)} ms, ${n(x.failed)}/${n(x.sent)} failed`,
    )
    .join('; ');
  return `${kinds || '?'} (${d.rate ?? '?'}/s for ${s(d.seconds)}); container restarts ${n(d.restarts?.total)}; not Ready ${Array.isArray(d.notReady) ? d.notReady.length : '?'} times`;
}

const renderPaths = [
  'src/api',
  'src/catalog',
  'src/render',
  'src/cli/render.ts',
  'examples/production.yaml',
  'bench/render.ts',
];

/** What bench/vm's guests measure: the cloud's compute and network, the guest image and set-up. */
const vmPaths = [
  'src/render',
  'src/catalog',
  'src/images/guest.ts',
  'src/images/assets/guest',
  'src/openstack/guest-setup.ts',
  'src/openstack/guest-setup.py',
  'examples/minimal.yaml',
  'bench/vm.ts',
  'test/e2e/guests.ts',
  'test/e2e/helpers.ts',
];

/** bench/memory's figure for one container (bench/memory.ts). */
interface MemoryFigure {
  container?: string;
  request?: string;
  limit?: string;
  meanWorkingSetMiB?: number;
  peakWorkingSetMiB?: number;
}

/** What bench/memory measures: what the catalog asks for and what the containers run. */
const memoryPaths = [
  'src/catalog',
  'src/render',
  'src/images',
  'examples/minimal.yaml',
  'bench/memory.ts',
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
  goal:
    variant === 'warm'
      ? 'under 45 min, every tier but long and ha (each asked for by its variable)'
      : 'under 90 min',
  how: '`bash .ci/run` (saves its result)',
  paths: ['src', 'test', 'bench', '.ci', 'examples', 'package.json', 'package-lock.json'],
});

/**
 * A bench of repeated runs (`d.runs`): the runs, the range of a seconds field over them
 * (`lo–hi s`, `?` when none has it) and the sum of a count.
 */
function repeated(d: Record<string, any>) {
  const runs = (d.runs ?? []) as Record<string, any>[];
  const range = (k: string) => {
    const v = runs.map((r) => r[k]).filter((x): x is number => typeof x === 'number');
    if (v.length === 0) return '?';
    const [lo, hi] = [Math.min(...v), Math.max(...v)].map((x) => x.toFixed(0));
    return lo === hi ? `${lo} s` : `${lo}–${hi} s`;
  };
  const sum = (f: (r: Record<string, any>) => number) => runs.reduce((a, r) => a + f(r), 0);
  return { runs, range, sum };
}

export const figures: readonly Figure[] = [
  {
    what: 'validate + render + YAML, examples/production.yaml',
    bench: 'render',
    text: (d) =>
      `${n(d.production?.objects)} objects, ${n(d.production?.meanMs)} ms mean (p95 ${n(d.production?.p95Ms)} ms)`,
    goal: 'under 100 ms',
    how: '`npm run bench:render`',
    paths: renderPaths,
  },
  {
    what: 'the same with 1000 compute nodes by host name',
    bench: 'render',
    text: (d) =>
      `${n(d.thousandNodes?.objects)} objects, ${n(d.thousandNodes?.meanMs)} ms mean; peak RSS ${n(d.peakRssMiB)} MiB`,
    goal: 'under 100 ms, as many objects as for production.yaml',
    how: '`npm run bench:render`',
    paths: renderPaths,
  },
  operator(100),
  operator(1000),
  {
    what: "the operator's memory with 1000 Nodes and 4000 Pods on a fake API server (no cluster)",
    bench: 'operator-memory',
    variant: '1000-nodes',
    text: (d) =>
      `peak RSS ${n(d.operator?.compiledMiB)} MiB compiled, ${n(d.operator?.sourcesMiB)} MiB from the sources${typeof d.operator?.baselineMiB === 'number' ? ` (--baseline checkout: ${d.operator.baselineMiB} MiB)` : ''}; cache heap of every Pod and Node: ${n(d.caches?.whole?.cacheHeapMiB)} MiB whole, ${n(d.caches?.slim?.cacheHeapMiB)} MiB without managedFields, ${n(d.caches?.slimPod?.cacheHeapMiB)} MiB with slim Pods`,
    goal: 'peak RSS under 150 MB',
    how: '`npm run build && npm run bench:operator-memory`',
    paths: [
      'src',
      'bin',
      'tsconfig.build.json',
      'package-lock.json',
      'examples/ha.yaml',
      'test/unit/fake-api.ts',
      'bench/operator-memory.ts',
    ],
  },
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
    what: 'remediate under load: Keystone built without updates → fixed image on every pod (canary, gate, roll)',
    bench: 'remediate',
    text: orError(
      (d) =>
        `${n(d.remediate?.seconds)} s from the scan to every pod on the fix (${n(d.replicas)} replicas); failed requests ${n(d.remediate?.totals?.failed)} of ${n(d.remediate?.totals?.sent)} at ${n(d.rate)}/s`,
    ),
    goal: '0 failed requests with 2 replicas',
    how: '`sudo npm run bench:remediate`',
    paths: [
      'src/controller/rollout.ts',
      'src/cli/remediate.ts',
      'src/openstack/gate.py',
      'src/images',
      'bench/remediate.ts',
    ],
  },
  {
    what: 'a Keystone image that cannot issue tokens, rolled out under load: stopped at the canary',
    bench: 'remediate',
    text: orError(
      (d) =>
        `stopped and cleaned up in ${n(d.badImage?.seconds)} s (exit ${n(d.badImage?.exit)}); failed requests ${n(d.badImage?.totals?.failed)} of ${n(d.badImage?.totals?.sent)} at ${n(d.rate)}/s`,
    ),
    goal: '0 failed requests',
    how: '`sudo npm run bench:remediate`',
    paths: [
      'src/controller/rollout.ts',
      'src/cli/remediate.ts',
      'src/openstack/gate.py',
      'bench/remediate.ts',
    ],
  },
  ...upgrade('minimal'),
  ...upgrade('ha'),
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
    what: 'three real nodes: `cluster up --nodes 3` from one node, a node booted, idle memory',
    bench: 'multinode',
    variant: 'nodes',
    text: (d) =>
      `two node containers added, both Ready, in ${s(d.addTwoNodesSeconds)}; \`node start\` → Ready ${s(d.startToReadySeconds)}; idle ${perNode<number>(d.idleMiB, (v) => `${v} MiB`)}`,
    goal: 'up under 90 s, under 300 MiB per idle node',
    how: '`sudo npm run bench:multinode`',
    paths: ['src/cluster', 'bench/multinode.ts'],
  },
  {
    what: 'a node with a guest power-cut under load (HA cloud, 3 nodes): fenced, guest elsewhere, failed requests',
    bench: 'node-failure',
    text: orError((d) => {
      const { runs, range, sum } = repeated(d);
      return `${runs.length} runs, from the cut: fenced ${range('fencedS')}, guest ACTIVE on another node ${range('activeElsewhereS')}, SSH up there ${range('sshUpElsewhereS')}; failed requests ${sum((r) => r.totals?.failed ?? 0)} of ${sum((r) => r.totals?.sent ?? 0)} at ${n(d.rate)}/s (${sum((r) => r.baseline?.failed ?? 0)} of ${sum((r) => r.baseline?.sent ?? 0)} in the 20 s before each cut), every API serving fully ${range('servingFullyS')} after the cut; committed rows lost ${runs.filter((r) => r.committedRowIntact !== true).length}; guests running twice ${runs.filter((r) => r.qemuProcesses !== 1 || r.qemuProcessesAfterReturn !== 1).length}; returned node's compute enabled after ${range('computeBackS')}`;
    }),
    goal: 'serving fully under 30 s, guests answering elsewhere under 120 s, 0 writes lost, 0 running twice',
    how: '`up --nodes 3 -f examples/ha.yaml`, `sudo STACKANETES_E2E_CLOUD=ha npm run bench:node-failure`',
    paths: [
      'src/controller/nodes.ts',
      'src/controller/fencing.ts',
      'src/controller/nova-healing.ts',
      'src/openstack/api.ts',
      'bench/node-failure.ts',
    ],
  },
  {
    what: 'every MariaDB server of the HA cloud SIGKILLed at once under a writer (full Galera outage)',
    bench: 'galera-outage',
    text: orError((d) => {
      const { runs, range, sum } = repeated(d);
      return `${runs.length} runs, from the kill: writable again ${range('writableS')}, 3 members Synced ${range('syncedS')}; acknowledged rows lost ${sum((r) => r.lost?.length ?? 0)} of ${sum((r) => r.acked ?? 0)}; one member bootstrapped (the most advanced) in ${runs.filter((r) => r.bootstrapped === 1).length} of ${runs.length}`;
    }),
    goal: 'writable again under 120 s, 0 acknowledged writes lost',
    how: '`up --nodes 3 -f examples/ha.yaml`, `sudo STACKANETES_E2E_CLOUD=ha npm run bench:galera-outage`',
    paths: ['src/render/infra/database.ts', 'test/e2e/galera-outage.ts', 'bench/galera-outage.ts'],
  },
  {
    what: 'the HA cloud (examples/ha.yaml) on three nodes: memory per node, image pulls per node',
    bench: 'multinode',
    variant: 'cloud',
    text: (d) =>
      `memory ${perNode<number>(d.memoryMiB, (v) => `${v} MiB`)}; pulls ${perNode<{
        images: number;
        totalSeconds: number;
        max: number;
      }>(d.pulls, (v) => `${v.images} images in ${v.totalSeconds} s (longest ${v.max} s)`)}`,
    how: '`up --nodes 3 -f examples/ha.yaml`, `sudo npm run bench:multinode -- --cloud`',
    paths: ['src/cluster', 'src/render', 'examples/ha.yaml', 'bench/multinode.ts'],
  },
  deploy(
    'ha',
    'machine memory',
    'Ready under 10 min',
    '`STACKANETES_E2E_CLOUD=ha npm run bench:deploy -- -f examples/ha.yaml` (after `up --nodes 3 --no-cloud`)',
  ),
  deploy(
    'minimal',
    'node memory',
    'Ready under 240 s, ACTIVE under 300 s',
    '`npm run bench:deploy`',
  ),
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
  heal('keystone-1', 'Keystone, 1 replica, pod deleted', 'under 8 s', (d) =>
    d.tokenSeconds === 0 && d.outageSeconds === 0
      ? `no token request refused (polled every 100 ms; the old pod served until the new one was Ready, ${s(d.readySeconds)}; it exited at ${s(d.processExitSeconds)})`
      : `tokens again after ${s(d.tokenSeconds)} (new pod Ready ${s(d.readySeconds)})`,
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
  {
    what: 'CPU of all the probes of the cloud (examples/minimal.yaml), run as the kubelet runs them',
    bench: 'load',
    variant: 'current-probes',
    text: (d) =>
      `${typeof d.percentOfOneCore === 'number' ? d.percentOfOneCore.toFixed(2) : '?'} % of one core (${typeof d.msPerMin === 'number' ? Math.round(d.msPerMin) : '?'} ms of CPU a minute, ${Array.isArray(d.probes) ? d.probes.length : '?'} probes)`,
    goal: 'under 5 % of one core',
    how: '`npm run bench:load -- --only probes`',
    paths: loadPaths,
  },
  {
    what: 'tokens, image lists and server lists on the quiet cloud',
    bench: 'load',
    variant: 'current-quiet',
    text: loadText,
    goal: '0 failed, no restart, always Ready',
    how: '`npm run bench:load -- --only quiet`',
    paths: loadPaths,
  },
  {
    what: 'the same while a best-effort pod keeps both cores busy',
    bench: 'load',
    variant: 'current-hog',
    text: (d) =>
      `${loadText(d)}; Ready again ${s(d.readyAgainSeconds)} after the hog stopped; node busy ${n(d.nodeBusyPercent)} %`,
    goal: '0 failed, no restart, always Ready',
    how: '`npm run bench:load -- --only hog`',
    paths: loadPaths,
  },
  ...(
    [
      ['current-overload', "liveness asks uWSGI's master (today)"],
      ['api-liveness-overload', 'liveness GETs the API itself (before 06ac1c5)'],
    ] as const
  ).map(([variant, how]): Figure => ({
    what: `overload: tokens, image lists and server lists far beyond what the node serves; ${how}`,
    bench: 'load',
    variant,
    text: (d) =>
      `${loadText(d)}; killed for failed liveness ${Array.isArray(d.livenessKills) ? kills(d.livenessKills) : '?'} times; Ready again ${s(d.readyAgainSeconds)} after the load stopped; load average up to ${n(d.loadavg?.max)}`,
    goal: 'no container killed for liveness',
    how: '`npm run bench:load -- --only overload` (`--variant api-liveness` on a cloud deployed by 06ac1c5^)',
    paths: loadPaths,
  })),
  {
    what: 'one server from the guest image: create → ACTIVE → its guest answers SSH on a floating IP',
    bench: 'vm',
    variant: 'guests',
    text: (d) =>
      `ACTIVE ${s(d.one?.activeSeconds)}, SSH ${s(d.one?.sshSeconds)} after the create (${d.one?.host ?? '?'})`,
    how: '`npm run bench:vm`',
    paths: vmPaths,
  },
  {
    what: 'servers created at once: the last ACTIVE, the last answering SSH',
    bench: 'vm',
    variant: 'guests',
    text: (d) =>
      `${n(d.many?.count)} servers: the last ACTIVE ${s(d.many?.lastActiveSeconds)}, the last answering SSH ${s(d.many?.lastSshSeconds)} after the creates`,
    how: '`npm run bench:vm`',
    paths: vmPaths,
  },
  {
    what: 'memory per running guest on the node (flavor m1.guest, 128 MB)',
    bench: 'vm',
    variant: 'guests',
    text: (d) =>
      `QEMU PSS ${n(d.many?.meanQemuPssMiB)} MiB per guest; node memory in use +${n(d.many?.perGuestNodeMiB)} MiB per guest (${n(d.many?.count)} guests)`,
    how: '`npm run bench:vm`',
    paths: vmPaths,
  },
  {
    what: 'deploy from an empty namespace (images cached) → Ready → guest set-up → first guest answering SSH',
    bench: 'vm',
    variant: 'deploy',
    text: (d) =>
      `Ready ${s(d.readySeconds)}, set up ${s(d.setUpSeconds)}, first guest answers SSH ${s(d.firstSshSeconds)} (${d.spec ?? '?'})`,
    goal: 'under 6 min on 2 cores',
    how: '`npm run bench:vm -- --deploy`',
    paths: [
      'src',
      'examples/minimal.yaml',
      'bench/vm.ts',
      'test/e2e/guests.ts',
      'test/e2e/helpers.ts',
    ],
  },
  {
    what: "memory of the running cloud's containers (kubelet working set) beside their requests",
    bench: 'memory',
    variant: 'minimal',
    text: (d) => {
      const f = (Array.isArray(d.figures) ? d.figures : []) as MemoryFigure[];
      const total = (k: 'meanWorkingSetMiB' | 'peakWorkingSetMiB') =>
        f.length ? String(f.reduce((a, x) => a + (x[k] ?? 0), 0)) : '?';
      return `${f.length || '?'} containers: working set ${total('meanWorkingSetMiB')} MiB mean in all, peaks add up to ${total('peakWorkingSetMiB')} MiB; requests ${f.length ? Math.round(f.reduce((a, x) => a + (x.request ? memoryBytes(x.request) / 2 ** 20 : 0), 0)) : '?'} MiB (${n(d.samples)} samples every ${s(d.everySeconds)})`;
    },
    how: '`npm run bench:memory`',
    paths: memoryPaths,
  },
  {
    what: 'the container of that cloud closest to its memory limit',
    bench: 'memory',
    variant: 'minimal',
    text: (d) => {
      const f = ((Array.isArray(d.figures) ? d.figures : []) as MemoryFigure[])
        .filter((x) => x.limit && typeof x.peakWorkingSetMiB === 'number')
        .map((x) => ({ ...x, share: x.peakWorkingSetMiB! / (memoryBytes(x.limit!) / 2 ** 20) }))
        .sort((a, b) => b.share - a.share)[0];
      return f
        ? `${f.container}: peak ${f.peakWorkingSetMiB} MiB of its ${f.limit} limit (${Math.round(100 * f.share)} %)`
        : '?';
    },
    goal: 'every peak well under its limit',
    how: '`npm run bench:memory`',
    paths: memoryPaths,
  },
  {
    what: "the dashboard's pod cache and one snapshot, at bench/operator's scale (no cluster)",
    bench: 'dashboard',
    text: (d) =>
      `heap ${n(d.heapMiBDashboardPods)} MiB for ${n(d.pods)} pods on ${n(d.nodes)} nodes (whole pods: ${n(d.heapMiBWholePods)} MiB); one snapshot ${n(d.snapshotMsMedian)} ms, ${n(d.snapshotKiB)} KiB`,
    how: '`npm run bench:dashboard`',
    paths: [
      'src/server/dashboard-informers.ts',
      'src/server/dashboard-view.ts',
      'src/render',
      'src/catalog',
      'test/unit/render/fixtures.ts',
      'bench/dashboard.ts',
    ],
  },
  ci('warm'),
  ci('cold'),
];
