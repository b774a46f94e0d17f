// Shared by the end-to-end suite and the benches (heal, load): the cloud that `npx stackanetes up` deployed
// (examples/minimal.yaml, namespace `openstack`) on the local cluster, checked with real clients.
// The `openstack` command line runs in the cloud's own openstack-client pod (admin clouds.yaml);
// HTTP checks from this host go to the Services' cluster IPs (kube-proxy routes them here too).
import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testImage } from '../../src/cluster/versions.ts';
import { KubeClient, type KubeObj } from '../../src/kube/client.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import { Informer } from '../../src/kube/informer.ts';
import { livenessBudgetSeconds } from '../../src/render/probes.ts';

const run = promisify(execFile);

export const namespace = process.env.STACKANETES_E2E_NAMESPACE ?? 'openstack';
export const cloudName = process.env.STACKANETES_E2E_CLOUD ?? 'minimal';

/** Why the suite skips, or false when a cluster is configured. */
export const skip: string | false = process.env.KUBECONFIG
  ? false
  : 'KUBECONFIG is not set: run `npx stackanetes up` and `eval "$(npx stackanetes cluster env)"`';

let clientPromise: Promise<KubeClient> | undefined;
export function client(): Promise<KubeClient> {
  clientPromise ??= KubeClient.create();
  return clientPromise;
}

