// Shared by the cluster's integration tests: they talk to the running local cluster (started with
// `stackanetes cluster up --fake-nodes 20`) through its own kubectl.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { stringify } from 'yaml';
import { binaryPaths } from '../../../src/cluster/build.ts';
import { nodeName } from '../../../src/cluster/components.ts';
import { run } from '../../../src/util/exec.ts';
import { waitFor } from '../../../src/cluster/wait.ts';
import { layout } from '../../../src/cluster/layout.ts';
import { testImage } from '../../../src/cluster/versions.ts';

export { nodeName, testImage, waitFor };
export const l = layout();

export async function kubectl(args: string[], input?: string): Promise<string> {
  if (!existsSync(l.kubeconfig)) {
    throw new Error(
      `no cluster: ${l.kubeconfig} is missing; run \`npx stackanetes cluster up --fake-nodes 20\` first`,
    );
  }
  const r = await run(binaryPaths(l).kubectl, ['--kubeconfig', l.kubeconfig, ...args], {
    input,
    timeoutMs: 60_000,
  });
  return r.stdout;
}

export async function getJson<T = Record<string, unknown>>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl(['get', ...args, '-o', 'json'])) as T;
}

export async function apply(...objs: Record<string, unknown>[]): Promise<void> {
  await kubectl(['apply', '-f', '-'], objs.map((o) => stringify(o)).join('---\n'));
}

export async function makeNamespace(prefix: string): Promise<string> {
  const ns = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', ns]);
  return ns;
}

export async function deleteNamespace(ns: string): Promise<void> {
  await kubectl(['delete', 'namespace', ns, '--wait=false', '--ignore-not-found']).catch(
    () => undefined,
  );
}

export interface Condition {
  type: string;
  status: string;
  reason?: string;
}
export interface PodList {
  items: {
    metadata: { name: string; uid: string; deletionTimestamp?: string; creationTimestamp: string };
    spec: { nodeName?: string };
    status: { phase?: string; conditions?: Condition[] };
  }[];
}

export const isReady = (conds: Condition[] | undefined, type = 'Ready') =>
  conds?.some((c) => c.type === type && c.status === 'True') ?? false;

/** A container spec running the cluster's test image (only ever imported, never pulled). */
export function container(name: string, command: string[], extra: Record<string, unknown> = {}) {
  return { name, image: testImage, imagePullPolicy: 'Never', command, ...extra };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
