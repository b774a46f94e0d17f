// Least privilege, as the API server and the kernel would enforce it: the control plane's pods,
// in the cloud's namespace, meet Pod Security "restricted" (checked as Kubernetes 1.33's
// admission does), only the data plane, in its own namespace, asks for privileges, each
// container finds its config files without root or sudo, and every container has a memory limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cloudObjects } from '../../../src/cli/render.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { resources } from '../../../src/render/workload.ts';
import { memoryBytes } from '../../../src/render/quantity.ts';
import { kollaUids } from '../../../src/catalog/images.ts';
import { dataPlaneNamespace } from '../../../src/render/namespaces.ts';
import { podTemplateOf, restrictedViolations } from '../podsecurity.ts';
import { cloudOf, find, fixedSecrets, loadExample } from './fixtures.ts';

const secrets = fixedSecrets();
const examples = ['minimal', 'ha', 'production'] as const;

/** The workloads on the hosts: the only ones that may ask for privileges. */
const dataPlane = new Set([
  'ovn-openvswitch',
  'ovn-controller',
  'neutron-ovn-metadata-agent',
  'nova-compute',
  // libvirtd and virtlogd, with the libvirt driver (all three examples): the guests' hypervisor.
  'nova-libvirt',
]);

interface Pod {
  /** Kind/name of the workload. */
  where: string;
  name: string;
  namespace: string | undefined;
  metadata: Record<string, any>;
  spec: Record<string, any>;
}

function pods(objs: KubeObject[]): Pod[] {
  return objs.flatMap((o) => {
    const t = podTemplateOf(o);
    return t
      ? [
          {
            where: `${o.kind}/${o.metadata.name}`,
            name: o.metadata.name,
            namespace: o.metadata.namespace,
            metadata: t.metadata ?? {},
            spec: t.spec,
          },
        ]
      : [];
  });
}

function allContainers(spec: Record<string, any>): Record<string, any>[] {
  return [...(spec.initContainers ?? []), ...spec.containers];
}

test('the checker refuses what the API server refuses under "restricted"', () => {
  const good = {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'c',
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      },
    ],
    volumes: [{ name: 'v', emptyDir: {} }],
  };
  assert.deepEqual(restrictedViolations(good), []);
  const bad: [string, (s: Record<string, any>) => void, RegExp][] = [
    ['privileged', (s) => (s.containers[0].securityContext.privileged = true), /privileged/],
    [
      'escalation',
      (s) => delete s.containers[0].securityContext.allowPrivilegeEscalation,
      /allowPrivilegeEscalation/,
    ],
    ['root', (s) => delete s.securityContext.runAsNonRoot, /runAsNonRoot/],
    ['uid 0', (s) => (s.containers[0].securityContext.runAsUser = 0), /runAsUser: must not be 0/],
    ['seccomp', (s) => delete s.securityContext.seccompProfile, /seccompProfile/],
    [
      'capabilities',
      (s) => (s.containers[0].securityContext.capabilities = {}),
      /drop: must include ALL/,
    ],
    [
      'NET_ADMIN',
      (s) => (s.containers[0].securityContext.capabilities.add = ['NET_ADMIN']),
      /NET_ADMIN/,
    ],
    ['hostPath', (s) => s.volumes.push({ name: 'h', hostPath: { path: '/' } }), /hostPath/],
    ['hostNetwork', (s) => (s.hostNetwork = true), /hostNetwork/],
    [
      'hostPort',
      (s) => (s.containers[0].ports = [{ containerPort: 80, hostPort: 80 }]),
      /hostPort/,
    ],
  ];
  for (const [what, change, message] of bad) {
    const s = structuredClone(good) as Record<string, any>;
    change(s);
    const v = restrictedViolations(s);
    assert.ok(
      v.some((m) => message.test(m)),
      `${what}: ${JSON.stringify(v)}`,
    );
  }
});