/** kubectl (from `cluster env`'s PATH) with its output; throws with stderr on failure. */
export async function kubectl(args: string[], timeoutMs = 120_000): Promise<string> {
  try {
    const { stdout } = await run('kubectl', args, {
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, { cause: err });
  }
}

/** Runs a shell command line in the openstack-client pod (OS_CLOUD=admin is set there). */
export function inClient(script: string, timeoutMs = 180_000): Promise<string> {
  return kubectl(
    ['-n', namespace, 'exec', 'deploy/openstack-client', '--', 'bash', '-c', script],
    timeoutMs,
  );
}

/** `openstack <args> -f json`, parsed. */
export async function osJson<T = unknown>(args: string, timeoutMs?: number): Promise<T> {
  return JSON.parse(await inClient(`openstack ${args} -f json`, timeoutMs)) as T;
}

/** http://<cluster IP>:<port> of a Service of the cloud. */
export async function serviceUrl(name: string): Promise<string> {
  const c = await client();
  const svc = await c.get('v1', 'Service', name, namespace);
  const spec = svc.spec as { clusterIP: string; ports: { port: number }[] };
  return `http://${spec.clusterIP}:${spec.ports[0]!.port}`;
}

/** The admin credentials the operator generated (Secret keystone-admin). */
export async function adminCredentials(): Promise<{ username: string; password: string }> {
  const c = await client();
  const s = await c.get('v1', 'Secret', 'keystone-admin', namespace);
  const data = s.data as Record<string, string>;
  const dec = (k: string) => Buffer.from(data[k]!, 'base64').toString('utf8');
  return { username: dec('OS_USERNAME'), password: dec('OS_PASSWORD') };
}

/** A Keystone password-auth body for the admin project. */
export function tokenRequest(username: string, password: string): string {
  return JSON.stringify({
    auth: {
      identity: {
        methods: ['password'],
        password: { user: { name: username, domain: { name: 'Default' }, password } },
      },
      scope: { project: { name: 'admin', domain: { name: 'Default' } } },
    },
  });
}

/** POST /v3/auth/tokens; resolves to the HTTP status (0 when the connection failed). */
export async function issueToken(
  keystone: string,
  body: string,
  timeoutMs = 5000,
): Promise<number> {
  try {
    const r = await fetch(`${keystone}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await r.arrayBuffer();
    return r.status;
  } catch {
    return 0;
  }
}

/** Pods of one part of the cloud (label app.kubernetes.io/name), e.g. `keystone-api`. */
export async function pods(name: string): Promise<KubeObj[]> {
  const c = await client();
  const { items } = await c.list('v1', 'Pod', {
    namespace,
    labelSelector: `app.kubernetes.io/name=${name}`,
  });
  return items;
}

/** The pod of that name in the cloud's namespace, or undefined when there is none. */
export async function getPod(name: string): Promise<KubeObj | undefined> {
  const c = await client();
  try {
    return await c.get<KubeObj>('v1', 'Pod', name, namespace);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The pod `name` exists again under a new uid and is Ready. */
export async function replacedAndReady(name: string, oldUid: string | undefined): Promise<boolean> {
  const p = await getPod(name);
  return p !== undefined && p.metadata.uid !== oldUid && isReady(p);
}

export function isReady(pod: KubeObj): boolean {
  const status = pod.status as { conditions?: { type: string; status: string }[] } | undefined;
  return (
    pod.metadata.deletionTimestamp === undefined &&
    (status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

export async function readyCount(name: string): Promise<number> {
  return (await pods(name)).filter(isReady).length;
}

export async function until<T>(
  cond: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 120_000,
  everyMs = 500,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await cond();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    await sleep(everyMs);
  }
  throw new Error(
    `timed out after ${timeoutMs / 1000} s waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
  );
}

/** The cloud's Ready condition. */
export async function cloudReady(): Promise<boolean> {
  const c = await client();
  const cloud = await c.get('stackanetes.io/v1alpha1', 'OpenStackCloud', cloudName, namespace);
  const conds = (cloud.status as { conditions?: { type: string; status: string }[] } | undefined)
    ?.conditions;
  return (conds ?? []).some((x) => x.type === 'Ready' && x.status === 'True');
}

export interface ContainerStatus {
  name: string;
  containerID?: string;
  restartCount: number;
  ready: boolean;
  state?: { running?: { startedAt: string } };
  lastState?: { terminated?: { startedAt: string; finishedAt: string; exitCode: number } };
}

export function containerStatus(pod: KubeObj, name?: string): ContainerStatus | undefined {
  const all = (pod.status as { containerStatuses?: ContainerStatus[] } | undefined)
    ?.containerStatuses;
  return name ? all?.find((c) => c.name === name) : all?.[0];
}

/** The host PID of a container's main process (`crictl inspect` → info.pid). */
export async function hostPid(pod: KubeObj, container?: string): Promise<number> {
  const id = containerStatus(pod, container)?.containerID?.replace(/^[a-z]+:\/\//, '');
  if (!id) throw new Error(`pod ${pod.metadata.name} has no running container`);
  const { stdout } = await run('crictl', ['inspect', id], { maxBuffer: 64 * 1024 * 1024 });
  const pid = (JSON.parse(stdout) as { info?: { pid?: number } }).info?.pid;
  if (!pid) throw new Error(`crictl inspect ${id}: no info.pid`);
  return pid;
}

/** Every process in the same cgroup as `pid` (cgroup v1 `pids` controller, or v2). */
export function cgroupPids(pid: number): number[] {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => /^\d+:pids:/.test(l))?.split(':')[2];
  const v2 = lines.find((l) => l.startsWith('0::'))?.slice(3);
  const candidates = [
    v1 && `/sys/fs/cgroup/pids${v1}/cgroup.procs`,
    v2 && `/sys/fs/cgroup/unified${v2}/cgroup.procs`,
    v2 && `/sys/fs/cgroup${v2}/cgroup.procs`,
  ];
  for (const f of candidates) {
    if (!f) continue;
    try {
      const pids = readFileSync(f, 'utf8').trim().split('\n').filter(Boolean).map(Number);
      if (pids.includes(pid)) return pids;
    } catch {
      // not this hierarchy
    }
  }
  throw new Error(`cannot read the cgroup of process ${pid}`);
}

// ---- probes ------------------------------------------------------------------------------------

export interface LivenessProbe {
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  terminationGracePeriodSeconds?: number;
}

/**
 * How long the kubelet may take to restart a hung container, from its pod's liveness probe (as
 * rendered and applied): the probe's failure budget, then the grace before SIGKILL.
 */
export function livenessRestartBudget(
  pod: KubeObj,
  container?: string,
): { probe: LivenessProbe; grace: number; seconds: number; text: string } {
  const spec = pod.spec as {
    terminationGracePeriodSeconds?: number;
    containers: { name: string; livenessProbe?: LivenessProbe }[];
  };
  const c = container ? spec.containers.find((x) => x.name === container) : spec.containers[0];
  const probe = c?.livenessProbe;
  if (!probe) throw new Error(`${pod.metadata.name}: container ${c?.name} has no livenessProbe`);
  const grace = probe.terminationGracePeriodSeconds ?? spec.terminationGracePeriodSeconds ?? 30;
  const failing = livenessBudgetSeconds(probe);
  return {
    probe,
    grace,
    seconds: failing + grace,
    text: `${probe.periodSeconds ?? 10} × ${probe.failureThreshold ?? 3} + ${probe.timeoutSeconds ?? 1} + ${grace} = ${failing + grace} s`,
  };
}

// ---- the cloud's pods --------------------------------------------------------------------------

/** Every container of every pod of the cloud: `pod/container` → [pod uid, restartCount]. */
export async function restartCounts(): Promise<Map<string, { uid: string; restarts: number }>> {
  const c = await client();
  const { items } = await c.list('v1', 'Pod', {
    namespace,
    labelSelector: `app.kubernetes.io/instance=${cloudName}`,
  });
  const out = new Map<string, { uid: string; restarts: number }>();
  for (const p of items) {
    if (p.metadata.labels?.['job-name']) continue; // one-shot Jobs come and go
    const all = (p.status as { containerStatuses?: ContainerStatus[] } | undefined)
      ?.containerStatuses;
    for (const s of all ?? []) {
      out.set(`${p.metadata.name}/${s.name}`, { uid: p.metadata.uid!, restarts: s.restartCount });
    }
  }
  return out;
}

/** What changed between two restartCounts(): containers restarted in place, pods replaced. */
export function restartsBetween(
  before: Map<string, { uid: string; restarts: number }>,
  after: Map<string, { uid: string; restarts: number }>,
): { restarted: string[]; replaced: string[]; total: number } {
  const restarted: string[] = [];
  const replaced: string[] = [];
  let total = 0;
  for (const [k, b] of before) {
    const a = after.get(k);
    if (!a || a.uid !== b.uid) {
      replaced.push(k);
      total++;
    } else if (a.restarts > b.restarts) {
      restarted.push(`${k} +${a.restarts - b.restarts}`);
      total += a.restarts - b.restarts;
    }
  }
  return { restarted, replaced, total };
}

/** Records every moment the cloud's Ready condition is not True, from a watch on the cloud. */
export async function watchCloudReady(): Promise<{
  notReady: { at: number; reason: string; message: string }[];
  stop(): Promise<void>;
}> {
  const notReady: { at: number; reason: string; message: string }[] = [];
  const inf = new Informer(await client(), {
    apiVersion: 'stackanetes.io/v1alpha1',
    kind: 'OpenStackCloud',
    namespace,
    fieldSelector: `metadata.name=${cloudName}`,
  });
  const look = (o: KubeObj) => {
    const conds = (o.status as { conditions?: Condition[] } | undefined)?.conditions ?? [];
    const ready = conds.find((x) => x.type === 'Ready');
    if (ready?.status !== 'True') {
      notReady.push({
        at: Date.now(),
        reason: ready?.reason ?? 'NoCondition',
        message: ready?.message ?? '',
      });
    }
  };
  inf.onAdd(look).onUpdate((_old, o) => look(o));
  inf.start();
  await inf.waitForSync();
  return { notReady, stop: () => inf.stop() };
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

// ---- a CPU hog beside the cloud ----------------------------------------------------------------

/**
 * A best-effort pod (no requests, no limits) on the cloud's node that keeps `cores` cores busy:
 * the mixed workload the cloud must stand beside. Deleted by `stop()`.
 */
export async function startCpuHog(
  cores = 2,
  name = 'stackanetes-cpu-hog',
  hogNamespace = process.env.STACKANETES_E2E_HOG_NAMESPACE ?? 'default',
): Promise<{ name: string; namespace: string; nodeName: string; stop(): Promise<void> }> {
  const c = await client();
  const anchor = (await pods('database-mariadb'))[0];
  const nodeName = (anchor?.spec as { nodeName?: string } | undefined)?.nodeName;
  if (!nodeName) throw new Error('mariadb-0 is not scheduled: no node to put the CPU hog on');
  const stop = async () => {
    await c.delete('v1', 'Pod', name, hogNamespace).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
    await until(
      async () =>
        (await c.get('v1', 'Pod', name, hogNamespace).catch(() => undefined)) === undefined,
      `pod ${hogNamespace}/${name} to be gone`,
      120_000,
      1000,
    );
  };
  await stop();
  await c.create({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: hogNamespace, labels: { 'app.kubernetes.io/name': name } },
    spec: {
      nodeName,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: 'hog',
          image: testImage,
          imagePullPolicy: 'Never',
          command: [
            'sh',
            '-c',
            `i=0; while [ $i -lt ${cores} ]; do (while :; do :; done) & i=$((i + 1)); done; wait`,
          ],
        },
      ],
    },
  });
  await until(
    async () => {
      const p = await c.get('v1', 'Pod', name, hogNamespace);
      return (p.status as { phase?: string } | undefined)?.phase === 'Running';
    },
    `the CPU hog ${hogNamespace}/${name} to run`,
    120_000,
    1000,
  );
  return { name, namespace: hogNamespace, nodeName, stop };
}

