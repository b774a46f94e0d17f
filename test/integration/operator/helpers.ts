// Shared by the operator's integration tests: the real API server of the local cluster (KUBECONFIG),
// kwok nodes so that pods become Ready and Jobs complete without real images, and the operator
// run as a child process exactly as a user runs it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import type { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';

import {
  apiVersion as cloudApiVersion,
  kind as cloudKind,
} from '../../../src/api/v1alpha1/spec.ts';
import { dataPlaneNamespace } from '../../../src/render/namespaces.ts';
import { client, deleteNamespace as deleteOne, makeNamespace } from '../kube/helpers.ts';

export { client, makeNamespace, seconds, skip, until } from '../kube/helpers.ts';

/**
 * Deletes a test's namespace and its clouds' data-plane namespace. The clouds' finalizers are
 * released first: the operator that would delete their data plane may be stopped already, and the
 * namespace would stay Terminating for ever.
 */
export async function deleteNamespace(c: KubeClient, ns: string): Promise<void> {
  if (!ns) return;
  const clouds = await c
    .list(cloudApiVersion, cloudKind, { namespace: ns })
    .then((l) => l.items)
    .catch(() => []);
  for (const cloud of clouds)
    await c
      .mergePatch(cloudApiVersion, cloudKind, cloud.metadata.name, ns, {
        metadata: { finalizers: null },
      })
      .catch(() => undefined);
  await deleteOne(c, ns);
  await deleteOne(c, dataPlaneNamespace(ns));
}

/**
 * Volumes for pods on kwok nodes: no provisioner can run a helper pod there, so the test makes
 * PersistentVolumes of a class of its own (nothing is ever written to them: kwok pods do not run).
 */
export const kwokStorageClass = 'stackanetes-kwok';

export async function kwokVolumes(
  c: KubeClient,
  namespace: string,
  count = 8,
): Promise<() => Promise<void>> {
  await c.apply({
    apiVersion: 'storage.k8s.io/v1',
    kind: 'StorageClass',
    metadata: { name: kwokStorageClass },
    provisioner: 'kubernetes.io/no-provisioner',
    volumeBindingMode: 'WaitForFirstConsumer',
  });
  const names = Array.from({ length: count }, (_, i) => `${namespace}-${i}`);
  for (const name of names) {
    await c.apply({
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name },
      spec: {
        capacity: { storage: '100Gi' },
        accessModes: ['ReadWriteOnce', 'ReadWriteMany'],
        storageClassName: kwokStorageClass,
        persistentVolumeReclaimPolicy: 'Delete',
        hostPath: { path: `/tmp/stackanetes-kwok/${name}` },
      },
    });
  }
  return async () => {
    for (const name of names) await c.delete('v1', 'PersistentVolume', name).catch(() => undefined);
  };
}

/** A cloud whose every role selects the kwok nodes (`cluster up --fake-nodes N`). */
export function kwokCloud(name: string, namespace: string, extra: Record<string, unknown> = {}) {
  const fake = { matchLabels: { 'stackanetes.io/fake': 'true' } };
  return {
    apiVersion: 'stackanetes.io/v1alpha1',
    kind: 'OpenStackCloud',
    metadata: { name, namespace },
    spec: {
      release: '2025.1',
      nodeRoles: { controlPlane: fake, compute: fake, network: fake },
      tolerations: [{ key: 'kwok.x-k8s.io/node', operator: 'Exists', effect: 'NoSchedule' }],
      storageClassName: kwokStorageClass,
      services: { nova: { computeDriver: 'fake' } },
      ...extra,
    },
  };
}

export function specFile(doc: object): string {
  const dir = mkdtempSync(join(tmpdir(), 'stackanetes-spec-'));
  const file = join(dir, 'cloud.yaml');
  writeFileSync(file, stringify(doc));
  return file;
}

export interface Operator {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly log: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Counts of API requests by verb, from its /metrics. */
  requests(): Promise<Record<string, number>>;
  isLeader(): Promise<boolean>;
}