for (const name of examples) {
  test(`examples/${name}.yaml: every pod in the cloud's namespace meets Pod Security "restricted"; the data plane's, and only they, are in the privileged namespace`, () => {
    const cloud = loadExample(name);
    const ns = cloud.metadata.namespace!;
    const all = pods(cloudObjects(cloud, secrets));
    const control = all.filter((p) => p.namespace === ns);
    assert.ok(control.length > 20, `${control.length} control-plane pods`);
    const refused = control.flatMap((p) =>
      restrictedViolations(p.spec, p.metadata.annotations).map((v) => `${p.where}: ${v}`),
    );
    assert.deepEqual(refused, []);
    // Whatever needs more than "restricted" (privileges, the host's network, its paths) is the
    // data plane, in the namespace that allows it; nothing else is there, and no pod is elsewhere.
    for (const p of all) {
      if (restrictedViolations(p.spec).length > 0 || p.spec.hostNetwork)
        assert.equal(p.namespace, dataPlaneNamespace(ns), `${p.where} is in ${p.namespace}`);
    }
    const elsewhere = all.filter((p) => p.namespace !== ns);
    assert.deepEqual(
      elsewhere.map((p) => `${p.where} in ${p.namespace}`).sort(),
      [...dataPlane].map((d) => `DaemonSet/${d} in ${dataPlaneNamespace(ns)}`).sort(),
    );
  });
}

test('only the data plane asks for privileges, and each of its pods only for what it needs', () => {
  const libvirt = [
    'nova-compute/host-config',
    'nova-compute/virt-type',
    'nova-compute/compute',
    'nova-libvirt/libvirt',
    'nova-libvirt/virtlogd',
  ];
  const clouds = [
    // Nova's fake driver, no uplink for the external network (kwok scale tests)
    ['fake driver', cloudOf({ services: { nova: { computeDriver: 'fake' } } }), []],
    // libvirt, the external network in a namespace on the node: ovn-controller makes it
    ['minimal', loadExample('minimal'), [...libvirt, 'ovn-controller/controller']],
    // libvirt, the external network on a node interface
    ['production', loadExample('production'), libvirt],
  ] as const;
  for (const [name, cloud, extra] of clouds) {
    const all = pods(cloudObjects(cloud, secrets));
    const unrestricted = all
      .filter((p) => restrictedViolations(p.spec).length > 0)
      .map((p) => p.name);
    const plane = [...dataPlane].filter((d) => d !== 'nova-libvirt' || extra.length > 0);
    assert.deepEqual(unrestricted.sort(), plane.sort(), name);
    const privileged = all.flatMap((p) =>
      allContainers(p.spec)
        .filter((c) => c.securityContext?.privileged)
        .map((c) => `${p.name}/${c.name}`),
    );
    const expected = [
      'ovn-openvswitch/ovs-vswitchd',
      'neutron-ovn-metadata-agent/ovn-metadata-agent',
      ...extra,
    ];
    assert.deepEqual(privileged.sort(), expected.sort(), name);
    // The others run as root only where the host's files need it, with no capability beyond
    // what their work needs; nothing escalates.
    for (const p of all) {
      for (const c of allContainers(p.spec)) {
        const sc = c.securityContext ?? {};
        if (sc.privileged) continue;
        assert.equal(sc.allowPrivilegeEscalation, false, `${p.name}/${c.name}`);
        assert.ok(sc.capabilities?.drop?.includes('ALL'), `${p.name}/${c.name} drops ALL`);
      }
    }
  }
  // ovn-controller brings the node's external interface up: NET_ADMIN, nothing else.
  const production = pods(cloudObjects(loadExample('production'), secrets));
  const controller = production.find((p) => p.name === 'ovn-controller')!.spec.containers[0];
  assert.deepEqual(controller.securityContext.capabilities, { drop: ['ALL'], add: ['NET_ADMIN'] });
  const fake = pods(cloudObjects(clouds[0][1], secrets));
  assert.deepEqual(
    fake.find((p) => p.name === 'ovn-controller')!.spec.containers[0].securityContext.capabilities,
    { drop: ['ALL'] },
    'without an uplink ovn-controller needs no capability',
  );
  const compute = fake.find((p) => p.name === 'nova-compute')!;
  const nova = compute.spec.containers[0].securityContext;
  assert.equal(nova.runAsUser, kollaUids.nova, 'nova-compute (fake driver) runs as nova');
  assert.equal(nova.runAsNonRoot, true);
  assert.deepEqual(compute.spec.initContainers[0].securityContext.capabilities.add, [
    'CHOWN',
    'DAC_OVERRIDE',
  ]);
});

