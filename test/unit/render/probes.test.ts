// Probes that never kill a slow but healthy service: what the kubelet is told to check, for every
// container the examples render. (health.test.ts runs the shipped check script itself.)
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cloudObjects } from '../../../src/cli/render.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import {
  healthScript,
  healthScriptPath,
  livenessBudgetSeconds,
  minLivenessBudgetSeconds,
} from '../../../src/render/probes.ts';
import { corePriorityClass, nodeAgentPriorityClass } from '../../../src/render/priority.ts';
import { harakiriSeconds } from '../../../src/render/openstack/wsgi.ts';
import { catalog } from '../../../src/catalog/2025.1.ts';
import { cloudOf, find, fixedSecrets, loadExample } from './fixtures.ts';

const secrets = fixedSecrets();
const brokerPort = catalog.messaging.ports.amqp;
const databasePort = catalog.database.ports.mysql;

interface Probe {
  exec?: { command: string[] };
  httpGet?: { path: string; port: number; host?: string };
  tcpSocket?: { port: number; host?: string };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}

interface Found {
  /** Workload/container, e.g. `Deployment/nova-conductor/conductor`. */
  where: string;
  workload: string;
  container: Record<string, any>;
  pod: Record<string, any>;
  /** Files of the container's Kolla config Secret (probe scripts are there). */
  files: Record<string, string>;
}

/** The admin's tool pod: started once its credentials are in place, then never probed. */
const tool = 'openstack-client';

/** Every container of the cloud's workloads but the admin's tool pod. */
function containers(objs: KubeObject[]): Found[] {
  return allContainers(objs).filter((f) => f.workload !== tool);
}

function allContainers(objs: KubeObject[]): Found[] {
  const out: Found[] = [];
  for (const w of objs as Record<string, any>[]) {
    if (!['Deployment', 'StatefulSet', 'DaemonSet'].includes(w.kind)) continue;
    const pod = w.spec.template.spec;
    for (const c of pod.containers) {
      const mount = (c.volumeMounts ?? []).find(
        (m: { mountPath: string }) => m.mountPath === '/var/lib/kolla/config_files',
      );
      const volume = pod.volumes.find((v: { name: string }) => v.name === mount?.name);
      const secret = volume?.secret
        ? (find(objs, 'Secret', volume.secret.secretName).stringData as Record<string, string>)
        : {};
      out.push({
        where: `${w.kind}/${w.metadata.name}/${c.name}`,
        workload: w.metadata.name,
        container: c,
        pod,
        files: secret,
      });
    }
  }
  return out;
}

const clouds = {
  minimal: () => cloudObjects(loadExample('minimal'), secrets),
  // three replicas, Galera, a RabbitMQ cluster, libvirt beside nova-compute (host PID namespace)
  ha: () => cloudObjects(loadExample('ha'), secrets),
  // the one-node cloud at the release it is upgraded to (its APIs from the virtualenv)
  gazpacho: () => {
    const base = loadExample('minimal');
    return cloudObjects({ ...base, spec: { ...base.spec, release: '2026.1' } }, secrets);
  },
};

/** The words a probe runs: its command, and the text of a script it runs from the config Secret. */
function execText(p: Probe | undefined, files: Record<string, string>): string {
  const cmd = p?.exec?.command ?? [];
  const script = cmd.find((a) => a.startsWith('/var/lib/kolla/config_files/'));
  const name = script?.slice('/var/lib/kolla/config_files/'.length);
  return [...cmd, name ? (files[name] ?? `(missing ${name})`) : ''].join(' ');
}

