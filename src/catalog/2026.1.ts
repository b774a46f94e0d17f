// OpenStack 2026.1 (Gazpacho), installed from its Python packages on PyPI into a virtualenv on
// Debian trixie (src/images/README.md). What runs is 2025.1's catalog with these differences:
// uWSGI runs the APIs from the virtualenv and loads them as modules (upstream removed the WSGI
// scripts in 2025.2), every service says how it is upgraded to this release, and what is not
// OpenStack (MariaDB, RabbitMQ, Memcached, libvirt, Open vSwitch, OVN) is 2025.1's images.
import { catalog as epoxy, uwsgiLive } from './2025.1.ts';
import { releaseSource } from './releases.ts';
import type {
  CatalogService,
  ProcessDef,
  ReleaseCatalog,
  ServiceDef,
  UpgradeDef,
} from './types.ts';

const venv = '/var/lib/kolla/venv';

/** `module:callable` of each WSGI process (the packages' own wsgi modules). */
const wsgiModules: Readonly<Record<string, string>> = {
  'keystone/api': 'keystone.wsgi.api:application',
  'glance/api': 'glance.wsgi.api:application',
  'placement/api': 'placement.wsgi.api:application',
  'nova/api': 'nova.wsgi.osapi_compute:application',
  'nova/metadata': 'nova.wsgi.metadata:application',
  'neutron/server': 'neutron.wsgi.api:application',
  'horizon/server': 'openstack_dashboard.wsgi:application',
};

const neutronFiles =
  '--config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini';
const neutronDb = `neutron-db-manage ${neutronFiles}`;
const glanceFiles = '--config-file /etc/glance/glance-api.conf';

/**
 * `<service>-status upgrade check` exits 0 when everything is ready, 1 for a warning ("the upgrade
 * may be OK"; it is printed in the Job's log), 2 or more when something must be fixed first: only
 * the last stops the upgrade.
 */
const statusCheck = (command: string) => `${command} upgrade check || [ $? -eq 1 ]`;

/**
 * Upstream's upgrade procedure of each service, as its upgrade guide gives it: the database
 * schema expanded while the old code runs (Keystone, Glance and Neutron split their migrations
 * into expand and contract; Placement and Nova only add), the processes rolled onto the new code,
 * then what the old code still needed removed. Nova's computes talk to the new conductors
 * through the RPC version the oldest compute speaks until all are new (`[upgrade_levels]
 * compute = auto`); its online data migrations run once every compute is on the new release.
 */
const upgrades: Readonly<Record<CatalogService, UpgradeDef>> = {
  keystone: {
    check: statusCheck('keystone-status'),
    steps: [
      { kind: 'job', name: 'expand', command: 'keystone-manage db_sync --expand' },
      { kind: 'roll', name: 'roll', processes: ['api'] },
      {
        kind: 'job',
        name: 'contract',
        command: 'keystone-manage db_sync --contract',
        contract: true,
      },
    ],
  },
  glance: {
    check: statusCheck(`glance-status ${glanceFiles}`),
    steps: [
      { kind: 'job', name: 'expand', command: `glance-manage ${glanceFiles} db expand` },
      { kind: 'job', name: 'migrate', command: `glance-manage ${glanceFiles} db migrate` },
      { kind: 'roll', name: 'roll', processes: ['api'] },
      {
        kind: 'job',
        name: 'contract',
        command: `glance-manage ${glanceFiles} db contract`,
        contract: true,
      },
    ],
  },
  placement: {
    check: statusCheck('placement-status'),
    steps: [
      { kind: 'job', name: 'db-sync', command: 'placement-manage db sync' },
      { kind: 'roll', name: 'roll', processes: ['api'] },
      {
        kind: 'job',
        name: 'online-data-migrations',
        command: 'placement-manage db online_data_migrations',
      },
    ],
  },
  nova: {
    check: statusCheck('nova-status'),
    steps: [
      { kind: 'job', name: 'db-sync', command: 'nova-manage api_db sync && nova-manage db sync' },
      {
        kind: 'roll',
        name: 'control-plane',
        processes: ['conductor', 'scheduler', 'api', 'metadata', 'novncproxy'],
      },
      { kind: 'roll', name: 'computes', processes: ['compute'] },
      {
        kind: 'job',
        name: 'online-data-migrations',
        command: 'nova-manage db online_data_migrations',
      },
      {
        kind: 'roll',
        name: 'unpin',
        processes: ['conductor', 'scheduler', 'api', 'metadata', 'novncproxy', 'compute'],
      },
    ],
    pin: { config: { upgrade_levels: { compute: 'auto' } }, until: 'online-data-migrations' },
  },
  neutron: {
    check: statusCheck(`neutron-status ${neutronFiles}`),
    steps: [
      { kind: 'job', name: 'expand', command: `${neutronDb} upgrade --expand` },
      {
        kind: 'roll',
        name: 'roll',
        processes: ['server', 'periodic-workers', 'ovn-maintenance-worker', 'ovn-metadata-agent'],
      },
      { kind: 'job', name: 'contract', command: `${neutronDb} upgrade --contract`, contract: true },
    ],
  },
  horizon: { steps: [{ kind: 'roll', name: 'roll', processes: ['server'] }] },
};

