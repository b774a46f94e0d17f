// bench/load: the cloud that `npx stackanetes up` deployed (examples/minimal.yaml, namespace
// `openstack`) under load, and what its own probes cost. Prints progress, tables and one
// `# result {...}` line, and saves each phase's figures through bench/results.ts (bench `load`,
// variant `<--variant>-<phase>`, e.g. current-probes: a run of one phase leaves the others' newest
// results standing for the README's table, bench/figures.ts). Asserts nothing.
//   probes  every running container's readiness and liveness probe, run --runs times the way the
//           kubelet runs it: exec probes through the container runtime (`crictl exec --sync`, as
//           the kubelet's ExecSync), HTTP GETs and TCP connects from this host. CPU per run: the
//           container's cgroup (cpuacct) minus what the container used over as long a time
//           without probes, and for exec probes containerd and its shims (the runtime's side,
//           runc included); the crictl client's own CPU is shown apart (the kubelet's gRPC call
//           stands in for it). Times the rate the live pod spec gives (60 / periodSeconds),
//           summed over the cloud, as % of one core.
//   quiet   tokens, image lists and server lists, --rate per second in all (the kinds in turn),
//           for --seconds: p50/p99 latency and failures per kind, container restarts (restartCount
//           deltas over every pod of the cloud), the cloud's Ready condition, the load average.
//   hog     the same while a best-effort pod keeps both cores busy; then how long until the
//           cloud is Ready again.
//   overload  the same kinds at --overload-rate (default 60/s: 20/s each, far beyond what one node
//           on 2 cores serves) for --seconds, longer than any liveness budget: what a liveness
//           probe makes of an overloaded API (the kubelet's Killing events for a failed liveness
//           probe, restarts), and how long until the cloud is Ready again after the load stops.
//           Run with --variant api-liveness against a cloud rendered before 06ac1c5 (liveness
//           GETs the API itself) to compare with today's (the uWSGI master's stats server).
//           Only with --only: it is not among the phases run by default.
// "Before this change": run this script (from this branch) while the cloud rendered by main is
// deployed, with `--variant main`; then deploy this branch's operator, wait for Ready, and run it
// with `--variant probes`. Every figure comes from the live pods, whatever rendered them.
// Usage: eval "$(npx stackanetes cluster env)"   # KUBECONFIG, kubectl and crictl
//   sudo -E node bench/load.ts [--only probes,quiet,hog,overload] [--rate 5] [--seconds 300] [--runs 10]
//                              [--overload-rate 60]
//                              [--token-auth password|token] [--variant NAME]
// Reading container cgroups and running crictl needs root on the node (this host).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { KubeObject } from '../src/render/kube.ts';
import {
  client,
  cloudEvents,
  cloudName,
  cloudReady,
  cloudRequests,
  hostPid,
  killLoads,
  namespace,
  restartCounts,
  restartsBetween,
  startCpuHog,
  startLoad,
  summariseLoad,
  until,
  watchCloudReady,
} from '../test/e2e/helpers.ts';
import { nodeCpu } from './cpu.ts';
import { progressLog, requireKubeconfig } from './progress.ts';
import { cgroupReader, probeCosts } from './probe-cost.ts';
import { saveResult } from './results.ts';
import { kills } from './figures.ts';

const phases = ['probes', 'quiet', 'hog', 'overload'] as const;
type Phase = (typeof phases)[number];
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    rate: { type: 'string', default: '5' },
    'overload-rate': { type: 'string', default: '60' },
    seconds: { type: 'string', default: '300' },
    runs: { type: 'string', default: '10' },
    'token-auth': { type: 'string', default: 'password' },
    variant: { type: 'string', default: 'current' },
  },
});
const selected: Phase[] = values.only
  ? values.only.split(',').map((s) => {
      const p = s.trim() as Phase;
      if (!phases.includes(p)) {
        console.error(`unknown phase ${s}; choose from ${phases.join(', ')}`);
        process.exit(2);
      }
      return p;
    })
  : phases.filter((p) => p !== 'overload');
const quietRate = Number(values.rate);
const overloadRate = Number(values['overload-rate']);
const seconds = Number(values.seconds);
const runs = Number(values.runs);
const tokenAuth = values['token-auth'];
if (tokenAuth !== 'password' && tokenAuth !== 'token') {
  console.error('--token-auth is password or token');
  process.exit(2);
}
requireKubeconfig();

const log = progressLog();

// ---- load --------------------------------------------------------------------------------------

/** The kubelet's Killing events for a failed liveness probe in the cloud's namespaces since `since`. */
async function livenessKills(since: number): Promise<string[]> {
  return (await cloudEvents('Killing'))
    .filter((e) => e.at >= since && /liveness probe/i.test(e.message))
    .map((e) => `${e.object} ${e.fieldPath} ×${e.count}`);
}

