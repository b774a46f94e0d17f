// What an operator of the cloud would notice in the rendered objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cloudObjects } from '../../../src/cli/render.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { configHashAnnotation } from '../../../src/render/kube.ts';
import { cloudOf, find, fixedSecrets, loadExample } from './fixtures.ts';
import type { CloudSecrets } from '../../../src/render/secrets.ts';

const secrets = fixedSecrets();

function workloads(objs: KubeObject[]): Record<string, any>[] {
  return objs.filter((o) => ['Deployment', 'StatefulSet', 'DaemonSet'].includes(o.kind)) as Record<
    string,
    any
  >[];
}

function secretValues(s: CloudSecrets): string[] {
  return Object.values(s).flatMap((v) =>
    typeof v === 'string' ? [v] : Object.values(v as Record<string, string>),
  );
}

test('secret values appear only in Secrets, never in ConfigMaps or other objects', () => {
  const values = secretValues(secrets);
  for (const name of ['minimal', 'ha'] as const) {
    for (const o of cloudObjects(loadExample(name), secrets)) {
      if (o.kind === 'Secret') continue;
      const text = JSON.stringify(o);
      for (const v of values)
        assert.ok(!text.includes(v), `${o.kind}/${o.metadata.name} contains a secret value`);
    }
  }
});

test('each service connects to the database as its own user with its own password', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  for (const [svc, secretName, file] of [
    ['keystone', 'keystone-api-config', 'keystone.conf'],
    ['glance', 'glance-api-config', 'glance-api.conf'],
    ['placement', 'placement-api-config', 'placement.conf'],
    ['nova', 'nova-api-config', 'nova.conf'],
    ['neutron', 'neutron-server-config', 'neutron.conf'],
  ] as const) {
    const conf = find(objs, 'Secret', secretName).stringData[file] as string;
    const pw = secrets.databaseUsers[svc]!;
    assert.ok(
      conf.includes(`mysql+pymysql://${svc}:${pw}@`),
      `${svc} does not use its own database user`,
    );
    assert.ok(
      !conf.includes(secrets.databaseRoot),
      `${svc} config holds the database root password`,
    );
  }
});

/** examples/ha.yaml with its compute role replaced by a list of host names. */
function haOnHosts(hosts: string[]) {
  const spec = loadExample('ha').spec;
  return cloudOf(
    {
      ...spec,
      nodeRoles: {
        ...spec.nodeRoles,
        compute: {
          matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: hosts }],
        },
      },
    },
    'ha',
  );
}

test('compute on 1 node or on 1000 nodes renders the same objects: only the node selector grows', () => {
  const host = (i: number) => `compute-${String(i).padStart(4, '0')}`;
  const one = cloudObjects(haOnHosts([host(0)]), secrets);
  const thousand = cloudObjects(
    haOnHosts(Array.from({ length: 1000 }, (_, i) => host(i))),
    secrets,
  );
  const names = (objs: KubeObject[]) => objs.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.deepEqual(names(thousand), names(one), 'the same objects, by kind and name');
  for (const ds of ['nova-compute', 'ovn-controller']) {
    const terms = (objs: KubeObject[]) =>
      find(objs, 'DaemonSet', ds).spec.template.spec.affinity.nodeAffinity
        .requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    assert.deepEqual(terms(one)[0].matchExpressions[0].values, [host(0)], `${ds} on the one node`);
    assert.equal(terms(thousand)[0].matchExpressions[0].values.length, 1000, `${ds} on 1000 nodes`);
  }
});

test('changing a service config override rolls only that service’s pods', () => {
  const base = cloudObjects(loadExample('minimal'), secrets);
  const changed = cloudObjects(
    cloudOf(
      {
        ...loadExample('minimal').spec,
        services: {
          ...loadExample('minimal').spec.services,
          nova: {
            ...loadExample('minimal').spec.services.nova,
            config: { DEFAULT: { debug: true } },
          },
        },
      },
      'minimal',
    ),
    secrets,
  );
  const hashes = (objs: KubeObject[]) =>
    Object.fromEntries(
      workloads(objs).map((w) => [
        `${w.kind}/${w.metadata.name}`,
        w.spec.template.metadata.annotations[configHashAnnotation],
      ]),
    );
  const a = hashes(base);
  const b = hashes(changed);
  const rolled = Object.keys(a)
    .filter((k) => a[k] !== b[k])
    .sort();
  assert.ok(rolled.length > 0, 'nothing rolled');
  for (const k of rolled) assert.match(k, /\/nova-/, `${k} rolled but is not nova`);
  assert.ok(rolled.includes('Deployment/nova-api'));
});

