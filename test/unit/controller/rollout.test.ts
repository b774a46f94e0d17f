// The pieces of a gated roll-out that need no cluster: which workloads run an image, the canary
// copy (no Service traffic, still admitted to the backends), the spec override and its exact
// undo, when a workload has rolled out, when a pod will not become Ready; and the gate script
// (src/openstack/gate.py) run by the machine's python3 against a stand-in OpenStack API on
// localhost (a fake: a real cloud runs it in the e2e tier).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import {
  canaryName,
  canaryOf,
  checksFor,
  overrideFor,
  overridePatch,
  daemonHoldSeconds,
  daemonHoldWaitSeconds,
  holdable,
  holdApply,
  isHeld,
  podFailure,
  repositoryName,
  rolledOut,
  runsImage,
} from '../../../src/controller/rollout.ts';
import { gateScript, parseGateOutput } from '../../../src/openstack/gate.ts';
import { leftRoll, parseImageArg, upgradeInProgress } from '../../../src/cli/remediate.ts';
import { settleSeconds } from '../../../src/render/probes.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { find, renderExample } from '../render/fixtures.ts';

const digest = `sha256:${'ab'.repeat(32)}`;
const to = `localhost:5001/stackanetes/keystone@${digest}`;

test('image references: repository name, the override that names one, its exact undo', () => {
  assert.equal(repositoryName('localhost:5001/stackanetes/keystone:2025.1'), 'keystone');
  assert.equal(repositoryName(to), 'keystone');
  assert.equal(repositoryName('quay.io/x/nova-api'), 'nova-api');
  assert.deepEqual(overrideFor(to), {
    registry: 'localhost:5001/stackanetes',
    name: 'keystone',
    digest,
  });
  assert.deepEqual(overrideFor('localhost:5001/stackanetes/keystone:2025.1-x'), {
    registry: 'localhost:5001/stackanetes',
    name: 'keystone',
    tag: '2025.1-x',
  });
  assert.throws(() => overrideFor('keystone'), /not registry\/name/);
  // From a tag override to a digest: the tag is removed, not left to compete.
  assert.deepEqual(overridePatch('keystone', { tag: 'old' }, overrideFor(to)), {
    spec: {
      images: {
        overrides: {
          keystone: {
            tag: null,
            registry: 'localhost:5001/stackanetes',
            name: 'keystone',
            digest,
          },
        },
      },
    },
  });
  // Back to no override at all.
  assert.deepEqual(overridePatch('keystone', overrideFor(to), undefined), {
    spec: { images: { overrides: { keystone: null } } },
  });
});

test('--image is checked before anything is asked of the cluster', () => {
  assert.deepEqual(parseImageArg(`keystone=${to}`), { image: 'keystone', to });
  assert.throws(() => parseImageArg('keystone'), /expected IMAGE=REFERENCE/);
  assert.throws(() => parseImageArg(`keystonee=${to}`), /unknown image keystonee/);
  assert.throws(() => parseImageArg('keystone=localhost:5001/x/keystone@sha256:12'), /is not/);
});