/** Programs that start an interpreter or a VM, or open a client session to a server. */
const heavy =
  /(^|[\s;|&(/])(python3?|rabbitmq-diagnostics|rabbitmqctl|rabbitmq-plugins|erl|openstack)(\s|$)/;
const sqlClient = /(^|[\s;|&(/])(mysql|mariadb)(\s|$)/;

/** The probe runs health.sh's broker check. */
function checksBroker(p: Probe | undefined): boolean {
  const cmd = p?.exec?.command ?? [];
  return cmd.includes(healthScriptPath) && cmd.includes('connected');
}

for (const [name, objs] of Object.entries(clouds)) {
  test(`${name}: no probe starts a Python interpreter or an Erlang VM`, () => {
    for (const f of containers(objs())) {
      for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const text = execText(f.container[kind], f.files);
        assert.doesNotMatch(text, heavy, `${f.where} ${kind}: ${text.slice(0, 200)}`);
      }
    }
  });

  test(`${name}: every container has a liveness probe but the admin's tool pod, which has a startup probe only`, () => {
    const all = allContainers(objs());
    assert.ok(
      all.some((f) => f.workload === tool),
      `${tool} is rendered`,
    );
    for (const f of all) {
      if (f.workload === tool) {
        assert.equal(f.container.livenessProbe, undefined, f.where);
        assert.equal(f.container.readinessProbe, undefined, f.where);
        assert.deepEqual(f.container.startupProbe.exec.command, [
          'test',
          '-s',
          '/etc/openstack/clouds.yaml',
        ]);
      } else assert.ok(f.container.livenessProbe, `${f.where} has no liveness probe`);
    }
  });

  test(`${name}: a container that a Service sends work to has a readiness probe`, () => {
    const all = objs() as Record<string, any>[];
    const services = all.filter((o) => o.kind === 'Service' && o.spec.selector);
    let gated = 0;
    for (const f of containers(all as KubeObject[])) {
      const w = all.find((o) => o.metadata.name === f.workload && o.spec?.template)!;
      const labels: Record<string, string> = w.spec.template.metadata.labels;
      for (const s of services) {
        const selects = Object.entries(s.spec.selector as Record<string, string>).every(
          ([k, v]) => labels[k] === v,
        );
        if (selects && f.container.readinessProbe) gated++;
        else if (selects)
          assert.fail(
            `${f.where} has no readiness probe, but Service ${s.metadata.name} selects it`,
          );
      }
    }
    assert.ok(gated >= 10, `only ${gated} containers found behind a Service`);
  });

  test(`${name}: liveness runs no SQL client (but a Galera member's own status) and never depends on the broker or the database`, () => {
    for (const f of containers(objs())) {
      const live: Probe = f.container.livenessProbe;
      const text = execText(live, f.files);
      if (f.workload === 'mariadb' && /alive\.sh/.test(text)) {
        // A member asks its own server (root.cnf: 127.0.0.1) for a status variable: no table is
        // read, and it depends on nothing but the process it checks.
        assert.match(text, /SHOW STATUS LIKE 'wsrep_connected'/, f.where);
        assert.doesNotMatch(text, /SELECT|FROM|\.svc/, f.where);
      } else assert.doesNotMatch(text, sqlClient, `${f.where}: ${text.slice(0, 200)}`);
      assert.ok(!checksBroker(live), `${f.where} liveness checks the broker connection`);
      assert.ok(!text.includes('.svc'), `${f.where} liveness reaches another Service: ${text}`);
      const own = (f.container.ports ?? []).map((p: { containerPort: number }) => p.containerPort);
      for (const h of [live.httpGet, live.tcpSocket]) {
        if (!h) continue;
        assert.equal(h.host, undefined, `${f.where} liveness goes to another host`);
        assert.ok(own.includes(h.port), `${f.where} liveness port ${h.port} is not its own`);
      }
      if (!f.workload.startsWith('mariadb')) {
        assert.doesNotMatch(text, /mariadb-admin|mysqladmin/, `${f.where} pings the database`);
        const ports = [live.httpGet?.port, live.tcpSocket?.port];
        assert.ok(!ports.includes(databasePort), `${f.where} liveness checks the database port`);
      }
      if (!f.workload.startsWith('rabbitmq')) {
        const ports = [live.httpGet?.port, live.tcpSocket?.port];
        assert.ok(!ports.includes(brokerPort), `${f.where} liveness checks the broker port`);
      }
    }
  });

  test(`${name}: a liveness probe fails for at least ${minLivenessBudgetSeconds} s before a restart`, () => {
    for (const f of containers(objs())) {
      const live: Probe = f.container.livenessProbe;
      const budget = livenessBudgetSeconds(live);
      assert.ok(
        budget >= minLivenessBudgetSeconds,
        `${f.where}: ${live.periodSeconds} × ${live.failureThreshold} + ${live.timeoutSeconds} = ${budget} s`,
      );
    }
  });

  test(`${name}: startup probes look every second and never depend on the broker`, () => {
    for (const f of containers(objs())) {
      const start: Probe = f.container.startupProbe;
      assert.ok(start, `${f.where} has no startup probe`);
      assert.equal(start.periodSeconds, 1, `${f.where} startup period`);
      assert.ok(
        !checksBroker(start),
        `${f.where} starts only once connected to the broker (a broker outage would restart it)`,
      );
    }
  });

  test(`${name}: health.sh is shipped wherever a probe runs it`, () => {
    for (const f of containers(objs())) {
      for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
        const cmd: string[] = f.container[kind]?.exec?.command ?? [];
        if (cmd.includes(healthScriptPath)) assert.ok(f.files[healthScript], `${f.where} ${kind}`);
      }
    }
  });
}