test('jobs are named by their inputs: a change renames only the affected jobs', () => {
  const spec = loadExample('minimal').spec;
  const jobs = (objs: KubeObject[]) =>
    objs
      .filter((o) => o.kind === 'Job')
      .map((o) => o.metadata.name)
      .sort();
  const a = jobs(cloudObjects(cloudOf(spec, 'minimal'), secrets));
  const again = jobs(cloudObjects(cloudOf(spec, 'minimal'), secrets));
  assert.deepEqual(a, again);
  const b = jobs(
    cloudObjects(
      cloudOf(
        {
          ...spec,
          services: {
            ...spec.services,
            keystone: { ...spec.services.keystone, config: { token: { expiration: 600 } } },
          },
        },
        'minimal',
      ),
      secrets,
    ),
  );
  const renamed = a.filter((n) => !b.includes(n));
  assert.ok(renamed.some((n) => n.startsWith('keystone-db-sync-')));
  assert.ok(
    renamed.every((n) => n.startsWith('keystone-')),
    `renamed: ${renamed.join(', ')}`,
  );
  for (const n of a) assert.match(n, /-[0-9a-f]{10}$/);
});

test("spec.jobs.retries is every Job's backoffLimit and renames none of them (no task runs again)", () => {
  const spec = loadExample('minimal').spec;
  const jobs = (retries?: number) =>
    cloudObjects(
      cloudOf(retries === undefined ? spec : { ...spec, jobs: { retries } }, 'minimal'),
      secrets,
    )
      .filter((o) => o.kind === 'Job')
      .map(
        (o) =>
          [
            o.metadata.name,
            (o as unknown as { spec: { backoffLimit: number } }).spec.backoffLimit,
          ] as const,
      );
  const byDefault = jobs();
  assert.ok(byDefault.length > 3, 'the cloud has Jobs');
  assert.ok(
    byDefault.every(([, b]) => b === 6),
    'six tries by default',
  );
  const one = jobs(1);
  assert.deepEqual(
    one.map(([n]) => n),
    byDefault.map(([n]) => n),
  );
  assert.ok(one.every(([, b]) => b === 1));
  assert.throws(
    () => cloudOf({ ...spec, jobs: { retries: -1 } }),
    /spec\.jobs\.retries.*at least 0/,
  );
});

// Which containers have readiness and liveness probes, and why: test/unit/render/probes.test.ts.
test('every long-running container has a startup probe and resource requests', () => {
  for (const name of ['minimal', 'ha'] as const) {
    for (const w of workloads(cloudObjects(loadExample(name), secrets))) {
      for (const c of w.spec.template.spec.containers) {
        const where = `${w.kind}/${w.metadata.name}/${c.name}`;
        assert.ok(c.startupProbe, `${where} has no startup probe`);
        assert.ok(
          c.resources?.requests?.cpu && c.resources?.requests?.memory,
          `${where} has no requests`,
        );
      }
    }
  }
});

test('replicated control services spread over nodes and keep a disruption budget', () => {
  const objs = cloudObjects(loadExample('ha'), secrets);
  for (const d of objs.filter((o) => o.kind === 'Deployment') as Record<string, any>[]) {
    if (d.spec.replicas < 2) continue;
    assert.ok(
      d.spec.template.spec.affinity.podAntiAffinity,
      `${d.metadata.name} has no anti-affinity`,
    );
    find(objs, 'PodDisruptionBudget', d.metadata.name);
  }
  const galera = find(objs, 'Secret', 'database-mariadb-config').stringData['my.cnf'] as string;
  assert.match(
    galera,
    /wsrep_cluster_address = gcomm:\/\/mariadb-0\.mariadb-headless\.openstack\.svc,mariadb-1/,
  );
  find(objs, 'PodDisruptionBudget', 'mariadb');
  assert.equal(find(objs, 'StatefulSet', 'rabbitmq').spec.replicas, 3);
});

test('a single-replica cloud has no disruption budgets that would block node drains', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  assert.equal(objs.filter((o) => o.kind === 'PodDisruptionBudget').length, 0);
});

test('images follow spec.images: registry, release tag, per-image tag or digest', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const objs = cloudObjects(
    cloudOf({
      images: {
        registry: 'quay.io/acme/',
        overrides: { keystone: { digest }, 'nova-api': { tag: 'patched-1' } },
      },
    }),
    secrets,
  );
  const img = (kind: string, name: string) =>
    find(objs, kind, name).spec.template.spec.containers[0].image as string;
  assert.equal(img('Deployment', 'keystone-api'), `quay.io/acme/keystone@${digest}`);
  assert.equal(img('Deployment', 'nova-api'), 'quay.io/acme/nova-api:patched-1');
  assert.equal(img('Deployment', 'glance-api'), 'quay.io/acme/glance-api:2025.1');
});