// ---- load: tokens, image lists, server lists ---------------------------------------------------

export interface LoadRequest {
  kind: string;
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  expect: number;
}

export interface LoadTally {
  sent: number;
  ok: number;
  failed: number;
  errors: Record<string, number>;
  ms: number[];
}

/** One second of load, as test/e2e/load-gen.ts prints it. */
export interface LoadSecond {
  t: number;
  sent: number;
  ok: number;
  failed: number;
  errors: Record<string, number>;
  p50Ms: number;
  maxMs: number;
  kinds: Record<string, LoadTally>;
}

export interface LoadTotals {
  sent: number;
  ok: number;
  failed: number;
  errors: Record<string, number>;
}

export interface Load {
  readonly lines: LoadSecond[];
  stop(): Promise<LoadTotals>;
}

let loadChildren: ReturnType<typeof spawn>[] = [];

/** Runs test/e2e/load-gen.ts: `requests` in turn, `rate` per second in all. */
export function startLoad(requests: LoadRequest[], rate: number, timeoutMs = 10_000): Load {
  const script = fileURLToPath(new URL('./load-gen.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    [script, '--rate', String(rate), '--timeout-ms', String(timeoutMs)],
    {
      // The requests carry a password or a token: the environment, not the command line.
      env: { ...process.env, LOAD_REQUESTS: JSON.stringify(requests) },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  loadChildren.push(child);
  const lines: LoadSecond[] = [];
  let done: LoadTotals | undefined;
  createInterface({ input: child.stdout }).on('line', (l) => {
    const j = JSON.parse(l) as LoadSecond & LoadTotals & { done?: boolean };
    if (j.done) done = j;
    else lines.push(j);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    lines,
    async stop() {
      child.stdin.end('stop\n');
      await Promise.race([exited, sleep(timeoutMs + 30_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
      loadChildren = loadChildren.filter((c) => c !== child);
      return done ?? { sent: NaN, ok: NaN, failed: NaN, errors: {} };
    },
  };
}

/** Ends every load generator still running (for clean-up after a failure or Ctrl-C). */
export function killLoads(): void {
  for (const c of loadChildren) if (c.exitCode === null) c.kill('SIGTERM');
  loadChildren = [];
}

/**
 * What a user of the cloud asks for most: a token (password auth, as `openstack token issue`
 * does, or re-scoping a token: no bcrypt), the image list, the server list — as the admin, over
 * the Services' cluster IPs. A token for the lists is issued now (valid for an hour).
 */
export async function cloudRequests(
  tokenAuth: 'password' | 'token' = 'password',
): Promise<LoadRequest[]> {
  const [keystone, glance, nova] = await Promise.all([
    serviceUrl('keystone-api'),
    serviceUrl('glance-api'),
    serviceUrl('nova-api'),
  ]);
  const admin = await adminCredentials();
  const password = tokenRequest(admin.username, admin.password);
  const r = await fetch(`${keystone}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: password,
    signal: AbortSignal.timeout(60_000),
  });
  await r.arrayBuffer();
  const token = r.headers.get('x-subject-token');
  if (r.status !== 201 || !token) throw new Error(`token request: HTTP ${r.status}`);
  const json = { 'content-type': 'application/json' };
  const auth = { 'x-auth-token': token, accept: 'application/json' };
  const body =
    tokenAuth === 'password'
      ? password
      : JSON.stringify({
          auth: {
            identity: { methods: ['token'], token: { id: token } },
            scope: { project: { name: 'admin', domain: { name: 'Default' } } },
          },
        });
  return [
    {
      kind: 'token',
      method: 'POST',
      url: `${keystone}/v3/auth/tokens`,
      headers: json,
      body,
      expect: 201,
    },
    { kind: 'image list', method: 'GET', url: `${glance}/v2/images`, headers: auth, expect: 200 },
    { kind: 'server list', method: 'GET', url: `${nova}/v2.1/servers`, headers: auth, expect: 200 },
  ];
}

/** Per request kind over some seconds of load: count, failures by kind, latency percentiles. */
export function summariseLoad(lines: readonly LoadSecond[]): Record<
  string,
  {
    sent: number;
    failed: number;
    errors: Record<string, number>;
    p50Ms: number;
    p99Ms: number;
    maxMs: number;
  }
> {
  const out: Record<string, LoadTally> = {};
  for (const l of lines) {
    for (const [k, t] of Object.entries(l.kinds ?? {})) {
      const o = (out[k] ??= { sent: 0, ok: 0, failed: 0, errors: {}, ms: [] });
      o.sent += t.sent;
      o.ok += t.ok;
      o.failed += t.failed;
      o.ms.push(...t.ms);
      for (const [e, n] of Object.entries(t.errors)) o.errors[e] = (o.errors[e] ?? 0) + n;
    }
  }
  const pct = (sorted: number[], p: number) =>
    sorted.length === 0
      ? 0
      : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
  return Object.fromEntries(
    Object.entries(out).map(([k, t]) => {
      const ms = [...t.ms].sort((a, b) => a - b);
      return [
        k,
        {
          sent: t.sent,
          failed: t.failed,
          errors: t.errors,
          p50Ms: pct(ms, 50),
          p99Ms: pct(ms, 99),
          maxMs: ms.at(-1) ?? 0,
        },
      ];
    }),
  );
}

// ---- servers -----------------------------------------------------------------------------------

/**
 * Boots a server with Nova's fake driver (flavor e2e.tiny, no network) from `image`, or from a
 * small image e2e-boot made on first use, and waits for it; resolves to its last status line.
 */
export async function bootServer(
  name: string,
  image?: string,
  timeoutMs = 600_000,
): Promise<string> {
  const script = [
    'set -e',
    'openstack flavor show e2e.tiny >/dev/null 2>&1 || openstack flavor create --vcpus 1 --ram 64 --disk 1 e2e.tiny >/dev/null',
    image
      ? `img=${image}`
      : [
          'img=$(openstack image list --name e2e-boot -f value -c ID | head -1)',
          'if [ -z "$img" ]; then head -c 65536 /dev/zero > /tmp/boot.img; img=$(openstack image create --disk-format raw --container-format bare --file /tmp/boot.img e2e-boot -f value -c id); fi',
        ].join('\n'),
    `openstack server delete --wait ${name} >/dev/null 2>&1 || true`,
    `openstack server create --flavor e2e.tiny --image "$img" --nic none --wait ${name} -f value -c status`,
  ].join('\n');
  const out = await inClient(script, timeoutMs);
  return out.trim().split('\n').pop() ?? '';
}

export async function deleteServer(name: string): Promise<void> {
  await inClient(`openstack server delete --wait ${name}; true`, 300_000);
}
