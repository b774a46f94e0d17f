// Shared by the end-to-end suite and bench/heal: the cloud that `npx stackanetes up` deployed
// (examples/minimal.yaml, namespace `openstack`) on the local cluster, checked with real clients.
// The `openstack` command line runs in the cloud's own openstack-client pod (admin clouds.yaml);
// HTTP checks from this host go to the Services' cluster IPs (kube-proxy routes them here too).
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { KubeClient, type KubeObj } from '../../src/kube/client.ts';
import { isNotFound } from '../../src/kube/errors.ts';

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

/** The flavor the end-to-end tests boot servers with (created on first use). */
export const tinyFlavor = 'e2e.tiny';

export async function ensureTinyFlavor(): Promise<string> {
  await inClient(
    `openstack flavor show ${tinyFlavor} >/dev/null 2>&1 || openstack flavor create --vcpus 1 --ram 64 --disk 1 ${tinyFlavor} >/dev/null`,
  );
  return tinyFlavor;
}

/** Starts `openstack server create <args> <name>`; the new server's ID. */
export async function createServer(name: string, args: string): Promise<string> {
  return (await osJson<{ id: string }>(`server create ${args} ${name}`, 120_000)).id;
}

/** Waits until a server is ACTIVE or ERROR; `server show` of it (with `fault` when ERROR). */
export function serverSettled(id: string, timeoutMs = 600_000): Promise<Record<string, any>> {
  return until(
    async () => {
      const s = await osJson<Record<string, any>>(`server show ${id}`, 60_000);
      return s.status === 'ACTIVE' || s.status === 'ERROR' ? s : undefined;
    },
    `server ${id} to be ACTIVE (or ERROR)`,
    timeoutMs,
    2000,
  );
}

/**
 * Deletes a server and waits until Nova no longer knows it. A delete that Nova refuses throws;
 * a server still there after `timeoutMs` (listed as DELETED, stuck in a task) throws saying so.
 */
