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
import { inClient, liveCloud, until } from './helpers.ts';
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
