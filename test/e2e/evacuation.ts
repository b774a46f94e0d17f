// What the evacuation test (test/e2e/evacuate.test.ts) and bench/node-failure.ts share: the
// node, its compute service and the operator's Events as a user reads them, a Galera member off
// the cut node, the operator's leader, and the project's CLI.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { client, cloudName, getPod, isReady, namespace, osJson, until } from './helpers.ts';

const run = promisify(execFile);
/** `stackanetes <args>` with this Node. */
export const cli = (args: string[]) =>
  run(process.execPath, [join(import.meta.dirname, '../../bin/stackanetes.js'), ...args], {
    timeout: 600_000,
  });
export const victim = process.env.STACKANETES_E2E_VICTIM ?? 'stackanetes-node-3';
export const fencedAnnotation = 'stackanetes.io/fenced';
const outOfService = 'node.kubernetes.io/out-of-service';

interface Node {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { taints?: { key: string }[] };
}
export interface ComputeRow {
  Host: string;
  Binary: string;
  Status: string;
  State: string;
  'Forced Down'?: boolean;
}

export const node = async (n: string) =>
  (await (await client()).get('v1', 'Node', n)) as unknown as Node;

/** Whether node `n` carries the operator's fence annotation and the out-of-service taint. */
export async function fenced(n: string): Promise<string | undefined> {
  const x = await node(n);
  return x.metadata.annotations?.[fencedAnnotation] &&
    (x.spec.taints ?? []).some((t) => t.key === outOfService)
    ? x.metadata.annotations[fencedAnnotation]
    : undefined;
}

/** Waits until node `n` is fenced; the annotation's value (when). */
export const untilFenced = (n: string, timeoutMs = 180_000) =>
  until(() => fenced(n), `${n} to be fenced and out of service`, timeoutMs, 1000);

/** Waits until node `n` has neither the annotation nor the taint. */
export const untilUnfenced = (n: string, timeoutMs = 300_000) =>
  until(
    async () => {
      const x = await node(n);
      return !x.metadata.annotations?.[fencedAnnotation] &&
        !(x.spec.taints ?? []).some((t) => t.key === outOfService)
        ? true
        : undefined;
    },
    `${n} to lose the fence and the out-of-service taint`,
    timeoutMs,
    2000,
  );

/** The nova-compute row of `host`, at a microversion that shows Forced Down. */
export const computeOf = async (host: string) =>
  (
    await osJson<ComputeRow[]>(
      '--os-compute-api-version 2.53 compute service list --long --service nova-compute',
    )
  ).find((s) => s.Host === host);

export const operatorNamespace = process.env.STACKANETES_OPERATOR_NAMESPACE ?? 'stackanetes-system';

/** Waits until `host`'s nova-compute is forced down and disabled; its row. */
export const untilForcedDown = (host: string, timeoutMs: number, everyMs: number) =>
  until(
    async () => {
      const c = await computeOf(host);
      return c && c.Status === 'disabled' && c['Forced Down'] === true ? c : undefined;
    },
    `nova-compute on ${host} to be forced down and disabled`,
    timeoutMs,
    everyMs,
  );

/** Waits until `host`'s nova-compute is up, enabled and no longer forced down; its row. */
export const untilComputeBack = (host: string, timeoutMs: number, everyMs: number) =>
  until(
    async () => {
      const c = await computeOf(host);
      return c && c.Status === 'enabled' && c.State === 'up' && c['Forced Down'] === false
        ? c
        : undefined;
    },
    `nova-compute on ${host} to be up and enabled`,
    timeoutMs,
    everyMs,
  );

/** Waits until server `name` is ACTIVE on a node other than `from` (ERROR ends the wait); `server show`. */
export const untilActiveElsewhere = (
  name: string,
  from: string,
  timeoutMs: number,
  everyMs: number,
) =>
  until(
    async () => {
      const s = await osJson<Record<string, string>>(`server show ${name}`);
      if (s.status === 'ERROR') throw new Error(`${name} in ERROR: ${JSON.stringify(s.fault)}`);
      return s['OS-EXT-SRV-ATTR:host'] !== from && s.status === 'ACTIVE' ? s : undefined;
    },
    `${name} to be ACTIVE on another node`,
    timeoutMs,
    everyMs,
  );

/** The operator pod holding the leader Lease. */
export async function leaderPod(): Promise<string> {
  const lease = await (
    await client()
  ).get('coordination.k8s.io/v1', 'Lease', 'stackanetes-operator', operatorNamespace);
  const holder = (lease.spec as { holderIdentity?: string }).holderIdentity;
  if (!holder) throw new Error('no operator pod holds the Lease');
  return holder;
}

/** The cloud's Events of one reason: message and time. */
export async function events(reason: string): Promise<{ message: string; at: string }[]> {
  const { items } = await (await client()).list('v1', 'Event', { namespace });
  return (
    items as unknown as {
      reason?: string;
      message?: string;
      lastTimestamp?: string;
      involvedObject?: { name?: string };
    }[]
  )
    .filter((e) => e.reason === reason && e.involvedObject?.name === cloudName)
    .map((e) => ({ message: e.message ?? '', at: e.lastTimestamp ?? '' }));
}

/** A Galera member (mariadb-0, -1, -2) that runs and is not on node `n`. */
export async function memberOff(n: string): Promise<string> {
  for (const m of ['mariadb-0', 'mariadb-1', 'mariadb-2']) {
    const p = await getPod(m);
    if (p && (p.spec as { nodeName?: string }).nodeName !== n && isReady(p)) return m;
  }
  throw new Error(`no ready Galera member off ${n}`);
}