export async function deleteServer(id: string, timeoutMs = 300_000): Promise<void> {
  await inClient(`openstack server delete ${id}`, 120_000);
  const end = Date.now() + timeoutMs;
  let left = '';
  while (Date.now() < end) {
    try {
      const s = await osJson<Record<string, unknown>>(`server show ${id}`, 60_000);
      left = `status ${String(s.status)}, vm_state ${String(s['OS-EXT-STS:vm_state'])}, task_state ${String(s['OS-EXT-STS:task_state'])}`;
    } catch (err) {
      if (/No server with a name or ID|could not be found|HTTP 404/i.test(String(err))) return;
      left = `server show failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    await sleep(2000);
  }
  throw new Error(`server ${id} still exists ${timeoutMs / 1000} s after its delete: ${left}`);
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

/** Keystone's Service URL and a password-auth body for the admin, as the suites use them. */
export async function keystoneAdmin(): Promise<{ url: string; body: string }> {
  const { username, password } = await adminCredentials();
  return { url: await serviceUrl('keystone-api'), body: tokenRequest(username, password) };
}

/** POST /v3/auth/tokens and return the token (X-Subject-Token); throws unless Keystone says 201. */
export async function newToken(keystone: string, body: string): Promise<string> {
  const r = await fetch(`${keystone}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  await r.arrayBuffer();
  const token = r.headers.get('x-subject-token');
  if (r.status !== 201 || !token) throw new Error(`token request: HTTP ${r.status}`);
  return token;
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

/** How a request ended: an HTTP answer, or why there was none. */
export type Answer =
  | { status: number }
  | {
      /** timeout: connected (or connecting) but no answer in time; refused: nothing listens. */
      failure: 'timeout' | 'refused' | 'reset' | 'unreachable' | 'other';
      detail: string;
    };

/** Sorts a failed fetch into the kinds of Answer (undici puts the socket error in `cause`). */
export function failureOf(err: unknown): Exclude<Answer, { status: number }> {
  const e = err as { name?: string; message?: string; cause?: { code?: string; name?: string } };
  const code = e.cause?.code ?? '';
  const detail = code || e.cause?.name || e.name || e.message || String(err);
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || /TIMEOUT/.test(code))
    return { failure: 'timeout', detail };
  if (code === 'ECONNREFUSED') return { failure: 'refused', detail };
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET')
    return { failure: 'reset', detail };
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return { failure: 'unreachable', detail };
  return { failure: 'other', detail };
}

/** POST /v3/auth/tokens: the HTTP status, or how the request failed. */
export async function postToken(keystone: string, body: string, timeoutMs = 5000): Promise<Answer> {
  try {
    const r = await fetch(`${keystone}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
    await r.arrayBuffer();
    return { status: r.status };
  } catch (err) {
    return failureOf(err);
  }
}

/** POST /v3/auth/tokens; resolves to the HTTP status, 0 when there was no answer of any kind. */
export async function issueToken(
  keystone: string,
  body: string,
  timeoutMs = 5000,
): Promise<number> {
  const a = await postToken(keystone, body, timeoutMs);
  return 'status' in a ? a.status : 0;
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

export interface CloudCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

/** The cloud's conditions (Ready and one per component), as the operator last wrote them. */
export async function cloudConditions(): Promise<CloudCondition[]> {
  const c = await client();
  const cloud = await c.get('stackanetes.io/v1alpha1', 'OpenStackCloud', cloudName, namespace);
  return (cloud.status as { conditions?: CloudCondition[] } | undefined)?.conditions ?? [];
}

/** The cloud's Ready condition. */
export async function cloudReady(): Promise<boolean> {
  return (await cloudConditions()).some((x) => x.type === 'Ready' && x.status === 'True');
}

/**
 * Watches the cloud's Ready condition in the background (every 250 ms) and keeps every distinct
 * state it saw, so a test can show that Ready went False during an outage and True afterwards.
 */
export function watchReady(): { seen: CloudCondition[]; stop(): Promise<void> } {
  const seen: CloudCondition[] = [];
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      try {
        const ready = (await cloudConditions()).find((x) => x.type === 'Ready');
        const last = seen.at(-1);
        if (ready && (last?.status !== ready.status || last.reason !== ready.reason))
          seen.push(ready);
      } catch {
        // the API server is busy: look again
      }
      await sleep(250);
    }
  })();
  return {
    seen,
    stop: async () => {
      stopped = true;
      await done;
    },
  };
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

/** A process's parent and command name from /proc, or undefined once it is gone. */
export function procInfo(pid: number): { ppid: number; comm: string; state: string } | undefined {
  const stat = orUndefined(() => readFileSync(`/proc/${pid}/stat`, 'utf8'));
  if (stat === undefined) return undefined;
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(ppid), comm, state: state! };
}

/**
 * The uWSGI processes of a container, as host PIDs: the master (the child of the container's
 * init, dumb-init) and its workers. The container's own PID 1 is dumb-init, not the service.
 */
export async function uwsgiProcesses(
  pod: KubeObj,
  container?: string,
): Promise<{ init: number; master: number; workers: number[] }> {
  const init = await hostPid(pod, container);
  const procs = cgroupPids(init).flatMap((pid) => {
    const p = procInfo(pid);
    return p ? [{ pid, ...p }] : [];
  });
  const master = procs.find((p) => p.ppid === init && p.comm === 'uwsgi');
  if (!master) {
    const seen = procs.map((p) => `${p.pid}:${p.comm}<-${p.ppid}`).join(' ');
    throw new Error(`no uWSGI master under PID ${init} in ${pod.metadata.name} (${seen})`);
  }
  const workers = procs.filter((p) => p.ppid === master.pid && p.comm === 'uwsgi');
  return { init, master: master.pid, workers: workers.map((w) => w.pid).sort((a, b) => a - b) };
}

/**
 * TCP connections (not listening sockets) that more than one of `pids` holds open: a database
 * or cache connection a forked worker inherited from its parent. Read from /proc as root.
 */
export function sharedConnections(pids: number[]): { inode: string; pids: number[] }[] {
  const connections = new Set<string>();
  for (const file of ['tcp', 'tcp6']) {
    const text = orUndefined(() => readFileSync(`/proc/${pids[0]}/net/${file}`, 'utf8')) ?? '';
    for (const line of text.trim().split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] !== '0A') connections.add(f[9]!); // st 0A = LISTEN
    }
  }
  const holders = new Map<string, Set<number>>();
  for (const pid of pids) {
    for (const fd of orUndefined(() => readdirSync(`/proc/${pid}/fd`)) ?? []) {
      const target = orUndefined(() => readlinkSync(`/proc/${pid}/fd/${fd}`)) ?? '';
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && connections.has(inode))
        (holders.get(inode) ?? holders.set(inode, new Set()).get(inode)!).add(pid);
    }
  }
  return [...holders]
    .filter(([, set]) => set.size > 1)
    .map(([inode, set]) => ({ inode, pids: [...set].sort((a, b) => a - b) }));
}

/** What `read` returns, or undefined when it throws (a process or file gone meanwhile). */
function orUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
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
