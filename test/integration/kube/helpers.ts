// Shared by the src/kube integration tests: a KubeClient on the cluster named by KUBECONFIG
// (the tests skip without one) and a namespace of their own, deleted at the end.
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../../src/kube/client.ts';

/** Why the tests skip, or false when a cluster is configured. */
export const skip: string | false = process.env.KUBECONFIG
  ? false
  : 'KUBECONFIG is not set: start a cluster (`npx stackanetes cluster up`) and run `eval "$(npx stackanetes cluster env)"`';

export function client(): Promise<KubeClient> {
  return KubeClient.create();
}

export async function makeNamespace(c: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await c.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

export async function deleteNamespace(c: KubeClient, name: string): Promise<void> {
  if (!name) return;
  await c.delete('v1', 'Namespace', name).catch(() => undefined);
}

export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
