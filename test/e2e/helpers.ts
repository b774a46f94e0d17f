// Shared by the end-to-end suite and bench/heal: the cloud that `npx stackanetes up` deployed
// (examples/minimal.yaml, namespace `openstack`) on the local cluster, checked with real clients.
// The `openstack` command line runs in the cloud's own openstack-client pod (admin clouds.yaml);
// HTTP checks from this host go to the Services' cluster IPs (kube-proxy routes them here too).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