test('the canary of keystone-api: one pod of the new image that the Service does not select but the backends admit, in the class that preempts none of the cloud', () => {
  const objects = renderExample('minimal');
  const w = find(objects, 'Deployment', 'keystone-api') as Parameters<typeof canaryOf>[0];
  const svc = find(objects, 'Service', 'keystone-api') as {
    spec: { selector: Record<string, string> };
  };
  assert.ok(runsImage(w, 'keystone'));
  assert.ok(!runsImage(w, 'glance-api'));
  const c = canaryOf(w, 'keystone', to);
  assert.equal(c.metadata.name, 'keystone-api-canary');
  assert.equal(c.spec.replicas, 1);
  const labels = c.spec.template.metadata!.labels!;
  const selected = Object.entries(svc.spec.selector).every(([k, v]) => labels[k] === v);
  assert.equal(selected, false, 'the Service sends it no request');
  assert.equal(labels['app.kubernetes.io/instance'], 'minimal');
  assert.equal(labels['stackanetes.io/component'], 'keystone', 'the database policy admits it');
  assert.notEqual(
    c.metadata.labels!['app.kubernetes.io/managed-by'],
    'stackanetes',
    'the operator does not prune it',
  );
  assert.equal(
    (w.spec.template.spec as { priorityClassName?: string }).priorityClassName,
    'stackanetes-core',
  );
  assert.equal(
    (c.spec.template.spec as { priorityClassName?: string }).priorityClassName,
    'stackanetes-service',
    'a canary of a core pod preempts none of the cloud’s pods',
  );
  const images = c.spec.template.spec.containers.map((x) => x.image);
  assert.ok(images.includes(to));
  assert.ok(images.every((i) => repositoryName(i) !== 'keystone' || i === to));
  const checks = checksFor(w, 'keystone', '10.88.0.9', 'canary');
  assert.deepEqual(
    checks.map((x) => [x.kind, x.url]),
    [['identity', 'http://10.88.0.9:5000']],
  );
});

test('a StatefulSet of two members or more is held at its last member, a DaemonSet on two nodes or more at its first node, each by one field the operator writes only to pace a release upgrade (below the hold); one member or one node has no hold', () => {
  type W = Parameters<typeof holdable>[0][number];
  const ha = renderExample('ha');
  const galera = { ...find(ha, 'StatefulSet', 'mariadb'), kind: 'StatefulSet' } as W;
  const broker = { ...find(ha, 'StatefulSet', 'rabbitmq'), kind: 'StatefulSet' } as W;
  const keystone = { ...find(ha, 'Deployment', 'keystone-api'), kind: 'Deployment' } as W;
  const compute = {
    ...find(ha, 'DaemonSet', 'nova-compute'),
    kind: 'DaemonSet',
    status: { desiredNumberScheduled: 3 },
  } as unknown as W;
  assert.deepEqual(holdable([galera, broker, keystone, compute]).map(canaryName), [
    'member mariadb-2',
    'member rabbitmq-2',
    'the first node of DaemonSet nova-compute',
  ]);
  assert.deepEqual(holdApply(galera, true), {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: 'mariadb', namespace: 'openstack' },
    spec: { updateStrategy: { rollingUpdate: { partition: 2 } } },
  });
  assert.deepEqual(holdApply(compute, false), {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'nova-compute', namespace: 'openstack-dataplane' },
    spec: { minReadySeconds: 0 },
  });
  assert.equal(
    (holdApply(compute, true).spec as { minReadySeconds: number }).minReadySeconds,
    daemonHoldSeconds,
  );
  // As rendered nothing is held. The operator names a DaemonSet's minReadySeconds only while a
  // release upgrade runs (its settle time, which is no hold), and no roll starts then.
  assert.equal(isHeld(galera), false);
  assert.equal(isHeld(compute), false);
  assert.equal(
    isHeld({ ...compute, spec: { ...compute.spec, minReadySeconds: settleSeconds } } as W),
    false,
  );
  const heldGalera = {
    ...galera,
    spec: { ...galera.spec, updateStrategy: { rollingUpdate: { partition: 2 } } },
  } as W;
  assert.equal(isHeld(heldGalera), true);
  assert.equal(isHeld({ ...compute, spec: { ...compute.spec, minReadySeconds: 300 } } as W), true);
  const single = {
    ...find(renderExample('minimal'), 'StatefulSet', 'mariadb'),
    kind: 'StatefulSet',
  } as W;
  assert.deepEqual(holdable([single, { ...compute, status: { desiredNumberScheduled: 1 } }]), []);
});

