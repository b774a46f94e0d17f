// Shared by the end-to-end suite and the benches (heal, load): the cloud that `npx stackanetes up` deployed
// (examples/minimal.yaml, namespace `openstack`) on the local cluster, checked with real clients.
// The cloud has two namespaces (src/render/namespaces.ts): its control plane in `namespace`, which
// enforces Pod Security "restricted", and its data plane — the DaemonSets on the nodes and their
// pods — in `dataPlaneNamespace` (`openstack-dataplane`).
// The `openstack` command line runs in the cloud's own openstack-client pod (admin clouds.yaml);
// HTTP checks from this host go to the Services' cluster IPs (kube-proxy routes them here too).
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testImage } from '../../src/cluster/versions.ts';
import { KubeClient } from '../../src/kube/client.ts';
import type { KubeObject } from '../../src/render/kube.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import { Informer } from '../../src/kube/informer.ts';
import { dataPlaneNamespace as dataPlaneNamespaceOf } from '../../src/render/namespaces.ts';
import { livenessBudgetSeconds } from '../../src/render/probes.ts';
import { restrictedSecurityContext, runtimeDefaultSeccomp } from '../../src/render/workload.ts';

const run = promisify(execFile);

export const namespace = process.env.STACKANETES_E2E_NAMESPACE ?? 'openstack';
/** Where the cloud's data plane runs: its DaemonSets and their pods, Secrets and ServiceAccounts. */
export const dataPlaneNamespace = dataPlaneNamespaceOf(namespace);
export const cloudName = process.env.STACKANETES_E2E_CLOUD ?? 'minimal';

/**
 * The data plane's workloads: the DaemonSets on the nodes, each its pods' app.kubernetes.io/name.
 * They run in `dataPlaneNamespace`, may run as root and with privileges; nothing else does.
 */
export const dataPlaneWorkloads: readonly string[] = [
  'ovn-openvswitch',
  'ovn-controller',
  'neutron-ovn-metadata-agent',
  'nova-compute',
  'nova-libvirt',
];

/** The namespace of a part of the cloud (app.kubernetes.io/name, e.g. `nova-compute`). */
export function namespaceOf(name: string): string {
  return dataPlaneWorkloads.includes(name) ? dataPlaneNamespace : namespace;
}

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

/** SQL as MariaDB's root inside a database member, over its 127.0.0.1 (its own client file; nothing printed). */
export function mariadbSql(member: string, query: string, timeoutMs = 20_000): Promise<string> {
  return kubectl(
    [
      ...['-n', namespace, 'exec', member, '-c', 'mariadb', '--'],
      ...['mariadb', '--defaults-extra-file=/var/lib/kolla/config_files/root.cnf'],
      ...['--connect-timeout=5', '-N', '-B', '-e', query],
    ],
    timeoutMs,
  );
}

/** A Galera member's view: wsrep_cluster_size, wsrep_cluster_status, wsrep_local_state_comment. */
export async function galeraStatus(
  member: string,
  timeoutMs?: number,
): Promise<Record<string, string>> {
  const out = await mariadbSql(
    member,
    "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_cluster_status','wsrep_local_state_comment')",
    timeoutMs,
  );
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => l.split('\t')),
  );
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
      // An admin (the client pod's credentials) still sees a deleted server: Nova keeps its row,
      // marked deleted, and shows it as DELETED with vm_state deleted. That is the end of a delete.
      if (s.status === 'DELETED' && s['OS-EXT-STS:vm_state'] === 'deleted') return;
      left = `status ${String(s.status)}, vm_state ${String(s['OS-EXT-STS:vm_state'])}, task_state ${String(s['OS-EXT-STS:task_state'])}`;
    } catch (err) {
      if (
        /No server with a name or ID|No Server found for|could not be found|HTTP 404/i.test(
          String(err),
        )
      )
        return;
      left = `server show failed: ${err instanceof Error ? err.message : String(err)}`;
    }
    await sleep(2000);
  }
  throw new Error(`server ${id} still exists ${timeoutMs / 1000} s after its delete: ${left}`);
}

