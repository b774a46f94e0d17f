// The operator's scheduled scan (src/controller/remediation-scan.ts) against the fake API server:
// the pods' image digests, an SBOM per digest (a stand-in for the registry) and a stand-in for the
// Debian suites' scan (the real one is tested in test/unit/images/scan.test.ts and, with the real
// registry and mirror, in test/e2e/remediate.test.ts).
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { KubeConfig } from '@kubernetes/client-node';
import type { Condition, RemediationStatus } from '../../../src/api/v1alpha1/spec.ts';
import { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { RemediationScanReconciler, scanDue } from '../../../src/controller/remediation-scan.ts';
import type { ScanOptions, ScanReport } from '../../../src/images/scan.ts';
import { FakeApi } from '../fake-api.ts';

const clouds = '/apis/stackanetes.io/v1alpha1/openstackclouds';
const pods = '/api/v1/pods';
const leases = '/apis/coordination.k8s.io/v1/leases';
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const digest = (c: string) => `sha256:${c.repeat(64)}`;
const keystone = `localhost:5001/stackanetes/keystone@${digest('a')}`;
const glance = `localhost:5001/stackanetes/glance-api@${digest('b')}`;

test('scanDue: first look, interval, spec changed, not Ready', () => {
  const hour = 3_600_000;
  assert.deepEqual(scanDue(undefined, 1, true, 0, hour), { due: true });
  assert.deepEqual(scanDue(undefined, 1, false, 0, hour), { due: false, inMs: 60_000 });
  assert.deepEqual(scanDue({ at: 0, generation: 1 }, 1, true, 1000, hour), {
    due: false,
    inMs: hour - 1000,
  });
  assert.deepEqual(scanDue({ at: 0, generation: 1 }, 1, true, hour, hour), { due: true });
  assert.deepEqual(scanDue({ at: 0, generation: 1 }, 2, true, 1000, hour), { due: true });
  assert.deepEqual(scanDue({ at: 0, generation: 1 }, 2, false, 1000, hour), {
    due: false,
    inMs: 60_000,
  });
});

function pod(name: string, image: string, extra: Partial<KubeObject['metadata']> = {}): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'openstack',
      labels: { 'app.kubernetes.io/instance': 'minimal' },
      ...extra,
    },
    spec: {},
    status: {
      phase: 'Running',
      containerStatuses: [{ image: image.replace(/@.*/, ':2025.1'), imageID: image }],
    },
  };
}

function report(opts: ScanOptions, vulnerable: string[]): ScanReport {
  const images = opts.images.map((i) => {
    const findings = vulnerable.includes(i.name)
      ? [
          {
            package: 'python3-keystone',
            arch: 'all',
            source: 'keystone',
            installed: '2:27.0.0-3+deb13u5',
            fixed: '2:27.0.0-3+deb13u6',
            suite: 'trixie-security',
            cves: ['CVE-2025-0001'],
          },
        ]
      : [];
    return { ...i, packages: 300, findings, cves: findings.flatMap((f) => f.cves) };
  });
  const findings = images.reduce((n, i) => n + i.findings.length, 0);
  return {
    suite: 'trixie',
    arch: 'amd64',
    indexes: [
      {
        suite: 'trixie-security',
        url: 'x',
        date: 'Fri, 04 Dec 2026',
        sha256: 'x',
        packages: 1,
        cached: false,
      },
    ],
    images,
    findings,
    cves: findings ? 1 : 0,
    seconds: 1,
  };
}

