// bench/heal's shared instruments: printing and recording figures, waiting and polling (in the
// background, with attempts kept), processes on this node (/proc), and the Keystone replica count
// changed through the OpenStackCloud and restored. Used by one module per scenario (main.ts).
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeObject } from '../../src/render/kube.ts';
import {
  client,
  cloudName,
  isReady,
  kubectl,
  namespace,
  pods,
  replacedAndReady,
  until,
} from '../../test/e2e/helpers.ts';
import { progressLog } from '../progress.ts';

export const scenarios = [
  'keystone-2',
  'keystone-1',
  'mariadb',
  'rabbitmq',
  'kill',
  'sigstop',
] as const;
export type Scenario = (typeof scenarios)[number];

/** Set from the command line by main.ts. */
export const settings = {
  /** Every wait is bounded by this; a wait that runs out is reported as a figure. */
  waitMs: 300_000,
  /** keystone-2's load: requests per second and how they authenticate. */
  rate: 20,
  loadAuth: 'token' as 'token' | 'password',
};

// ---- output -----------------------------------------------------------------------------------

export const log = progressLog();

export interface Row {
  scenario: Scenario;
  figure: string;
  value: string;
  goal: string;
}
export const rows: Row[] = [];
export const result: Record<string, Record<string, unknown>> = {};

export function record(
  scenario: Scenario,
  key: string,
  figure: string,
  value: unknown,
  goal = '',
): void {
  (result[scenario] ??= {})[key] = value;
  let text: string;
  if (typeof value === 'number') text = Number.isInteger(value) ? String(value) : value.toFixed(1);
  else if (value === null) text = `timeout (> ${settings.waitMs / 1000} s)`;
  else if (typeof value === 'boolean') text = value ? 'yes' : 'no';
  else text = typeof value === 'string' ? value : JSON.stringify(value);
  rows.push({ scenario, figure, value: text, goal });
  log(`${scenario}: ${figure}: ${text}${goal ? ` (goal ${goal})` : ''}`);
}

export const secs = (from: number, to: number | undefined): number | null =>
  to === undefined ? null : Math.round((to - from) / 100) / 10;

/** An error in one line; for kubectl, only what the command printed (not the command line). */
export function errText(err: unknown, max = 300): string {
  return (err instanceof Error ? err.message : String(err))
    .replace(/^kubectl [^:]*: /, '')
    .replace(/command terminated with exit code \d+/, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, max);
}

// ---- waiting and polling ----------------------------------------------------------------------

/** Epoch ms at which `cond` first held (polled every `everyMs`), or undefined after `timeoutMs`. */
export async function whenTrue(
  what: string,
  cond: () => boolean | undefined | Promise<boolean | undefined>,
  everyMs = 250,
  timeoutMs = settings.waitMs,
): Promise<number | undefined> {
  try {
    await until(async () => (await cond()) === true, what, timeoutMs, everyMs);
    return Date.now();
  } catch (err) {
    log(`gave up: ${errText(err)}`);
    return undefined;
  }
}

/** Records in the background the first moment `cond` holds (polled every `everyMs`). */
export class Watch {
  at: number | undefined;
  #stopped = false;
  constructor(cond: () => boolean | Promise<boolean>, everyMs: number) {
    void (async () => {
      const end = Date.now() + settings.waitMs;
      while (!this.#stopped && Date.now() < end) {
        try {
          if (await cond()) {
            this.at = Date.now();
            return;
          }
        } catch {
          // not yet: a failed look is a negative answer
        }
        await sleep(everyMs);
      }
    })();
  }
  stop(): void {
    this.#stopped = true;
  }
}

export interface Attempt {
  start: number;
  end: number;
  ok: boolean;
  detail: string;
}

/**
 * Calls `fn` again and again, one call at a time, starting one every `everyMs` at most; `fn`
 * resolves to null when the thing works, else to what went wrong.
 */
export class Prober {
  readonly attempts: Attempt[] = [];
  #stopped = false;
  readonly #done: Promise<void>;
  constructor(fn: () => Promise<string | null>, everyMs: number) {
    this.#done = (async () => {
      const end = Date.now() + settings.waitMs * 2;
      while (!this.#stopped && Date.now() < end) {
        const start = Date.now();
        let detail: string | null;
        try {
          detail = await fn();
        } catch (err) {
          detail = errText(err, 120);
        }
        this.attempts.push({ start, end: Date.now(), ok: detail === null, detail: detail ?? '' });
        const rest = everyMs - (Date.now() - start);
        if (rest > 0) await sleep(rest);
      }
    })();
  }
  stop(): Promise<void> {
    this.#stopped = true;
    return this.#done;
  }
  firstFailure(since: number): Attempt | undefined {
    return this.attempts.find((a) => !a.ok && a.start >= since);
  }
  /** When the first attempt started at or after `since` succeeded (its end). */
  okAfter(since: number): number | undefined {
    return this.attempts.find((a) => a.ok && a.start >= since)?.end;
  }
  /** What went wrong from `since` on, counted by kind. */
  failures(since: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.attempts) {
      if (!a.ok && a.start >= since) out[a.detail] = (out[a.detail] ?? 0) + 1;
    }
    return out;
  }
}

