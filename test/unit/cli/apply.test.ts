// `stackanetes apply` against a fake API server: what it sends is what the user wrote.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
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