async function withScan(
  body: (h: {
    api: FakeApi;
    r: RemediationScanReconciler;
    scans: ScanOptions[];
    sboms: Map<string, string>;
    events: { reason: string; message: string }[];
    vulnerable: string[];
    at: (ms: number) => void;
    setCloud: (over: { generation?: number; ready?: boolean; policy?: string }) => void;
    remediation: () => RemediationStatus | undefined;
    condition: () => Condition | undefined;
  }) => Promise<void>,
): Promise<void> {
  const api = await FakeApi.start();
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfig());
  const client = await KubeClient.create(kc);
  const dir = await mkdtemp(join(tmpdir(), 'scan-'));
  try {
    const doc = parse(readFileSync('examples/minimal.yaml', 'utf8')) as KubeObject;
    const setCloud = (over: { generation?: number; ready?: boolean; policy?: string }) => {
      const live = api.get(clouds, 'openstack', 'minimal');
      const spec = (live?.spec ?? doc.spec) as Record<string, unknown>;
      api.put(clouds, {
        ...doc,
        metadata: {
          ...doc.metadata,
          generation: over.generation ?? live?.metadata.generation ?? 1,
        },
        spec: over.policy ? { ...spec, remediation: { policy: over.policy } } : spec,
        status: {
          ...(live?.status ?? {}),
          conditions: [
            ...(
              (live?.status as { conditions?: Condition[] } | undefined)?.conditions ?? []
            ).filter((c) => c.type !== 'Ready'),
            {
              type: 'Ready',
              status: over.ready === false ? 'False' : 'True',
              reason: 'x',
              message: '',
              lastTransitionTime: '2026-12-04T00:00:00Z',
            },
          ],
        },
      });
    };
    setCloud({});
    api.put(pods, pod('keystone-api-1', keystone));
    api.put(pods, pod('keystone-api-2', keystone));
    api.put(pods, pod('glance-api-1', glance));
    // Not counted: a canary, a finished Job's pod, another cloud's pod.
    api.put(
      pods,
      pod('keystone-canary', digest('c'), {
        labels: { 'app.kubernetes.io/instance': 'minimal', 'stackanetes.io/canary': 'true' },
      }),
    );
    api.put(pods, {
      ...pod('glance-db-sync', `localhost:5001/stackanetes/glance-api@${digest('d')}`),
      status: { phase: 'Succeeded', containerStatuses: [] },
    });
    const sboms = new Map([
      [keystone, '{"components":[]}'],
      [glance, '{"components":[]}'],
    ]);
    const scans: ScanOptions[] = [];
    const events: { reason: string; message: string }[] = [];
    const vulnerable = ['keystone'];
    let now = Date.parse('2026-12-04T00:00:00Z');
    const r = new RemediationScanReconciler({
      client,
      cloud: (ns, n) => api.get(clouds, ns, n),
      events: {
        record: (_c, _t, reason, message) => {
          events.push({ reason, message });
          return Promise.resolve();
        },
      },
      log: quiet,
      cacheDir: dir,
      fetchSbom: (ref) => {
        const s = sboms.get(ref);
        return s === undefined
          ? Promise.reject(new Error(`no SBOM in the registry for ${ref}`))
          : Promise.resolve(new TextEncoder().encode(s));
      },
      scan: (opts) => {
        scans.push(opts);
        return Promise.resolve(report(opts, vulnerable));
      },
      now: () => new Date(now),
    });
    const status = () =>
      api.get(clouds, 'openstack', 'minimal')?.status as
        { remediation?: RemediationStatus; conditions?: Condition[] } | undefined;
    await body({
      api,
      r,
      scans,
      sboms,
      events,
      vulnerable,
      at: (ms) => (now = Date.parse('2026-12-04T00:00:00Z') + ms),
      setCloud,
      remediation: () => status()?.remediation,
      condition: () => status()?.conditions?.find((c) => c.type === 'Remediation'),
    });
  } finally {
    client.close();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
}

test('the operator scans what the pods run, by digest, records the findings, and scans again when due', async () => {
  await withScan(async (h) => {
    const first = await h.r.reconcile('openstack', 'minimal');
    assert.equal(h.scans.length, 1);
    // One target per digest the pods started from; the canary and the finished Job left out.
    assert.deepEqual(
      h.scans[0]!.images.map((i) => `${i.name} ${i.reference}`),
      [`keystone ${keystone}`, `glance-api ${glance}`],
    );
    assert.equal(h.scans[0]!.source.suite, 'trixie');
    assert.equal(h.remediation()?.state, 'Reported');
    assert.equal(h.remediation()?.findings, 1);
    assert.equal(h.condition()?.reason, 'VulnerableImages');
    assert.equal(h.condition()?.status, 'False');
    assert.match(h.condition()!.message, /1 of 2 images .*: keystone$/);
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['RemediationFinding'],
    );
    assert.match(
      h.events[0]!.message,
      /keystone .*CVE-2025-0001: python3-keystone 2:27.0.0-3\+deb13u5 → 2:27.0.0-3\+deb13u6$/,
    );
    assert.equal(first.requeueAfterMs, 360 * 60_000);

    // Looked at again at once (a status write queues the cloud): nothing scanned. (The fake API
    // server replaces the status on a status write, where the real one merges conditions by type:
    // the Ready condition is put back.)
    h.setCloud({});
    h.at(1000);
    const again = await h.r.reconcile('openstack', 'minimal');
    assert.equal(h.scans.length, 1);
    assert.equal(again.requeueAfterMs, 360 * 60_000 - 1000);

    // The spec changed (a new image rolling): not while the cloud is not Ready, then at once.
    h.setCloud({ generation: 2, ready: false });
    assert.equal((await h.r.reconcile('openstack', 'minimal')).requeueAfterMs, 60_000);
    assert.equal(h.scans.length, 1);
    h.vulnerable.length = 0;
    h.setCloud({ ready: true });
    await h.r.reconcile('openstack', 'minimal');
    assert.equal(h.scans.length, 2);
    assert.equal(h.remediation()?.state, 'Clean');
    assert.equal(h.condition()?.reason, 'NoFindings');
    assert.equal(h.condition()?.status, 'True');

    // The interval over: scanned again.
    h.setCloud({});
    h.at(360 * 60_000 + 2000);
    await h.r.reconcile('openstack', 'minimal');
    assert.equal(h.scans.length, 3);
  });
});