test('control-plane pods run as their Kolla user, with a read-only root file system', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  const uid = (workload: string) => {
    const p = pods(objs).find((x) => x.name === workload)!;
    return p.spec.securityContext.runAsUser as number;
  };
  assert.equal(uid('mariadb'), kollaUids.mysql);
  assert.equal(uid('rabbitmq'), kollaUids.rabbitmq);
  assert.equal(uid('memcached'), kollaUids.memcached);
  assert.equal(uid('keystone-api'), kollaUids.keystone);
  assert.equal(uid('nova-conductor'), kollaUids.nova);
  assert.equal(uid('ovn-northd'), kollaUids.openvswitch);
  assert.equal(uid('openstack-client'), kollaUids.kolla);
  for (const p of pods(objs).filter((x) => !dataPlane.has(x.name))) {
    assert.equal(p.spec.securityContext.fsGroup, p.spec.securityContext.runAsUser, p.where);
    for (const c of allContainers(p.spec)) {
      assert.equal(c.securityContext.readOnlyRootFilesystem, true, `${p.where}/${c.name}`);
      // Writable: /tmp, and what the service keeps (volumes), never the image.
      const tmp = c.volumeMounts.find((m: any) => m.mountPath === '/tmp');
      assert.ok(tmp, `${p.where}/${c.name} has a writable /tmp`);
      assert.ok(p.spec.volumes.find((v: any) => v.name === tmp.name).emptyDir, p.where);
    }
  }
});

test('without root or sudo, each control-plane container finds its config files where kolla_set_configs would have copied them, and runs config.json’s command', () => {
  for (const name of ['minimal', 'production'] as const) {
    const objs = cloudObjects(loadExample(name), secrets);
    for (const p of pods(objs).filter((x) => !dataPlane.has(x.name))) {
      for (const c of p.spec.containers) {
        const where = `${p.where}/${c.name}`;
        const mount = c.volumeMounts.find(
          (m: any) => m.mountPath === '/var/lib/kolla/config_files',
        );
        const volume = p.spec.volumes.find((v: any) => v.name === mount.name);
        const secret = find(objs, 'Secret', volume.secret.secretName);
        const config = JSON.parse(secret.stringData['config.json']);
        assert.deepEqual(c.args, config.command.split(' '), `${where} runs the command itself`);
        assert.ok(!c.args.includes('kolla_start') && !c.args.includes('sudo'), where);
        for (const f of config.config_files) {
          const file = f.source.replace('/var/lib/kolla/config_files/', '');
          const m = c.volumeMounts.find((x: any) => x.mountPath === f.dest);
          assert.ok(m, `${where}: nothing mounted at ${f.dest}`);
          assert.equal(m.name, mount.name, `${where}: ${f.dest} comes from the config Secret`);
          assert.equal(m.subPath, file, `${where}: ${f.dest} is ${file}`);
          assert.ok(secret.stringData[file] !== undefined, `${where}: ${file} is in the Secret`);
        }
      }
    }
  }
});

test('RabbitMQ’s cookie is copied readable by its owner only, by the rabbitmq user itself', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets);
  const config = find(objs, 'Secret', 'messaging-rabbitmq-config').stringData;
  assert.equal(config['erlang.cookie'], secrets.erlangCookie);
  assert.match(
    config['start.sh'],
    /install -m 0400 \/var\/lib\/kolla\/config_files\/erlang.cookie \/var\/lib\/rabbitmq\/.erlang.cookie/,
  );
  // Not mounted over the volume: Erlang refuses a cookie that its group can read.
  const sts = find(objs, 'StatefulSet', 'rabbitmq');
  const c = sts.spec.template.spec.containers[0];
  assert.ok(!c.volumeMounts.some((m: any) => m.mountPath.endsWith('.erlang.cookie')));
  assert.ok(c.env.some((e: any) => e.name === 'HOME' && e.value === '/var/lib/rabbitmq'));
});

test('every container has a memory limit no smaller than its request (libvirtd, whose cgroup holds the guests, excepted)', () => {
  for (const name of examples) {
    for (const p of pods(cloudObjects(loadExample(name), secrets))) {
      for (const c of allContainers(p.spec)) {
        const where = `${name}: ${p.where}/${c.name}`;
        const request = c.resources?.requests?.memory;
        assert.ok(request, `${where} has no memory request`);
        if (p.name === 'nova-libvirt' && c.name === 'libvirt') {
          assert.equal(c.resources.limits?.memory, undefined, where);
          continue;
        }
        const limit = c.resources?.limits?.memory;
        assert.ok(limit, `${where} has no memory limit`);
        assert.ok(memoryBytes(limit) >= memoryBytes(request), `${where}: ${request} > ${limit}`);
      }
    }
  }
});

