// bench/heal: self-healing of the cloud that `npx stackanetes up` deployed (examples/minimal.yaml,
// namespace `openstack`), measured on the real local cluster. Prints progress lines, a table of
// figures at the end and one `# result {...}` JSON line; it asserts nothing about timing.
//   keystone-2  2 Keystone replicas under token-issue load (test/e2e/load-gen.ts, a child process,
//               20 requests/s by default); one pod deleted gracefully: requests sent and failed
//               (by phase and kind), seconds until 2 replicas are Ready again. The load re-scopes
//               a token by default (--load-auth token): a password request costs a bcrypt hash
//               (about 0.4 s of CPU), and 20 of them a second overload a 2-core machine before
//               anything is deleted (--load-auth password measures that).
//   keystone-1  1 replica, pod deleted: seconds until a token is issued again (polled every 100 ms).
//   mariadb     a marker Glance image, then mariadb-0 deleted: seconds until it is Ready, until a
//               token is issued, until `openstack image list` works and whether it lists the marker.
//   rabbitmq    rabbitmq-0 deleted: seconds until it is Ready, until the compute services are up
//               and until a server (fake driver, flavor heal.tiny) is ACTIVE.
//   sigstop     the Keystone process killed from the host (SIGKILL): seconds until the container
//               has restarted and is Ready; then stopped (SIGSTOP): seconds until the kubelet's
//               liveness probe restarted it, against the budget its probe states.
// The Keystone replica count (spec.services.keystone.replicas) is changed through the
// OpenStackCloud and restored at the end, also on failure or Ctrl-C; stopped processes are
// continued; the marker image, the test server and a flavor this script created are deleted.
// Usage: eval "$(npx stackanetes cluster env)"   # KUBECONFIG, kubectl and crictl
//   node bench/heal.ts [--only keystone-2,keystone-1,mariadb,rabbitmq,sigstop | a,b,c,d,e]
//                      [--rate 20] [--load-auth token|password] [--wait 300]
// Sending signals to container processes needs root on the node (this host).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, promisify } from 'node:util';
import type { KubeObj } from '../src/kube/client.ts';
import {
  adminCredentials,
  cgroupPids,
  client,
  containerStatus,
  getPod,
  hostPid,
  cloudName,
  inClient,
  isReady,
  issueToken,
  killLoads,
  kubectl,
  livenessRestartBudget,
  namespace,
  startLoad,
  type LoadSecond,
  osJson,
  pods,
  readyCount,
  replacedAndReady,
  serviceUrl,
  tokenRequest,
  until,
} from '../test/e2e/helpers.ts';
import { progressLog, requireKubeconfig } from './progress.ts';

const run = promisify(execFile);

const all = ['keystone-2', 'keystone-1', 'mariadb', 'rabbitmq', 'sigstop'] as const;
type Scenario = (typeof all)[number];
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    rate: { type: 'string', default: '20' },
    'load-auth': { type: 'string', default: 'token' },
    wait: { type: 'string', default: '300' },
  },
});
const selected: Scenario[] = values.only
  ? values.only.split(',').map((s) => {
      const name = s.trim();
      const byLetter = 'abcde'.indexOf(name);
      const sc = name.length === 1 && byLetter >= 0 ? all[byLetter] : (name as Scenario);
      if (!all.includes(sc!)) {
        console.error(`unknown scenario ${name}; choose from ${all.join(', ')} (or a-e)`);
        process.exit(2);
      }
      return sc!;
    })
  : [...all];
const rate = Number(values.rate);
const loadAuth = values['load-auth'];
if (loadAuth !== 'token' && loadAuth !== 'password') {
  console.error('--load-auth is token or password');
  process.exit(2);
}
/** Every wait is bounded by this; a wait that runs out is reported as a figure. */
const waitMs = Number(values.wait) * 1000;

requireKubeconfig();

// ---- output -----------------------------------------------------------------------------------

const log = progressLog();

interface Row {
  scenario: Scenario;
  figure: string;
  value: string;
  goal: string;
}
const rows: Row[] = [];
const result: Record<string, Record<string, unknown>> = {};

function record(scenario: Scenario, key: string, figure: string, value: unknown, goal = ''): void {
  (result[scenario] ??= {})[key] = value;
  let text: string;
  if (typeof value === 'number') text = Number.isInteger(value) ? String(value) : value.toFixed(1);
  else if (value === null) text = `timeout (> ${waitMs / 1000} s)`;
  else if (typeof value === 'boolean') text = value ? 'yes' : 'no';
  else text = typeof value === 'string' ? value : JSON.stringify(value);
  rows.push({ scenario, figure, value: text, goal });
  log(`${scenario}: ${figure}: ${text}${goal ? ` (goal ${goal})` : ''}`);
}

const secs = (from: number, to: number | undefined): number | null =>
  to === undefined ? null : Math.round((to - from) / 100) / 10;

