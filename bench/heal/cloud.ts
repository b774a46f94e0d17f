// bench/heal: the cloud under test as the scenarios use it — Keystone tokens (a probe that says
// how a request failed), a Glance marker image, a flavor and servers booted and deleted, Keystone
// processes stopped and continued, and the clean-up of everything a run created.
import http from 'node:http';
import type { KubeObject } from '../../src/render/kube.ts';
import {
  client,
  containerStatus,
  createServer,
  deleteServer as deleteServerUntilGone,
  ensureTinyFlavor,
  getPod,
  inClient,
  isReady,
  keystoneAdmin,
  killLoads,
  namespace,
  newToken,
  osJson,
  postToken,
  rescopeRequest,
  serverSettled,
} from '../../test/e2e/helpers.ts';
import { errText, log, procStat, restoreReplicas, settings, Watch } from './shared.ts';

// ---- Keystone ---------------------------------------------------------------------------------

let admin: { url: string; body: string } | undefined;
/** Keystone's Service URL and a password-auth body for the admin. */
export async function keystone(): Promise<{ url: string; body: string }> {
  admin ??= await keystoneAdmin();
  return admin;
}

let oddAnswers = 0;

/** One token request: null when a token was issued, else what went wrong (by kind). */
export async function tokenProbe(timeoutMs = 2000): Promise<string | null> {
  const { url, body } = await keystone();
  const a = await postToken(url, body, timeoutMs);
  if ('failure' in a)
    return a.failure === 'timeout'
      ? `no answer in ${timeoutMs / 1000} s`
      : `${a.failure} (${a.detail})`;
  if (a.status === 201) return null;
  // An answer that is not 201: who sent it? Ask once more on a fresh connection (the first few).
  if (oddAnswers++ < 3)
    log(
      `token request: HTTP ${a.status}; again on a new connection: ${await rawTokenRequest(url, body)}`,
    );
  return `HTTP ${a.status}`;
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
export async function loadBody(): Promise<string> {
  const { url, body } = await keystone();
  return settings.loadAuth === 'password' ? body : rescopeRequest(await newToken(url, body));
}

/** The Keystone container of pod `name` restarted (more than `restarts` times) and Ready. */
export async function restartedAndReady(name: string, restarts: number): Promise<boolean> {
  const p = await getPod(name);
  const cs = p && containerStatus(p, 'api');
  return !!p && !!cs && cs.restartCount > restarts && cs.ready && isReady(p);
}

/** Records in the background when the Keystone container of pod `name` restarts. */
export function watchRestart(name: string, restarts: number, everyMs: number): Watch {
  return new Watch(async () => {
    const p = await getPod(name);
    return (containerStatus(p!, 'api')?.restartCount ?? 0) > restarts;
  }, everyMs);
}

/** When the kubelet's first "Killing" event for `pod` at or after `since` was recorded. */
export async function killingEventAt(pod: string, since: number): Promise<number | undefined> {
  const c = await client();
  const { items } = await c.list<KubeObject>('v1', 'Event', {
    namespace,
    fieldSelector: `involvedObject.name=${pod}`,
  });
  const times = items
    .filter((e) => e.reason === 'Killing')
    .map((e) => Date.parse(String(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp)))
    .filter((t) => t >= since - 1000);
  return times.length ? Math.min(...times) : undefined;
}

/** Processes SIGSTOPped by a scenario (pid → start time), continued by continueStopped. */
export const stopped = new Map<number, string>();

export function continueStopped(): void {
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

// ---- Glance marker, flavor, server ------------------------------------------------------------

export const stamp = new Date().toISOString().replace(/\D/g, '').slice(0, 14); // 20261129120000
let marker: { id: string; name: string } | undefined;
const servers = new Set<string>();

/** A small Glance image, uploaded once per run: servers boot from it, mariadb checks it survives. */
export async function ensureMarker(): Promise<{ id: string; name: string }> {
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

interface ComputeService {
  Binary: string;
  Host: string;
  State: string;
  Status: string;
  'Updated At': string;
}

export function computeServices(): Promise<ComputeService[]> {
  return osJson<ComputeService[]>('compute service list', 90_000);
}

/** null when conductor, scheduler and compute are all up, else which are down. */
export async function computeUp(): Promise<string | null> {
  const list = await computeServices();
  const need = ['nova-conductor', 'nova-scheduler', 'nova-compute'];
  const down = need.filter((b) => !list.some((s) => s.Binary === b && s.State === 'up'));
  return down.length === 0 ? null : `down: ${down.join(', ')}`;
}

/** When nova-compute last reported its state (through nova-conductor, over RabbitMQ). */
export async function computeReportedAt(): Promise<number | undefined> {
  const c = (await computeServices()).find((s) => s.Binary === 'nova-compute');
  return c ? Date.parse(c['Updated At'].replace(/(\.\d{3})\d*$/, '$1') + 'Z') : undefined;
}

/** Boots one server and deletes it; seconds to ACTIVE, or why it was not measured. */
export async function bootServer(
  label: string,
): Promise<{ seconds: number | null; detail: string }> {
  const m = await ensureMarker();
  const flavor = await ensureTinyFlavor();
  const start = Date.now();
  let id: string | undefined;
  try {
    id = await createServer(
      `heal-${stamp}-${label}`,
      `--flavor ${flavor} --image ${m.id} --nic none`,
    );
    servers.add(id);
    const s = await serverSettled(id, settings.waitMs);
    const wall = (Date.now() - start) / 1000;
    const launched = s['OS-SRV-USG:launched_at'] as string | undefined;
    const server = launched
      ? (Date.parse(launched + 'Z') - Date.parse(s.created as string)) / 1000
      : NaN;
    if (s.status !== 'ACTIVE')
      return { seconds: null, detail: `${s.status}: ${JSON.stringify(s.fault ?? null)}` };
    return {
      seconds: Math.round(wall * 10) / 10,
      detail: `ACTIVE; launched_at − created = ${server.toFixed(1)} s (polled every 2 s)`,
    };
  } catch (err) {
    return { seconds: null, detail: `not measured: ${errText(err)}` };
  } finally {
    if (id) await deleteServer(id);
  }
}

async function deleteServer(id: string): Promise<void> {
  try {
    await deleteServerUntilGone(id, 180_000);
    servers.delete(id);
  } catch (err) {
    log(`could not delete server ${id}: ${errText(err)}`);
  }
}

// ---- clean-up ---------------------------------------------------------------------------------

/**
 * Continues stopped processes, ends the load generators, deletes what the run created, restores
 * the replica count.
 */
export async function cleanup(): Promise<void> {
  continueStopped();
  killLoads();
  for (const id of [...servers]) await deleteServer(id);
  if (marker) {
    log(`deleting marker image ${marker.name}`);
    await inClient(`rm -f /tmp/${marker.name}; openstack image delete ${marker.id}`).catch((err) =>
      log(`could not delete the marker image: ${errText(err)}`),
    );
    marker = undefined;
  }
  await restoreReplicas().catch((err) => log(`could not restore the replicas: ${errText(err)}`));
}
