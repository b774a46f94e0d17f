// `stackanetes apply` against a fake API server: what it sends is what the user wrote.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { crd } from '../../../src/api/v1alpha1/crd.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { FakeApi } from '../fake-api.ts';
import { runCli } from '../helpers.ts';

const crds = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';
const clouds = '/apis/stackanetes.io/v1alpha1/openstackclouds';

test('apply -f - applies the spec read from standard input', async () => {
  const api = await FakeApi.start();
  try {
    api.put(crds, {
      ...crd(),
      status: { conditions: [{ type: 'Established', status: 'True' }] },
    });
    api.put('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'openstack' },
    });
    const spec = readFileSync('examples/minimal.yaml', 'utf8');
    const r = await runCli(['apply', '-f', '-', '--no-wait'], spec, {
      KUBECONFIG: api.kubeconfig(),
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /openstackcloud openstack\/minimal applied/);
    const applied = api.get(clouds, 'openstack', 'minimal');
    assert.deepEqual(applied?.spec, (parse(spec) as KubeObject).spec);
  } finally {
    await api.close();
  }
});

test("apply refuses a namespace too long for its data plane's, <namespace>-dataplane, before asking the API server", async () => {
  const api = await FakeApi.start();
  try {
    const spec = readFileSync('examples/minimal.yaml', 'utf8');
    const long = 'n'.repeat(54);
    const r = await runCli(['apply', '-f', '-', '--no-wait', '-n', long], spec, {
      KUBECONFIG: api.kubeconfig(),
    });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      new RegExp(
        `namespace ${long}: must be at most 53 characters \\(got 54\\): the cloud's data plane runs in "${long}-dataplane", and a namespace name has at most 63`,
      ),
    );
    assert.deepEqual(api.requests, []);
  } finally {
    await api.close();
  }
});

/** Runs `apply -f examples/minimal.yaml` (waiting) while `statuses` set the cloud's status in turn. */
async function applyWhile(
  statuses: Record<string, unknown>[],
): Promise<Awaited<ReturnType<typeof runCli>>> {
  const api = await FakeApi.start();
  try {
    api.put(crds, { ...crd(), status: { conditions: [{ type: 'Established', status: 'True' }] } });
    api.put('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'openstack' },
    });
    const run = runCli(['apply', '-f', 'examples/minimal.yaml', '--timeout', '1'], '', {
      KUBECONFIG: api.kubeconfig(),
    });
    while (!api.get(clouds, 'openstack', 'minimal')) await sleep(100);
    // apply reads the status every 2 s: each status is seen before the next replaces it.
    for (const status of statuses) {
      await sleep(2500);
      api.put(clouds, { ...api.get(clouds, 'openstack', 'minimal')!, status });
    }
    return await run;
  } finally {
    await api.close();
  }
}

const cond = (type: string, status: string, reason: string, message = '') => ({
  type,
  status,
  reason,
  message,
  lastTransitionTime: '2026-12-01T00:00:00Z',
});

/** Observed, the database Ready, Keystone not yet: `reason` and `message` say why. */
const keystoneNotReady = (reason: string, message: string) => ({
  observedGeneration: 1,
  conditions: [
    cond('Ready', 'False', 'Progressing'),
    cond('DatabaseReady', 'True', 'Ready'),
    cond('KeystoneReady', 'False', reason, message),
  ],
});

test('apply follows each component to Ready, one line each, then the cloud', async () => {
  const r = await applyWhile([
    keystoneNotReady('JobRunning', 'job keystone-db-sync running'),
    {
      observedGeneration: 1,
      conditions: [
        cond('Ready', 'True', 'Ready'),
        cond('DatabaseReady', 'True', 'Ready'),
        cond('KeystoneReady', 'True', 'Ready'),
      ],
      components: { keystone: { replicas: 1, readyReplicas: 1 } },
    },
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /openstackcloud openstack\/minimal is Ready/);
  assert.match(r.stderr, /the operator observed generation 1/);
  assert.match(r.stderr, /database Ready \(/);
  assert.match(r.stderr, /keystone: JobRunning: job keystone-db-sync running/);
  assert.match(r.stderr, /keystone Ready \([\d.]+ s, 1\/1 pods\)/);
  assert.match(r.stderr, /the cloud is Ready/);
  assert.ok(r.stderr.indexOf('database Ready') < r.stderr.indexOf('keystone Ready'), r.stderr);
});

test('apply stops at a failed component with its reason and message, exit 1', async () => {
  const r = await applyWhile([
    keystoneNotReady('JobFailed', 'job keystone-db-sync failed: Access denied'),
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /keystone: JobFailed: job keystone-db-sync failed: Access denied/);
  assert.doesNotMatch(r.stdout, /is Ready/);
});
