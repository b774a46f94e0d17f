// `stackanetes dashboard` without a cluster: its help, and which port of an operator pod it forwards.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dashboardPort } from '../../../src/cli/dashboard.ts';
import { runCli } from '../helpers.ts';

test('dashboard --help has an example and says how to read the token', async () => {
  const r = await runCli(['dashboard', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Examples:\n {2}\$ npx stackanetes dashboard/);
  assert.match(
    r.stdout,
    /kubectl -n stackanetes-system get secret stackanetes-dashboard -o jsonpath='\{\.data\.token\}' \| base64 -d/,
  );
});

test('the forward goes to the container port named "dashboard"', () => {
  const pod = (ports: { name?: string; containerPort: number }[]) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'stackanetes-operator-abc' },
    spec: { containers: [{ name: 'operator', ports }] },
  });
  assert.equal(
    dashboardPort(
      pod([
        { name: 'metrics', containerPort: 8080 },
        { name: 'dashboard', containerPort: 8081 },
      ]),
    ),
    8081,
  );
  assert.equal(dashboardPort(pod([{ name: 'metrics', containerPort: 8080 }])), undefined);
});
