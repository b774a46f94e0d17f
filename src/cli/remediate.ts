// `stackanetes rollout`: one image of a running cloud to a new reference, gated (a canary pod,
// API checks, then the rest, rolled back by itself when a check fails): src/controller/rollout.ts.
// `stackanetes remediate`: the images the cloud runs scanned for fixed Debian packages, rebuilt
// with the fixes and rolled out the same way, as the cloud's spec.remediation.policy allows.
import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  apiVersion,
  kind,
  type RemediationStatus,
  type UpgradeStatus,
} from '../api/v1alpha1/spec.ts';
import { imageNames, type ImageName } from '../catalog/images.ts';
import { EventsRecorder } from '../controller/events.ts';
import { writeRemediation } from '../controller/remediation-status.ts';
import {
  remediationManager,
  cloudWorkloads,
  holdApply,
  isHeld,
  overrideFor,
  rollOutImage,
  runsImage,
  type RolloutOutcome,
} from '../controller/rollout.ts';
import { LeaderElector } from '../kube/leader.ts';
import { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { runGate } from '../openstack/gate.ts';
import type { KubeObject } from '../render/kube.ts';
import { rfc3339 } from '../controller/conditions.ts';
import { CliError } from './errors.ts';
import { validateLive } from '../api/v1alpha1/validate.ts';
import { findRecord, type ImageRecord } from '../images/build.ts';
import { fixImage } from '../images/fix.ts';
import { cachePaths } from '../images/paths.ts';
import type { ImageScan, ScanReport } from '../images/scan.ts';
import { scanOrExit } from './images.ts';
import { runningImages } from '../controller/remediation-scan.ts';

/** The cloud named, or the only one in the namespace. Exit 2 when there is none. */
export async function findCloud(
  client: KubeClient,
  name: string | undefined,
  namespace: string,
): Promise<KubeObject> {
  if (name) {
    try {
      return await client.get(apiVersion, kind, name, namespace);
    } catch (err) {
      if (isNotFound(err))
        throw new CliError(`no OpenStackCloud ${name} in namespace ${namespace}`, 2);
      throw err;
    }
  }
  const { items } = await client.list(apiVersion, kind, { namespace });
  if (items.length === 1) return items[0]!;
  throw new CliError(
    items.length === 0
      ? `no OpenStackCloud in namespace ${namespace}`
      : `${items.length} clouds in namespace ${namespace} (${items.map((c) => c.metadata.name).join(', ')}): name one`,
    2,
  );
}

/** `keystone=localhost:5001/stackanetes/keystone@sha256:…` → image and reference. */
export function parseImageArg(arg: string): { image: ImageName; to: string } {
  const eq = arg.indexOf('=');
  const image = arg.slice(0, eq);
  const to = arg.slice(eq + 1);
  if (eq < 1 || !to) {
    throw new CliError(
      `--image ${arg}: expected IMAGE=REFERENCE, e.g. keystone=localhost:5001/stackanetes/keystone@sha256:…`,
      2,
    );
  }
  if (!(imageNames as readonly string[]).includes(image)) {
    throw new CliError(
      `--image ${arg}: unknown image ${image}; images: ${imageNames.join(', ')}`,
      2,
    );
  }
  if (
    !/^[^\s@:/]+(:\d+)?(\/[a-z0-9._-]+)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[a-f0-9]{64})$/.test(
      to,
    )
  ) {
    throw new CliError(
      `--image ${arg}: ${to} is not registry/name:tag or registry/name@sha256:<64 hex>`,
      2,
    );
  }
  return { image: image as ImageName, to };
}

/**
 * Runs `work` while holding the cloud's remediation Lease: one rollout or remediate run at a
 * time, and a run that finds status.remediation still RollingOut knows that the run which wrote it
 * is gone (its Lease expired), not busy. Exit 2 when another run holds it.
 */
export async function withRunLease<T>(
  client: KubeClient,
  cloud: KubeObject,
  work: () => Promise<T>,
  waitMs = 25_000,
): Promise<T> {
  const name = `${remediationManager}-${cloud.metadata.name}`;
  let leading!: () => void;
  const led = new Promise<void>((r) => (leading = r));
  const elector = new LeaderElector(client, {
    namespace: cloud.metadata.namespace!,
    name,
    onStartedLeading: () => leading(),
  });
  elector.start();
  const timer = new Promise<false>((r) => setTimeout(() => r(false), waitMs).unref());
  const won = await Promise.race([led.then(() => true), timer]);
  if (!won) {
    const holder = elector.leader;
    await elector.stop();
    throw new CliError(
      `another rollout or remediate run of ${cloud.metadata.namespace}/${cloud.metadata.name} holds the Lease ${name}${holder ? ` (${holder})` : ''}; nothing changed`,
      2,
    );
  }
  try {
    return await work();
  } finally {
    await elector.stop();
  }
}

