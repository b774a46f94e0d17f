// OpenStack 2025.1 (Epoxy), as packaged by Debian trixie. Data only: commands, ports, files,
// oslo.config defaults and dependencies. Computed values (database URLs,
// credentials, endpoints) are added by the renderers; user overrides go on top of both.
import { releaseSource } from './releases.ts';
import type { Check, MemoryDef, ProcessDef, ReleaseCatalog, WsgiApp } from './types.ts';

const uwsgi = (file: string) => `uwsgi --ini /etc/${file}`;

/**
 * Memory per container. The requests are what each uses in the minimal cloud, which was measured
 * as a whole on the local cluster (node memory +3.1 GiB settled, +3.3 GiB at peak, for its 22
 * long-running containers: `npm run bench:deploy`); how that splits between containers is
 * estimated from what each runs (a uWSGI master and 2 workers, an RPC service with 2 workers, …)
 * until `npm run bench:memory` has measured each one. The core four (MariaDB, RabbitMQ, Memcached,
 * Keystone) request the most they grow to instead (their caches filled): under memory pressure
 * the kubelet evicts pods that use more than they request first, whatever their priority, and
 * these must go last. The limits leave room for load and growth (about three times the usual
 * use; MariaDB's InnoDB buffer pool and Memcached's cache size are fixed in their commands, so
 * theirs follow from those), so that only a leak reaches them.
 */
const mem = (request: string, limit: string): MemoryDef => ({ request, limit });

/**
 * Liveness of an API that uWSGI serves: its master answers the stats server on the API's port
 * plus 10000 (a port per process, as nova-api's two processes share one pod's network). A GET of
 * the API itself queues behind the requests being served: an overloaded API failed it and was
 * restarted, which made the overload worse (bench/upgrade at 20 requests/s per API on one node).
 */
export const uwsgiLive = (port: number): Check => ({ kind: 'uwsgi', port: port + 10000 });

const api = (
  image: ProcessDef['image'],
  name: string,
  command: string,
  configFiles: string[],
  port: number,
  path: string,
  memory: MemoryDef,
  wsgi: WsgiApp,
): ProcessDef => ({
  name,
  image,
  command,
  configFiles,
  ports: [{ name: 'api', port }],
  probe: { ready: { kind: 'http', path, port }, live: uwsgiLive(port) },
  wsgi,
  workload: 'Deployment',
  role: 'controlPlane',
  memory,
});

/**
 * An oslo.messaging RPC server (no endpoint of its own): ready while it is connected to the
 * broker, alive while it runs at all. A broker outage makes it unready, never restarts it.
 */
const rpcProbe: ProcessDef['probe'] = {
  ready: { kind: 'broker' },
  live: { kind: 'progress' },
  start: { kind: 'progress' },
};

const rpc = (
  image: ProcessDef['image'],
  name: string,
  configFiles: string[],
  memory: MemoryDef,
  extra: Partial<ProcessDef> = {},
): ProcessDef => ({
  name,
  image,
  command: `${image} --config-file /etc/nova/nova.conf`,
  configFiles,
  ports: [],
  probe: rpcProbe,
  workload: 'Deployment',
  role: 'controlPlane',
  memory,
  ...extra,
});

const northdStatus = {
  kind: 'exec',
  command: ['ovn-appctl', '-t', '/run/ovn/ovn-northd.ctl', 'status'],
} as const;
const controllerVersion = {
  kind: 'exec',
  command: ['ovn-appctl', '-t', '/run/ovn/ovn-controller.ctl', 'version'],
} as const;

/** neutron-server's API port: its process listens where neutron.conf's bind_port says. */
const neutronPort = 9696;

const logging = { DEFAULT: { use_stderr: true, log_file: '', debug: false } };

