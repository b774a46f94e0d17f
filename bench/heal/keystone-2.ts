// bench/heal keystone-2: 2 Keystone replicas under token-issue load (test/e2e/load-gen.ts, a child
// process, 20 requests/s by default); one pod deleted gracefully: requests sent and failed (by
// phase and kind), seconds until 2 replicas are Ready again, and when the old pod left the
// EndpointSlice and kube-proxy's rules. The load re-scopes a token by default (--load-auth token): a password
// request costs a bcrypt hash (about 0.4 s of CPU), and 20 of them a second overload a 2-core
// machine before anything is deleted (--load-auth password measures that).
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import {
  client,
  getPod,
  hostPid,
  namespace,
  readyCount,
  startLoad,
  sumLoad,
  tokenLoad,
  type LoadSecond,
} from '../../test/e2e/helpers.ts';
import { keystone, loadBody } from './cloud.ts';
import {
  deletePod,
  keystonePods,
  log,
  podIP,
  record,
  secs,
  setKeystoneReplicas,
  settings,
  Watch,
  watchExit,
  whenTrue,
  type Scenario,
} from './shared.ts';

const exec = promisify(execFile);

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

function phase(p: ReturnType<typeof sumLoad>): string {
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
    const { stdout } = await exec('iptables-save', ['-t', 'nat'], { maxBuffer: 64 * 1024 * 1024 });
    return !stdout.split('\n').some((l) => l.includes(needle) && l.includes(dest));
  }, 200);
}

export async function run(): Promise<void> {
  const sc: Scenario = 'keystone-2';
  if (!(await setKeystoneReplicas(2))) {
    record(sc, 'error', 'not measured', 'keystone-api did not reach 2 Ready replicas');
    return;
  }
  const { url } = await keystone();
  const body = await loadBody();
  log(
    `${sc}: load ${settings.rate} requests/s (${settings.loadAuth} auth) on ${url}, 5 s before the deletion`,
  );
  const load = startLoad([tokenLoad(url, body)], settings.rate);
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
    // The old pod drains (serves) for a while after the new one is Ready: wait for it to be gone,
    // under the same load, before its times are recorded.
    await whenTrue('the old uwsgi to exit', () => exited.at !== undefined, 100);
    await whenTrue('the old pod object to be gone', () => podGone.at !== undefined, 200);
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
      const before = sumLoad(load.lines.filter((l) => l.t + 1000 <= tDelete));
      const during = sumLoad(load.lines.filter((l) => l.t + 1000 > tDelete && l.t < end));
      const after = sumLoad(load.lines.filter((l) => l.t >= end));
      record(
        sc,
        'rate',
        'load (requests/s, auth method)',
        `${settings.rate}/s, ${settings.loadAuth}`,
      );
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