/**
 * The roll a killed run left half-done, from status.remediation: RollingOut with the override
 * already changed to `to` (written before the change, so the spec is checked too).
 */
export function leftRoll(
  cloud: KubeObject,
):
  | { image: ImageName; from: string; to: string; previous: Record<string, unknown> | undefined }
  | undefined {
  const r = (cloud.status as { remediation?: RemediationStatus } | undefined)?.remediation;
  if (r?.state !== 'RollingOut' || !r.image || !r.to || r.previous === undefined) return undefined;
  if (r.step !== 'roll' && r.step !== 'verify') return undefined;
  const override = (
    cloud.spec as { images?: { overrides?: Record<string, Record<string, unknown>> } }
  ).images?.overrides?.[r.image];
  const want = overrideFor(r.to);
  if (!override || Object.entries(want).some(([k, v]) => override[k] !== v)) return undefined;
  const previous = JSON.parse(r.previous) as Record<string, unknown> | null;
  return {
    image: r.image as ImageName,
    from: r.from ?? '',
    to: r.to,
    previous: previous ?? undefined,
  };
}

/**
 * Why no image may be rolled now: a release upgrade that has not finished (it moves every
 * OpenStack image itself, and paces its DaemonSets by the minReadySeconds a roll's hold uses).
 */
export function upgradeInProgress(cloud: KubeObject): string | undefined {
  const u = (cloud.status as { upgrade?: UpgradeStatus } | undefined)?.upgrade;
  if (!u || u.finishedAt) return undefined;
  return `the release upgrade ${u.from} → ${u.to} has not finished (${u.failed ? `failed at ${u.failed.step}` : `at ${u.step ?? 'its first step'}`}): roll images once it is over; nothing was changed`;
}

/**
 * Rolls one image and records the outcome on the cloud (status, condition, Events). A roll that
 * a killed run left half-done is finished (or rolled back) first. Refused while a release upgrade
 * runs.
 */
export async function rollAndRecord(
  client: KubeClient,
  cloud: KubeObject,
  image: ImageName,
  to: string,
  log: (line: string) => void,
  base: Pick<RemediationStatus, 'findings' | 'rolled'> = {},
): Promise<RolloutOutcome> {
  return withRunLease(client, cloud, async () => {
    const live = await client.get(apiVersion, kind, cloud.metadata.name, cloud.metadata.namespace);
    const upgrading = upgradeInProgress(live);
    if (upgrading) throw new CliError(upgrading, 2);
    const left = leftRoll(live);
    await releaseLeftHolds(client, cloud.metadata.namespace!, left?.image, log);
    if (left) {
      const events = new EventsRecorder(client, remediationManager);
      const msg = `${left.image}: resuming the roll to ${left.to} that a killed run left after its canary`;
      log(msg);
      await events.record(live, 'Normal', 'RolloutResumed', msg);
      const outcome = await rollOnce(client, live, left.image, left.to, log, base, left);
      if (left.image === image && left.to === to) return outcome;
      if (!outcome.ok) return outcome;
    }
    return rollOnce(client, live, image, to, log, base);
  });
}

/**
 * A hold left by a killed run before it changed the override (a partition, a DaemonSet's
 * minReadySeconds) would hold the workload's next roll: lifted, but for the image a resumed roll
 * goes on with.
 */
async function releaseLeftHolds(
  client: KubeClient,
  namespace: string,
  keep: string | undefined,
  log: (line: string) => void,
): Promise<void> {
  for (const w of await cloudWorkloads(client, namespace, ['StatefulSet', 'DaemonSet'])) {
    if (!isHeld(w) || (keep && runsImage(w, keep))) continue;
    log(`${w.kind} ${w.metadata.name}: held by a killed run, let go`);
    await client.apply(holdApply(w, false), { manager: remediationManager });
  }
}