export const catalog: ReleaseCatalog = {
  source: releaseSource('2025.1'),
  uwsgiPlugin: 'python3',
  toolbox: 'toolbox',
  memory: {
    job: mem('128Mi', '1Gi'),
    client: mem('32Mi', '512Mi'),
    vswitchd: mem('64Mi', '1Gi'),
    init: mem('16Mi', '64Mi'),
    libvirtd: {
      request: '128Mi',
      // libvirtd makes the guests' cgroups below its own (there is no systemd in the container
      // to put them elsewhere): a limit here would be shared by every instance on the node.
      unlimited: "the instances' QEMU processes are charged to this container's cgroup",
    },
    virtlogd: mem('32Mi', '256Mi'),
    // QEMU with a 128 MiB guest (virt-type.sh's KVM test) and QEMU's own memory: a lower limit
    // would kill the test and send a node that has KVM to emulation.
    virtType: mem('64Mi', '512Mi'),
  },
  database: {
    image: 'mariadb',
    service: 'mariadb',
    user: 'mysql',
    ports: { mysql: 3306, galera: 4567, ist: 4568, sst: 4444, position: 4570 },
    // innodb_buffer_pool_size 256M, per-connection buffers, Galera's cache and state transfers.
    memory: mem('512Mi', '1536Mi'),
  },
  messaging: {
    image: 'rabbitmq',
    service: 'rabbitmq',
    user: 'rabbitmq',
    ports: { amqp: 5672, management: 15672, epmd: 4369, dist: 25672 },
    // RabbitMQ is told the limit (total_memory_available_override_value): it blocks publishers
    // at its high watermark (60 % of it) before the kernel would kill it.
    memory: mem('384Mi', '1Gi'),
  },
  // `-m 256`: the cache never holds more than 256 MiB of items; connections and slabs besides.
  cache: {
    image: 'memcached',
    service: 'memcached',
    user: 'memcached',
    ports: { memcached: 11211 },
    memory: mem('288Mi', '384Mi'),
  },
  ovn: {
    northd: {
      name: 'northd',
      image: 'ovn-northd',
      // The renderer appends --ovnnb-db/--ovnsb-db (the databases' in-cluster addresses).
      command:
        'ovn-northd --pidfile=/run/ovn/ovn-northd.pid --unixctl=/run/ovn/ovn-northd.ctl -vconsole:info -vfile:off',
      configFiles: [],
      ports: [],
      // Its unixctl server answers from northd's main loop: a hung northd does not answer. No
      // readiness: no Service sends northd work (it takes the databases' lock by itself).
      probe: { live: northdStatus },
      workload: 'Deployment',
      role: 'controlPlane',
      memory: mem('16Mi', '256Mi'),
    },
    // The databases grow with the number of networks, ports and chassis.
    nb: {
      image: 'ovn-nb-db',
      service: 'ovn-nb-db',
      user: 'root',
      ports: { ovsdb: 6641 },
      memory: mem('32Mi', '512Mi'),
    },
    sb: {
      image: 'ovn-sb-db',
      service: 'ovn-sb-db',
      user: 'root',
      ports: { ovsdb: 6642 },
      memory: mem('32Mi', '512Mi'),
    },
    controller: {
      name: 'controller',
      image: 'ovn-controller',
      command:
        'ovn-controller unix:/run/openvswitch/db.sock --pidfile=/run/ovn/ovn-controller.pid --unixctl=/run/ovn/ovn-controller.ctl -vconsole:info -vfile:off',
      configFiles: [],
      ports: [],
      // Ready while connected to the southbound database; alive while its main loop answers.
      probe: {
        ready: {
          kind: 'exec',
          command: [
            'sh',
            '-c',
            'test "$(ovn-appctl -t /run/ovn/ovn-controller.ctl connection-status)" = connected',
          ],
        },
        live: controllerVersion,
        start: controllerVersion,
      },
      workload: 'DaemonSet',
      role: 'compute',
      host: true,
      // Its flow tables grow with the cloud's ports and networks.
      memory: mem('32Mi', '1Gi'),
    },
    openvswitch: { image: 'openvswitch', user: 'root', ports: {}, memory: mem('16Mi', '256Mi') },
  },
  services: {
    keystone: {
      component: 'keystone',
      user: 'keystone',
      configDir: '/etc/keystone',
      mainConfig: 'keystone.conf',
      databases: ['keystone'],
      messaging: false,
      keystoneUser: false,
      endpoints: [{ type: 'identity', name: 'keystone', process: 'api', path: '/v3' }],
      dbSync: 'keystone-manage --config-file /etc/keystone/keystone.conf db_sync',
      defaults: {
        'keystone.conf': {
          ...logging,
          token: { provider: 'fernet', expiration: 3600 },
          fernet_tokens: { key_repository: '/etc/keystone/fernet-keys', max_active_keys: 3 },
          credential: { key_repository: '/etc/keystone/credential-keys' },
          cache: { enabled: true, backend: 'oslo_cache.memcache_pool' },
          oslo_policy: { enforce_new_defaults: true, enforce_scope: true },
        },
      },
      processes: [
        api(
          'keystone',
          'api',
          uwsgi('keystone/keystone-api-uwsgi.ini'),
          ['keystone.conf', 'keystone-api-uwsgi.ini'],
          5000,
          '/v3',
          mem('256Mi', '768Mi'),
          { file: '/usr/bin/keystone-wsgi-public' },
        ),
      ],
    },
    glance: {
      component: 'glance',
      user: 'glance',
      configDir: '/etc/glance',
      mainConfig: 'glance-api.conf',
      databases: ['glance'],
      messaging: false,
      keystoneUser: true,
      endpoints: [{ type: 'image', name: 'glance', process: 'api', path: '' }],
      dbSync: 'glance-manage --config-file /etc/glance/glance-api.conf db_sync',
      defaults: {
        'glance-api.conf': {
          ...logging,
          DEFAULT: {
            ...logging.DEFAULT,
            enabled_backends: 'file:file',
            show_image_direct_url: false,
          },
          glance_store: { default_backend: 'file' },
          file: { filesystem_store_datadir: '/var/lib/glance/images' },
          paste_deploy: { flavor: 'keystone' },
          oslo_policy: { enforce_new_defaults: true, enforce_scope: true },
        },
      },
      processes: [
        api(
          'glance-api',
          'api',
          uwsgi('glance/glance-api-uwsgi.ini'),
          ['glance-api.conf', 'glance-api-uwsgi.ini'],
          9292,
          '/healthcheck',
          mem('192Mi', '768Mi'),
          { file: '/usr/bin/glance-wsgi-api' },
        ),
      ],
    },
    placement: {
      component: 'placement',
      user: 'placement',
      configDir: '/etc/placement',
      mainConfig: 'placement.conf',
      databases: ['placement'],
      databaseSection: 'placement_database',
      messaging: false,
      keystoneUser: true,
      endpoints: [{ type: 'placement', name: 'placement', process: 'api', path: '' }],
      dbSync: 'placement-manage --config-file /etc/placement/placement.conf db sync',
      defaults: {
        'placement.conf': {
          ...logging,
          api: { auth_strategy: 'keystone' },
          oslo_policy: { enforce_new_defaults: true, enforce_scope: true },
        },
      },
      processes: [
        api(
          'placement-api',
          'api',
          uwsgi('placement/placement-api-uwsgi.ini'),
          ['placement.conf', 'placement-api-uwsgi.ini'],
          8778,
          '/',
          mem('128Mi', '512Mi'),
          { file: '/usr/bin/placement-api' },
        ),
      ],
    },
    nova: {
      component: 'nova',
      user: 'nova',
      configDir: '/etc/nova',
      mainConfig: 'nova.conf',
      databases: ['nova', 'nova_api', 'nova_cell0'],
      messaging: true,
      keystoneUser: true,
      endpoints: [{ type: 'compute', name: 'nova', process: 'api', path: '/v2.1' }],
      // One command a line, so that the Job's `set -e` stops at the first that fails.
      dbSync: [
        'nova-manage api_db sync',
        // cell0's URL is derived from [database] connection by appending _cell0 to the name.
        'nova-manage cell_v2 map_cell0',
        // cell1 is made once; on every later run its mapping takes this file's database and
        // queue URLs again, which Nova stores in the mapping and uses from it (a cloud deployed
        // before a change of either, such as the database timeouts, gets it here).
        `cell1=$(nova-manage cell_v2 list_cells | awk '$2 == "cell1" { print $4 }')`,
        'if [ -n "$cell1" ]; then nova-manage cell_v2 update_cell --cell_uuid "$cell1"; else nova-manage cell_v2 create_cell --name cell1; fi',
        'nova-manage db sync',
        'nova-manage db online_data_migrations',
      ].join('\n'),
      defaults: {
        'nova.conf': {
          ...logging,
          DEFAULT: { ...logging.DEFAULT, state_path: '/var/lib/nova' },
          api: { auth_strategy: 'keystone' },
          // Both fork one worker per CPU by default: 64 on a large node, each a Python process
          // of 100 MiB or more. A fixed count keeps their memory what the limits allow.
          conductor: { workers: 2 },
          // A new compute host takes servers only once the scheduler has mapped it to its cell;
          // at 60 s a server created right after Ready went to ERROR (HostMappingNotFound,
          // bench/deploy). The periodic check is one query per cell.
          scheduler: { discover_hosts_in_cells_interval: 10, workers: 2 },
          oslo_concurrency: { lock_path: '/var/lib/nova/tmp' },
          // After a broker outage the services retry at growing intervals, up to this (default
          // 30 s): at 10 s an RPC service is connected, and ready at its next readiness check (every
          // 30 s), well within a minute of the broker's return (test/e2e/load.test.ts).
          oslo_messaging_rabbit: { rabbit_quorum_queue: true, rabbit_interval_max: 10 },
          oslo_policy: { enforce_new_defaults: true, enforce_scope: true },
          vnc: { enabled: true, server_listen: '0.0.0.0' },
          wsgi: { api_paste_config: '/etc/nova/api-paste.ini' },
        },
      },
      processes: [
        api(
          'nova-api',
          'api',
          uwsgi('nova/nova-api-uwsgi.ini'),
          ['nova.conf', 'nova-api-uwsgi.ini'],
          8774,
          '/',
          mem('256Mi', '768Mi'),
          { file: '/usr/bin/nova-api-wsgi' },
        ),
        api(
          'nova-api',
          'metadata',
          uwsgi('nova/nova-metadata-uwsgi.ini'),
          ['nova.conf', 'nova-metadata-uwsgi.ini'],
          8775,
          '/',
          mem('192Mi', '768Mi'),
          { file: '/usr/bin/nova-metadata-wsgi' },
        ),
        rpc('nova-conductor', 'conductor', ['nova.conf'], mem('256Mi', '1Gi')),
        rpc('nova-scheduler', 'scheduler', ['nova.conf'], mem('192Mi', '768Mi')),
        {
          name: 'novncproxy',
          image: 'nova-novncproxy',
          command: 'nova-novncproxy --config-file /etc/nova/nova.conf',
          configFiles: ['nova.conf'],
          ports: [{ name: 'vnc', port: 6080 }],
          probe: { ready: { kind: 'tcp', port: 6080 }, live: { kind: 'tcp', port: 6080 } },
          workload: 'Deployment',
          role: 'controlPlane',
          memory: mem('96Mi', '384Mi'),
        },
        rpc('nova-compute', 'compute', ['nova.conf'], mem('160Mi', '1Gi'), {
          command: 'nova-compute --config-file /etc/nova/nova.conf',
          workload: 'DaemonSet',
          role: 'compute',
          host: true,
        }),
      ],
    },
    neutron: {
      component: 'neutron',
      user: 'neutron',
      configDir: '/etc/neutron',
      mainConfig: 'neutron.conf',
      databases: ['neutron'],
      messaging: true,
      keystoneUser: true,
      endpoints: [{ type: 'network', name: 'neutron', process: 'server', path: '' }],
      dbSync:
        'neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade heads',
      defaults: {
        'neutron.conf': {
          ...logging,
          DEFAULT: {
            ...logging.DEFAULT,
            core_plugin: 'ml2',
            service_plugins: 'ovn-router',
            bind_host: '0.0.0.0',
            bind_port: neutronPort,
            api_workers: 2,
            rpc_workers: 1,
            state_path: '/var/lib/neutron',
          },
          oslo_concurrency: { lock_path: '/var/lib/neutron/tmp' },
          oslo_policy: { enforce_new_defaults: true, enforce_scope: true },
        },
        'ml2_conf.ini': {
          ml2: {
            mechanism_drivers: 'ovn',
            type_drivers: 'local,flat,vlan,geneve',
            tenant_network_types: 'geneve',
            extension_drivers: 'port_security',
            overlay_ip_version: 4,
          },
          ml2_type_geneve: { vni_ranges: '1:65536', max_header_size: 38 },
          ml2_type_flat: { flat_networks: 'physnet1' },
          securitygroup: { enable_security_group: true },
          ovn: {
            ovn_metadata_enabled: true,
            ovn_l3_scheduler: 'leastloaded',
            // A member of OVN's databases that stops answering without closing its connections
            // (hung, or its node power-cut) is given up after 10 s of silence and a 10 s echo,
            // not 60 + 60: then the next member serves. Measured with a frozen Raft leader.
            ovsdb_probe_interval: 10000,
          },
        },
        'neutron_ovn_metadata_agent.ini': {
          ...logging,
          DEFAULT: { ...logging.DEFAULT, metadata_workers: 1, state_path: '/var/lib/neutron' },
          ovs: { ovsdb_connection: 'unix:/run/openvswitch/db.sock' },
          ovn: { ovsdb_probe_interval: 10000 },
        },
      },
      processes: [
        {
          name: 'server',
          image: 'neutron-server',
          command:
            'neutron-server --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini',
          configFiles: ['neutron.conf', 'ml2_conf.ini'],
          ports: [{ name: 'api', port: neutronPort }],
          // Alive while it runs at all (its API workers, RPC worker and OVN workers are its own
          // processes, not uWSGI's): a GET of the API waits behind queued requests under load.
          probe: {
            ready: { kind: 'http', path: '/', port: neutronPort },
            live: { kind: 'progress' },
          },
          workload: 'Deployment',
          role: 'controlPlane',
          // The parent, 2 API workers, 1 RPC worker, the state-report worker and OVN's
          // maintenance worker: six Python processes, each of which grows with the OVN database
          // it mirrors.
          memory: mem('512Mi', '2Gi'),
        },
        {
          name: 'ovn-metadata-agent',
          image: 'neutron-ovn-metadata-agent',
          command:
            'neutron-ovn-metadata-agent --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/neutron_ovn_metadata_agent.ini',
          configFiles: ['neutron.conf', 'neutron_ovn_metadata_agent.ini'],
          ports: [],
          // Started once it serves the metadata proxy socket, alive while it runs at all; no
          // Service sends it work, so no readiness after that.
          probe: {
            live: { kind: 'progress' },
            start: { kind: 'exec', command: ['test', '-S', '/var/lib/neutron/metadata_proxy'] },
          },
          workload: 'DaemonSet',
          role: 'compute',
          host: true,
          // The agent, its metadata worker, and one haproxy per network with ports on the node.
          memory: mem('192Mi', '768Mi'),
        },
      ],
    },
    horizon: {
      component: 'horizon',
      user: 'horizon',
      configDir: '/etc/openstack-dashboard',
      mainConfig: 'local_settings.py',
      databases: [],
      messaging: false,
      keystoneUser: false,
      endpoints: [{ type: 'dashboard', name: 'horizon', process: 'server', path: '/' }],
      defaults: {
        'local_settings.py': {
          settings: {
            DEBUG: false,
            ALLOWED_HOSTS: ['*'],
            SESSION_ENGINE: 'django.contrib.sessions.backends.cache',
            OPENSTACK_KEYSTONE_DEFAULT_ROLE: 'member',
            TIME_ZONE: 'UTC',
            WEBROOT: '/',
            COMPRESS_OFFLINE: true,
          },
        },
      },
      processes: [
        {
          name: 'server',
          image: 'horizon',
          command: uwsgi('openstack-dashboard/horizon-uwsgi.ini'),
          configFiles: ['local_settings.py', 'horizon-uwsgi.ini'],
          wsgi: { file: '/usr/share/openstack-dashboard/wsgi.py' },
          ports: [{ name: 'http', port: 8080 }],
          // The login page needs Django, its settings and memcached (sessions): readiness. Alive
          // while uWSGI's master answers (a static file is served by the workers, behind the
          // queue of login pages under load).
          probe: {
            ready: { kind: 'http', path: '/auth/login/', port: 8080 },
            live: uwsgiLive(8080),
          },
          workload: 'Deployment',
          role: 'controlPlane',
          memory: mem('192Mi', '768Mi'),
        },
      ],
    },
  },
  needs: {
    database: [],
    messaging: [],
    cache: [],
    keystone: ['database', 'cache'],
    glance: ['database', 'keystone'],
    placement: ['database', 'keystone'],
    ovn: [],
    neutron: ['database', 'messaging', 'keystone', 'ovn'],
    nova: ['database', 'messaging', 'keystone', 'glance', 'placement', 'neutron'],
    horizon: ['keystone', 'cache'],
  },
};
