// The release upgrade under load (bench for issue 14), on the deployed cloud, which must run
// 2025.1: --rate requests/s to each API (a token from Keystone, then with it the image list from
// Glance, the server list from Nova, the network list from Neutron and the resource providers
// from Placement) for --baseline seconds before the release is changed (what the same load costs
// with nothing changing), then through the whole upgrade to 2026.1, while a guest booted before is
// pinged once a second on its floating IP (from the external network's namespace on the node that
// holds the router's gateway, test/e2e/guests.ts externalNamespace) and its QEMU process checked
// to be the same one before and after. Saves bench/results/upgrade-<variant>-<time>.json:
// failed requests per API in the baseline and during the upgrade, ping loss, total time, time of
// each step and of each service. The new release's images are built first when missing (about
// 10 min, not counted). Leaves the cloud on 2026.1: deploy it again to repeat.
//   sudo node bench/upgrade.ts [--rate 20] [--baseline 60]
//   STACKANETES_E2E_CLOUD=ha sudo node bench/upgrade.ts     # examples/ha.yaml (variant ha)
import { parseArgs } from 'node:util';
import {
  cloudEvents,
  cloudName,
  cloudReady,
  keystoneAdmin,
  newToken,
  serviceUrl,
  startLoad,
  summariseLoad,
  type LoadRequest,
} from '../test/e2e/helpers.ts';
import { deleteServers, qemuPids, serverShow } from '../test/e2e/guests.ts';
import {
  followUpgrade,
  pingableGuest,
  pingLoop,
  prepareUpgrade,
  settleOnRelease,
  type StepSeen,
} from '../test/e2e/upgrade.ts';
import { cpuSampler, type CpuSample } from './cpu.ts';
import { progressLog, requireKubeconfig } from './progress.ts';
import { saveResult } from './results.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '20' },
    baseline: { type: 'string', default: '60' },
    // The cloud's name: minimal (examples/minimal.yaml) or ha (STACKANETES_E2E_CLOUD=ha).
    variant: { type: 'string', default: cloudName },
    from: { type: 'string', default: '2025.1' },
    to: { type: 'string', default: '2026.1' },
  },
});
const rate = Number(values.rate);
const baselineSeconds = Number(values.baseline);
const { from, to, variant } = values as { from: string; to: string; variant: string };
requireKubeconfig();
const log = progressLog();

if (!(await cloudReady())) throw new Error('the cloud is not Ready');
log(`images of ${to}, and the plan`);
const planned = await prepareUpgrade(from, to);

const guest = `bench-upgrade-${Date.now().toString(36)}`;
log(`guest ${guest} with a floating IP`);
const { ns, ip } = await pingableGuest(guest);
const instance = (await serverShow(guest))['OS-EXT-SRV-ATTR:instance_name']!;
const pidsBefore = qemuPids(instance);
const pinger = () => pingLoop(ns, ip);

async function requests(): Promise<LoadRequest[]> {
  const admin = await keystoneAdmin();
  const token = await newToken(admin.url, admin.body);
  const auth = { 'x-auth-token': token, accept: 'application/json' };
  const [glance, nova, neutron, placement] = await Promise.all(
    ['glance-api', 'nova-api', 'neutron-server', 'placement-api'].map(serviceUrl),
  );
  const get = (kind: string, url: string): LoadRequest => ({
    kind,
    method: 'GET',
    url,
    headers: auth,
    expect: 200,
  });
  return [
    {
      kind: 'keystone: token',
      method: 'POST',
      url: `${admin.url}/v3/auth/tokens`,
      headers: { 'content-type': 'application/json' },
      body: admin.body,
      expect: 201,
    },
    get('glance: image list', `${glance}/v2/images`),
    get('nova: server list', `${nova}/v2.1/servers`),
    get('neutron: network list', `${neutron}/v2.0/networks`),
    get('placement: resource providers', `${placement}/resource_providers`),
  ];
}

const reqs = await requests();
const total = rate * reqs.length;
log(
  `baseline: ${rate} requests/s to each of ${reqs.length} APIs (${total}/s) for ${baselineSeconds} s`,
);
const base = startLoad(reqs, total, 10_000);
const basePing = pinger();
await new Promise((r) => setTimeout(r, baselineSeconds * 1000));
const baseTotals = await base.stop();
const basePinged = await basePing.stop();
const baseline = {
  seconds: baselineSeconds,
  totals: baseTotals,
  kinds: summariseLoad(base.lines),
  ping: basePinged,
};
log(`baseline: failed ${baseTotals.failed} of ${baseTotals.sent}`);