async function rollOnce(
  client: KubeClient,
  cloud: KubeObject,
  image: ImageName,
  to: string,
  log: (line: string) => void,
  base: Pick<RemediationStatus, 'findings' | 'rolled'>,
  resume?: { from: string; previous: Record<string, unknown> | undefined },
): Promise<RolloutOutcome> {
  const events = new EventsRecorder(client, remediationManager);
  const name = cloud.metadata.name;
  const namespace = cloud.metadata.namespace!;
  const startedAt = rfc3339(new Date());
  /**
   * status.remediation while rolling: at `step`, and what a run that resumes this one needs;
   * the message names the step once the roll is under way (`onStep`).
   */
  const rolling = (
    step: string,
    more: { from?: string; previous?: Record<string, unknown> | undefined } = {},
    sayStep = false,
  ) => {
    const message = `rolling ${image} out to ${to}${sayStep ? `: ${step}` : ''}`;
    return writeRemediation(
      client,
      cloud,
      {
        ...base,
        state: 'RollingOut',
        startedAt,
        message,
        image,
        to,
        step,
        ...(more.from !== undefined ? { from: more.from } : {}),
        ...('previous' in more ? { previous: JSON.stringify(more.previous ?? null) } : {}),
      },
      { status: 'Unknown', reason: 'RollingOut', message },
    );
  };
  await (resume
    ? rolling('roll', { from: resume.from, previous: resume.previous })
    : rolling('canary'));
  if (!resume)
    await events.record(
      cloud,
      'Normal',
      'RolloutStep',
      `${image}: rolling out ${to}: canary first`,
    );
  const outcome = await rollOutImage(name, namespace, image, to, {
    client,
    events,
    gate: (checks) => runGate(namespace, checks),
    log,
    resume,
    // What a run that resumes this one needs, written before the step begins.
    onStep: (step, previous, from) => rolling(step, { from, previous }, true),
  });
  const finishedAt = rfc3339(new Date());
  const common = { ...base, startedAt, finishedAt, image, from: outcome.from, to };
  if (outcome.ok) {
    const msg = `${image} rolled out to ${to} in ${outcome.seconds.toFixed(0)} s: canary, ${outcome.checks.length} API checks passed`;
    await events.record(cloud, 'Normal', 'RolloutSucceeded', msg);
    const rolled = [...(base.rolled ?? []), { image, from: outcome.from, to, at: finishedAt }];
    await writeRemediation(
      client,
      cloud,
      { ...common, state: 'Succeeded', message: msg, rolled },
      { status: 'True', reason: 'RolledOut', message: msg },
    );
  } else {
    const what = outcome.rolledBack
      ? `rolled back to ${outcome.from}`
      : 'nothing changed (only the canary ran)';
    const msg = `${image} → ${to}: ${outcome.step} failed, ${what}: ${outcome.message}`;
    await events.record(cloud, 'Warning', outcome.rolledBack ? 'RolledBack' : 'CanaryFailed', msg);
    const gateFailed = outcome.step === 'canary' || outcome.step === 'gate';
    await writeRemediation(
      client,
      cloud,
      {
        ...common,
        state: 'RolledBack',
        message: msg,
        step: outcome.step,
        failedCheck: outcome.failedCheck,
      },
      { status: 'False', reason: gateFailed ? 'GateFailed' : 'RolledBack', message: msg },
    );
  }
  return outcome;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface Scanned {
  image: ImageName;
  record: ImageRecord;
  scan: ImageScan;
}

/** Scans what the cloud runs from the SBOMs of the builds here; exit 2 when one cannot be. */
async function scanCloud(
  client: KubeClient,
  namespace: string,
  cloudName: string,
  log: (line: string) => void,
): Promise<{ scanned: Scanned[]; report: ScanReport }> {
  const cache = cachePaths();
  const running = await runningImages(client, namespace, cloudName);
  const targets: { image: ImageName; record: ImageRecord }[] = [];
  const missing: string[] = [];
  for (const [image, refs] of running) {
    for (const ref of refs) {
      const record = await findRecord(cache, ref);
      if (record) targets.push({ image, record });
      else missing.push(ref);
    }
  }
  if (missing.length) {
    throw new CliError(
      `no SBOM for ${missing.join(', ')}: not built on this machine (\`stackanetes images build\` writes one per image, under ${cache.root}); nothing was changed`,
      2,
    );
  }
  const releases = new Set(targets.map((t) => t.record.release));
  if (releases.size !== 1) {
    throw new CliError(`the cloud runs images of ${[...releases].join(' and ')}: scan each`, 2);
  }
  let report: ScanReport;
  try {
    report = await scanOrExit(
      [...releases][0]!,
      targets.map((t) => ({ name: t.image, reference: t.record.reference, sbom: t.record.sbom })),
      log,
    );
  } catch (err) {
    throw new CliError(`could not scan: ${(err as Error).message}; nothing was changed`, 2);
  }
  return {
    scanned: targets.map((t, i) => ({ ...t, scan: report.images[i]! })),
    report,
  };
}

function findingLines(scanned: readonly Scanned[]): string[] {
  return scanned
    .filter((s) => s.scan.findings.length)
    .map(
      (s) =>
        `${s.image} (${s.record.reference}): ${s.scan.findings.map((f) => `${f.package} ${f.installed} → ${f.fixed}`).join(', ')}; CVEs: ${s.scan.cves.join(' ') || 'none named'}`,
    );
}

/** `90s`, `5m`, `6h` → ms; a CliError (2) naming the option otherwise. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+)(s|m|h)$/.exec(text.trim());
  const ms = m ? Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 's' | 'm' | 'h'] : 0;
  if (!ms || ms < 60_000)
    throw new CliError(`${option} ${text}: expected a duration of 1m or more, e.g. 30m or 6h`, 2);
  return ms;
}

/**
 * Whether `remediate --watch` runs now, and why: the policy is automatic and either the operator
 * reported findings that no run here has handled (status.remediation Reported, by when it
 * finished), or `everyMs` passed since the last run. Pure.
 */
export function watchDue(
  cloud: KubeObject,
  handled: string | undefined,
  sinceRunMs: number,
  everyMs: number,
): string | undefined {
  const checked = validateLive(cloud);
  if (!checked.ok || checked.cloud.spec.remediation.policy !== 'automatic') return undefined;
  const r = (cloud.status as { remediation?: RemediationStatus } | undefined)?.remediation;
  if (r?.state === 'Reported' && r.findings && r.finishedAt && r.finishedAt !== handled)
    return `the cloud reports ${r.findings} fixable packages (${r.finishedAt}): ${r.message}`;
  if (sinceRunMs >= everyMs) return `${Math.round(everyMs / 60_000)} min since the last run`;
  return undefined;
}

/**
 * Where images are built: waits for the cloud to need remediating (the operator's scan reported
 * findings, or --every passed) and runs remediate then, until interrupted. A run that fails to
 * scan is told and tried again at the next turn; it never ends the watch.
 */
async function watchAndRemediate(
  client: KubeClient,
  name: string | undefined,
  opts: { namespace: string; dryRun?: boolean },
  everyMs: number,
  pollMs = 30_000,
): Promise<never> {
  let handled: string | undefined;
  let lastRun = Date.now();
  say(
    `watching ${opts.namespace}/${name ?? '(the only cloud)'}: remediate when the operator reports findings (policy automatic) or every ${Math.round(everyMs / 60_000)} min; Ctrl-C ends it`,
  );
  for (;;) {
    const cloud = await findCloud(client, name, opts.namespace);
    const why = watchDue(cloud, handled, Date.now() - lastRun, everyMs);
    if (why) {
      handled = (cloud.status as { remediation?: RemediationStatus } | undefined)?.remediation
        ?.finishedAt;
      lastRun = Date.now();
      say(`${new Date().toISOString()} remediating: ${why}`);
      try {
        const code = await remediateOnce(client, cloud.metadata.name, opts);
        say(`${new Date().toISOString()} remediate ended with exit status ${code}`);
        // What this run itself wrote (findings left) is handled too: only a later scan counts.
        handled =
          (
            (await findCloud(client, cloud.metadata.name, opts.namespace)).status as
              { remediation?: RemediationStatus } | undefined
          )?.remediation?.finishedAt ?? handled;
      } catch (err) {
        say(`${new Date().toISOString()} remediate could not run: ${(err as Error).message}`);
      }
    }
    await sleep(pollMs);
  }
}

/**
 * One remediate run (scan; record, or rebuild and roll out, as the policy says). Returns the exit
 * status: 0 clean or all fixed, 1 findings left or a roll-out rolled back; throws CliError (2)
 * when it could not scan.
 */
async function remediateOnce(
  client: KubeClient,
  name: string | undefined,
  opts: { namespace: string; dryRun?: boolean },
): Promise<number> {
  const cloud = await findCloud(client, name, opts.namespace);
  const checked = validateLive(cloud);
  if (!checked.ok) throw new CliError(`the cloud's spec is not valid; fix it first`, 2);
  const policy = checked.cloud.spec.remediation.policy;
  const where = `${opts.namespace}/${cloud.metadata.name}`;
  if (policy === 'off') {
    say(`${where}: spec.remediation.policy is off: nothing scanned, nothing changed`);
    return 0;
  }
  const events = new EventsRecorder(client, remediationManager);
  const startedAt = rfc3339(new Date());
  const t0 = Date.now();
  say(`${where}: scanning the images it runs (policy ${policy}${opts.dryRun ? ', dry run' : ''})`);
  const { scanned, report } = await scanCloud(client, opts.namespace, cloud.metadata.name, (l) =>
    say(`  ${l}`),
  );
  for (const l of findingLines(scanned)) say(`  ${l}`);
  say(
    `${scanned.length} images, ${report.findings} findings, ${report.cves} CVEs (${report.seconds.toFixed(1)} s)`,
  );
  const affected = scanned.filter((s) => s.scan.findings.length);
  const findings = report.findings;
  if (!affected.length || policy === 'report' || opts.dryRun) {
    for (const s of affected) {
      await events.record(
        cloud,
        'Warning',
        'RemediationFinding',
        `${s.image} (${s.record.reference}): ${s.scan.findings.length} packages with fixes, CVEs ${s.scan.cves.join(' ') || 'none named'}`,
      );
    }
    const msg = affected.length
      ? `${affected.length} images with ${findings} fixable packages: ${affected.map((s) => s.image).join(', ')}`
      : `${scanned.length} images scanned, no package has a fix pending`;
    if (!opts.dryRun) {
      await writeRemediation(
        client,
        cloud,
        {
          state: affected.length ? 'Reported' : 'Clean',
          startedAt,
          finishedAt: rfc3339(new Date()),
          message: msg,
          findings,
        },
        affected.length
          ? { status: 'False', reason: 'VulnerableImages', message: msg }
          : { status: 'True', reason: 'NoFindings', message: msg },
      );
    }
    say(msg);
    return affected.length ? 1 : 0;
  }
  if (process.getuid?.() !== 0) {
    throw new CliError('remediate with policy automatic rebuilds images: it needs root', 2);
  }
  const rolled: NonNullable<RemediationStatus['rolled']> = [];
  for (const s of affected) {
    await writeRemediation(
      client,
      cloud,
      {
        state: 'Building',
        startedAt,
        message: `rebuilding ${s.image} with ${s.scan.findings.length} fixed packages`,
        image: s.image,
        from: s.record.reference,
        findings,
        rolled,
      },
      { status: 'Unknown', reason: 'Building', message: `rebuilding ${s.image}` },
    );
    say(`${s.image}: rebuilding with ${s.scan.findings.length} fixed packages`);
    const fixed = await fixImage(s.record, s.scan.findings, {
      onEvent: (e) => say(`  ${e.image}: ${e.message}`),
    });
    const repo = fixed.reference.slice(0, fixed.reference.lastIndexOf(':'));
    const to = `${repo}@${fixed.manifestDigest}`;
    say(
      `${s.image}: ${fixed.reference} (${fixed.cached ? 'cached' : `${fixed.seconds.toFixed(0)} s`}); ${fixed.registry}`,
    );
    const outcome = await rollAndRecord(client, cloud, s.image, to, say, { findings, rolled });
    if (!outcome.ok) {
      say(`✖ stopped: ${s.image} was rolled back; the images after it were not touched`);
      return 1;
    }
    rolled.push({ image: s.image, from: outcome.from, to, at: rfc3339(new Date()) });
  }
  const after = await scanCloud(client, opts.namespace, cloud.metadata.name, () => undefined);
  const left = after.report.findings;
  const msg = `${rolled.length} images rebuilt and rolled out in ${((Date.now() - t0) / 1000).toFixed(0)} s (${rolled.map((r) => r.image).join(', ')}); scan now: ${left} findings`;
  await writeRemediation(
    client,
    cloud,
    {
      state: left ? 'Reported' : 'Succeeded',
      startedAt,
      finishedAt: rfc3339(new Date()),
      message: msg,
      findings: left,
      rolled,
    },
    left
      ? { status: 'False', reason: 'VulnerableImages', message: msg }
      : { status: 'True', reason: 'Remediated', message: msg },
  );
  say(`✔ ${msg}`);
  return left ? 1 : 0;
}

export function register(program: Command): void {
  program
    .command('remediate')
    .description(
      "scan the images a running cloud runs for Debian packages with security fixes and, as the cloud's spec.remediation.policy allows, rebuild them with the fixes and roll each out with a canary and a health gate (rolled back by itself when a check fails)",
    )
    .argument('[name]', 'the OpenStackCloud (default: the only one in the namespace)')
    .option('-n, --namespace <ns>', 'namespace', 'openstack')
    .option('--dry-run', 'scan and report only, whatever the policy')
    .option(
      '--watch',
      "keep running: remediate each time the operator's scan reports findings (policy automatic), and every --every",
    )
    .option('--every <duration>', 'with --watch: also run this often (e.g. 30m, 6h)', '24h')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes remediate --dry-run            # what would be fixed, nothing changed
  $ sudo npx stackanetes remediate minimal -n openstack
  $ sudo npx stackanetes remediate minimal --watch   # on the build host: fix what the operator finds

spec.remediation.policy: off (nothing is scanned), report (the findings are recorded on the cloud:
status.remediation, the Remediation condition, a RemediationFinding Event per image), automatic
(also: each affected image is rebuilt with one more layer that upgrades exactly the fixed packages
— \`images fix\`, needs root — pushed, and rolled out in catalog order as \`stackanetes rollout\`
does; the first failed gate rolls that image back and stops the run).
The images are scanned from the SBOMs \`images build\` wrote on this machine, against the release's
-security and -updates suites ($STACKANETES_DEBIAN_MIRROR).
Exit status: 0 clean (or all fixed and rolled out), 1 findings left or a roll-out rolled back,
2 could not scan (an image with no SBOM here, an unreadable SBOM, an unreachable mirror): then
nothing is changed.`,
    )
    .action(
      async (
        name: string | undefined,
        opts: { namespace: string; dryRun?: boolean; watch?: boolean; every: string },
      ) => {
        // Bad input is told before anything is asked of the cluster.
        const everyMs = opts.watch ? parseDuration(opts.every, '--every') : 0;
        const client = await KubeClient.create();
        if (!opts.watch) {
          process.exitCode = await remediateOnce(client, name, opts);
          return;
        }
        await watchAndRemediate(client, name, opts, everyMs);
      },
    );

  program
    .command('rollout')
    .description(
      "roll one image of a running cloud to a new reference: one canary pod, a health gate of API calls (a token, image, server and network lists), then every pod through the cloud's spec; rolled back by itself when a check fails",
    )
    .argument('[name]', 'the OpenStackCloud (default: the only one in the namespace)')
    .requiredOption('--image <image=reference>', 'the image and the reference to roll it to')
    .option('-n, --namespace <ns>', 'namespace', 'openstack')
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes rollout --image keystone=localhost:5001/stackanetes/keystone@sha256:3f…
  $ npx stackanetes rollout minimal -n openstack --image glance-api=localhost:5001/stackanetes/glance-api:2025.1-fix-1a2b3c4d

Steps: a canary Deployment (one pod of the new image beside each Deployment that runs the image,
receiving no user traffic) and the API checks against that pod; then the spec's
images.overrides.<image> is set and the operator rolls every workload (maxUnavailable 0); a
StatefulSet of two members or more rolls its last member first (a partition), a DaemonSet on two
nodes or more its first node (minReadySeconds), and the rest once that pod is Ready and the
cloud's APIs pass; then the checks again through the Service. A
failed step puts the override back as it was. One run at a time (the Lease
stackanetes-remediate-<cloud>); a run killed after it changed the override is finished by the next.
Progress: status.remediation, the Remediation condition and Events on the cloud.
Exit status: 0 rolled out, 1 a check failed (rolled back), 2 could not start.`,
    )
    .action(async (name: string | undefined, opts: { image: string; namespace: string }) => {
      const { image, to } = parseImageArg(opts.image);
      const client = await KubeClient.create();
      const cloud = await findCloud(client, name, opts.namespace);
      say(`rollout of ${image} in ${opts.namespace}/${cloud.metadata.name} to ${to}`);
      let outcome: RolloutOutcome;
      try {
        outcome = await rollAndRecord(client, cloud, image, to, say);
      } catch (err) {
        throw new CliError(`rollout of ${image}: ${(err as Error).message}`, 2);
      }
      if (outcome.ok) {
        say(`✔ ${image} rolled out: ${outcome.from} → ${to} in ${outcome.seconds.toFixed(0)} s`);
      } else {
        say(
          `✖ ${image}: ${outcome.step} failed (${outcome.failedCheck}): ${outcome.message}; ${outcome.rolledBack ? `rolled back to ${outcome.from}` : 'nothing was changed'} (${outcome.seconds.toFixed(0)} s)`,
        );
        process.exitCode = 1;
      }
    });
}
