// What a cloud's probes cost: every running container's readiness and liveness probe, run the
// way the kubelet runs it, with the CPU each run takes in the container's cgroup and in the
// container runtime, times the rate the live pod spec gives. Used by bench/load.ts.
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { KubeObject } from '../src/render/kube.ts';
import { cloudPods, containerStatus, hostPid } from '../test/e2e/helpers.ts';

const run = promisify(execFile);

// ---- CPU accounting ----------------------------------------------------------------------------

const clockTick = 100; // USER_HZ on Linux: /proc/<pid>/stat counts CPU time in 1/100 s

/** utime+stime+cutime+cstime of a process, in ms (children it has waited for included). */
function procCpuMs(pid: number | 'self'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / clockTick;
  } catch {
    return 0;
  }
}

/** containerd and its shims: the runtime's side of an exec (runc runs as their child). */
function runtimeCpuMs(): number {
  let ms = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let comm: string;
    try {
      comm = readFileSync(`/proc/${d}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    if (comm === 'containerd' || comm.startsWith('containerd-shim')) ms += procCpuMs(Number(d));
  }
  return ms;
}

/** The CPU a container's cgroup has used, in ms (cgroup v1 cpuacct, or v2 cpu.stat). */
export function cgroupReader(pid: number): () => number {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => /^\d+:[^:]*\bcpuacct\b[^:]*:/.test(l))?.split(':')[2];
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const candidates: [string, (t: string) => number][] = [];
  if (v1) {
    for (const h of ['cpuacct', 'cpu,cpuacct', 'cpuacct,cpu'])
      candidates.push([`/sys/fs/cgroup/${h}${v1}/cpuacct.usage`, (t) => Number(t) / 1e6]);
  }
  if (v2) {
    for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified'])
      candidates.push([
        `${root}${v2}/cpu.stat`,
        (t) => Number(/usage_usec (\d+)/.exec(t)?.[1] ?? NaN) / 1000,
      ]);
  }
  for (const [file, parse] of candidates) {
    try {
      if (Number.isFinite(parse(readFileSync(file, 'utf8')))) {
        return () => parse(readFileSync(file, 'utf8'));
      }
    } catch {
      // not this hierarchy
    }
  }
  throw new Error(`no CPU accounting found for process ${pid}'s cgroup`);
}

// ---- probes ------------------------------------------------------------------------------------

export interface ProbeSpec {
  exec?: { command: string[] };
  httpGet?: { path?: string; port: number | string; host?: string };
  tcpSocket?: { port: number | string; host?: string };
  periodSeconds?: number;
  timeoutSeconds?: number;
}

export interface ProbeCost {
  container: string;
  probe: 'readiness' | 'liveness';
  what: string;
  runsPerMin: number;
  /** CPU per run, ms: in the container's cgroup, in containerd and its shims, in crictl. */
  containerMs: number;
  runtimeMs: number;
  clientMs: number;
  failedRuns: number;
  /** (containerMs + runtimeMs) × runsPerMin, negative noise counted as 0. */
  msPerMin: number;
}

function describe(p: ProbeSpec): string {
  if (p.exec) return `exec ${p.exec.command.join(' ')}`;
  if (p.httpGet) return `GET :${p.httpGet.port}${p.httpGet.path ?? '/'}`;
  if (p.tcpSocket) return `TCP :${p.tcpSocket.port}`;
  return 'unknown';
}

function namedPort(pod: KubeObject, port: number | string): number {
  if (typeof port === 'number') return port;
  const spec = pod.spec as { containers: { ports?: { name?: string; containerPort: number }[] }[] };
  for (const c of spec.containers)
    for (const p of c.ports ?? []) if (p.name === port) return p.containerPort;
  return Number(port);
}

/** Runs a probe once the way the kubelet does; true when it passed. */
export async function runProbe(
  pod: KubeObject,
  containerId: string,
  p: ProbeSpec,
): Promise<boolean> {
  const timeoutS = p.timeoutSeconds ?? 1;
  const ip = (pod.status as { podIP?: string }).podIP!;
  if (p.exec) {
    try {
      await run(
        'crictl',
        ['exec', '--sync', '--timeout', String(timeoutS), containerId, ...p.exec.command],
        { timeout: (timeoutS + 10) * 1000 },
      );
      return true;
    } catch {
      return false;
    }
  }
  if (p.httpGet) {
    const port = namedPort(pod, p.httpGet.port);
    try {
      const r = await fetch(`http://${p.httpGet.host ?? ip}:${port}${p.httpGet.path ?? '/'}`, {
        signal: AbortSignal.timeout(timeoutS * 1000),
        redirect: 'manual',
      });
      await r.arrayBuffer();
      return r.status >= 200 && r.status < 400;
    } catch {
      return false;
    }
  }
  if (p.tcpSocket) {
    const port = namedPort(pod, p.tcpSocket.port);
    return new Promise((resolve) => {
      const s = net.connect({ host: p.tcpSocket!.host ?? ip, port, timeout: timeoutS * 1000 });
      s.on('connect', () => {
        s.end();
        resolve(true);
      });
      s.on('timeout', () => {
        s.destroy();
        resolve(false);
      });
      s.on('error', () => resolve(false));
    });
  }
  return false;
}

export async function measureProbe(
  pod: KubeObject,
  container: string,
  kind: 'readiness' | 'liveness',
  p: ProbeSpec,
  runs: number,
): Promise<ProbeCost> {
  const id = containerStatus(pod, container)!.containerID!.replace(/^[a-z]+:\/\//, '');
  const usage = cgroupReader(await hostPid(pod, container));
  const sample = () => ({
    at: Date.now(),
    container: usage(),
    runtime: p.exec ? runtimeCpuMs() : 0,
    client: procCpuMs('self'),
  });
  const a = sample();
  let failedRuns = 0;
  for (let i = 0; i < runs; i++) if (!(await runProbe(pod, id, p))) failedRuns++;
  const b = sample();
  // The container's (and the runtime's) own use over as long a time without probes.
  await sleep(b.at - a.at);
  const c = sample();
  const containerMs = (b.container - a.container - (c.container - b.container)) / runs;
  const runtimeMs = (b.runtime - a.runtime - (c.runtime - b.runtime)) / runs;
  const runsPerMin = 60 / (p.periodSeconds ?? 10);
  return {
    container: `${pod.metadata.name}/${container}`,
    probe: kind,
    what: describe(p),
    runsPerMin,
    containerMs,
    runtimeMs,
    clientMs: (b.client - a.client) / runs,
    failedRuns,
    msPerMin: (Math.max(0, containerMs) + Math.max(0, runtimeMs)) * runsPerMin,
  };
}

/** Every probe of every running pod of the cloud (Jobs aside), measured `runs` times. */
export async function probeCosts(
  runs: number,
  log: (msg: string) => void,
): Promise<{
  probes: ProbeCost[];
  msPerMin: number;
  percentOfOneCore: number;
}> {
  // The cloud's pods in both its namespaces (the data plane's probes too).
  const items = await cloudPods();
  const out: ProbeCost[] = [];
  for (const pod of items) {
    if (pod.metadata.labels?.['job-name']) continue;
    if ((pod.status as { phase?: string }).phase !== 'Running') continue;
    const spec = pod.spec as {
      containers: { name: string; readinessProbe?: ProbeSpec; livenessProbe?: ProbeSpec }[];
    };
    for (const ctr of spec.containers) {
      for (const [kind, p] of [
        ['readiness', ctr.readinessProbe],
        ['liveness', ctr.livenessProbe],
      ] as const) {
        if (!p) continue;
        try {
          const cost = await measureProbe(pod, ctr.name, kind, p, runs);
          out.push(cost);
          log(
            `${cost.container} ${kind} (${cost.what}): container ${cost.containerMs.toFixed(1)} ms, runtime ${cost.runtimeMs.toFixed(1)} ms, crictl ${cost.clientMs.toFixed(1)} ms per run; ${cost.runsPerMin}/min → ${cost.msPerMin.toFixed(0)} ms/min${cost.failedRuns ? `; ${cost.failedRuns}/${runs} runs failed` : ''}`,
          );
        } catch (err) {
          log(`${pod.metadata.name}/${ctr.name} ${kind}: not measured: ${(err as Error).message}`);
        }
      }
    }
  }
  const msPerMin = out.reduce((s, x) => s + x.msPerMin, 0);
  return { probes: out, msPerMin, percentOfOneCore: (msPerMin / 60_000) * 100 };
}
