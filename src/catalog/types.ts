// What a release catalog says: the data the renderers read instead of branching on releases.
import type { ImageName } from './images.ts';
import type { ReleaseSource } from './releases.ts';

/** oslo.config style document: section → key → value (a list repeats the key). */
export type IniValue = string | number | boolean | readonly string[];
export type IniSections = Readonly<Record<string, Readonly<Record<string, IniValue>>>>;

/** The deployable units the plan orders. */
export const componentNames = [
  'database',
  'messaging',
  'cache',
  'keystone',
  'glance',
  'placement',
  'ovn',
  'neutron',
  'nova',
  'horizon',
] as const;
export type ComponentName = (typeof componentNames)[number];

export type NodeRole = 'controlPlane' | 'compute' | 'network';

/** One health check, as the kubelet runs it. */
export type Check =
  | { readonly kind: 'http'; readonly path: string; readonly port: number }
  | { readonly kind: 'tcp'; readonly port: number }
  /**
   * A uWSGI master answers its stats server (HTTP on `port`, rendered into the process's uWSGI
   * ini): it runs and its event loop is not stuck. The master answers it itself, not through the
   * listen queue that the workers take requests from, so a busy or overloaded API passes where a
   * GET of its endpoint would wait behind every queued request. Workers stuck in a request are
   * killed by the master (uWSGI `harakiri`), not by the kubelet.
   */
  | { readonly kind: 'uwsgi'; readonly port: number }
  | { readonly kind: 'exec'; readonly command: readonly string[] }
  /**
   * The container's service processes used CPU since the previous verdict (health.sh `alive`):
   * a stopped or deadlocked process uses none, an idle OpenStack service still runs its periodic
   * tasks. For processes with no endpoint to ask.
   */
  | { readonly kind: 'progress' }
  /**
   * One of the container's service processes holds an ESTABLISHED TCP connection to the message
   * broker (health.sh `connected`): what an oslo.messaging RPC server needs to consume.
   */
  | { readonly kind: 'broker' }
  /**
   * One of the container's service processes holds an ESTABLISHED TCP connection to `port`
   * (health.sh `connected`, as `broker`): for a process whose work comes from a database it keeps
   * a session to (Neutron's OVN maintenance worker and OVN's northbound database).
   */
  | { readonly kind: 'connected'; readonly port: number };

/**
 * How the kubelet checks a process. `ready` decides whether it takes work: slowness and
 * dependencies that are down belong here. It is left out where readiness gates nothing (no
 * Service sends the process work, and no dependency is worth reporting): the container is then
 * Ready once its startup probe has passed, and a run of an exec probe (about 0.1 s of CPU in the
 * container runtime alone) is saved every period. `live` decides whether it is restarted: only a
 * dead or deadlocked process fails it, never a slow one or one whose dependency is down. `start`
 * (default `ready`, else `live`) holds both back while the process starts; it must not depend on
 * anything else either.
 */
export interface Probe {
  readonly ready?: Check;
  readonly live: Check;
  readonly start?: Check;
}

/**
 * Memory of one container. `request` is what it uses in a running cloud (the scheduler places
 * pods by it); `limit` is the most it may use before the kernel kills it, with headroom over what
 * was measured, so that one leaking service cannot take the node's memory from the others.
 * Quantities as Kubernetes writes them (`256Mi`, `1Gi`).
 */
export interface MemoryDef {
  readonly request: string;
  readonly limit: string;
}

/** A container's memory request with no limit, and why it may have none. */
export interface UnlimitedMemoryDef {
  readonly request: string;
  readonly unlimited: string;
}

/**
 * The WSGI application uWSGI loads: a script file (Debian's packages install one per API), or a
 * `module:callable` (upstream removed the scripts in 2025.2; source installs have modules only).
 */
export type WsgiApp = { readonly file: string } | { readonly module: string };

export interface ProcessDef {
  /** Component-local name: `api`, `conductor`, `compute`, … */
  readonly name: string;
  readonly image: ImageName;
  /** What `kolla_start` execs (config.json `command`). */
  readonly command: string;
  /** Config files (names in the service's file set) this process reads. */
  readonly configFiles: readonly string[];
  readonly ports: readonly { readonly name: string; readonly port: number }[];
  readonly probe: Probe;
  /** For a WSGI API served by uWSGI: the application it loads. */
  readonly wsgi?: WsgiApp;
  /** Deployment (control plane, replicated) or DaemonSet (one per selected node). */
  readonly workload: 'Deployment' | 'DaemonSet';
  readonly role: NodeRole;
  /** Needs host networking and privileges (compute, Open vSwitch, OVN controller). */
  readonly host?: boolean;
  readonly memory: MemoryDef;
}

export interface EndpointDef {
  /** Keystone service type and name, e.g. `compute`/`nova`. */
  readonly type: string;
  readonly name: string;
  /** The process serving it, on its first port, through its Service `<service>-<process>`. */
  readonly process: string;
  /** Path appended to the base URL in the catalog, e.g. `/v3` or `/v2.1`. */
  readonly path: string;
}

/**
 * One step of upgrading a service to this catalog's release, made with this release's images and
 * config. A `job` runs a command once (a Job named by a hash of its inputs, so a resumed upgrade
 * finds it done instead of running it again); a `roll` restarts the named processes on this
 * release, a canary first.
 */
