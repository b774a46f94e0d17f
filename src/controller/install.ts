// What a cloud's spec needs in the cluster before it can be applied: the OpenStackCloud CRD of
// this version, served, and the namespace the cloud lives in.
import { setTimeout as sleep } from 'node:timers/promises';
import { crd } from '../api/v1alpha1/crd.ts';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { contains } from './compare.ts';

/** Installs or updates the CRD when the cluster's differs from this version's, and waits until it is served. */
export async function ensureCrd(client: KubeClient): Promise<void> {
  const def = crd();
  try {
    const live = await client.get(def.apiVersion, def.kind, def.metadata.name);
    if (contains(live, def)) return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  await client.apply(def);
  // The API server swaps in a changed schema asynchronously; give it a moment before using it.
  await sleep(2000);
  for (let i = 0; i < 60; i++) {
    const got = await client.get(def.apiVersion, def.kind, def.metadata.name);
    const conds =
      ((got.status as { conditions?: { type: string; status: string }[] }) ?? {}).conditions ?? [];
    if (conds.some((c) => c.type === 'Established' && c.status === 'True')) return;
    await sleep(500);
  }
  throw new Error('the OpenStackCloud CRD was not established within 30 s');
}

/** Creates the namespace when it is not there. */
export async function ensureNamespace(client: KubeClient, namespace: string): Promise<void> {
  try {
    await client.get('v1', 'Namespace', namespace);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await client.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  }
}
