// What the release-upgrade test and bench/upgrade.ts share: the images the new release needs
// (built when missing), a guest pinged once a second on its floating IP, and the upgrade followed
// step by step through the cloud's status.
import { getCatalog, knownReleases } from '../../src/catalog/index.ts';
import { enabledComponents, enabledServices } from '../../src/plan/components.ts';
import { planUpgrade } from '../../src/plan/upgrade.ts';
import { validateLive } from '../../src/api/v1alpha1/validate.ts';
import { flatten, render } from '../../src/render/index.ts';
import { generateSecrets } from '../../src/secrets/cloud-secrets.ts';
import type { OpenStackCloud, UpgradeStatus } from '../../src/api/v1alpha1/spec.ts';
import { cloudPods, inClient, liveCloud, until } from './helpers.ts';
import { createServer, externalNamespace, floatingIp, pings, waitStatus } from './guests.ts';
import { patchCloud, stackanetes } from './remediation.ts';

/** The images the cloud runs at `to` that are built for `to` (not those kept from the old release). */
export function imagesOf(cloud: OpenStackCloud, to: string): string[] {
  const at = { ...cloud, spec: { ...cloud.spec, release: to } };
  const names = new Set<string>();
  for (const o of flatten(render(at, generateSecrets(), enabledComponents(at)))) {
    const spec = (o.spec as { template?: { spec?: { containers?: { image: string }[] } } })
      ?.template?.spec;
    for (const c of spec?.containers ?? []) {
      const m = /\/([^/:@]+):([^/]+)$/.exec(c.image);
      if (m && m[2] === to) names.add(m[1]!);
    }
  }
  return [...names].sort();
}

/**
 * Running containers of the cloud not on their image at `to`: `pod/container: image (want :tag)`.
 * What is not OpenStack (the catalog's imageTags: MariaDB, RabbitMQ, OVN, libvirt) keeps `from`'s
 * build; the operator's own image is not the cloud's.
 */
export async function offRelease(from: string, to: string): Promise<string[]> {
  const shared = new Set(Object.keys(getCatalog(to).imageTags ?? {}));
  const wrong: string[] = [];
  for (const pod of await cloudPods()) {
    if ((pod.status as { phase?: string }).phase !== 'Running') continue;
    for (const c of (pod.spec as { containers: { name: string; image: string }[] }).containers) {
      const m = /\/([^/:@]+)[:@]([^/]+)$/.exec(c.image);
      if (!m || m[1] === 'operator') continue;
      const want = shared.has(m[1]!) ? from : to;
      if (m[2] !== want) {
        const stopping = pod.metadata.deletionTimestamp ? ' (stopping)' : '';
        wrong.push(`${pod.metadata.name}/${c.name}: ${c.image} (want :${want})${stopping}`);
      }
    }
  }
  return wrong;
}

/**
 * After the upgrade's last step: pods of the old release may still be stopping (a drain before
 * stop), and the upgrade's end renders the whole cloud at the new release once more (the client
 * Deployment, whose pod `openstack` commands run in, and the set-up Jobs). Waits up to 10 min for
 * every pod to be on its image; what was still wrong then, and how long it took.
 */
export async function settleOnRelease(
  from: string,
  to: string,
): Promise<{ wrong: string[]; seconds: number }> {
  const t0 = Date.now();
  let wrong: string[] = [];
  await until(
    async () => {
      wrong = await offRelease(from, to);
      return wrong.length === 0 ? true : undefined;
    },
    'every pod on its image',
    600_000,
    3000,
  ).catch(() => undefined);
  return { wrong, seconds: Math.round((Date.now() - t0) / 1000) };
}

/**
 * The live cloud checked to run `from`, the new release's images built (from PyPI when missing,
 * about 10 min; else cached), and the plan's step ids.
 */
export async function prepareUpgrade(from: string, to: string): Promise<string[]> {
  const c = await liveCloud();
  const runs = (c.status as { release?: string } | undefined)?.release;
  if (runs !== from) throw new Error(`the cloud runs ${runs ?? 'nothing yet'}, not ${from}`);
  const checked = validateLive(c);
  if (!checked.ok) throw new Error(`the live cloud is not valid: ${JSON.stringify(checked)}`);
  const wanted = imagesOf(checked.cloud, to);
  const built = await stackanetes(['images', 'build', '--release', to, '--only', wanted.join(',')]);
  if (built.code !== 0) throw new Error(`images build failed: ${built.stderr.slice(-3000)}`);
  const plan = planUpgrade(
    getCatalog(from),
    getCatalog(to),
    enabledServices(checked.cloud),
    knownReleases(),
  );
  return plan.steps.map((s) => s.id);
}

/** A guest on the tenant network with a floating IP, in a group of its own that lets ICMP in. */
export async function pingableGuest(name: string): Promise<{ ns: string; ip: string }> {
  const ns = await externalNamespace();
  await inClient(
    [
      'set -e',
      `openstack security group create ${name} >/dev/null`,
      `openstack security group rule create ${name} --ingress --protocol icmp >/dev/null`,
    ].join('\n'),
  );
  await createServer(name, { securityGroup: name });
  await waitStatus(name, ['ACTIVE']);
  const ip = await floatingIp(name);
  await until(() => pings(ns, ip), `${ip} to answer ping from namespace ${ns}`, 300_000, 1000);
  return { ns, ip };
}

export interface Pinged {
  sent: number;
  lost: number;
  /** When each lost ping was sent (ISO times). */
  losses: string[];
}

/** One ping a second (two seconds to answer) to `ip` from `ns` until stopped. */
export function pingLoop(ns: string, ip: string): { stop(): Promise<Pinged> } {
  const out: Pinged = { sent: 0, lost: 0, losses: [] };
  let running = true;
  const done = (async () => {
    while (running) {
      const t = Date.now();
      out.sent++;
      if (!(await pings(ns, ip))) {
        out.lost++;
        out.losses.push(new Date(t).toISOString());
      }
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t))));
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return out;
    },
  };
}

export interface StepSeen {
  id: string;
  /** Seconds since the release was changed, when this poll first saw the step done. */
  at: number;
}

/**
 * Sets spec.release to `to` and follows status.upgrade until the cloud runs `to`: each step as
 * first seen done (polled every 2 s); `onPoll` sees every status read (the test kills operators
 * from it). Throws on a failed step, or after `timeoutMs`.
 */
export async function followUpgrade(
  to: string,
  onPoll: (upgrade: UpgradeStatus | undefined, seen: StepSeen[]) => Promise<void> = async () => {},
  timeoutMs = 60 * 60_000,
): Promise<{ seconds: number; steps: StepSeen[]; upgrade: UpgradeStatus }> {
  await patchCloud({ spec: { release: to } });
  const t0 = Date.now();
  const steps: StepSeen[] = [];
  for (;;) {
    const st = (await liveCloud()).status as { release?: string; upgrade?: UpgradeStatus };
    const upgrade = st.upgrade;
    for (const id of upgrade?.completed.slice(steps.length) ?? []) {
      steps.push({ id, at: (Date.now() - t0) / 1000 });
    }
    await onPoll(upgrade, steps);
    if (upgrade?.failed)
      throw new Error(`${upgrade.failed.step} failed: ${upgrade.failed.message}`);
    if (st.release === to && upgrade) return { seconds: (Date.now() - t0) / 1000, steps, upgrade };
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`not finished in ${timeoutMs / 60_000} min; at ${upgrade?.step}`);
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
}