export type UpgradeStep =
  | {
      readonly kind: 'job';
      readonly name: string;
      readonly command: string;
      /**
       * Removes what the old release needs from the database (a contract migration): once it
       * has run, going back to the old release is no longer possible.
       */
      readonly contract?: boolean;
    }
  | { readonly kind: 'roll'; readonly name: string; readonly processes: readonly string[] };

/** How a service is upgraded to this catalog's release from the release before it. */
export interface UpgradeDef {
  /**
   * The service's own upgrade readiness check (`<service>-status upgrade check`), run with this
   * release's image before anything changes; its failure stops the upgrade before it starts.
   */
  readonly check?: string;
  readonly steps: readonly UpgradeStep[];
  /**
   * oslo.config settings in force from the first step until the step named `until` has finished:
   * Nova's compute RPC version pin while old and new computes run side by side.
   */
  readonly pin?: { readonly config: IniSections; readonly until: string };
}

export interface ServiceDef {
  readonly component: ComponentName;
  /** The Kolla service user that owns config files and runs the process. */
  readonly user: string;
  readonly configDir: string;
  /** The file spec overrides apply to. */
  readonly mainConfig: string;
  /** oslo.config defaults per file, merged under computed values and user overrides. */
  readonly defaults: Readonly<Record<string, IniSections>>;
  /** Its databases, all owned by one database user named after the service (none: no database). */
  readonly databases: readonly string[];
  /** Section holding the first database's `connection` (default `database`). */
  readonly databaseSection?: string;
  /** Uses the message queue: a RabbitMQ user and vhost of its own. */
  readonly messaging: boolean;
  /** A Keystone service user of its own. */
  readonly keystoneUser: boolean;
  readonly endpoints: readonly EndpointDef[];
  /** Shell run by the db-sync job (after the database and user exist). */
  readonly dbSync?: string;
  /** How it is upgraded to this release (none: this release is no upgrade's target). */
  readonly upgrade?: UpgradeDef;
  readonly processes: readonly ProcessDef[];
}

export interface InfraDef<Port extends string = string> {
  readonly image: ImageName;
  readonly user: string;
  readonly ports: Readonly<Record<Port, number>>;
  /** Its (main) container's memory. */
  readonly memory: MemoryDef;
}

/** A server other components reach through a Service of this name. */
export interface BackendDef<Port extends string = string> extends InfraDef<Port> {
  readonly service: string;
}

export type CatalogService = 'keystone' | 'glance' | 'placement' | 'nova' | 'neutron' | 'horizon';

export interface ReleaseCatalog {
  readonly source: ReleaseSource;
  readonly services: Readonly<Record<CatalogService, ServiceDef>>;
  readonly ovn: {
    readonly northd: ProcessDef;
    readonly nb: BackendDef<'ovsdb'>;
    readonly sb: BackendDef<'ovsdb'>;
    readonly controller: ProcessDef;
    readonly openvswitch: InfraDef<never>;
  };
  /**
   * `position`: where a Galera member that finds no running cluster says how far its data goes,
   * so that the most advanced member bootstraps (src/render/infra/database.ts).
   */
  readonly database: BackendDef<'mysql' | 'galera' | 'ist' | 'sst' | 'position'>;
  readonly messaging: BackendDef<'amqp' | 'management' | 'epmd' | 'dist'>;
  readonly cache: BackendDef<'memcached'>;
  /** The order in which an upgrade to this release takes the services (upstream's order). */
  readonly upgradeOrder?: readonly CatalogService[];
  /** Each component lists the components that must be Ready before it is applied. */
  readonly needs: Readonly<Record<ComponentName, readonly ComponentName[]>>;
  /**
   * Images this release deploys from another release's build, by tag: those made from the same
   * Debian suite with the same recipe (MariaDB, RabbitMQ, OVN, …). An upgrade then leaves them
   * running instead of rolling them onto a copy of themselves.
   */
  readonly imageTags?: Readonly<Partial<Record<ImageName, string>>>;
  /** The image holding the OpenStack command line client, for jobs. */
  readonly toolbox: ImageName;
  /** uWSGI plugin argument for WSGI APIs (`python3` with Debian's uwsgi). */
  readonly uwsgiPlugin: string;
  /**
   * The Python virtual environment uWSGI's python3 plugin runs the APIs from (uWSGI's
   * `virtualenv`): source installs put the release's code there; Debian installs have none.
   */
  readonly uwsgiVirtualenv?: string;
  /** Memory of the containers that are not a process of the table above. */
  readonly memory: {
    /** Every one-shot Job (database creation, schema sync, registration) and the Fernet rotation. */
    readonly job: MemoryDef;
    /** The openstack-client pod: `sleep`, and the `openstack` commands people and checks run in it. */
    readonly client: MemoryDef;
    /** ovs-vswitchd, beside Open vSwitch's ovsdb-server (the openvswitch entry's memory). */
    readonly vswitchd: MemoryDef;
    /** Init containers that write a file or two before the service starts. */
    readonly init: MemoryDef;
    /** libvirtd (nova-libvirt) beside nova-compute: no limit, its cgroup holds the guests. */
    readonly libvirtd: UnlimitedMemoryDef;
    /** virtlogd (nova-libvirt), which writes the guests' console logs. */
    readonly virtlogd: MemoryDef;
    /** nova-compute's virt-type init container, which boots a Linux kernel under KVM. */
    readonly virtType: MemoryDef;
  };
}
