// The operator's own scan (spec.remediation.policy report or automatic): the images a cloud's
// pods run, each by the digest it started from, scanned against the release's -security and
// -updates suites from the SBOM pushed beside it in the registry (src/images/sbom-artifact.ts),
// on a schedule and whenever the cloud is Ready after a change of its spec. The findings go where
// `stackanetes remediate` puts them (status.remediation, the Remediation condition, a
// RemediationFinding Event per image). Rebuilding needs root and the build host's cache, so
// `automatic` is still carried out by `stackanetes remediate` there; the operator says so.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { OpenStackCloud, RemediationStatus } from '../api/v1alpha1/spec.ts';
import { validateLive } from '../api/v1alpha1/validate.ts';
import { imageNames, type ImageName } from '../catalog/images.ts';
import { releaseSource } from '../catalog/releases.ts';
import { releaseRecipes } from '../images/recipes.ts';
import { aptSource } from '../images/rootfs.ts';
import { fetchSbom as fetchSbomFromRegistry } from '../images/sbom-artifact.ts';
import { scanImages, type ScanImage, type ScanReport, type ScanOptions } from '../images/scan.ts';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import type { KubeObject } from '../render/kube.ts';
import { dataPlaneNamespace } from '../render/namespaces.ts';
import type { EventRecorder, Logger } from './cloud.ts';
import { rfc3339 } from './conditions.ts';
import { leaseHeld } from './liveness.ts';
import { writeRemediation } from './remediation-status.ts';
import { canaryLabel, remediationManager, repositoryName } from './rollout.ts';

interface ContainerState {
  image: string;
  imageID: string;
}

/**
 * What the cloud's pods run now, by image name (in catalog order): the digest each container
 * started from (`imageID`), not the tag in its spec, which may have been pushed over since.
 */
export async function runningImages(
  client: KubeClient,
  namespace: string,
  cloudName: string,
): Promise<Map<ImageName, string[]>> {
  const found = new Map<string, Set<string>>();
  for (const ns of [namespace, dataPlaneNamespace(namespace)]) {
    const { items } = await client.list('v1', 'Pod', {
      namespace: ns,
      labelSelector: `app.kubernetes.io/instance=${cloudName},!${canaryLabel}`,
    });
    for (const pod of items) {
      const st = pod.status as
        | {
            phase?: string;
            initContainerStatuses?: ContainerState[];
            containerStatuses?: ContainerState[];
          }
        | undefined;
      // A finished Job's pod runs nothing; a pod being deleted (a replaced one draining) is on
      // its way out.
      if (st?.phase === 'Succeeded' || st?.phase === 'Failed' || pod.metadata.deletionTimestamp)
        continue;
      for (const c of [...(st?.initContainerStatuses ?? []), ...(st?.containerStatuses ?? [])]) {
        // A container started by digest reports its config's digest as `image`: the name is
        // in imageID.
        const ref = c.imageID.includes('@sha256:') ? c.imageID : c.image;
        const name = repositoryName(ref);
        if (!found.has(name)) found.set(name, new Set());
        found.get(name)!.add(ref);
      }
    }
  }
  const out = new Map<ImageName, string[]>();
  for (const image of imageNames) {
    const refs = found.get(image);
    if (refs?.size) out.set(image, [...refs].sort());
  }
  return out;
}

/** What the last scan of a cloud was made of (in this process's memory). */
export interface LastScan {
  readonly at: number;
  readonly generation: number;
}

/**
 * Whether to scan now, or in how many ms to look again. Due: never scanned here, the interval
 * over, or the spec changed since (new images) and the cloud is Ready again (rolled out).
 */
export function scanDue(
  last: LastScan | undefined,
  generation: number,
  ready: boolean,
  nowMs: number,
  intervalMs: number,
): { due: true } | { due: false; inMs: number } {
  // Pods still rolling run a mix: scan what they settle on.
  if (!ready) return { due: false, inMs: 60_000 };
  if (!last || last.generation !== generation) return { due: true };
  const left = last.at + intervalMs - nowMs;
  return left <= 0 ? { due: true } : { due: false, inMs: left };
}