/** Starts `stackanetes operator` watching one namespace, with its Lease in that namespace. */
export function startOperator(namespace: string, extraArgs: readonly string[] = []): Operator {
  const port = randomInt(20_000, 30_000);
  const proc = spawn(
    process.execPath,
    [
      'bin/stackanetes.js',
      'operator',
      '--namespace',
      namespace,
      '--lease-namespace',
      namespace,
      '--metrics-port',
      String(port),
      '--metrics-host',
      '127.0.0.1',
      ...extraArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-200_000)));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (out = (out + d).slice(-200_000)));
  const metrics = async () => {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    return r.text();
  };
  return {
    proc,
    port,
    log: () => out,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const done = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill(signal);
      await done;
    },
    async requests() {
      const text = await metrics();
      const counts: Record<string, number> = {};
      for (const m of text.matchAll(
        /^stackanetes_api_requests\{verb="([^"]+)",resource="([^"]+)"\} (\d+)/gm,
      )) {
        counts[`${m[1]} ${m[2]}`] = Number(m[3]);
      }
      return counts;
    },
    async isLeader() {
      return /^stackanetes_leader 1$/m.test(await metrics());
    },
  };
}

/**
 * Writes counted from the request counters (`VERB resource` → n): everything but reads, watches
 * and dry runs — and, unless asked, the leader's Lease renewals, which any elected controller makes.
 */
export function writes(counts: Record<string, number>, withLease = false): number {
  return Object.entries(counts)
    .filter(([key]) => {
      const [verb, resource] = key.split(' ');
      if (['GET', 'WATCH'].includes(verb!) || verb!.includes('dry-run')) return false;
      return withLease || resource !== 'leases';
    })
    .reduce((a, [, n]) => a + n, 0);
}

export async function waitForMetrics(op: Operator, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try {
      await op.requests();
      return;
    } catch {
      await sleep(200);
    }
  }
  throw new Error(`operator metrics did not answer:\n${op.log().slice(-2000)}`);
}

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
}

export async function cloudStatus(c: KubeClient, namespace: string, name: string) {
  const cloud = await c.get<KubeObject>(
    'stackanetes.io/v1alpha1',
    'OpenStackCloud',
    name,
    namespace,
  );
  const st = (cloud.status ?? {}) as { observedGeneration?: number; conditions?: Cond[] };
  return {
    cloud,
    generation: cloud.metadata.generation ?? 0,
    observed: st.observedGeneration ?? 0,
    conditions: st.conditions ?? [],
    ready: st.conditions?.find((x) => x.type === 'Ready'),
  };
}

/** Waits until the cloud is Ready at its current generation. */
export async function waitReady(
  c: KubeClient,
  namespace: string,
  name: string,
  op: Operator | undefined,
  timeoutMs = 10 * 60_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    const s = await cloudStatus(c, namespace, name);
    last = JSON.stringify(
      s.conditions.map((x) => `${x.type}=${x.status}/${x.reason}: ${x.message}`),
    );
    if (s.observed >= s.generation && s.ready?.status === 'True') return;
    await sleep(1000);
  }
  throw new Error(
    `cloud ${namespace}/${name} not Ready after ${timeoutMs / 1000} s: ${last}\n${op?.log().slice(-3000) ?? ''}`,
  );
}

/**
 * A namespace of its own with kwok volumes and an operator watching it (answering metrics);
 * `close(op)` stops that operator (the one started here unless given) and removes it all.
 */
export async function operatorNamespace(prefix: string) {
  const c = await client();
  const ns = await makeNamespace(c, prefix);
  const dropVolumes = await kwokVolumes(c, ns);
  const op = startOperator(ns);
  await waitForMetrics(op);
  return {
    c,
    ns,
    op,
    close: async (current: Operator = op) => {
      await current.stop();
      await deleteNamespace(c, ns);
      await dropVolumes();
      c.close();
    },
  };
}