/**
 * Neutron has no neutron-server command any more (removed in 2025.2): its API is a WSGI
 * application under uWSGI, and what the server's other processes did runs as commands of their
 * own, the periodic workers and the OVN maintenance worker (ML2/OVN uses no RPC agents, so no
 * neutron-rpc-server). Each reads neutron.conf and ml2_conf.ini.
 */
function neutronProcesses(def: ServiceDef): ProcessDef[] {
  const files = neutronFiles;
  const alive: ProcessDef['probe'] = { live: { kind: 'progress' }, start: { kind: 'progress' } };
  const server = def.processes.find((p) => p.name === 'server')!;
  const worker = (name: string, command: string, probe: ProcessDef['probe']): ProcessDef => ({
    name,
    image: 'neutron-server',
    command: `${command} ${files}`,
    configFiles: ['neutron.conf', 'ml2_conf.ini'],
    ports: [],
    probe,
    workload: 'Deployment',
    role: 'controlPlane',
    memory: { request: '192Mi', limit: '768Mi' },
  });
  return [
    {
      ...server,
      command: 'uwsgi --ini /etc/neutron/neutron-server-uwsgi.ini',
      configFiles: ['neutron.conf', 'ml2_conf.ini', 'neutron-server-uwsgi.ini'],
      wsgi: { module: 'neutron.wsgi.api:application' },
      // Served by uWSGI now: alive while its master answers, as the other APIs.
      probe: { ...server.probe, live: uwsgiLive(server.ports[0]!.port) },
      // The uWSGI master and its 2 workers, the API alone.
      memory: { request: '384Mi', limit: '1536Mi' },
    },
    // No endpoint and no broker: alive while they run at all. The periodic workers hold only
    // database sessions (seen on the HA cloud: none to OVN), so they have no readiness: a
    // Deployment the upgrade adds grows one pod at a time anyway.
    worker('periodic-workers', 'neutron-periodic-workers', alive),
    // Ready once connected to OVN's northbound database (it holds sessions to both of OVN's
    // databases and MariaDB: seen on the HA cloud), which it is only after its whole import and
    // the ML2 plugin's start. Its readiness gates no Service but paces its Deployment's roll
    // (minReadySeconds counts from Ready), and an NB outage shows as it unready, never a restart.
    worker('ovn-maintenance-worker', 'neutron-ovn-maintenance-worker', {
      ...alive,
      ready: { kind: 'connected', port: epoxy.ovn.nb.ports.ovsdb },
    }),
    ...def.processes.filter((p) => p.name !== 'server'),
  ];
}

/**
 * Nova 2026.1 stops gracefully on SIGTERM: the compute manager first waits `manager_shutdown_timeout`
 * (default 160 s, a fixed sleep whatever is in progress) for running tasks, then cleans up; the
 * whole stop may take `graceful_shutdown_timeout` (raised to 180 s by Nova). A compute pod is
 * killed after 120 s, so it was killed in the middle of that sleep, its clean-up never ran, and
 * every compute took 121 s to roll (seen in the upgrade's unpin step). Both fit the pod's grace
 * here: 30 s for tasks in progress (a reboot or an attach finishes well within it), 60 s in all.
 */
export const novaShutdown = { manager_shutdown_timeout: 30, graceful_shutdown_timeout: 60 };

function gazpacho(name: CatalogService, def: ServiceDef): ServiceDef {
  const processes = name === 'neutron' ? neutronProcesses(def) : def.processes;
  const nova = def.defaults['nova.conf'];
  return {
    ...def,
    ...(name === 'nova' && nova
      ? {
          defaults: {
            ...def.defaults,
            'nova.conf': { ...nova, DEFAULT: { ...nova.DEFAULT, ...novaShutdown } },
          },
        }
      : {}),
    upgrade: upgrades[name],
    processes: processes.map((p) => {
      if (!p.wsgi) return p;
      const module = wsgiModules[`${name}/${p.name}`];
      if (!module) throw new Error(`2026.1: no WSGI module for ${name} ${p.name}`);
      return { ...p, wsgi: { module } };
    }),
  };
}

export const catalog: ReleaseCatalog = {
  ...epoxy,
  source: releaseSource('2026.1'),
  uwsgiVirtualenv: venv,
  // What is not OpenStack comes from Debian trixie either way: 2025.1's builds of it.
  imageTags: Object.fromEntries(
    (
      [
        'mariadb',
        'rabbitmq',
        'memcached',
        'nova-libvirt',
        'ovn-northd',
        'ovn-nb-db',
        'ovn-sb-db',
        'ovn-controller',
        'openvswitch',
      ] as const
    ).map((i) => [i, epoxy.source.imageTag]),
  ),
  upgradeOrder: ['keystone', 'glance', 'placement', 'nova', 'neutron', 'horizon'],
  services: Object.fromEntries(
    Object.entries(epoxy.services).map(([name, def]) => [
      name,
      gazpacho(name as CatalogService, def),
    ]),
  ) as ReleaseCatalog['services'],
};