test('only the services that use the database, queue and cache may reach them', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  const allowed = (name: string) =>
    find(objs, 'NetworkPolicy', name).spec.ingress[0].from[0].podSelector.matchExpressions[1]
      .values as string[];
  assert.deepEqual(allowed('mariadb-clients'), [
    'keystone',
    'glance',
    'placement',
    'nova',
    'neutron',
  ]);
  assert.deepEqual(allowed('rabbitmq-clients'), ['nova', 'neutron']);
  assert.ok(!allowed('mariadb-clients').includes('horizon'));
});

test('Fernet keys are created once and left to the rotation CronJob', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  const keys = find(objs, 'Secret', 'keystone-fernet-keys');
  assert.equal(keys.metadata.annotations['stackanetes.io/create-only'], 'true');
  find(objs, 'CronJob', 'keystone-fernet-rotate');
  const role = find(objs, 'Role', 'keystone-rotate');
  assert.deepEqual(role.rules[0].resourceNames, ['keystone-fernet-keys']);
});

test('the Jobs the rotation CronJob creates are not labelled as the operator’s, so it never prunes them', () => {
  const cron = find(
    cloudObjects(loadExample('minimal'), secrets),
    'CronJob',
    'keystone-fernet-rotate',
  );
  // A Job without labels takes its pod template's, managed-by included (batch/v1 defaulting).
  const jobLabels =
    cron.spec.jobTemplate.metadata?.labels ?? cron.spec.jobTemplate.spec.template.metadata.labels;
  assert.equal(jobLabels['app.kubernetes.io/managed-by'], undefined);
  assert.equal(jobLabels['app.kubernetes.io/instance'], 'minimal');
});

test('public host names become Ingresses and the Keystone public endpoint', () => {
  const objs = cloudObjects(loadExample('production'), secrets);
  const ing = find(objs, 'Ingress', 'keystone-api');
  assert.equal(ing.spec.rules[0].host, 'keystone.cloud.example.com');
  assert.equal(ing.spec.tls[0].secretName, 'cloud-example-com-tls');
  const admin = find(objs, 'Secret', 'keystone-admin');
  assert.equal(admin.stringData.OS_AUTH_URL, 'https://keystone.cloud.example.com/v3');
});

test('API Deployments roll with a Ready pod behind the Service at all times and drain the old pod before it stops', () => {
  // The rendered half of "no refused connection during a roll"; the connections themselves are
  // counted under load by bench/heal (keystone-2).
  const objs = cloudObjects(loadExample('ha'), secrets);
  for (const name of [
    'keystone-api',
    'glance-api',
    'placement-api',
    'nova-api',
    'neutron-server',
  ]) {
    const d = find(objs, 'Deployment', name);
    assert.deepEqual(
      d.spec.strategy.rollingUpdate,
      { maxUnavailable: 0, maxSurge: 1 },
      `${name}: a new pod is added before an old one is taken away`,
    );
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    assert.ok(c.readinessProbe?.httpGet, `${name}: traffic only once its API answers`);
    const [cmd, seconds] = c.lifecycle?.preStop?.exec?.command ?? [];
    assert.equal(cmd, 'sleep', `${name}: keeps serving while it leaves the Service`);
    assert.ok(Number(seconds) >= 1, `${name}: drains for ${seconds} s`);
    assert.ok(
      pod.terminationGracePeriodSeconds > Number(seconds),
      `${name}: the grace period (${pod.terminationGracePeriodSeconds} s) outlasts the drain`,
    );
  }
  // RPC services and node agents have no Service to leave.
  const conductor = find(objs, 'Deployment', 'nova-conductor').spec.template.spec.containers[0];
  assert.equal(conductor.lifecycle, undefined);
});

test('Keystone is loaded once by the uWSGI master and its workers are forked from it', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  const ini = (secret: string, file: string) =>
    find(objs, 'Secret', secret).stringData[file] as string;
  const keystone = ini('keystone-api-config', 'keystone-api-uwsgi.ini');
  assert.match(keystone, /^master = true$/m);
  assert.match(keystone, /^lazy-apps = false$/m, 'workers fork from a master that loaded Keystone');
  assert.match(keystone, /^need-app = true$/m, 'a Keystone that fails to load stops the master');
  // The other APIs still load in each worker (their RPC clients must not cross a fork).
  assert.match(ini('nova-api-config', 'nova-api-uwsgi.ini'), /^lazy-apps = true$/m);
});