log(`upgrade ${from} → ${to} under the same load`);
const load = startLoad(reqs, total, 10_000);
const ping = pinger();
const cpu = cpuSampler();
/** When each step was seen in progress (the operator's status.upgrade.step). */
const inProgress: { t: number; step: string }[] = [];
let result: Awaited<ReturnType<typeof followUpgrade>> | undefined;
let error: string | undefined;
const reported = new Set<string>();
try {
  result = await followUpgrade(to, (u, seen) => {
    if (u?.step && inProgress.at(-1)?.step !== u.step)
      inProgress.push({ t: Date.now(), step: u.step });
    for (const s of seen.filter((s) => !reported.has(s.id))) {
      reported.add(s.id);
      log(`${s.id} done at ${s.at.toFixed(0)} s`);
    }
    return Promise.resolve();
  });
} catch (err) {
  error = (err as Error).message;
  log(`upgrade failed: ${error}`);
}
const totals = await load.stop();
const pinged = await ping.stop();
cpu.stop();
const timeline = await failureTimeline(load.lines, cpu.samples, inProgress);
for (const w of timeline.filter((w) => w.failed > 0)) {
  log(
    `+${w.from} s: ${w.failed} of ${w.sent} failed, CPU ${w.cpuBusyPercent} % busy, load ${w.load1Max}, at ${w.steps.join(', ')}; containers started: ${w.started.join(' ') || 'none'}`,
  );
}
// The client pod the guest checks run in is itself replaced at the upgrade's end: a command in
// the old one was killed (exit 137) and lost a whole run's figures on 2026-12-02.
log('waiting for every pod to run its new image');
const settled = result ? await settleOnRelease(from, to) : undefined;
if (settled)
  log(
    `every pod on its image ${settled.seconds} s after the last step (${settled.wrong.length} not)`,
  );
const guestAfter = {
  status: (await serverShow(guest)).status,
  qemuBefore: pidsBefore,
  qemuAfter: qemuPids(instance),
};

/** The part of the upgrade a step belongs to: `checks` for the pre-flight ones, else its service. */
const serviceOf = (id: string): string =>
  id.startsWith('preflight/') ? 'checks' : id.split('/')[0]!;

/** Seconds each service took: from the previous service's last step to its own last one. */
function perService(steps: readonly StepSeen[]): Record<string, number> {
  const out: Record<string, number> = {};
  let prev = 0;
  for (const [i, s] of steps.entries()) {
    const service = serviceOf(s.id);
    const next = steps[i + 1];
    if (!next || serviceOf(next.id) !== service) {
      out[service] = Math.round(s.at - prev);
      prev = s.at;
    }
  }
  return out;
}

interface Window {
  /** Seconds from the upgrade's start to the window's start. */
  from: number;
  sent: number;
  failed: number;
  cpuBusyPercent: number;
  load1Max: number;
  /** The steps in progress during the window. */
  steps: string[];
  /** The containers the kubelet started in the window (Started events), as pod/container. */
  started: string[];
}

/**
 * The load cut into windows of `seconds`, each with its failures, this machine's CPU, the steps
 * in progress and the containers started: what a failure coincided with.
 */
async function failureTimeline(
  lines: readonly { t: number; sent: number; failed: number }[],
  samples: readonly CpuSample[],
  progress: readonly { t: number; step: string }[],
  seconds = 30,
): Promise<Window[]> {
  const t0 = lines[0]?.t;
  if (t0 === undefined) return [];
  const starts = (await cloudEvents('Started')).flatMap((e) => {
    const container = /spec\.containers\{(.+)\}/.exec(e.fieldPath)?.[1];
    return container ? [{ t: e.at, what: `${e.object}/${container}` }] : [];
  });
  const end = lines.at(-1)!.t + 1000;
  const out: Window[] = [];
  for (let a = t0; a < end; a += seconds * 1000) {
    const b = a + seconds * 1000;
    const inside = <T extends { t: number }>(xs: readonly T[]) =>
      xs.filter((x) => x.t >= a && x.t < b);
    const ls = inside(lines);
    const cs = inside(samples);
    const before = progress.filter((p) => p.t < b);
    const steps = [
      ...new Set(
        [...before.filter((p) => p.t < a).slice(-1), ...inside(progress)].map((p) => p.step),
      ),
    ];
    out.push({
      from: Math.round((a - t0) / 1000),
      sent: ls.reduce((s, l) => s + l.sent, 0),
      failed: ls.reduce((s, l) => s + l.failed, 0),
      cpuBusyPercent: cs.length
        ? Math.round((cs.reduce((s, x) => s + x.busy, 0) / cs.length) * 100)
        : NaN,
      load1Max: cs.length ? Math.max(...cs.map((x) => x.load1)) : NaN,
      steps,
      started: inside(starts).map((x) => x.what),
    });
  }
  return out;
}

const file = saveResult(
  'upgrade',
  {
    from,
    to,
    rate,
    apis: reqs.map((r) => r.kind),
    planned: planned.length,
    error,
    seconds: result?.seconds,
    steps: result?.steps,
    services: result ? perService(result.steps) : undefined,
    baseline,
    upgrade: { totals, kinds: summariseLoad(load.lines), ping: pinged },
    timeline,
    settled,
    guest: guestAfter,
  },
  variant,
);
log(
  `upgrade ${result ? `${result.seconds.toFixed(0)} s` : 'FAILED'}; failed ${totals.failed} of ${totals.sent}; ping lost ${pinged.lost} of ${pinged.sent}; guest ${guestAfter.status}, QEMU ${JSON.stringify(guestAfter.qemuBefore)} → ${JSON.stringify(guestAfter.qemuAfter)}; saved ${file}`,
);
// After saving: the end of the upgrade replaces the client pod the delete runs in (seen on
// 2026-12-02, exit 137, and the result was lost).
await deleteServers([guest]).catch((err: Error) =>
  log(`could not delete ${guest}: ${err.message.split('\n')[0]}`),
);
if (error) process.exit(1);