/**
 * When an outage began: at the first failed probe after `since`, or at one of `marks` (such as
 * the moment the old server process exited: a probe that never failed still has to be answered
 * by the new server), whichever came first.
 */
export function outageStart(
  p: Prober,
  since: number,
  ...marks: (number | undefined)[]
): number | undefined {
  const starts = [p.firstFailure(since)?.start, ...marks].filter((x) => x !== undefined);
  return starts.length === 0 ? undefined : Math.min(...starts);
}

/** Waits for the first success of a probe started after the outage began; its end time. */
export async function waitRecovered(
  what: string,
  p: Prober,
  start: () => number | undefined,
  everyMs = 100,
): Promise<number | undefined> {
  const back = () => {
    const s = start();
    return s === undefined ? undefined : p.okAfter(s);
  };
  const ok = await whenTrue(what, () => back() !== undefined, everyMs);
  return ok === undefined ? undefined : back();
}

// ---- Kubernetes and the node ------------------------------------------------------------------

export function podIP(pod: KubeObject): string | undefined {
  return (pod.status as { podIP?: string } | undefined)?.podIP;
}

/** A process's state letter and start time (in clock ticks since boot), or undefined if gone. */
export function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, start: fields[19]! };
  } catch {
    return undefined;
  }
}

/** Records when a host process exits (or becomes a zombie), polling /proc every 20 ms. */
export function watchExit(pid: number): Watch {
  const start = procStat(pid)?.start;
  return new Watch(() => {
    const s = procStat(pid);
    return s === undefined || s.start !== start || s.state === 'Z';
  }, 20);
}

/** Ready Keystone pods, not being deleted. */
export async function keystonePods(): Promise<KubeObject[]> {
  return (await pods('keystone-api')).filter(isReady);
}

/** The Deployment keystone-api has `n` replicas, all updated and Ready, and no other pods. */
export async function keystoneSettled(n: number): Promise<boolean> {
  const c = await client();
  const d = await c.get<KubeObject>('apps/v1', 'Deployment', 'keystone-api', namespace);
  const spec = d.spec as { replicas: number };
  const st = d.status as { replicas?: number; readyReplicas?: number; updatedReplicas?: number };
  if (spec.replicas !== n || st.replicas !== n) return false;
  if (st.readyReplicas !== n || st.updatedReplicas !== n) return false;
  const ps = await pods('keystone-api');
  return ps.length === n && ps.every(isReady);
}

export async function specReplicas(): Promise<number> {
  const c = await client();
  const cloud = await c.get<KubeObject>(
    'stackanetes.io/v1alpha1',
    'OpenStackCloud',
    cloudName,
    namespace,
  );
  return (
    (cloud.spec as { services: { keystone: { replicas?: number } } }).services.keystone.replicas ??
    1
  );
}

let originalReplicas: number | undefined;

/** Sets spec.services.keystone.replicas and waits until the Deployment has followed. */
export async function setKeystoneReplicas(n: number): Promise<boolean> {
  const current = await specReplicas();
  originalReplicas ??= current;
  if (current !== n) {
    log(`spec.services.keystone.replicas: ${current} → ${n}`);
    await kubectl([
      '-n',
      namespace,
      'patch',
      'openstackcloud',
      cloudName,
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { services: { keystone: { replicas: n } } } }),
    ]);
  }
  const at = await whenTrue(
    `keystone-api with ${n} Ready replicas`,
    () => keystoneSettled(n),
    1000,
  );
  return at !== undefined;
}

/** The replica count found at the start, restored at the end. */
export async function rememberReplicas(): Promise<number> {
  originalReplicas = await specReplicas();
  return originalReplicas;
}

export async function restoreReplicas(): Promise<void> {
  if (originalReplicas === undefined) return;
  if ((await specReplicas()) === originalReplicas) return;
  log(`restoring spec.services.keystone.replicas to ${originalReplicas}`);
  await setKeystoneReplicas(originalReplicas);
}

/** Set on Ctrl-C: after it only the clean-up runs. */
export const state = { interrupted: false };

/** After Ctrl-C only the clean-up runs: nothing more is deleted, killed or stopped. */
export function guard(): void {
  if (state.interrupted) throw new Error('interrupted');
}

export async function deletePod(name: string): Promise<number> {
  guard();
  const at = Date.now();
  // As `kubectl delete pod` does: graceful, the pod's own terminationGracePeriodSeconds.
  await kubectl(['-n', namespace, 'delete', 'pod', name, '--wait=false']);
  return at;
}

/**
 * Deletes pod `name` of a StatefulSet and waits until it is back and Ready; records when its old
 * process exited and when it was Ready. Returns the moment of the delete and of Ready.
 */
export async function deleteAndAwait(
  sc: Scenario,
  name: string,
  uid: string | undefined,
  exited: Watch,
  what: string,
): Promise<{ tDelete: number; ready: number | undefined }> {
  log(`${sc}: deleting pod ${name}`);
  const tDelete = await deletePod(name);
  const ready = await whenTrue(`${name} Ready again`, () => replacedAndReady(name, uid), 250);
  record(sc, 'processExitSeconds', `old ${what} exited after (s)`, secs(tDelete, exited.at));
  record(sc, 'readySeconds', `seconds until ${name} is Ready again`, secs(tDelete, ready));
  return { tDelete, ready };
}
