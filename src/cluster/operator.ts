// The operator installed on the local cluster the way Kubernetes users install it
// (`kubectl apply -k deploy/`: CRD, RBAC, a Deployment of two replicas), with the image
// `images build` made. Until that image is built, `stackanetes up` runs it on the host instead
// (hostoperator.ts); one operator reconciles a cloud, so installing stops the host one.
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { listRecords } from '../images/build.ts';
import { cachePaths } from '../images/paths.ts';
import { operatorImage } from '../images/recipes.ts';
import { KubeClient } from '../kube/client.ts';
import { capture } from '../util/exec.ts';
import { kubectl } from './cluster.ts';
import { layout } from './layout.ts';
import { operatorProcess } from './hostoperator.ts';
import { running, stopProcess } from './processes.ts';

const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));
const operatorNamespace = 'stackanetes-system';
const operatorDeployment = 'stackanetes-operator';

interface DeploymentStatus {
  observedGeneration?: number;
  updatedReplicas?: number;
  availableReplicas?: number;
  replicas?: number;
}

/**
 * Installs the operator from deploy/ (CRD, RBAC, the Deployment) and waits for a replica to be
 * Ready; `onProgress` hears each change in the replica counts. A host operator started before is
 * stopped first. The image is named by its digest, so that a rebuilt image (same tag) rolls the
 * pods and runs.
 */
export async function installOperator(
  env: NodeJS.ProcessEnv,
  manifestDigest: string,
  onProgress: (line: string) => void,
  timeoutMs = 5 * 60_000,
): Promise<string> {
  const l = layout();
  const host = running(l.pids, operatorProcess) !== undefined;
  if (host) await stopProcess(l.pids, operatorProcess);
  // The image by digest: a rebuilt image keeps its tag, and a node that pulled the tag before
  // would start the old one (pullPolicy IfNotPresent). deploy/ names the tag; the manifests
  // kustomize renders from it are applied with the digest added.
  const manifests = (await capture('kubectl', ['kustomize', deployDir], { env })).replace(
    /^(\s*image: )(\S*\/operator:[^\s@]+)$/gm,
    `$1$2@${manifestDigest}`,
  );
  if (!manifests.includes(manifestDigest))
    throw new Error(
      `no operator image in the manifests of ${deployDir} to pin to ${manifestDigest}`,
    );
  await kubectl(l, ['apply', '--server-side', '--force-conflicts', '-f', '-'], manifests);
  const client = await KubeClient.create();
  try {
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      const d = await client.get('apps/v1', 'Deployment', operatorDeployment, operatorNamespace);
      const st = (d.status ?? {}) as DeploymentStatus;
      const want = Number((d.spec as { replicas?: number }).replicas ?? 1);
      const now = `${st.availableReplicas ?? 0}/${want} replicas available, ${st.updatedReplicas ?? 0} updated`;
      if (now !== last) onProgress(now);
      last = now;
      // The roll-out is over (no replica of an older template is left: one of those may hold the
      // Lease and reconcile a spec its code does not know) and a replica is Ready.
      if (
        (st.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
        (st.updatedReplicas ?? 0) >= want &&
        (st.replicas ?? 0) === (st.updatedReplicas ?? 0) &&
        (st.availableReplicas ?? 0) >= 1
      )
        return `installed from deploy/ (${host ? 'the host operator stopped; ' : ''}${now}); dashboard: npx stackanetes dashboard`;
      await sleep(2000);
    }
    throw new Error(
      `the operator Deployment has no Ready replica after ${timeoutMs / 1000} s (${last}); see kubectl -n ${operatorNamespace} describe pods -l app.kubernetes.io/name=${operatorDeployment}`,
    );
  } finally {
    client.close();
  }
}

/** The operator image's digest when `images build` has made it. */
export async function builtOperatorImage(): Promise<string | undefined> {
  const records = await listRecords(cachePaths());
  return records.find((r) => r.name === operatorImage)?.manifestDigest;
}