test('a DaemonSet is held only once each Ready pod has been Ready for the hold: else all would be replaced at once', () => {
  const now = Date.parse('2026-12-03T12:00:00Z');
  const pod = (name: string, readySecondsAgo: number | undefined, deleting = false) =>
    ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, ...(deleting ? { deletionTimestamp: '2026-12-03T11:59:00Z' } : {}) },
      status: {
        conditions:
          readySecondsAgo === undefined
            ? [{ type: 'Ready', status: 'False', lastTransitionTime: '2026-12-03T11:00:00Z' }]
            : [
                {
                  type: 'Ready',
                  status: 'True',
                  lastTransitionTime: new Date(now - readySecondsAgo * 1000).toISOString(),
                },
              ],
      },
    }) as KubeObject;
  // Every pod Ready for long enough: no wait.
  assert.equal(daemonHoldWaitSeconds([pod('a', 900), pod('b', 400)], now), 0);
  // The youngest decides: Ready 100 s ago waits the hold's rest and the margin.
  assert.equal(
    daemonHoldWaitSeconds([pod('a', 900), pod('b', 100), pod('c', 250)], now),
    daemonHoldSeconds + 15 - 100,
  );
  // A pod not Ready, or going away, is replaced whatever happens: not waited for.
  assert.equal(
    daemonHoldWaitSeconds([pod('a', 900), pod('b', undefined), pod('c', 5, true)], now),
    0,
  );
});

test('a roll a killed run left: only RollingOut past its canary, with the override in the spec still the one it set', () => {
  const cloud = (remediation: object, override: object | undefined = overrideFor(to)) =>
    ({
      apiVersion: 'stackanetes.io/v1alpha1',
      kind: 'OpenStackCloud',
      metadata: { name: 'c', namespace: 'openstack' },
      spec: { images: { overrides: override ? { keystone: override } : {} } },
      status: { remediation },
    }) as KubeObject;
  const rolling = {
    state: 'RollingOut',
    startedAt: '2026-12-03T18:00:00Z',
    message: '',
    image: 'keystone',
    from: 'localhost:5001/stackanetes/keystone:2025.1',
    to,
    step: 'roll',
    previous: JSON.stringify({ tag: '2025.1-old' }),
  };
  assert.deepEqual(leftRoll(cloud(rolling)), {
    image: 'keystone',
    from: 'localhost:5001/stackanetes/keystone:2025.1',
    to,
    previous: { tag: '2025.1-old' },
  });
  assert.equal(leftRoll(cloud({ ...rolling, previous: 'null' }))?.previous, undefined);
  assert.equal(leftRoll(cloud({ ...rolling, step: 'canary' })), undefined, 'nothing changed yet');
  assert.equal(leftRoll(cloud({ ...rolling, state: 'Succeeded' })), undefined, 'finished');
  // Killed between writing the step and changing the override: the spec says nothing changed.
  assert.equal(leftRoll(cloud(rolling, { tag: '2025.1-old' })), undefined);
  assert.equal(leftRoll(cloud(rolling, null as unknown as undefined)), undefined);
});

test('no image is rolled while a release upgrade has not finished, failed or not', () => {
  const cloud = (upgrade?: object) =>
    ({
      apiVersion: 'stackanetes.io/v1alpha1',
      kind: 'OpenStackCloud',
      metadata: { name: 'c', namespace: 'openstack' },
      status: upgrade ? { upgrade } : {},
    }) as KubeObject;
  const upgrade = {
    from: '2025.1',
    to: '2026.1',
    startedAt: '2026-12-04T15:00:00Z',
    completed: [],
  };
  assert.equal(upgradeInProgress(cloud()), undefined);
  assert.equal(
    upgradeInProgress(cloud({ ...upgrade, finishedAt: '2026-12-04T15:40:00Z' })),
    undefined,
  );
  assert.equal(
    upgradeInProgress(cloud({ ...upgrade, step: 'neutron/roll' })),
    'the release upgrade 2025.1 → 2026.1 has not finished (at neutron/roll): roll images once it is over; nothing was changed',
  );
  const failed = { step: 'nova/db-sync', message: 'Job failed', at: '2026-12-04T15:20:00Z' };
  assert.match(upgradeInProgress(cloud({ ...upgrade, failed }))!, /failed at nova\/db-sync/);
});