// Each exec costs about 0.1 s of CPU in the runtime besides the command's own (bench/load.ts
// measured 0.05-0.2 s a run in all): at most 18 a minute keeps the probes of the one-node cloud of
// examples/minimal.yaml under 5 % of one core (the HTTP and TCP probes add about 0.3 s a minute).
test('minimal: exec probes run at most 18 times a minute in all (one node)', () => {
  let perMinute = 0;
  const runs: string[] = [];
  for (const f of containers(clouds.minimal())) {
    for (const kind of ['readinessProbe', 'livenessProbe']) {
      const p = f.container[kind];
      if (!p?.exec) continue;
      perMinute += 60 / p.periodSeconds;
      runs.push(`${f.where} ${kind} every ${p.periodSeconds} s`);
    }
  }
  assert.ok(perMinute <= 18, `${perMinute} exec runs a minute:\n${runs.join('\n')}`);
});

test('the RPC services are ready while connected to the broker and alive while they run', () => {
  const objs = clouds.minimal();
  const rpc = containers(objs).filter((f) => checksBroker(f.container.readinessProbe));
  assert.deepEqual(rpc.map((f) => f.where).sort(), [
    'DaemonSet/nova-compute/compute',
    'Deployment/nova-conductor/conductor',
    'Deployment/nova-scheduler/scheduler',
  ]);
  for (const f of rpc) {
    assert.deepEqual(f.container.readinessProbe.exec.command, [
      'sh',
      healthScriptPath,
      'connected',
      String(brokerPort),
    ]);
    assert.deepEqual(f.container.livenessProbe.exec.command, ['sh', healthScriptPath, 'alive']);
  }
  // Every catalog process with no endpoint of its own that RPC-serves over the broker is among them.
  const services = Object.values(catalog.services).filter((s) => s.messaging);
  for (const s of services) {
    for (const p of s.processes) {
      if (p.ports.length > 0 || p.probe.ready?.kind !== 'broker') continue;
      assert.ok(
        rpc.some((f) => f.container.name === p.name && f.workload.startsWith(s.component)),
        `${s.component}-${p.name}`,
      );
    }
  }
  // No RPC ping any more: the endpoint it needed is off.
  const conf = find(objs, 'Secret', 'nova-conductor-config').stringData['nova.conf'] as string;
  assert.doesNotMatch(conf, /rpc_ping_enabled/);
});

test("2026.1: Neutron's OVN maintenance worker is ready once connected to OVN's northbound database; it and the periodic workers start and stay alive on their own", () => {
  const objs = clouds.gazpacho();
  const container = (name: string) =>
    find(objs, 'Deployment', name).spec.template.spec.containers[0];
  const maintenance = container('neutron-ovn-maintenance-worker');
  assert.deepEqual(maintenance.readinessProbe.exec.command, [
    'sh',
    healthScriptPath,
    'connected',
    String(catalog.ovn.nb.ports.ovsdb),
  ]);
  assert.equal(container('neutron-periodic-workers').readinessProbe, undefined);
  for (const c of [maintenance, container('neutron-periodic-workers')]) {
    assert.deepEqual(c.startupProbe.exec.command, ['sh', healthScriptPath, 'alive'], c.name);
    assert.deepEqual(c.livenessProbe.exec.command, ['sh', healthScriptPath, 'alive'], c.name);
  }
});

test('APIs are ready over HTTP on their own endpoint, and hand over as soon as they answer', () => {
  const objs = clouds.minimal();
  for (const [name, path, port] of [
    ['keystone-api', '/v3', 5000],
    ['glance-api', '/healthcheck', 9292],
    ['placement-api', '/', 8778],
    ['nova-api', '/', 8774],
    ['nova-metadata', '/', 8775],
    ['neutron-server', '/', 9696],
    ['horizon-server', '/auth/login/', 8080],
  ] as const) {
    const c = find(objs, 'Deployment', name).spec.template.spec.containers[0];
    assert.deepEqual(c.readinessProbe.httpGet, { path, port }, name);
    assert.deepEqual(
      c.startupProbe.httpGet,
      { path, port },
      `${name} starts on its readiness check`,
    );
  }
});