async function loadPhase(withHog: boolean, rate: number): Promise<Record<string, unknown>> {
  const requests = await cloudRequests(tokenAuth as 'password' | 'token');
  const phaseStarted = Date.now();
  const restartsBefore = await restartCounts();
  const ready = await watchCloudReady();
  let hog: Awaited<ReturnType<typeof startCpuHog>> | undefined;
  const loadavg: number[] = [];
  const sampler = setInterval(
    () => loadavg.push(Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])),
    5000,
  );
  let out: Record<string, unknown> = {};
  try {
    if (withHog) {
      hog = await startCpuHog(2);
      log(`CPU hog ${hog.namespace}/${hog.name} on ${hog.nodeName}; 10 s for it to spin`);
      await sleep(10_000);
    }
    const cpuBefore = nodeCpu();
    log(`${seconds} s of ${rate} requests/s (token auth: ${tokenAuth})`);
    const load = startLoad(requests, rate, 120_000);
    await sleep(seconds * 1000);
    const totals = await load.stop();
    const cpuAfter = nodeCpu();
    let hogCores: number | undefined;
    if (hog) {
      const pod = await (await client()).get<KubeObject>('v1', 'Pod', hog.name, hog.namespace);
      hogCores = await hogUsage(pod);
    }
    out = {
      rate,
      seconds,
      tokenAuth,
      totals,
      kinds: summariseLoad(load.lines),
      nodeBusyPercent:
        Math.round(((cpuAfter.busy - cpuBefore.busy) / (cpuAfter.total - cpuBefore.total)) * 1000) /
        10,
      ...(hogCores !== undefined ? { hogCoresAtEnd: hogCores } : {}),
    };
  } finally {
    clearInterval(sampler);
    const stoppedAt = Date.now();
    await hog?.stop();
    await ready.stop();
    const restarts = restartsBetween(restartsBefore, await restartCounts());
    let readyAgainSeconds: number | null = 0;
    if (!(await cloudReady())) {
      readyAgainSeconds = await until(() => cloudReady(), 'the cloud to be Ready', 600_000, 1000)
        .then(() => Math.round((Date.now() - stoppedAt) / 100) / 10)
        .catch(() => null);
    }
    out = {
      ...out,
      restarts,
      livenessKills: await livenessKills(phaseStarted),
      notReady: ready.notReady.map((n) => ({ ...n, at: new Date(n.at).toISOString() })),
      readyAgainSeconds,
      loadavg: {
        min: Math.min(...loadavg),
        max: Math.max(...loadavg),
        mean: loadavg.reduce((s, x) => s + x, 0) / Math.max(1, loadavg.length),
      },
    };
  }
  return out;
}

/** The hog's CPU use over 5 s, in cores: does it really take what the cloud leaves? */
async function hogUsage(pod: KubeObject): Promise<number> {
  const usage = cgroupReader(await hostPid(pod));
  const a = usage();
  await sleep(5000);
  return Math.round(((usage() - a) / 5000) * 100) / 100;
}

// ---- main --------------------------------------------------------------------------------------

process.on('SIGINT', () => {
  killLoads();
  process.exit(130);
});

log(`bench/load: ${selected.join(', ')} on ${namespace}/${cloudName}, variant ${values.variant}`);
await until(() => cloudReady(), 'the cloud to be Ready', 15 * 60_000, 2000);
const result: Record<string, unknown> = { variant: values.variant };
for (const phase of selected) {
  log(`== ${phase}`);
  if (phase === 'probes') result.probes = await probeCosts(runs, log);
  else
    result[phase] = await loadPhase(
      phase === 'hog',
      phase === 'overload' ? overloadRate : quietRate,
    );
}
(await client()).close();

// ---- figures -----------------------------------------------------------------------------------

const pr = result.probes as Awaited<ReturnType<typeof probeCosts>> | undefined;
if (pr) {
  console.log(
    '\nprobe CPU (ms per run: container / runtime / crictl; runs per minute; ms per minute)',
  );
  for (const p of [...pr.probes].sort((a, b) => b.msPerMin - a.msPerMin)) {
    console.log(
      `  ${`${p.container} ${p.probe}`.padEnd(60)} ${p.containerMs.toFixed(1).padStart(7)} ${p.runtimeMs.toFixed(1).padStart(7)} ${p.clientMs.toFixed(1).padStart(7)} ${p.runsPerMin.toFixed(1).padStart(5)}/min ${p.msPerMin.toFixed(0).padStart(6)} ms/min  ${p.what}`,
    );
  }
  console.log(
    `  all probes of the cloud: ${pr.msPerMin.toFixed(0)} ms of CPU per minute = ${pr.percentOfOneCore.toFixed(2)} % of one core (goal < 5 %)`,
  );
}
for (const phase of ['quiet', 'hog', 'overload'] as const) {
  const r = result[phase] as
    | {
        kinds?: Record<string, { sent: number; failed: number; p50Ms: number; p99Ms: number }>;
        restarts: { total: number };
        livenessKills: string[];
        notReady: unknown[];
        readyAgainSeconds: number | null;
        nodeBusyPercent?: number;
        loadavg: { max: number };
      }
    | undefined;
  if (!r) continue;
  console.log(
    `\n${phase}: node busy ${r.nodeBusyPercent ?? '?'} %, load average up to ${r.loadavg.max}`,
  );
  for (const [k, s] of Object.entries(r.kinds ?? {}))
    console.log(
      `  ${k.padEnd(12)} ${String(s.sent).padStart(5)} sent ${String(s.failed).padStart(4)} failed  p50 ${s.p50Ms} ms  p99 ${s.p99Ms} ms`,
    );
  console.log(
    `  container restarts ${r.restarts.total}; killed for liveness ${kills(r.livenessKills)} times; cloud not Ready ${r.notReady.length} times; Ready again after ${r.readyAgainSeconds ?? 'timeout'} s`,
  );
}
console.log(`# result ${JSON.stringify(result)}`);
for (const phase of selected) saveResult('load', result[phase], `${values.variant}-${phase}`);