test('rolled out: every replica updated and available, for the generation asked', () => {
  const dep = (
    status: Record<string, number>,
    generation = 2,
  ): Parameters<typeof rolledOut>[0] => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'd', generation },
    spec: { replicas: 2, selector: {}, template: { spec: { containers: [] } } },
    status,
  });
  const done = { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 };
  assert.equal(rolledOut(dep(done)), true);
  assert.equal(rolledOut(dep({ ...done, observedGeneration: 1 })), false, 'not seen yet');
  assert.equal(rolledOut(dep({ ...done, updatedReplicas: 1, replicas: 3 })), false, 'surging');
  assert.equal(rolledOut(dep({ ...done, unavailableReplicas: 1 })), false);
});

test('a pod that crash-loops or cannot pull its image will not become Ready; one that starts will', () => {
  const pod = (cs: unknown): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'p' },
    status: { containerStatuses: cs },
  });
  assert.match(
    podFailure(
      pod([
        {
          name: 'api',
          restartCount: 1,
          state: { waiting: { reason: 'CrashLoopBackOff' } },
          lastState: { terminated: { exitCode: 1, reason: 'Error' } },
        },
      ]),
    )!,
    /api: CrashLoopBackOff \(last exit 1, Error\)/,
  );
  assert.match(
    podFailure(
      pod([{ name: 'api', restartCount: 0, state: { waiting: { reason: 'ImagePullBackOff' } } }]),
    )!,
    /ImagePullBackOff/,
  );
  assert.equal(
    podFailure(
      pod([{ name: 'api', restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }]),
    ),
    undefined,
  );
});

/** A stand-in Keystone and Glance on localhost: what gate.py is checked against here. */
async function fakeOpenStack(opts: { glanceStatus: number }): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/v3/auth/tokens') {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        const ok =
          (JSON.parse(body) as { auth: { identity: { password: { user: { password: string } } } } })
            .auth.identity.password.user.password === 'secret';
        res.writeHead(ok ? 201 : 401, ok ? { 'X-Subject-Token': 'tok' } : {});
        res.end('{}');
      });
      return;
    }
    if (req.url === '/v2/images') {
      const authed = req.headers['x-auth-token'] === 'tok';
      res.writeHead(authed ? opts.glanceStatus : 401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ images: [{ id: 'x' }] }));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

function runGateScript(
  checks: unknown[],
  password = 'secret',
): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn('python3', ['-c', gateScript, JSON.stringify({ timeout: 3, checks })], {
      env: {
        PATH: process.env.PATH,
        OS_AUTH_URL: checks.length ? `${(checks[0] as { url: string }).url}/v3` : '',
        OS_USERNAME: 'admin',
        OS_PASSWORD: password,
        OS_PROJECT_NAME: 'admin',
      },
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout }));
  });
}

test('the gate script passes a working API and fails a broken one, a refused connection or a bad password', async () => {
  for (const [glanceStatus, password, expectCode, expectOk] of [
    [200, 'secret', 0, [true, true]],
    [500, 'secret', 1, [true, false]],
    [200, 'wrong', 1, [false, false]],
  ] as const) {
    const server = await fakeOpenStack({ glanceStatus });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await runGateScript(
        [
          { name: 'keystone canary', kind: 'identity', url },
          { name: 'glance canary', kind: 'image', url },
        ],
        password,
      );
      const results = parseGateOutput(r.stdout);
      assert.equal(r.code, expectCode, r.stdout);
      assert.deepEqual(
        results.map((x) => x.ok),
        expectOk,
      );
    } finally {
      server.close();
    }
  }
  // Nothing listens: the check fails with the reason, it does not pass.
  const r = await runGateScript([{ name: 'gone', kind: 'identity', url: 'http://127.0.0.1:9' }]);
  assert.equal(r.code, 1);
  const [gone] = parseGateOutput(r.stdout);
  assert.equal(gone!.ok, false);
  assert.equal(gone!.status, 0);
  assert.match(gone!.detail, /refused|URLError/i);
});