// An overloaded API answers its own endpoint late: a liveness GET there waits behind every queued
// request, fails, and the restart makes the overload worse (nova-api and neutron-server were
// restarted so at 20 requests/s per API on one node). So liveness never asks the API's endpoint.
test('an overloaded API is not restarted: liveness asks the uWSGI master, not the queue of requests', () => {
  for (const [cloud, objs] of [
    ['2025.1', clouds.minimal()],
    ['2026.1', clouds.gazpacho()],
  ] as const) {
    for (const [name, port, ini] of [
      ['keystone-api', 5000, 'keystone-api-uwsgi.ini'],
      ['glance-api', 9292, 'glance-api-uwsgi.ini'],
      ['placement-api', 8778, 'placement-api-uwsgi.ini'],
      ['nova-api', 8774, 'nova-api-uwsgi.ini'],
      ['nova-metadata', 8775, 'nova-metadata-uwsgi.ini'],
      ['horizon-server', 8080, 'horizon-uwsgi.ini'],
      ...(cloud === '2026.1'
        ? ([['neutron-server', 9696, 'neutron-server-uwsgi.ini']] as const)
        : []),
    ] as const) {
      const where = `${cloud} ${name}`;
      const c = find(objs, 'Deployment', name).spec.template.spec.containers[0];
      const stats = c.livenessProbe.httpGet?.port;
      assert.ok(stats && stats !== port, `${where}: liveness ${JSON.stringify(c.livenessProbe)}`);
      assert.ok(
        c.ports.some((p: { name: string; containerPort: number }) => p.containerPort === stats),
        `${where}: the stats port is declared on the container`,
      );
      const text = String(find(objs, 'Secret', `${name}-config`).stringData[ini]);
      assert.match(text, new RegExp(`^stats = :${stats}$`, 'm'), `${where}: ${ini} serves stats`);
      assert.match(text, /^stats-http = true$/m, `${where}: over HTTP, as the kubelet asks`);
      assert.match(text, /^master = true$/m, `${where}: a master answers it`);
      // The Service sends no traffic there.
      const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === name) as
        Record<string, any> | undefined;
      for (const p of svc?.spec.ports ?? []) assert.notEqual(p.port, stats, `${where} Service`);
    }
    // neutron-server of 2025.1 is not uWSGI: alive while its processes run.
    if (cloud === '2025.1') {
      const c = find(objs, 'Deployment', 'neutron-server').spec.template.spec.containers[0];
      assert.deepEqual(c.livenessProbe.exec.command, ['sh', healthScriptPath, 'alive']);
    }
  }
});

test('a worker stuck in one request is replaced by uWSGI (harakiri), except where uploads stream', () => {
  const objs = clouds.minimal();
  const ini = (secret: string, file: string) =>
    String(find(objs, 'Secret', secret).stringData[file]);
  for (const [secret, file] of [
    ['keystone-api-config', 'keystone-api-uwsgi.ini'],
    ['placement-api-config', 'placement-api-uwsgi.ini'],
    ['nova-api-config', 'nova-api-uwsgi.ini'],
  ] as const) {
    assert.match(ini(secret, file), new RegExp(`^harakiri = ${harakiriSeconds}$`, 'm'), file);
  }
  assert.match(ini('glance-api-config', 'glance-api-uwsgi.ini'), /^harakiri = 0$/m);
  assert.match(ini('horizon-server-config', 'horizon-uwsgi.ini'), /^harakiri = 0$/m);
  // Longer than the liveness budget: a slow request is not cut before the kubelet would act.
  assert.ok(harakiriSeconds >= minLivenessBudgetSeconds);
});

test('a hung Keystone is still found out: its liveness probe is an HTTP request its master answers, not a TCP connect', () => {
  const c = find(clouds.minimal(), 'Deployment', 'keystone-api').spec.template.spec.containers[0];
  // A stopped process's socket still accepts connections (the kernel's listen backlog); an HTTP
  // answer needs the uWSGI master to run.
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/', port: 15000 });
  assert.equal(c.livenessProbe.tcpSocket, undefined);
  assert.ok(c.livenessProbe.timeoutSeconds > 0);
});

test('RabbitMQ: ready while AMQP accepts, alive while its Erlang VM listens (also when stopped on purpose)', () => {
  const c = find(clouds.ha(), 'StatefulSet', 'rabbitmq').spec.template.spec.containers[0];
  assert.deepEqual(c.readinessProbe.tcpSocket, { port: 5672 });
  assert.deepEqual(c.livenessProbe.tcpSocket, { port: 25672 });
});

