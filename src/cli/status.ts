// `stackanetes status [NAME]`: each cloud as the cluster has it now — its workloads read live
// (a deleted Deployment shows as missing whatever the recorded status says), the operator's
// conditions where they explain, and whether an operator is still reconciling at all.
import type { Command } from 'commander';
import {
  apiVersion,
  kind,
  type OpenStackCloud,
  type RemediationStatus,
  type UpgradeStatus,
} from '../api/v1alpha1/spec.ts';
import { validateLive } from '../api/v1alpha1/validate.ts';
import { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { dataPlaneNamespace } from '../render/namespaces.ts';
import { isNotFound } from '../kube/errors.ts';
import { liveOperatorState } from '../controller/liveness.ts';
import { upgradedConditionType } from '../controller/release.ts';
import { cloudView, liveComponents, readStatus, viewText } from './cloud-view.ts';
import { CliError } from './errors.ts';

/** The kinds whose live objects say whether a component works. */
const liveKinds: readonly [string, string][] = [
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'StatefulSet'],
  ['apps/v1', 'DaemonSet'],
  ['batch/v1', 'Job'],
  ['batch/v1', 'CronJob'],
];

/** The data plane's kinds: its workloads run in `<namespace>-dataplane` (src/render/namespaces.ts). */
const dataPlaneKinds: readonly [string, string][] = [['apps/v1', 'DaemonSet']];

/** The cloud as validated (defaults filled), or undefined when its spec is invalid. */
function specOf(c: KubeObject): OpenStackCloud | undefined {
  const r = validateLive(c);
  return r.ok ? r.cloud : undefined;
}

/** What `stackanetes remediate`/`rollout` last did, as one line (empty when never run). */
export function remediationLine(c: KubeObject): string {
  const r = (c.status as { remediation?: RemediationStatus } | undefined)?.remediation;
  if (!r) return '';
  const when = r.finishedAt ? `finished ${r.finishedAt}` : `since ${r.startedAt}`;
  const failed = r.failedCheck ? ` (failed: ${r.failedCheck}${r.step ? ` at ${r.step}` : ''})` : '';
  return `Remediation: ${r.state}${failed}, ${when}: ${r.message}\n`;
}

/** Where a release upgrade is (empty when there is none and spec and status agree). */
export function upgradeLine(c: KubeObject): string {
  const st = (c.status ?? {}) as {
    release?: string;
    upgrade?: UpgradeStatus;
    conditions?: { type: string; reason?: string; message?: string }[];
  };
  const u = st.upgrade;
  const wanted = (c.spec as { release?: string }).release;
  const cond = st.conditions?.find((x) => x.type === upgradedConditionType);
  if (u && !u.finishedAt) {
    const failed = u.failed ? `; FAILED at ${u.failed.step}: ${u.failed.message}` : '';
    return `Upgrade: ${u.from} → ${u.to} since ${u.startedAt}, ${u.completed.length} steps done, now ${u.step ?? '?'}${failed}${cond?.message ? ` (${cond.message})` : ''}\n`;
  }
  if (cond) return `Upgrade: ${cond.reason}: ${cond.message}\n`;
  if (u && u.to === wanted) {
    return `Upgrade: ${u.from} → ${u.to} finished ${u.finishedAt} (${u.completed.length} steps)\n`;
  }
  return '';
}

export function register(program: Command): void {
  program
    .command('status')
    .description('Show the components of a cloud (or of every cloud in the namespace)')
    .argument('[name]', 'the OpenStackCloud; all in the namespace if omitted')
    .option('-n, --namespace <ns>', 'namespace', 'openstack')
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes status
  $ npx stackanetes status minimal -n openstack

READY and PODS come from the workloads in the cluster now (the data plane's DaemonSets from
the namespace <namespace>-dataplane); REASON and MESSAGE are the operator's where they explain
(a Job running, waiting for another component). The Operator line says whether an operator
still holds its Lease and has reconciled the cloud recently.`,
    )
    .action(async (name: string | undefined, opts: { namespace: string }) => {
      const client = await KubeClient.create();
      try {
        const ns = opts.namespace;
        let clouds: KubeObject[];
        if (name) {
          try {
            clouds = [await client.get(apiVersion, kind, name, ns)];
          } catch (err) {
            if (isNotFound(err)) throw new CliError(`no OpenStackCloud ${name} in namespace ${ns}`);
            throw err;
          }
        } else {
          clouds = (await client.list(apiVersion, kind, { namespace: ns })).items;
          if (clouds.length === 0) throw new CliError(`no OpenStackCloud in namespace ${ns}`);
        }
        // The workloads in both of the clouds' namespaces.
        const live: KubeObject[] = [];
        for (const [namespace, kinds] of [
          [ns, liveKinds],
          [dataPlaneNamespace(ns), dataPlaneKinds],
        ] as const) {
          for (const [a, k] of kinds) {
            const { items } = await client.list(a, k, {
              namespace,
              labelSelector: 'app.kubernetes.io/managed-by=stackanetes',
            });
            live.push(...items);
          }
        }
        for (const c of clouds) {
          const recorded = readStatus(c);
          const operator = await liveOperatorState(client, c);
          const spec = specOf(c);
          const mine = live.filter(
            (o) => o.metadata.labels?.['app.kubernetes.io/instance'] === c.metadata.name,
          );
          const wanted = (c.spec as { release?: string }).release ?? '?';
          const runs = (c.status as { release?: string } | undefined)?.release;
          // Checked against the release the cloud runs: mid-upgrade, the workloads of the target
          // release that do not exist yet (Neutron's new workers) are not missing.
          const atRuns = spec && runs ? { ...spec, spec: { ...spec.spec, release: runs } } : spec;
          const view = cloudView(
            recorded,
            atRuns ? liveComponents(atRuns, c.metadata.namespace ?? ns, mine) : undefined,
            operator,
          );
          const release = runs && runs !== wanted ? `${wanted} (runs ${runs})` : wanted;
          const stale =
            recorded.observedGeneration < recorded.generation
              ? ' (the operator has not seen the latest spec yet)'
              : '';
          process.stdout.write(
            `${viewText(`${c.metadata.namespace}/${c.metadata.name}  release ${release}${stale}`, view, process.stdout.columns ?? 160)}\n${upgradeLine(c)}${remediationLine(c)}\n`,
          );
        }
      } finally {
        client.close();
      }
    });
}