/** An error in one line; for kubectl, only what the command printed (not the command line). */
function errText(err: unknown, max = 300): string {
  return (err instanceof Error ? err.message : String(err))
    .replace(/^kubectl [^:]*: /, '')
    .replace(/command terminated with exit code \d+/, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, max);
}

// ---- waiting and polling ----------------------------------------------------------------------

/** Epoch ms at which `cond` first held (polled every `everyMs`), or undefined after `timeoutMs`. */
async function whenTrue(
  what: string,
  cond: () => boolean | undefined | Promise<boolean | undefined>,
  everyMs = 250,
  timeoutMs = waitMs,
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
class Watch {
  at: number | undefined;
  #stopped = false;
  constructor(cond: () => boolean | Promise<boolean>, everyMs: number) {
    void (async () => {
      const end = Date.now() + waitMs;
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

interface Attempt {
  start: number;
  end: number;
  ok: boolean;
  detail: string;
}

/**
 * Calls `fn` again and again, one call at a time, starting one every `everyMs` at most; `fn`
 * resolves to null when the thing works, else to what went wrong.
 */
class Prober {
  readonly attempts: Attempt[] = [];
  #stopped = false;
  readonly #done: Promise<void>;
  constructor(fn: () => Promise<string | null>, everyMs: number) {
    this.#done = (async () => {
      const end = Date.now() + waitMs * 2;
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
function outageStart(
  p: Prober,
  since: number,
  ...marks: (number | undefined)[]
): number | undefined {
  const starts = [p.firstFailure(since)?.start, ...marks].filter((x) => x !== undefined);
  return starts.length === 0 ? undefined : Math.min(...starts);
}

/** Waits for the first success of a probe started after the outage began; its end time. */
async function waitRecovered(
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

function podIP(pod: KubeObj): string | undefined {
  return (pod.status as { podIP?: string } | undefined)?.podIP;
}

/** A process's state letter and start time (in clock ticks since boot), or undefined if gone. */
function procStat(pid: number): { state: string; start: string } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, start: fields[19]! };
  } catch {
    return undefined;
  }
}

/** Records when a host process exits (or becomes a zombie), polling /proc every 20 ms. */
function watchExit(pid: number): Watch {
  const start = procStat(pid)?.start;
  return new Watch(() => {
    const s = procStat(pid);
    return s === undefined || s.start !== start || s.state === 'Z';
  }, 20);
}

/** Ready Keystone pods, not being deleted. */
async function keystonePods(): Promise<KubeObj[]> {
  return (await pods('keystone-api')).filter(isReady);
}

/** The Deployment keystone-api has `n` replicas, all updated and Ready, and no other pods. */
async function keystoneSettled(n: number): Promise<boolean> {
  const c = await client();
  const d = await c.get<KubeObj>('apps/v1', 'Deployment', 'keystone-api', namespace);
  const spec = d.spec as { replicas: number };
  const st = d.status as { replicas?: number; readyReplicas?: number; updatedReplicas?: number };
  if (spec.replicas !== n || st.replicas !== n) return false;
  if (st.readyReplicas !== n || st.updatedReplicas !== n) return false;
  const ps = await pods('keystone-api');
  return ps.length === n && ps.every(isReady);
}

async function specReplicas(): Promise<number> {
  const c = await client();
  const cloud = await c.get<KubeObj>(
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
async function setKeystoneReplicas(n: number): Promise<boolean> {
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

async function restoreReplicas(): Promise<void> {
  if (originalReplicas === undefined) return;
  if ((await specReplicas()) === originalReplicas) return;
  log(`restoring spec.services.keystone.replicas to ${originalReplicas}`);
  await setKeystoneReplicas(originalReplicas);
}

let interrupted = false;

/** After Ctrl-C only the clean-up runs: nothing more is deleted, killed or stopped. */
function guard(): void {
  if (interrupted) throw new Error('interrupted');
}

async function deletePod(name: string): Promise<number> {
  guard();
  const at = Date.now();
  // As `kubectl delete pod` does: graceful, the pod's own terminationGracePeriodSeconds.
  await kubectl(['-n', namespace, 'delete', 'pod', name, '--wait=false']);
  return at;
}

// ---- Keystone ---------------------------------------------------------------------------------

let keystoneUrl: string | undefined;
let passwordBody: string | undefined;
async function keystone(): Promise<{ url: string; body: string }> {
  keystoneUrl ??= await serviceUrl('keystone-api');
  if (!passwordBody) {
    const { username, password } = await adminCredentials();
    passwordBody = tokenRequest(username, password);
  }
  return { url: keystoneUrl, body: passwordBody };
}

let oddAnswers = 0;

async function tokenProbe(timeoutMs = 2000): Promise<string | null> {
  const { url, body } = await keystone();
  const start = Date.now();
  const status = await issueToken(url, body, timeoutMs);
  if (status === 201) return null;
  if (status === 0) {
    // issueToken says 0 for both; the time taken tells a refused or reset connection from a hang.
    return Date.now() - start >= timeoutMs - 50
      ? `no answer in ${timeoutMs / 1000} s`
      : 'connection refused or reset';
  }
  // An answer that is not 201: who sent it? Ask once more on a fresh connection (the first few).
  if (oddAnswers++ < 3)
    log(
      `token request: HTTP ${status}; again on a new connection: ${await rawTokenRequest(url, body)}`,
    );
  return `HTTP ${status}`;
}

/** POST /v3/auth/tokens on a connection of its own; the status, Server header and body start. */
function rawTokenRequest(url: string, body: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request(`${url}/v3/auth/tokens`, {
      method: 'POST',
      agent: false,
      timeout: 5000,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () =>
        resolve(
          `${res.statusCode} server=${String(res.headers.server ?? '-')} ${text.slice(0, 200)}`,
        ),
      );
    });
    req.end(body);
  });
}

/** A body for the load: password auth (bcrypt on every request) or re-scoping a token (no hash). */
async function loadBody(): Promise<string> {
  const { url, body } = await keystone();
  if (loadAuth === 'password') return body;
  const r = await fetch(`${url}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  await r.arrayBuffer();
  const token = r.headers.get('x-subject-token');
  if (r.status !== 201 || !token) throw new Error(`token request: HTTP ${r.status}`);
  return JSON.stringify({
    auth: {
      identity: { methods: ['token'], token: { id: token } },
      scope: { project: { name: 'admin', domain: { name: 'Default' } } },
    },
  });
}

/** Seconds around a moment as "ok/sent", with runs of all-ok or all-failed seconds folded. */
function timeline(lines: LoadSecond[], t: number): string {
  const parts: string[] = [];
  let run: { from: number; to: number; kind: string } | undefined;
  const flush = () => {
    if (run) parts.push(`${run.from}${run.to > run.from ? `..${run.to}` : ''}s:${run.kind}`);
    run = undefined;
  };
  for (const l of lines) {
    const sec = Math.floor((l.t - t) / 1000);
    const kind = l.failed === 0 ? 'ok' : l.ok === 0 ? 'all-failed' : '';
    if (!kind) {
      flush();
      parts.push(`${sec}s:${l.ok}/${l.sent}`);
    } else if (run?.kind === kind) run.to = sec;
    else {
      flush();
      run = { from: sec, to: sec, kind };
    }
  }
  flush();
  return parts.length > 40 ? [...parts.slice(0, 40), '…'].join(' ') : parts.join(' ');
}

function sumLines(lines: LoadSecond[]): {
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

function phase(p: ReturnType<typeof sumLines>): string {
  const errs = Object.keys(p.errors).length ? ` ${JSON.stringify(p.errors)}` : '';
  return `${p.failed}/${p.sent}${errs}; slowest ${(p.maxMs / 1000).toFixed(1)} s`;
}

/** Watches whether a pod IP is still a ready endpoint of a Service (EndpointSlices). */
function watchEndpointGone(service: string, ip: string): Watch {
  return new Watch(async () => {
    const c = await client();
    const list = await c.request<{
      items: { endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[] }[];
    }>('GET', `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`, {
      query: { labelSelector: `kubernetes.io/service-name=${service}` },
    });
    const eps = list.items.flatMap((s) => s.endpoints ?? []);
    const ep = eps.find((e) => e.addresses.includes(ip));
    return !ep || ep.conditions?.ready === false;
  }, 100);
}

/** Watches whether kube-proxy's iptables rules still send the Service's traffic to a pod IP. */
function watchIptablesGone(service: string, ip: string, port: number): Watch {
  const needle = `"${namespace}/${service}:`;
  const dest = ` -> ${ip}:${port}"`;
  return new Watch(async () => {
    const { stdout } = await run('iptables-save', ['-t', 'nat'], { maxBuffer: 64 * 1024 * 1024 });
    return !stdout.split('\n').some((l) => l.includes(needle) && l.includes(dest));
  }, 200);
}

async function scenarioKeystone2(): Promise<void> {
  const sc: Scenario = 'keystone-2';
  if (!(await setKeystoneReplicas(2))) {
    record(sc, 'error', 'not measured', 'keystone-api did not reach 2 Ready replicas');
    return;
  }
  const { url } = await keystone();
  const body = await loadBody();
  log(`${sc}: load ${rate} requests/s (${loadAuth} auth) on ${url}, 5 s before the deletion`);
  const load = startLoad(
    [
      {
        kind: 'token',
        method: 'POST',
        url: `${url}/v3/auth/tokens`,
        headers: { 'content-type': 'application/json' },
        body,
        expect: 201,
      },
    ],
    rate,
  );
  let tDelete = 0;
  let tRecovered: number | undefined;
  const watches: Watch[] = [];
  try {
    await sleep(5000);
    const victim = (await keystonePods())[0];
    if (!victim) throw new Error('no Ready keystone-api pod');
    const ip = podIP(victim)!;
    const exited = watchExit(await hostPid(victim, 'api'));
    const endpoint = watchEndpointGone('keystone-api', ip);
    const rule = watchIptablesGone('keystone-api', ip, 5000);
    const podGone = new Watch(async () => (await getPod(victim.metadata.name)) === undefined, 200);
    watches.push(exited, endpoint, rule, podGone);
    log(`${sc}: deleting pod ${victim.metadata.name} (${ip})`);
    tDelete = await deletePod(victim.metadata.name);
    tRecovered = await whenTrue(
      '2 Ready keystone-api pods',
      async () => (await readyCount('keystone-api')) >= 2,
      200,
    );
    record(
      sc,
      'readySeconds',
      'seconds until 2 replicas are Ready again',
      secs(tDelete, tRecovered),
    );
    record(sc, 'processExitSeconds', 'old uwsgi exited after (s)', secs(tDelete, exited.at));
    record(
      sc,
      'endpointRemovedSeconds',
      'old pod out of the EndpointSlice after (s)',
      secs(tDelete, endpoint.at),
    );
    record(
      sc,
      'iptablesRemovedSeconds',
      "old pod out of kube-proxy's iptables after (s)",
      secs(tDelete, rule.at),
    );
    record(sc, 'podGoneSeconds', 'old pod object gone after (s)', secs(tDelete, podGone.at));
    log(`${sc}: load for 10 s more`);
    await sleep(10_000);
  } finally {
    for (const w of watches) w.stop();
    const totals = await load.stop();
    if (tDelete) {
      const end = tRecovered ?? Infinity;
      const before = sumLines(load.lines.filter((l) => l.t + 1000 <= tDelete));
      const during = sumLines(load.lines.filter((l) => l.t + 1000 > tDelete && l.t < end));
      const after = sumLines(load.lines.filter((l) => l.t >= end));
      record(sc, 'rate', 'load (requests/s, auth method)', `${rate}/s, ${loadAuth}`);
      record(sc, 'sent', 'requests sent', totals.sent);
      record(sc, 'failed', 'failed requests', totals.failed, '0');
      record(sc, 'errors', 'failures by kind', totals.errors);
      record(sc, 'failedBefore', 'failed/sent before the deletion (load alone)', phase(before));
      record(sc, 'failedDuring', 'failed/sent from deletion to 2 Ready', phase(during));
      record(sc, 'failedAfter', 'failed/sent after 2 Ready', phase(after));
      record(
        sc,
        'timeline',
        'per second (s from delete): ok/sent, or runs',
        timeline(load.lines, tDelete),
      );
      if (before.failed > 0) {
        log(
          `${sc}: NOTE the load alone failed ${before.failed}/${before.sent} requests before the ` +
            'deletion: Keystone is overloaded and the figures measure that, not the deletion ' +
            '(try --load-auth token or a lower --rate)',
        );
      }
    }
  }
}

async function scenarioKeystone1(): Promise<void> {
  const sc: Scenario = 'keystone-1';
  if (!(await setKeystoneReplicas(1))) {
    record(sc, 'error', 'not measured', 'keystone-api did not reach 1 Ready replica');
    return;
  }
  const victim = (await keystonePods())[0]!;
  const exited = watchExit(await hostPid(victim, 'api'));
  const probe = new Prober(() => tokenProbe(2000), 100);
  try {
    await sleep(1000);
    log(`${sc}: deleting pod ${victim.metadata.name}`);
    const tDelete = await deletePod(victim.metadata.name);
    const ready = new Watch(async () => (await readyCount('keystone-api')) >= 1, 200);
    const back = await waitRecovered('a token issued again', probe, () =>
      outageStart(probe, tDelete, exited.at),
    );
    await whenTrue('a Ready keystone-api pod', () => ready.at !== undefined, 200);
    ready.stop();
    const fail = probe.firstFailure(tDelete);
    record(
      sc,
      'tokenSeconds',
      'seconds from delete until a token is issued again',
      secs(tDelete, back),
      '< 10',
    );
    record(sc, 'outageSeconds', 'tokens failing for (s)', fail ? secs(fail.start, back) : 0);
    record(sc, 'processExitSeconds', 'old uwsgi exited after (s)', secs(tDelete, exited.at));
    record(sc, 'readySeconds', 'new pod Ready after (s)', secs(tDelete, ready.at));
    record(sc, 'failures', 'failed polls by kind', probe.failures(tDelete));
  } finally {
    exited.stop();
    await probe.stop();
  }
}

// ---- Glance marker, flavor, server ------------------------------------------------------------

const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14); // 20261129120000
let marker: { id: string; name: string } | undefined;
let createdFlavor = false;
const servers: string[] = [];

async function ensureMarker(): Promise<{ id: string; name: string }> {
  if (marker) return marker;
  const name = `heal-marker-${stamp}`;
  log(`uploading Glance image ${name}`);
  await inClient(`head -c 4096 /dev/urandom > /tmp/${name}`);
  const img = await osJson<{ id: string; status: string }>(
    `image create --disk-format raw --container-format bare --file /tmp/${name} ${name}`,
    180_000,
  );
  marker = { id: img.id, name };
  log(`marker image ${name}: ${img.id} (${img.status})`);
  return marker;
}

/** Whether each successful `image list` (by the start of its attempt) showed the marker. */
const hasMarker = new Map<number, boolean>();

async function imageListProbe(name: string): Promise<string | null> {
  const start = Date.now();
  const images = await osJson<{ ID: string; Name: string }[]>('image list', 90_000);
  hasMarker.set(
    start,
    images.some((i) => i.Name === name),
  );
  return null;
}

async function scenarioMariadb(): Promise<void> {
  const sc: Scenario = 'mariadb';
  const m = await ensureMarker();
  const before = await osJson<{ Name: string }[]>('image list', 90_000);
  if (!before.some((i) => i.Name === m.name)) {
    throw new Error(`the marker ${m.name} is not listed before the deletion`);
  }
  const old = await getPod('mariadb-0');
  if (!old || !isReady(old)) throw new Error('mariadb-0 is not Ready');
  const exited = watchExit(await hostPid(old, 'mariadb'));
  const token = new Prober(() => tokenProbe(2000), 250);
  const images = new Prober(() => imageListProbe(m.name), 500);
  try {
    await sleep(1000);
    log(`${sc}: deleting pod mariadb-0`);
    const tDelete = await deletePod('mariadb-0');
    const ready = await whenTrue(
      'mariadb-0 Ready again',
      () => replacedAndReady('mariadb-0', old.metadata.uid),
      250,
    );
    record(sc, 'processExitSeconds', 'old mariadbd exited after (s)', secs(tDelete, exited.at));
    record(sc, 'readySeconds', 'seconds until mariadb-0 is Ready again', secs(tDelete, ready));
    const tok = await waitRecovered('a token issued again', token, () =>
      outageStart(token, tDelete, exited.at),
    );
    record(sc, 'tokenSeconds', 'seconds until a token is issued again', secs(tDelete, tok));
    const fail = token.firstFailure(tDelete);
    record(sc, 'tokenOutageSeconds', 'tokens failing for (s)', fail ? secs(fail.start, tok) : 0);
    record(sc, 'tokenFailures', 'failed token polls by kind', token.failures(tDelete));
    // `image list` works again: the first listing started after the outage began.
    const works = await waitRecovered(
      '`openstack image list` works again',
      images,
      () => outageStart(images, tDelete, exited.at),
      250,
    );
    const listing = images.attempts.find((a) => a.ok && a.end === works);
    record(
      sc,
      'imageListSeconds',
      'seconds until `openstack image list` works again',
      secs(tDelete, works),
    );
    record(
      sc,
      'markerListed',
      `marker ${m.name} still listed (data not lost)`,
      listing ? hasMarker.get(listing.start) === true : 'unknown',
      'yes',
    );
    record(sc, 'imageListFailures', 'failed image lists by kind', images.failures(tDelete));
  } finally {
    exited.stop();
    await Promise.all([token.stop(), images.stop()]);
  }
}

interface ComputeService {
  Binary: string;
  Host: string;
  State: string;
  Status: string;
}

async function computeUp(): Promise<string | null> {
  const list = await osJson<ComputeService[]>('compute service list', 90_000);
  const need = ['nova-conductor', 'nova-scheduler', 'nova-compute'];
  const down = need.filter((b) => !list.some((s) => s.Binary === b && s.State === 'up'));
  return down.length === 0 ? null : `down: ${down.join(', ')}`;
}

async function ensureFlavor(): Promise<void> {
  try {
    await osJson('flavor show heal.tiny');
  } catch {
    log('creating flavor heal.tiny (1 vCPU, 64 MB, 1 GB)');
    await osJson('flavor create --vcpus 1 --ram 64 --disk 1 heal.tiny');
    createdFlavor = true;
  }
}

/** Boots a server and deletes it; seconds to ACTIVE, or why it was not measured. */
async function bootServer(label: string): Promise<{ seconds: number | null; detail: string }> {
  const m = await ensureMarker();
  await ensureFlavor();
  const name = `heal-${stamp}-${label}`;
  servers.push(name);
  const start = Date.now();
  try {
    const s = await osJson<{ status: string; id: string }>(
      `server create --flavor heal.tiny --image ${m.id} --nic none --wait ${name}`,
      waitMs,
    );
    const wall = (Date.now() - start) / 1000;
    const shown = await osJson<Record<string, string>>(`server show ${s.id}`);
    const launched = shown['OS-SRV-USG:launched_at'] ?? shown.launched_at;
    const created = shown.created;
    const server =
      launched && created ? (Date.parse(launched + 'Z') - Date.parse(created)) / 1000 : NaN;
    return {
      seconds: Math.round(wall * 10) / 10,
      detail: `${shown.status}; launched_at − created = ${server.toFixed(1)} s (the CLI's --wait polls every 5 s)`,
    };
  } catch (err) {
    // `openstack server show` leaves out the fault; the SDK has it.
    let fault = '';
    try {
      const out = await inClient(
        `python3 -c 'import json, openstack; c = openstack.connect(cloud="admin"); ` +
          `s = c.compute.find_server("${name}"); s = s and c.compute.get_server(s.id); ` +
          `print(json.dumps(s and {"status": s.status, "fault": s.fault}))'`,
      );
      const s = JSON.parse(out) as { status: string; fault?: { message?: string } } | null;
      if (s) fault = ` (server ${s.status}${s.fault?.message ? `: ${s.fault.message}` : ''})`;
    } catch {
      // no server, or no answer: the CLI's error has to do
    }
    return { seconds: null, detail: `not measured: ${errText(err)}${fault}` };
  } finally {
    await deleteServer(name);
  }
}

async function deleteServer(name: string): Promise<void> {
  try {
    await inClient(`openstack server delete --wait ${name} 2>/dev/null || true`, 180_000);
    servers.splice(servers.indexOf(name), 1);
  } catch (err) {
    log(`could not delete server ${name}: ${errText(err)}`);
  }
}

async function scenarioRabbitmq(): Promise<void> {
  const sc: Scenario = 'rabbitmq';
  const old = await getPod('rabbitmq-0');
  if (!old || !isReady(old)) throw new Error('rabbitmq-0 is not Ready');
  let novaBefore: string | null;
  try {
    novaBefore = await computeUp();
  } catch (err) {
    novaBefore = errText(err);
  }
  record(
    sc,
    'computeBefore',
    'compute services before',
    novaBefore ?? 'conductor, scheduler, compute up',
  );
  if (novaBefore === null) {
    const b = await bootServer('before');
    record(
      sc,
      'bootBeforeSeconds',
      'baseline: server create → ACTIVE before the deletion (s)',
      b.seconds ?? b.detail,
    );
    if (b.seconds !== null) record(sc, 'bootBeforeDetail', 'baseline detail', b.detail);
  }
  const exited = watchExit(await hostPid(old, 'rabbitmq'));
  // Listed all along (each listing takes a few seconds): do the services show as down while
  // RabbitMQ is away? They report through the database (nova-compute through the conductor, so
  // over RPC) and count as down after service_down_time (60 s) without a report.
  const services = novaBefore === null ? new Prober(computeUp, 1000) : undefined;
  try {
    log(`${sc}: deleting pod rabbitmq-0`);
    const tDelete = await deletePod('rabbitmq-0');
    const ready = await whenTrue(
      'rabbitmq-0 Ready again',
      () => replacedAndReady('rabbitmq-0', old.metadata.uid),
      250,
    );
    record(sc, 'processExitSeconds', 'old rabbitmq exited after (s)', secs(tDelete, exited.at));
    record(sc, 'readySeconds', 'seconds until rabbitmq-0 is Ready again', secs(tDelete, ready));
    if (ready === undefined) return;
    if (!services) {
      record(sc, 'bootSeconds', 'server create → ACTIVE', `not measured: ${novaBefore}`);
      return;
    }
    // A listing counts once RabbitMQ is back (the services may never have been shown down).
    const up = await waitRecovered('compute services up', services, () => ready, 250);
    await services.stop();
    record(
      sc,
      'computeUpSeconds',
      'seconds until conductor, scheduler, compute are up',
      secs(tDelete, up),
    );
    record(
      sc,
      'computeFailures',
      'listings during the outage that were not all up, by kind',
      services.failures(tDelete),
    );
    const b = await bootServer('after');
    record(
      sc,
      'bootSeconds',
      'server create → ACTIVE after RabbitMQ came back (s)',
      b.seconds ?? b.detail,
    );
    if (b.seconds !== null) {
      record(
        sc,
        'bootActiveSeconds',
        'seconds from delete until the server was ACTIVE',
        secs(tDelete, Date.now()),
      );
      record(sc, 'bootDetail', 'detail', b.detail);
    }
  } finally {
    exited.stop();
    await services?.stop();
  }
}

// ---- the kubelet and probes -------------------------------------------------------------------

const stopped = new Map<number, string>(); // pid → start time, while SIGSTOPped

function continueStopped(): void {
  for (const [pid, start] of stopped) {
    if (procStat(pid)?.start === start) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
    stopped.delete(pid);
  }
}

async function killingEventAt(pod: string, since: number): Promise<number | undefined> {
  const c = await client();
  const { items } = await c.list<KubeObj>('v1', 'Event', {
    namespace,
    fieldSelector: `involvedObject.name=${pod}`,
  });
  const times = items
    .filter((e) => e.reason === 'Killing')
    .map((e) => Date.parse(String(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp)))
    .filter((t) => t >= since - 1000);
  return times.length ? Math.min(...times) : undefined;
}

async function restartedAndReady(name: string, restarts: number): Promise<boolean> {
  const p = await getPod(name);
  const cs = p && containerStatus(p, 'api');
  return !!p && !!cs && cs.restartCount > restarts && cs.ready && isReady(p);
}

async function scenarioSigstop(): Promise<void> {
  const sc: Scenario = 'sigstop';
  const pod = (await keystonePods())[0];
  if (!pod) throw new Error('no Ready keystone-api pod');
  const name = pod.metadata.name;

  // (1) the main process dies: the kubelet restarts the container.
  {
    const restarts = containerStatus(pod, 'api')!.restartCount;
    const pid = await hostPid(pod, 'api');
    const exited = watchExit(pid);
    const probe = new Prober(() => tokenProbe(2000), 250);
    try {
      await sleep(1000);
      log(`${sc}: SIGKILL uwsgi (host pid ${pid}) of ${name}, restarts so far ${restarts}`);
      guard();
      const tKill = Date.now();
      process.kill(pid, 'SIGKILL');
      const restarted = new Watch(async () => {
        const p = await getPod(name);
        return (containerStatus(p!, 'api')?.restartCount ?? 0) > restarts;
      }, 100);
      const ready = await whenTrue(
        'keystone container restarted and Ready',
        () => restartedAndReady(name, restarts),
        200,
      );
      restarted.stop();
      const tok = await waitRecovered('a token issued again', probe, () =>
        outageStart(probe, tKill, exited.at),
      );
      const after = await getPod(name);
      const started = containerStatus(after!, 'api')?.state?.running?.startedAt;
      record(
        sc,
        'killRestartSeconds',
        'kill: restartCount+1 seen after (s)',
        secs(tKill, restarted.at),
      );
      record(
        sc,
        'killStartedSeconds',
        'kill: new container started after (s, 1 s resolution)',
        started ? secs(tKill, Date.parse(started)) : 'unknown',
      );
      record(sc, 'killReadySeconds', 'kill: seconds until restarted and Ready', secs(tKill, ready));
      record(
        sc,
        'killTokenSeconds',
        'kill: seconds until a token is issued again',
        secs(tKill, tok),
      );
    } finally {
      exited.stop();
      await probe.stop();
    }
  }

  // (2) the process hangs: only the liveness probe can notice.
  {
    const p = await getPod(name);
    if (!p || !isReady(p)) throw new Error(`${name} is not Ready after the restart`);
    let budget: number;
    try {
      const b = livenessRestartBudget(p, 'api');
      budget = b.seconds;
      record(
        sc,
        'livenessProbe',
        'liveness probe (period × failureThreshold + timeout + grace)',
        b.text,
      );
    } catch (err) {
      record(sc, 'stopError', 'stop: not measured', errText(err));
      return;
    }
    const restarts = containerStatus(p, 'api')!.restartCount;
    const pid = await hostPid(p, 'api');
    const pids = cgroupPids(pid);
    const probe = new Prober(() => tokenProbe(2000), 1000);
    try {
      await sleep(1000);
      log(`${sc}: SIGSTOP ${pids.length} processes of ${name} (${pids.join(' ')})`);
      const tStop = Date.now();
      guard();
      for (const q of pids) {
        const st = procStat(q);
        if (!st) continue;
        stopped.set(q, st.start);
        process.kill(q, 'SIGSTOP');
      }
      // A running process takes the stop at its next scheduling: look a moment later.
      await sleep(200);
      const states = pids.map((q) => procStat(q)?.state ?? '-').join('');
      log(`${sc}: process states 200 ms later: ${states} (T = stopped)`);
      const restarted = new Watch(async () => {
        const x = await getPod(name);
        return (containerStatus(x!, 'api')?.restartCount ?? 0) > restarts;
      }, 250);
      const ready = await whenTrue(
        'keystone container restarted by the liveness probe and Ready',
        () => restartedAndReady(name, restarts),
        500,
        Math.max(waitMs, (budget + 120) * 1000),
      );
      restarted.stop();
      const tok = await waitRecovered('a token issued again', probe, () => tStop, 250);
      const after = await getPod(name);
      const cs = after && containerStatus(after, 'api');
      const finished = cs?.lastState?.terminated?.finishedAt;
      const started = cs?.state?.running?.startedAt;
      const killing = await killingEventAt(name, tStop).catch(() => undefined);
      const hung = probe.firstFailure(tStop);
      record(
        sc,
        'stopApiHungSeconds',
        'stop: first failed token poll after (s)',
        hung ? secs(tStop, hung.start) : 'never failed',
      );
      record(
        sc,
        'stopKillingEventSeconds',
        'stop: kubelet "Killing" event after (s, 1 s resolution)',
        killing ? secs(tStop, killing) : 'not found',
      );
      record(
        sc,
        'stopTerminatedSeconds',
        'stop: old container finished after (s, 1 s resolution)',
        finished ? secs(tStop, Date.parse(finished)) : 'unknown',
      );
      record(
        sc,
        'stopStartedSeconds',
        'stop: new container started after (s, 1 s resolution)',
        started ? secs(tStop, Date.parse(started)) : 'unknown',
      );
      record(
        sc,
        'stopRestartSeconds',
        'stop: restartCount+1 seen after (s)',
        secs(tStop, restarted.at),
        `≤ ${budget}`,
      );
      record(sc, 'stopReadySeconds', 'stop: seconds until restarted and Ready', secs(tStop, ready));
      record(
        sc,
        'stopTokenSeconds',
        'stop: seconds until a token is issued again',
        secs(tStop, tok),
      );
      record(
        sc,
        'stopWithinBudget',
        `stop: restarted within the stated budget (${budget} s)`,
        restarted.at !== undefined && restarted.at - tStop <= budget * 1000,
      );
    } finally {
      continueStopped();
      await probe.stop();
    }
  }
}

// ---- main -------------------------------------------------------------------------------------

async function cleanup(): Promise<void> {
  continueStopped();
  killLoads();
  for (const s of [...servers]) await deleteServer(s);
  if (marker) {
    log(`deleting marker image ${marker.name}`);
    await inClient(`openstack image delete ${marker.id}; rm -f /tmp/${marker.name}`).catch((err) =>
      log(`could not delete the marker image: ${errText(err)}`),
    );
    marker = undefined;
  }
  if (createdFlavor) {
    await inClient('openstack flavor delete heal.tiny').catch(() => undefined);
    createdFlavor = false;
  }
  await restoreReplicas().catch((err) => log(`could not restore the replicas: ${errText(err)}`));
}

process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  log('interrupted: cleaning up (Ctrl-C again to leave at once)');
  continueStopped();
  void cleanup().finally(() => process.exit(130));
});

const runners: Record<Scenario, () => Promise<void>> = {
  'keystone-2': scenarioKeystone2,
  'keystone-1': scenarioKeystone1,
  mariadb: scenarioMariadb,
  rabbitmq: scenarioRabbitmq,
  sigstop: scenarioSigstop,
};

log(
  `bench/heal: ${selected.join(', ')} on ${namespace}/${cloudName}; waits bounded by ${waitMs / 1000} s`,
);
originalReplicas = await specReplicas();
log(`spec.services.keystone.replicas is ${originalReplicas}`);
try {
  for (const sc of selected) {
    if (interrupted) break;
    log(`== ${sc}`);
    const started = Date.now();
    try {
      await runners[sc]();
    } catch (err) {
      record(sc, 'error', 'not measured', errText(err));
    } finally {
      continueStopped();
      if (sc === 'keystone-2' || sc === 'keystone-1') await restoreReplicas();
    }
    log(`== ${sc} done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
} finally {
  await cleanup();
  const healthy =
    (await whenTrue(
      'the cloud to be healthy (keystone, mariadb-0, rabbitmq-0 Ready; a token issued)',
      async () =>
        (await keystoneSettled(originalReplicas!)) &&
        isReady((await getPod('mariadb-0'))!) &&
        isReady((await getPod('rabbitmq-0'))!) &&
        (await tokenProbe(5000)) === null,
      2000,
    )) !== undefined;
  log(`cloud healthy at the end: ${healthy ? 'yes' : 'NO'}`);
  result.end = { healthy, keystoneReplicas: await specReplicas().catch(() => undefined) };
  (await client()).close();
}

const width = (k: keyof Row) => Math.max(k.length, ...rows.map((r) => r[k].length));
const w = {
  scenario: width('scenario'),
  figure: width('figure'),
  value: Math.min(70, width('value')),
};
console.log();
console.log(
  `${'scenario'.padEnd(w.scenario)}  ${'figure'.padEnd(w.figure)}  ${'value'.padEnd(w.value)}  goal`,
);
for (const r of rows) {
  console.log(
    `${r.scenario.padEnd(w.scenario)}  ${r.figure.padEnd(w.figure)}  ${r.value.padEnd(w.value)}  ${r.goal}`,
  );
}
console.log(`# result ${JSON.stringify({ rate, loadAuth, scenarios: selected, ...result })}`);