test('an image with no SBOM in the registry: ScanFailed, saying which, and nothing scanned', async () => {
  await withScan(async (h) => {
    h.sboms.delete(glance);
    await h.r.reconcile('openstack', 'minimal');
    assert.equal(h.scans.length, 0);
    assert.equal(h.remediation()?.state, 'Failed');
    assert.equal(h.condition()?.reason, 'ScanFailed');
    assert.match(
      h.condition()!.message,
      new RegExp(`no SBOM in the registry for ${glance.replace(/[.]/g, '\\.')}`),
    );
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['ScanFailed'],
    );
  });
});

test('policy off, a rollout holding the Lease, a rolled-back outcome: no scan or nothing overwritten', async () => {
  await withScan(async (h) => {
    h.setCloud({ policy: 'off' });
    assert.deepEqual(await h.r.reconcile('openstack', 'minimal'), {});
    assert.equal(h.scans.length, 0);

    h.setCloud({ policy: 'report' });
    const renewTime = new Date(Date.parse('2026-12-04T00:00:00Z') - 5000).toISOString();
    h.api.put(leases, {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name: 'stackanetes-remediate-minimal', namespace: 'openstack' },
      spec: { holderIdentity: 'someone', renewTime, leaseDurationSeconds: 15 },
    });
    assert.equal((await h.r.reconcile('openstack', 'minimal')).requeueAfterMs, 60_000);
    assert.equal(h.scans.length, 0);

    // The Lease expired; the last run rolled back: the scan runs and tells, the outcome stays.
    h.at(20_000);
    const live = h.api.get(clouds, 'openstack', 'minimal')!;
    h.api.put(clouds, {
      ...live,
      status: {
        ...(live.status as object),
        remediation: {
          state: 'RolledBack',
          startedAt: '2026-12-03T23:00:00Z',
          message: 'keystone → x: gate failed',
        },
      },
    });
    await h.r.reconcile('openstack', 'minimal');
    assert.equal(h.scans.length, 1);
    assert.equal(h.remediation()?.state, 'RolledBack');
    assert.deepEqual(
      h.events.map((e) => e.reason),
      ['RemediationFinding'],
    );

    // A remediation that succeeded stays so while scans find nothing, and not once they do.
    const succeeded = h.api.get(clouds, 'openstack', 'minimal')!;
    const remediated = {
      state: 'Succeeded',
      startedAt: '2026-12-03T23:00:00Z',
      message: 'keystone rolled out',
    };
    h.api.put(clouds, {
      ...succeeded,
      status: { ...(succeeded.status as object), remediation: remediated },
    });
    h.vulnerable.length = 0;
    h.setCloud({ generation: 7 });
    await h.r.reconcile('openstack', 'minimal');
    assert.equal(h.scans.length, 2);
    assert.equal(h.remediation()?.state, 'Succeeded');
    h.vulnerable.push('glance-api');
    h.setCloud({ generation: 8 });
    await h.r.reconcile('openstack', 'minimal');
    assert.equal(h.scans.length, 3);
    assert.equal(h.remediation()?.state, 'Reported');
  });
});
