// `stackanetes rollout`: one image of a running cloud to a new reference, gated (a canary pod,
// API checks, then the rest, rolled back by itself when a check fails): src/controller/rollout.ts.
// `stackanetes remediate`: the images the cloud runs scanned for fixed Debian packages, rebuilt
// with the fixes and rolled out the same way, as the cloud's spec.remediation.policy allows.
import type { Command } from 'commander';
import { apiVersion, kind, type RemediationStatus } from '../api/v1alpha1/spec.ts';
import { imageNames, type ImageName } from '../catalog/images.ts';
import { EventsRecorder } from '../controller/events.ts';
import { writeRemediation } from '../controller/remediation-status.ts';
import { remediationManager, rollOutImage, type RolloutOutcome } from '../controller/rollout.ts';
import { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { runGate } from '../openstack/gate.ts';
import type { KubeObject } from '../render/kube.ts';
import { rfc3339 } from '../controller/conditions.ts';
import { CliError } from './errors.ts';

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

/** Rolls one image and records the outcome on the cloud (status, condition, Events). */
export async function rollAndRecord(
  client: KubeClient,
  cloud: KubeObject,
  image: ImageName,
  to: string,
  log: (line: string) => void,
  base: Pick<RemediationStatus, 'findings' | 'rolled'> = {},
): Promise<RolloutOutcome> {
  const events = new EventsRecorder(client, remediationManager);
  const name = cloud.metadata.name;
  const namespace = cloud.metadata.namespace!;
  const startedAt = rfc3339(new Date());
  await writeRemediation(
    client,
    cloud,
    {
      ...base,
      state: 'RollingOut',
      startedAt,
      message: `rolling ${image} out to ${to}`,
      image,
      to,
      step: 'canary',
    },
    { status: 'Unknown', reason: 'RollingOut', message: `rolling ${image} out to ${to}` },
  );
  await events.record(cloud, 'Normal', 'RolloutStep', `${image}: rolling out ${to}: canary first`);
  const outcome = await rollOutImage(name, namespace, image, to, {
    client,
    events,
    gate: (checks) => runGate(namespace, checks),
    log,
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
    const msg = `${image}: ${outcome.step} failed, ${what}: ${outcome.message}`;
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

export function register(program: Command): void {
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
images.overrides.<image> is set and the operator rolls every workload (maxUnavailable 0); then
the checks again through the Service. A failed step puts the override back as it was.
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