test('the minimal cloud’s memory requests cover what it was measured to use, the core four’s what they grow to', () => {
  // bench/deploy on the local cluster: node memory +3.1 GiB settled, +3.3 GiB at peak.
  const measured = 3.1;
  const core = new Set(['mariadb', 'rabbitmq', 'memcached', 'keystone-api']);
  let total = 0;
  const coreRequests: Record<string, number> = {};
  for (const p of pods(cloudObjects(loadExample('minimal'), secrets))) {
    if (p.where.startsWith('Job/') || p.where.startsWith('CronJob/')) continue;
    for (const c of p.spec.containers) {
      const bytes = memoryBytes(c.resources.requests.memory);
      total += bytes;
      if (core.has(p.name)) coreRequests[p.name] = bytes;
    }
  }
  const gib = total / 2 ** 30;
  assert.ok(gib >= measured && gib <= measured + 1, `requests add up to ${gib.toFixed(2)} GiB`);
  // Memcached's cache (-m 256) and MariaDB's buffer pool (256M) fit in their requests.
  assert.ok(coreRequests.memcached! > 256 * 2 ** 20);
  assert.ok(coreRequests.mariadb! > 256 * 2 ** 20);
});

test('memory from the spec: a request above the catalog’s limit raises the limit, a lower limit lowers the request', () => {
  const catalogMemory = { request: '256Mi', limit: '1Gi' };
  assert.deepEqual(resources(undefined, '100m', catalogMemory), {
    requests: { cpu: '100m', memory: '256Mi' },
    limits: { memory: '1Gi' },
  });
  assert.deepEqual(resources({ requests: { memory: '2Gi' } }, '100m', catalogMemory).limits, {
    memory: '2Gi',
  });
  assert.deepEqual(resources({ limits: { memory: '128Mi' } }, '100m', catalogMemory), {
    requests: { cpu: '100m', memory: '128Mi' },
    limits: { memory: '128Mi' },
  });
  const production = cloudObjects(loadExample('production'), secrets);
  const db = find(production, 'StatefulSet', 'mariadb').spec.template.spec.containers[0];
  assert.deepEqual(db.resources.limits, { memory: '8Gi' });
  const mq = find(production, 'StatefulSet', 'rabbitmq').spec.template.spec.containers[0];
  assert.deepEqual(mq.resources.limits, { memory: '2Gi' }, 'its 2Gi request raises the limit');
});

test('RabbitMQ is told its memory limit, so that it blocks publishers before the kernel kills it', () => {
  for (const [cloud, limit] of [
    [loadExample('minimal'), '1Gi'],
    [
      cloudOf({ infrastructure: { messaging: { resources: { limits: { memory: '3Gi' } } } } }),
      '3Gi',
    ],
  ] as const) {
    const objs = cloudObjects(cloud, secrets);
    const c = find(objs, 'StatefulSet', 'rabbitmq').spec.template.spec.containers[0];
    assert.equal(c.resources.limits.memory, limit);
    const conf = find(objs, 'Secret', 'messaging-rabbitmq-config').stringData['rabbitmq.conf'];
    assert.match(
      conf,
      new RegExp(`^total_memory_available_override_value = ${memoryBytes(limit)}$`, 'm'),
    );
  }
});

test('memory quantities in bytes', () => {
  assert.equal(memoryBytes('512Mi'), 512 * 2 ** 20);
  assert.equal(memoryBytes('1Gi'), 2 ** 30);
  assert.equal(memoryBytes('1G'), 1e9);
  assert.equal(memoryBytes('1.5Gi'), 1.5 * 2 ** 30);
  assert.equal(memoryBytes('1e3'), 1000);
  assert.equal(memoryBytes('2E'), 2e18);
  assert.equal(memoryBytes(1048576), 1048576);
  assert.throws(() => memoryBytes('1 GB'), /"1 GB" is not a memory quantity/);
});