test('MariaDB: alive when it answers a ping (with Galera, also while its provider is connected); ready when a query runs, with Galera only when synced', () => {
  const single = find(clouds.minimal(), 'StatefulSet', 'mariadb').spec.template.spec.containers[0];
  assert.equal(single.livenessProbe.exec.command[0], 'mariadb-admin');
  assert.equal(single.livenessProbe.exec.command.at(-1), 'ping');
  assert.ok(single.readinessProbe.exec.command.includes('SELECT 1'));
  const objs = clouds.ha();
  const galera = find(objs, 'StatefulSet', 'mariadb').spec.template.spec.containers[0];
  const ready = find(objs, 'Secret', 'database-mariadb-config').stringData['ready.sh'] as string;
  assert.deepEqual(galera.readinessProbe.exec.command, [
    'bash',
    '/var/lib/kolla/config_files/ready.sh',
  ]);
  assert.match(ready, /wsrep_local_state_comment/);
  assert.match(ready, /Synced/);
  assert.deepEqual(galera.livenessProbe.exec.command, [
    'bash',
    '/var/lib/kolla/config_files/alive.sh',
  ]);
  assert.equal(galera.startupProbe.exec.command.at(-1), 'ping');
  // alive.sh as rendered, run by bash with the mariadb client stubbed: a provider that gave up
  // (OFF) fails it, one in any component passes, a server that does not answer fails it.
  const alive = find(objs, 'Secret', 'database-mariadb-config').stringData['alive.sh'] as string;
  const run = (client: string) =>
    spawnSync('bash', ['-c', `mariadb() { ${client}; }; export -f mariadb; bash -c "$ALIVE"`], {
      encoding: 'utf8',
      env: { ...process.env, ALIVE: alive },
    });
  assert.equal(run(`printf 'wsrep_connected\\tOFF\\n'`).status, 1);
  assert.equal(run(`printf 'wsrep_connected\\tON\\n'`).status, 0);
  assert.notEqual(run('return 1').status, 0);
  // A joiner copies the whole database (SST) before it answers: its startup probe waits 30 min.
  assert.ok(galera.startupProbe.periodSeconds * galera.startupProbe.failureThreshold >= 1800);
});

test('PriorityClasses: the database, queue, cache, Keystone and the node agents are the last to be preempted', () => {
  for (const name of ['minimal', 'ha'] as const) {
    const objs = clouds[name]();
    const classes = objs.filter((o) => o.kind === 'PriorityClass') as Record<string, any>[];
    assert.ok(classes.length >= 2, `${name}: PriorityClasses rendered`);
    for (const pc of classes) {
      assert.match(pc.metadata.name, /^stackanetes-/);
      assert.equal(pc.metadata.namespace, undefined, 'cluster-scoped');
      assert.equal(pc.metadata.ownerReferences, undefined, 'a namespaced cloud cannot own it');
      assert.ok(!pc.globalDefault, 'not the default class');
    }
    const value = new Map(classes.map((pc) => [pc.metadata.name as string, pc.value as number]));
    const top = Math.max(...value.values());
    assert.equal(value.get(corePriorityClass), top);
    const core = new Set(['mariadb', 'rabbitmq', 'memcached', 'keystone-api']);
    const templates = (objs as Record<string, any>[]).flatMap((o) =>
      o.kind === 'CronJob'
        ? [[o, o.spec.jobTemplate.spec.template.spec]]
        : o.spec?.template?.spec
          ? [[o, o.spec.template.spec]]
          : [],
    );
    for (const [o, spec] of templates) {
      const cls = spec.priorityClassName as string;
      assert.ok(value.has(cls), `${o.kind}/${o.metadata.name} names ${cls}, which is rendered`);
      if (core.has(o.metadata.name)) assert.equal(cls, corePriorityClass, o.metadata.name);
      else if (o.kind === 'DaemonSet') {
        // The node agents hold the guests: nothing of the cloud preempts them.
        assert.equal(cls, nodeAgentPriorityClass, o.metadata.name);
        assert.equal(value.get(cls), top, `${o.metadata.name} as high as the core four`);
      } else
        assert.ok(value.get(cls)! < top, `${o.kind}/${o.metadata.name} is below the core four`);
    }
  }
});

test('the core four request more CPU than any other container, in the example and by default', () => {
  const milli = (v: string) => (v.endsWith('m') ? Number(v.slice(0, -1)) : Number(v) * 1000);
  const core = new Set(['mariadb', 'rabbitmq', 'memcached', 'keystone-api']);
  for (const objs of [clouds.minimal(), cloudObjects(cloudOf({}), secrets)]) {
    let minCore = Infinity;
    let maxOther = 0;
    for (const f of containers(objs)) {
      const cpu = milli(f.container.resources.requests.cpu);
      if (core.has(f.workload)) minCore = Math.min(minCore, cpu);
      else maxOther = Math.max(maxOther, cpu);
    }
    assert.ok(minCore > maxOther, `core ${minCore}m, others up to ${maxOther}m`);
  }
});