/** States of status.remediation a scan may replace: not a roll's outcome, nor one under way. */
const replaceable = new Set<RemediationStatus['state'] | undefined>([
  undefined,
  'Clean',
  'Reported',
  'Succeeded',
  'Failed',
  'Scanning',
]);

export interface RemediationScanOptions {
  readonly client: KubeClient;
  readonly cloud: (namespace: string, name: string) => KubeObject | undefined;
  readonly events: EventRecorder;
  readonly log: Logger;
  /** Where SBOMs and the scan's downloads are kept (an emptyDir in the operator's pod). */
  readonly cacheDir: string;
  /** `name=url` pairs: where a registry named in image references answers. */
  readonly registryMirrors?: string;
  readonly fetchSbom?: (reference: string) => Promise<Uint8Array>;
  readonly scan?: (opts: ScanOptions) => Promise<ScanReport>;
  readonly now?: () => Date;
}

/** One pass per cloud, requeued by itself until the next scan is due. */
export class RemediationScanReconciler {
  readonly #o: RemediationScanOptions;
  readonly #now: () => Date;
  readonly #last = new Map<string, LastScan>();

  constructor(o: RemediationScanOptions) {
    this.#o = o;
    this.#now = o.now ?? (() => new Date());
  }

  async reconcile(namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
    const key = `${namespace}/${name}`;
    const live = this.#o.cloud(namespace, name);
    if (!live || live.metadata.deletionTimestamp) {
      this.#last.delete(key);
      return {};
    }
    const checked = validateLive(live);
    if (!checked.ok) return {};
    const { policy, scanIntervalMinutes } = checked.cloud.spec.remediation;
    if (policy === 'off') {
      this.#last.delete(key);
      return {};
    }
    const status = live.status as
      | {
          remediation?: RemediationStatus;
          conditions?: { type: string; status: string; observedGeneration?: number }[];
        }
      | undefined;
    // Ready for this generation: a Ready written before the spec changed is not rolled out yet.
    const ready = (status?.conditions ?? []).some(
      (c) =>
        c.type === 'Ready' &&
        c.status === 'True' &&
        (c.observedGeneration === undefined ||
          c.observedGeneration === (live.metadata.generation ?? 0)),
    );
    const now = this.#now().getTime();
    const due = scanDue(
      this.#last.get(key),
      live.metadata.generation ?? 0,
      ready,
      now,
      scanIntervalMinutes * 60_000,
    );
    if (!due.due) return { requeueAfterMs: due.inMs };
    if (await this.#runHolds(live)) return { requeueAfterMs: 60_000 };
    this.#last.set(key, { at: now, generation: live.metadata.generation ?? 0 });
    await this.#scan(live, checked.cloud, status?.remediation);
    return { requeueAfterMs: scanIntervalMinutes * 60_000 };
  }

  /** Whether a `rollout` or `remediate` run holds the cloud's Lease (it writes the status then). */
  async #runHolds(cloud: KubeObject): Promise<boolean> {
    try {
      const lease = await this.#o.client.get(
        'coordination.k8s.io/v1',
        'Lease',
        `${remediationManager}-${cloud.metadata.name}`,
        cloud.metadata.namespace,
      );
      return leaseHeld(lease, this.#now().getTime());
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async #scan(
    live: KubeObject,
    cloud: OpenStackCloud,
    before: RemediationStatus | undefined,
  ): Promise<void> {
    const { client, events, log } = this.#o;
    const where = `${live.metadata.namespace}/${live.metadata.name}`;
    const startedAt = rfc3339(this.#now());
    const keep = before?.rolled ? { rolled: before.rolled } : {};
    const write = async (
      st: Omit<RemediationStatus, 'startedAt'>,
      condition: { status: 'True' | 'False' | 'Unknown'; reason: string; message: string },
    ) => {
      // A roll's outcome (RolledBack) or a run under way is the run's to replace, not a scan's.
      const now = this.#o.cloud(live.metadata.namespace!, live.metadata.name);
      const state = (now?.status as { remediation?: RemediationStatus } | undefined)?.remediation
        ?.state;
      // A remediation that succeeded stays so while the scans find nothing new.
      if (
        !replaceable.has(state) ||
        (state === 'Succeeded' && (st.state === 'Clean' || st.state === 'Scanning'))
      ) {
        log.info({ cloud: where, state }, `remediation scan: ${condition.message} (status kept)`);
        return;
      }
      await writeRemediation(client, live, { ...keep, ...st, startedAt }, condition);
    };
    const release =
      (live.status as { release?: string } | undefined)?.release ?? cloud.spec.release;
    const recipes = releaseRecipes(release);
    const fail = async (why: string) => {
      const message = `could not scan the images it runs: ${why}`;
      log.warn({ cloud: where }, `remediation scan: ${message}`);
      await events.record(live, 'Warning', 'ScanFailed', message);
      await write(
        { state: 'Failed', finishedAt: rfc3339(this.#now()), message },
        { status: 'Unknown', reason: 'ScanFailed', message },
      );
    };
    if (!recipes.extraSuites.length)
      return fail(`release ${release} has no -security or -updates suite to compare with`);
    const running = await runningImages(client, live.metadata.namespace!, live.metadata.name);
    const targets: ScanImage[] = [];
    const dir = join(this.#o.cacheDir, 'sboms');
    await mkdir(dir, { recursive: true });
    const fetchSbom =
      this.#o.fetchSbom ?? ((ref: string) => fetchSbomFromRegistry(ref, this.#o.registryMirrors));
    const missing: string[] = [];
    for (const [image, refs] of running) {
      for (const reference of refs) {
        if (!reference.includes('@sha256:')) {
          missing.push(`${reference} (not started by digest)`);
          continue;
        }
        try {
          const file = join(dir, `${reference.split('@sha256:')[1]}.json`);
          await writeFile(file, await fetchSbom(reference));
          targets.push({ name: image, reference, sbom: file });
        } catch (err) {
          missing.push((err as Error).message);
        }
      }
    }
    if (missing.length) return fail(missing.join('; '));
    if (!targets.length) return fail('no pod of the cloud runs yet');
    await write(
      { state: 'Scanning', message: `scanning ${targets.length} images` },
      { status: 'Unknown', reason: 'Scanning', message: `scanning ${targets.length} images` },
    );
    let report: ScanReport;
    try {
      report = await (this.#o.scan ?? scanImages)({
        images: targets,
        source: aptSource(releaseSource(release).debianSuite, recipes.extraSuites),
        cacheDir: join(this.#o.cacheDir, 'scan'),
      });
    } catch (err) {
      return fail((err as Error).message);
    }
    const affected = report.images.filter((i) => i.findings.length);
    for (const i of affected) {
      await events.record(
        live,
        'Warning',
        'RemediationFinding',
        // CVEs before packages: an Event's message is cut at 1024 characters.
        `${i.name} (${i.reference}): ${i.findings.length} packages with fixes, CVEs ${i.cves.join(' ') || 'none named'}: ${i.findings
          .map((f) => `${f.package} ${f.installed} → ${f.fixed}`)
          .join(', ')}`,
      );
    }
    const suites = report.indexes.map((s) => `${s.suite} of ${s.date}`).join(', ');
    const then =
      cloud.spec.remediation.policy === 'automatic'
        ? '; rebuilding needs the build host: run `sudo stackanetes remediate` there'
        : '';
    const message = affected.length
      ? `${affected.length} of ${report.images.length} images with ${report.findings} fixable packages (${report.cves} CVEs) against ${suites}: ${affected.map((i) => i.name).join(', ')}${then}`
      : `${report.images.length} images scanned against ${suites}, no package has a fix pending`;
    log.info(
      { cloud: where, findings: report.findings, seconds: report.seconds },
      `remediation scan: ${message}`,
    );
    await write(
      {
        state: affected.length ? 'Reported' : 'Clean',
        finishedAt: rfc3339(this.#now()),
        message,
        findings: report.findings,
      },
      affected.length
        ? { status: 'False', reason: 'VulnerableImages', message }
        : { status: 'True', reason: 'NoFindings', message },
    );
  }
}