/**
 * A 64 KiB image of zeros to boot servers from, e2e-boot, uploaded once; its ID. The fake driver
 * never reads it; under libvirt the guest finds no bootable disk and waits in its firmware, and
 * the server is ACTIVE all the same.
 */
export async function bootImage(): Promise<string> {
  const out = await inClient(
    [
      'set -e',
      'img=$(openstack image list --name e2e-boot -f value -c ID | head -1)',
      'if [ -z "$img" ]; then head -c 65536 /dev/zero > /tmp/boot.img; img=$(openstack image create --disk-format raw --container-format bare --file /tmp/boot.img e2e-boot -f value -c id); fi',
      'echo "$img"',
    ].join('\n'),
  );
  return out.trim().split('\n').pop()!;
}

/**
 * Boots a server (flavor e2e.tiny, no network) from `image`, or from
 * e2e-boot, and waits until it is ACTIVE or ERROR: `server show` of it (with `fault` when ERROR).
 */
export async function bootServer(
  name: string,
  image?: string,
  timeoutMs = 600_000,
): Promise<Record<string, any>> {
  const flavor = await ensureTinyFlavor();
  const id = await createServer(
    name,
    `--flavor ${flavor} --image ${image ?? (await bootImage())} --nic none`,
  );
  return serverSettled(id, timeoutMs);
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

/** POST /v3/auth/tokens with `body`; the answer, its body read. Throws as fetch does. */
async function tokenCall(keystone: string, body: string, timeoutMs: number): Promise<Response> {
  const r = await fetch(`${keystone}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  await r.arrayBuffer();
  return r;
}

/** POST /v3/auth/tokens and return the token (X-Subject-Token); throws unless Keystone says 201. */
export async function newToken(
  keystone: string,
  body: string,
  timeoutMs = 60_000,
): Promise<string> {
  const r = await tokenCall(keystone, body, timeoutMs);
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

/** A Keystone body that re-scopes `token` to the admin project: a token without a bcrypt hash. */
export function rescopeRequest(token: string): string {
  return JSON.stringify({
    auth: {
      identity: { methods: ['token'], token: { id: token } },
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
    return { status: (await tokenCall(keystone, body, timeoutMs)).status };
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

/**
 * Pods of one part of the cloud (label app.kubernetes.io/name), e.g. `keystone-api`, or
 * `nova-compute` (in the data plane's namespace).
 */
export async function pods(name: string): Promise<KubeObject[]> {
  const c = await client();
  const { items } = await c.list('v1', 'Pod', {
    namespace: namespaceOf(name),
    labelSelector: `app.kubernetes.io/name=${name}`,
  });
  return items;
}

/** Every pod of the cloud, in both its namespaces (label app.kubernetes.io/instance). */
export async function cloudPods(): Promise<KubeObject[]> {
  const c = await client();
  const lists = await Promise.all(
    [namespace, dataPlaneNamespace].map((ns) =>
      c.list<KubeObject>('v1', 'Pod', {
        namespace: ns,
        labelSelector: `app.kubernetes.io/instance=${cloudName}`,
      }),
    ),
  );
  return lists.flatMap((l) => l.items);
}

/** The pod of that name in the cloud's namespace (or `ns`), or undefined when there is none. */
export async function getPod(name: string, ns = namespace): Promise<KubeObject | undefined> {
  const c = await client();
  try {
    return await c.get<KubeObject>('v1', 'Pod', name, ns);
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

export function isReady(pod: KubeObject): boolean {
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

/** The OpenStackCloud the tests run against, as the API server has it now. */
export async function liveCloud(): Promise<KubeObject> {
  return (await client()).get('stackanetes.io/v1alpha1', 'OpenStackCloud', cloudName, namespace);
}

/** The cloud's conditions (Ready and one per component), as the operator last wrote them. */
export async function cloudConditions(): Promise<CloudCondition[]> {
  const cloud = await liveCloud();
  return (cloud.status as { conditions?: CloudCondition[] } | undefined)?.conditions ?? [];
}

/** The cloud's Ready condition. */
export async function cloudReady(): Promise<boolean> {
  return (await cloudConditions()).some((x) => x.type === 'Ready' && x.status === 'True');
}

/** One state of the cloud's Ready condition, and when the watch saw it. */
export type ReadySeen = CloudCondition & { at: number };

/**
 * Watches the cloud's Ready condition (an informer on the OpenStackCloud) and keeps every distinct
 * state it saw (status, reason and message), with when: a test can show that Ready went False during an
 * outage and True afterwards, or that it never left True (`notReady` is empty).
 */
export async function watchCloudReady(): Promise<{
  seen: ReadySeen[];
  readonly notReady: ReadySeen[];
  stop(): Promise<void>;
}> {
  const seen: ReadySeen[] = [];
  const inf = new Informer(await client(), {
    apiVersion: 'stackanetes.io/v1alpha1',
    kind: 'OpenStackCloud',
    namespace,
    fieldSelector: `metadata.name=${cloudName}`,
  });
  const look = (o: KubeObject) => {
    const conds = (o.status as { conditions?: CloudCondition[] } | undefined)?.conditions ?? [];
    const ready = conds.find((x) => x.type === 'Ready') ?? {
      type: 'Ready',
      status: 'Unknown',
      reason: 'NoCondition',
      message: 'the cloud has no Ready condition',
      lastTransitionTime: '',
    };
    const last = seen.at(-1);
    if (
      last?.status !== ready.status ||
      last.reason !== ready.reason ||
      last.message !== ready.message
    )
      seen.push({ ...ready, at: Date.now() });
  };
  inf.onAdd(look).onUpdate((_old, o) => look(o));
  inf.start();
  await inf.waitForSync();
  return {
    seen,
    get notReady() {
      return seen.filter((x) => x.status !== 'True');
    },
    stop: () => inf.stop(),
  };
}

export interface ContainerStatus {
  name: string;
  containerID?: string;
  restartCount: number;
  ready: boolean;
  state?: { running?: { startedAt: string } };
  lastState?: {
    terminated?: { startedAt: string; finishedAt: string; exitCode: number; reason?: string };
  };
}

/** The statuses of a pod's containers (none before the kubelet reports them). */
export function containerStatuses(pod: KubeObject): ContainerStatus[] {
  return (
    (pod.status as { containerStatuses?: ContainerStatus[] } | undefined)?.containerStatuses ?? []
  );
}

export function containerStatus(pod: KubeObject, name?: string): ContainerStatus | undefined {
  const all = containerStatuses(pod);
  return name ? all.find((c) => c.name === name) : all[0];
}

/** The host PID of a container's main process (`crictl inspect` → info.pid). */
export async function hostPid(pod: KubeObject, container?: string): Promise<number> {
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
  pod: KubeObject,
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
  pod: KubeObject,
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

/**
 * Every container of every pod of the cloud, in both its namespaces: `pod/container` → [pod uid,
 * restartCount].
 */
export async function restartCounts(): Promise<Map<string, { uid: string; restarts: number }>> {
  const out = new Map<string, { uid: string; restarts: number }>();
  for (const p of await cloudPods()) {
    if (p.metadata.labels?.['job-name']) continue; // one-shot Jobs come and go
    for (const s of containerStatuses(p)) {
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

// ---- pods the suite runs -----------------------------------------------------------------------

/** The test image's unprivileged user (Debian's nobody), which the suite's own pods run as. */
export const testUser = 65534;

/**
 * A pod of the test image that Pod Security "restricted" admits, as the cloud's namespace
 * enforces it: as nobody (runAsNonRoot, a numeric user), no privilege escalation, every capability
 * dropped, the runtime's seccomp profile; a read-only root file system too. Deleted at once (no
 * grace period).
 */
export function testPod(o: {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  command: string[];
  container?: string;
  restartPolicy?: 'Always' | 'Never';
  nodeName?: string;
  resources?: Record<string, unknown>;
}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: o.name, namespace: o.namespace, labels: o.labels },
    spec: {
      ...(o.nodeName ? { nodeName: o.nodeName } : {}),
      restartPolicy: o.restartPolicy ?? 'Never',
      terminationGracePeriodSeconds: 0,
      securityContext: {
        runAsNonRoot: true,
        runAsUser: testUser,
        runAsGroup: testUser,
        seccompProfile: { ...runtimeDefaultSeccomp },
      },
      containers: [
        {
          name: o.container ?? o.name,
          image: testImage,
          imagePullPolicy: 'Never',
          command: o.command,
          ...(o.resources ? { resources: o.resources } : {}),
          // What the cloud's own containers get (render/workload.ts), as nobody.
          securityContext: restrictedSecurityContext(testUser),
        },
      ],
    },
  };
}

// ---- a CPU hog beside the cloud ----------------------------------------------------------------

/**
 * A best-effort pod (no requests, no limits) on the cloud's node that keeps `cores` cores busy:
 * the mixed workload the cloud must stand beside. Deleted by `stop()`. It meets Pod Security
 * "restricted", so that it may run in the cloud's namespace too.
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
  await c.create(
    testPod({
      name,
      namespace: hogNamespace,
      labels: { 'app.kubernetes.io/name': name },
      container: 'hog',
      nodeName,
      command: [
        'sh',
        '-c',
        `i=0; while [ $i -lt ${cores} ]; do (while :; do :; done) & i=$((i + 1)); done; wait`,
      ],
    }),
  );
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

/** An Event of the cloud's namespaces, as the benches read it. */
export interface CloudEvent {
  /** When it was last recorded (epoch ms). */
  at: number;
  object: string;
  /** The container's field path (`spec.containers{api}`), for a container's Event. */
  fieldPath: string;
  message: string;
  count: number;
}

/** The Events with `reason` in the cloud's namespace and its data plane's. */
export async function cloudEvents(reason: string): Promise<CloudEvent[]> {
  const c = await client();
  const out: CloudEvent[] = [];
  for (const ns of [namespace, dataPlaneNamespace]) {
    const { items } = await c.list<KubeObject>('v1', 'Event', {
      namespace: ns,
      fieldSelector: `reason=${reason}`,
    });
    for (const e of items) {
      const what = e.involvedObject as { name?: string; fieldPath?: string } | undefined;
      out.push({
        at: Date.parse(String(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp)),
        object: what?.name ?? '?',
        fieldPath: what?.fieldPath ?? '',
        message: typeof e.message === 'string' ? e.message : '',
        count: typeof e.count === 'number' ? e.count : 1,
      });
    }
  }
  return out;
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
  const [admin, glance, nova] = await Promise.all([
    keystoneAdmin(),
    serviceUrl('glance-api'),
    serviceUrl('nova-api'),
  ]);
  const token = await newToken(admin.url, admin.body);
  const auth = { 'x-auth-token': token, accept: 'application/json' };
  return [
    tokenLoad(admin.url, tokenAuth === 'password' ? admin.body : rescopeRequest(token)),
    { kind: 'image list', method: 'GET', url: `${glance}/v2/images`, headers: auth, expect: 200 },
    { kind: 'server list', method: 'GET', url: `${nova}/v2.1/servers`, headers: auth, expect: 200 },
  ];
}

/** The load generator's token request: POST `body` to Keystone, 201 expected. */
export function tokenLoad(keystone: string, body: string): LoadRequest {
  return {
    kind: 'token',
    method: 'POST',
    url: `${keystone}/v3/auth/tokens`,
    headers: { 'content-type': 'application/json' },
    body,
    expect: 201,
  };
}

/** Some seconds of load in all: requests sent and failed, failures by kind, the slowest (ms). */
export function sumLoad(lines: LoadSecond[]): {
  sent: number;
  failed: number;
  errors: Record<string, number>;
  maxMs: number;
} {
  const errors: Record<string, number> = {};
  let sent = 0;
  let failed = 0;
  let maxMs = 0;
  for (const l of lines) {
    sent += l.sent;
    failed += l.failed;
    maxMs = Math.max(maxMs, l.maxMs);
    for (const [k, v] of Object.entries(l.errors)) errors[k] = (errors[k] ?? 0) + v;
  }
  return { sent, failed, errors, maxMs };
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
