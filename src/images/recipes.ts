// What goes into each image, per OpenStack release: Debian packages, the runtime user and a
// few lines of setup. Data only; `build.ts` turns a recipe into a layer.
import { kollaUids, type ImageName, type KollaUserName } from '../catalog/images.ts';
import type { StageName } from './stage.ts';
import { venvPath } from './pypi.ts';
import { pins as gazpachoPins } from './pins/2026.1.ts';

/** A service user with the uid/gid Kolla assigns (src/catalog/images.ts kollaUids). */
export interface KollaUser {
  readonly name: string;
  readonly uid: number;
  /** Extra groups besides its own and `kolla`. */
  readonly groups?: readonly string[];
  readonly home?: string;
}

/** Extra groups of the users that have them. */
const kollaGroups: Partial<Record<KollaUserName, readonly string[]>> = {
  nova: ['qemu', 'libvirt'],
};

export const kollaUsers: readonly KollaUser[] = Object.entries(kollaUids).map(([name, uid]) => {
  const groups = kollaGroups[name as KollaUserName];
  return groups ? { name, uid, groups } : { name, uid };
});

/** Names of the internal layers that images are built on; not deployed by themselves. */
export type LayerName = 'base' | 'openstack-base' | 'nova-base' | 'neutron-base' | 'ovn-base';

export type ImageFile =
  | { readonly content: string; readonly mode: number }
  | { readonly asset: string; readonly mode: number };

/** The operator's own image: built on the same Debian base, versioned with this package. */
export const operatorImage = 'operator';
/** The operator's version, its image's tag (package.json's version; a unit test holds them equal). */
export const operatorVersion = '0.1.0';
/** The operator runs as this uid and gid (no Kolla user: it is not an OpenStack service). */
export const operatorUid = 65532;

export interface ImageRecipe {
  readonly name: ImageName | LayerName | typeof operatorImage;
  /** The recipe whose root file system this one starts from; none for `base`. */
  readonly parent?: LayerName;
  /** Debian packages installed with `apt-get install --no-install-recommends`. */
  readonly packages: readonly string[];
  /** Shell run as root inside the root file system after the packages are installed. */
  readonly setup?: string;
  /** Files written into the image (path → inline content, or a file under src/images/assets). */
  readonly files?: Readonly<Record<string, ImageFile>>;
  /** The user the image runs as (the Kolla image's USER). */
  readonly user: string;
  readonly exposedPorts?: readonly number[];
  /** A package whose version labels the image (org.opencontainers.image.version). */
  readonly versionPackage?: string;
  readonly description: string;
  /**
   * A tree prepared on the build host (`stage`, see stage.ts) and copied to `to` after the
   * packages and the setup: the operator's Node and compiled JavaScript.
   */
  readonly hostTree?: { readonly stage: StageName; readonly to: string };
  /** The image's own start command, for images that do not run kolla_start. */
  readonly entrypoint?: readonly string[];
  readonly cmd?: readonly string[];
  /** Extra environment (NAME=value) besides PATH and LANG. */
  readonly env?: readonly string[];
  readonly workingDir?: string;
  /** Run as this uid (and gid), numeric in the image config, for users Kolla does not know. */
  readonly uid?: number;
  /** Tag the image with this instead of the release's tag. */
  readonly tag?: string;
  /** Python packages pip-installs into the release's virtualenv (source releases only). */
  readonly venv?: VenvInstall;
  /** A package of the virtualenv whose version labels the image (source releases). */
  readonly versionPython?: string;
}

/**
 * What a layer of a source release pip-installs into the virtualenv, each at its pin. Packages
 * that PyPI has no wheel of for Debian's Python are built: `buildPackages` (Debian) are
 * installed for that and purged afterwards, leaving the shared libraries the built extensions
 * link against.
 */
export interface VenvInstall {
  readonly packages: readonly string[];
  readonly buildPackages?: readonly string[];
}

/** A source release's Python: one virtualenv per image, every package at its pin. */
export interface PythonSource {
  /** The virtualenv's path in the images. */
  readonly venv: string;
  /** Normalised name → version; pip's constraints for every install (and part of the key). */
  readonly pins: Readonly<Record<string, string>>;
}

export interface ReleaseRecipes {
  readonly release: string;
  /** Packages debootstrap puts into the base root file system. */
  readonly basePackages: readonly string[];
  /** Extra apt suites (security, updates) besides the release's Debian suite. */
  readonly extraSuites: readonly {
    readonly uri: 'debian' | 'debian-security';
    readonly suite: string;
  }[];
  readonly recipes: readonly ImageRecipe[];
  /** Set for a source release: its OpenStack code comes from PyPI into a virtualenv. */
  readonly python?: PythonSource;
}

// Log and state directories every OpenStack service image gets, owned by its user, as Kolla has.
function serviceDirs(user: string, ...names: string[]): string {
  return names
    .map(
      (n) => `install -d -o ${user} -g ${user} -m 0755 /var/log/kolla/${n} /var/lib/${n} /etc/${n}`,
    )
    .join('\n');
}

const keystoneExtendStart = `# kolla_extend_start for keystone (Stackanetes). Sourced by kolla_start.
# KOLLA_BOOTSTRAP set: run the database migrations and exit (what Kolla's db-sync job does).
if [[ -n "\${KOLLA_BOOTSTRAP+set}" ]]; then
    keystone-manage db_sync
    exit 0
fi
`;

function dbSyncExtendStart(what: string, command: string): string {
  return `# kolla_extend_start for ${what} (Stackanetes). Sourced by kolla_start.
# KOLLA_BOOTSTRAP set: run the database migrations and exit.
if [[ -n "\${KOLLA_BOOTSTRAP+set}" ]]; then
    ${command}
    exit 0
fi
`;
}

type ExtraSuites = ReleaseRecipes['extraSuites'];

// Debian names its OpenStack packages the same way from one suite to the next, so one recipe
// list serves every release; a release that needs different packages gets its own function.
function debianRecipes(release: string, extraSuites: ExtraSuites): ReleaseRecipes {
  return {
    release,
    basePackages: [
      'sudo',
      'python3',
      'ca-certificates',
      'curl',
      'procps',
      'dumb-init',
      'less',
      'netbase',
    ],
    extraSuites,
    recipes: [
      {
        name: 'base',
        packages: [],
        user: 'root',
        description: 'Debian minbase, kolla_start, the Kolla service users',
      },
      {
        name: 'openstack-base',
        parent: 'base',
        packages: [
          'python3-pymysql',
          'python3-oslo.db',
          'python3-oslo.messaging',
          'python3-oslo.log',
          'python3-oslo.policy',
          'python3-oslo.middleware',
          'python3-oslo.cache',
          'python3-keystonemiddleware',
          'python3-keystoneclient',
          'python3-openstackclient',
          'python3-pastescript',
          'python3-pymemcache',
          'python3-memcache',
          'python3-sqlalchemy',
          'python3-alembic',
          'python3-pastedeploy',
          'uwsgi-core',
          'uwsgi-plugin-python3',
          'q-text-as-data',
          'iproute2',
        ],
        user: 'root',
        description: 'Python libraries every OpenStack service shares, and uWSGI',
      },
      {
        name: 'keystone',
        parent: 'openstack-base',
        packages: ['keystone', 'python3-ldap', 'python3-ldappool'],
        setup:
          serviceDirs('keystone', 'keystone') +
          '\ninstall -d -o keystone -g keystone -m 0750 /etc/keystone/fernet-keys /etc/keystone/credential-keys',
        files: {
          '/usr/local/bin/kolla_extend_start': { content: keystoneExtendStart, mode: 0o755 },
        },
        user: 'keystone',
        exposedPorts: [5000],
        versionPackage: 'python3-keystone',
        description: 'Keystone (identity) served by uWSGI',
      },
      {
        name: 'glance-api',
        parent: 'openstack-base',
        packages: ['glance-api', 'glance-common', 'python3-glance-store'],
        setup:
          serviceDirs('glance', 'glance') +
          '\ninstall -d -o glance -g glance /var/lib/glance/images',
        files: {
          '/usr/local/bin/kolla_extend_start': {
            content: dbSyncExtendStart('glance', 'glance-manage db_sync'),
            mode: 0o755,
          },
        },
        user: 'glance',
        exposedPorts: [9292],
        versionPackage: 'python3-glance',
        description: 'Glance image API',
      },
      {
        name: 'placement-api',
        parent: 'openstack-base',
        packages: ['placement-api', 'placement-common', 'python3-osc-placement'],
        setup: serviceDirs('placement', 'placement'),
        files: {
          '/usr/local/bin/kolla_extend_start': {
            content: dbSyncExtendStart('placement', 'placement-manage db sync'),
            mode: 0o755,
          },
        },
        user: 'placement',
        exposedPorts: [8778],
        versionPackage: 'python3-placement',
        description: 'Placement API',
      },
      {
        name: 'nova-base',
        parent: 'openstack-base',
        packages: ['nova-common', 'python3-nova'],
        setup: serviceDirs('nova', 'nova'),
        user: 'nova',
        description: 'Nova code and configuration shared by the nova-* images',
      },
      {
        name: 'nova-api',
        parent: 'nova-base',
        packages: ['nova-api'],
        files: {
          '/usr/local/bin/kolla_extend_start': {
            content: dbSyncExtendStart(
              'nova-api',
              'nova-manage api_db sync && nova-manage db sync',
            ),
            mode: 0o755,
          },
        },
        user: 'nova',
        exposedPorts: [8774, 8775],
        versionPackage: 'python3-nova',
        description: 'Nova compute API and metadata API',
      },
      {
        name: 'nova-conductor',
        parent: 'nova-base',
        packages: ['nova-conductor'],
        user: 'nova',
        versionPackage: 'python3-nova',
        description: 'Nova conductor',
      },
      {
        name: 'nova-scheduler',
        parent: 'nova-base',
        packages: ['nova-scheduler'],
        user: 'nova',
        versionPackage: 'python3-nova',
        description: 'Nova scheduler',
      },
      {
        name: 'nova-novncproxy',
        parent: 'nova-base',
        packages: ['nova-consoleproxy', 'novnc', 'python3-websockify'],
        user: 'nova',
        exposedPorts: [6080],
        versionPackage: 'python3-nova',
        description: 'Nova noVNC console proxy (Debian packages it as nova-consoleproxy)',
      },
      {
        name: 'nova-compute',
        parent: 'nova-base',
        packages: [
          'nova-compute',
          'nova-compute-kvm',
          'python3-libvirt',
          'libvirt-clients',
          'qemu-utils',
        ],
        setup: 'install -d -o nova -g nova /var/lib/nova/instances',
        user: 'nova',
        versionPackage: 'python3-nova',
        description:
          'Nova compute (libvirt/KVM packages installed; the fake driver works without them)',
      },
      {
        name: 'nova-libvirt',
        parent: 'base',
        packages: [
          'libvirt-daemon-system',
          'libvirt-daemon-driver-qemu',
          'libvirt-clients',
          'qemu-system-x86',
          'qemu-utils',
          // libvirtd plugs each guest's tap into br-int with ovs-vsctl.
          'openvswitch-switch',
          'iproute2',
        ],
        setup: [
          // No default NAT network (virbr0, dnsmasq): guests are on Neutron's networks only.
          'rm -f /etc/libvirt/qemu/networks/autostart/default.xml',
          'install -d -m 0755 /var/lib/libvirt/qemu /var/log/kolla/libvirt',
          // The kernel virt-type.sh boots under KVM to decide between kvm and qemu: Debian's
          // cloud kernel, taken from its package (not installed: no modules, no initramfs).
          'install -d -m 0755 /usr/share/stackanetes/kvm-probe',
          'cd /tmp',
          'kernel="$(apt-cache depends linux-image-cloud-amd64 | awk \'/Depends: linux-image-[0-9]/ { print $2; exit }\')"',
          'apt-get download -q "$kernel"',
          'dpkg-deb --fsys-tarfile "$kernel"_*.deb | tar -xO --wildcards \'./boot/vmlinuz-*\' > /usr/share/stackanetes/kvm-probe/vmlinuz',
          'echo "$kernel" > /usr/share/stackanetes/kvm-probe/version',
          'rm -f "$kernel"_*.deb',
          'test -s /usr/share/stackanetes/kvm-probe/vmlinuz',
        ].join('\n'),
        user: 'root',
        versionPackage: 'libvirt-daemon',
        description:
          'libvirtd and virtlogd with QEMU (x86), for nova-compute with the libvirt driver; a kernel to test KVM with',
      },
      {
        name: 'neutron-base',
        parent: 'openstack-base',
        packages: [
          'neutron-common',
          'python3-neutron',
          'python3-ovsdbapp',
          'openvswitch-common',
          'python3-unbound',
        ],
        setup: serviceDirs('neutron', 'neutron'),
        user: 'neutron',
        description: 'Neutron code and configuration shared by the neutron-* images',
      },
      {
        name: 'neutron-server',
        parent: 'neutron-base',
        packages: ['neutron-api', 'neutron-rpc-server', 'neutron-server'],
        files: {
          '/usr/local/bin/kolla_extend_start': {
            content: dbSyncExtendStart(
              'neutron-server',
              'neutron-db-manage --config-file /etc/neutron/neutron.conf --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head',
            ),
            mode: 0o755,
          },
        },
        user: 'neutron',
        exposedPorts: [9696],
        versionPackage: 'python3-neutron',
        description: 'Neutron API and RPC server (ML2/OVN)',
      },
      {
        name: 'neutron-ovn-metadata-agent',
        parent: 'neutron-base',
        // iptables: the agent runs iptables-save in each ovnmeta- namespace it provisions.
        packages: ['neutron-ovn-metadata-agent', 'haproxy', 'iptables'],
        user: 'neutron',
        versionPackage: 'python3-neutron',
        description: 'Neutron OVN metadata agent',
      },
      {
        name: 'ovn-base',
        parent: 'base',
        packages: ['ovn-common', 'openvswitch-common'],
        setup: 'install -d -m 0755 /var/log/kolla/openvswitch /var/lib/ovn /run/ovn /etc/ovn',
        user: 'root',
        description: 'OVN and Open vSwitch tools shared by the ovn-* and openvswitch images',
      },
      {
        name: 'ovn-northd',
        parent: 'ovn-base',
        packages: ['ovn-central'],
        user: 'root',
        versionPackage: 'ovn-central',
        description: 'OVN northd',
      },
      {
        name: 'ovn-nb-db',
        parent: 'ovn-base',
        packages: ['ovn-central'],
        user: 'root',
        exposedPorts: [6641],
        versionPackage: 'ovn-central',
        description: 'OVN northbound database (ovsdb-server)',
      },
      {
        name: 'ovn-sb-db',
        parent: 'ovn-base',
        packages: ['ovn-central'],
        user: 'root',
        exposedPorts: [6642],
        versionPackage: 'ovn-central',
        description: 'OVN southbound database (ovsdb-server)',
      },
      {
        name: 'ovn-controller',
        parent: 'ovn-base',
        // iproute2: the start script may make the external network's namespace and veth pair.
        packages: ['ovn-host', 'iproute2'],
        user: 'root',
        versionPackage: 'ovn-host',
        description: 'OVN controller (per chassis)',
      },
      {
        name: 'openvswitch',
        parent: 'ovn-base',
        packages: ['openvswitch-switch'],
        setup: 'install -d -m 0755 /etc/openvswitch /var/lib/openvswitch /run/openvswitch',
        user: 'root',
        versionPackage: 'openvswitch-switch',
        description: 'Open vSwitch (ovs-vswitchd and its ovsdb-server)',
      },
      {
        name: 'mariadb',
        parent: 'base',
        packages: [
          'mariadb-server',
          'mariadb-client',
          'galera-4',
          'mariadb-backup',
          'rsync',
          'socat',
          'lsof',
        ],
        setup:
          'rm -rf /var/lib/mysql/* /etc/mysql/debian.cnf\n' +
          'install -d -o mysql -g mysql -m 0750 /var/lib/mysql /var/log/kolla/mariadb\n' +
          'install -d -o mysql -g mysql -m 0755 /run/mysqld',
        files: {
          '/usr/local/bin/kolla_extend_start': { asset: 'mariadb_extend_start', mode: 0o755 },
        },
        user: 'mysql',
        exposedPorts: [3306, 4444, 4567, 4568],
        versionPackage: 'mariadb-server',
        description: 'MariaDB with Galera',
      },
      {
        name: 'rabbitmq',
        parent: 'base',
        packages: ['rabbitmq-server'],
        setup:
          'rm -f /var/lib/rabbitmq/.erlang.cookie\n' +
          'install -d -o rabbitmq -g rabbitmq /var/lib/rabbitmq /var/log/kolla/rabbitmq',
        user: 'rabbitmq',
        exposedPorts: [5672, 15672, 25672],
        versionPackage: 'rabbitmq-server',
        description: 'RabbitMQ',
      },
      {
        name: 'memcached',
        parent: 'base',
        packages: ['memcached'],
        user: 'memcached',
        exposedPorts: [11211],
        versionPackage: 'memcached',
        description: 'Memcached',
      },
      {
        name: 'horizon',
        parent: 'openstack-base',
        packages: ['openstack-dashboard', 'python3-django-horizon'],
        setup:
          serviceDirs('horizon', 'horizon') +
          // Debian gives the secret key store and collected static files to www-data.
          '\nchown -R horizon:horizon /var/lib/openstack-dashboard',
        user: 'horizon',
        exposedPorts: [80],
        versionPackage: 'python3-django-horizon',
        description: 'Horizon dashboard (Django, served by uWSGI)',
      },
      {
        name: operatorImage,
        parent: 'base',
        // Node's official Linux binary needs libstdc++ (minbase has it for apt; named so it stays).
        // xz: the scan of spec.remediation reads -updates' Packages.xz (Debian serves no .gz
        // there); dpkg-deb, which it unpacks changelogs with, is in the base already.
        packages: ['libstdc++6', 'xz-utils'],
        setup:
          `getent group stackanetes >/dev/null || groupadd -g ${operatorUid} stackanetes\n` +
          `getent passwd stackanetes >/dev/null || useradd -l -M -d /nonexistent -s /usr/sbin/nologin -u ${operatorUid} -g ${operatorUid} stackanetes`,
        hostTree: { stage: 'operator-app', to: '/opt/stackanetes' },
        user: 'stackanetes',
        uid: operatorUid,
        // JavaScript compiled ahead of time; type stripping is switched off, so that a .ts
        // module left in the tree fails at start instead of being compiled at run time.
        entrypoint: [
          'dumb-init',
          '--',
          '/opt/stackanetes/bin/node',
          '--no-experimental-strip-types',
          '/opt/stackanetes/dist/cli/main.js',
        ],
        cmd: ['operator'],
        env: ['NODE_ENV=production', 'HOME=/tmp'],
        workingDir: '/opt/stackanetes',
        exposedPorts: [8080, 8081],
        tag: operatorVersion,
        description: 'The Stackanetes operator: Node 24 and the compiled controller, non-root',
      },
      {
        name: 'toolbox',
        parent: 'openstack-base',
        packages: [
          'python3-openstackclient',
          'python3-osc-placement',
          'python3-glanceclient',
          'python3-novaclient',
          'python3-neutronclient',
          'mariadb-client',
          'jq',
          'netcat-openbsd',
        ],
        user: 'root',
        versionPackage: 'python3-openstackclient',
        description: 'OpenStack command-line client and database client, for jobs and checks',
      },
    ],
  };
}

/** What a service shipped with its code (api-paste.ini, rootwrap) goes to /etc, kept if there. */
function etcFromVenv(service: string): string {
  return `[ ! -d ${venvPath}/etc/${service} ] || cp -r --update=none ${venvPath}/etc/${service}/. /etc/${service}/`;
}

/**
 * The service may run its rootwrap through sudo as Debian's packages let it, from the virtualenv;
 * rootwrap finds the virtualenv's programs (privsep-helper) too.
 */
function rootwrap(service: string): string {
  return [
    `sed -i 's|^exec_dirs=|exec_dirs=${venvPath}/bin,|' /etc/${service}/rootwrap.conf`,
    `printf '%s\\n' '${service} ALL = (root) NOPASSWD: ${venvPath}/bin/${service}-rootwrap /etc/${service}/rootwrap.conf *' '${service} ALL = (root) NOPASSWD: ${venvPath}/bin/${service}-rootwrap-daemon /etc/${service}/rootwrap.conf' > /etc/sudoers.d/${service}_sudoers`,
    `chmod 0440 /etc/sudoers.d/${service}_sudoers`,
    'visudo -c >/dev/null',
  ].join('\n');
}

/**
 * Horizon from the virtualenv read the way Debian's does: its settings from
 * /etc/openstack-dashboard (local_settings.py and local_settings.d/, where the renderer puts
 * them), static files collected and compressed (COMPRESS_OFFLINE) into
 * /var/lib/openstack-dashboard/static at build time, with a settings file that exists only then.
 *
 * The image's defaults go in first, because the compress step renders templates with them:
 * upstream's default cache is a memcached on localhost, which does not exist at build time, and
 * the block that preloads Angular's templates sits inside a `{% cache %}` tag; with that cache
 * unreachable `compress` skipped the block (saying nothing, exit 0), so every login page of the
 * running image failed with OfflineGenerationError. The build then renders the login page once
 * from the offline manifest, so that an image with a manifest short of a block cannot be built.
 */
const horizonFromVenv = [
  'install -d -o horizon -g horizon -m 0755 /var/lib/openstack-dashboard /etc/openstack-dashboard/local_settings.d',
  `dash="$(${venvPath}/bin/python3 -c 'import os, openstack_dashboard as d; print(os.path.dirname(d.__file__))')"`,
  'ln -sfn /etc/openstack-dashboard/local_settings.py "$dash/local/local_settings.py"',
  'rm -rf "$dash/local/local_settings.d"',
  'ln -sfn /etc/openstack-dashboard/local_settings.d "$dash/local/local_settings.d"',
  // Defaults as Debian's package has them (in its snippets): Horizon's state (its generated
  // secret key and that key's lock) where horizon may write, not in the virtualenv; the static
  // files where they were collected; a per-process cache instead of upstream's memcached on
  // localhost. The rendered settings (local_settings.py, _9999_stackanetes.py) set all three.
  `printf '%s\\n' '# Stackanetes image defaults (as Debian has them); the rendered settings override them.' "LOCAL_PATH = '/var/lib/openstack-dashboard'" "STATIC_ROOT = '/var/lib/openstack-dashboard/static'" "CACHES = {'default': {'BACKEND': 'django.core.cache.backends.locmem.LocMemCache'}}" > /etc/openstack-dashboard/local_settings.d/_0000_stackanetes_image.py`,
  `printf '%s\\n' 'COMPRESS_OFFLINE = True' "SECRET_KEY = 'image-build-only'" "LOCAL_PATH = '/tmp'" "ALLOWED_HOSTS = ['localhost']" > /etc/openstack-dashboard/local_settings.py`,
  `DJANGO_SETTINGS_MODULE=openstack_dashboard.settings ${venvPath}/bin/django-admin collectstatic --noinput -v0`,
  `DJANGO_SETTINGS_MODULE=openstack_dashboard.settings ${venvPath}/bin/django-admin compress --force -v0`,
  `(cd /tmp && DJANGO_SETTINGS_MODULE=openstack_dashboard.settings ${venvPath}/bin/python3 -W ignore -c 'import django; django.setup(); from django.test import Client; r = Client(SERVER_NAME="localhost").get("/auth/login/"); assert r.status_code == 200, r.status_code; print("horizon: the login page renders from the offline manifest")')`,
  'rm -f /etc/openstack-dashboard/local_settings.py',
  'chown -R horizon:horizon /var/lib/openstack-dashboard',
].join('\n');

/** Compilers and headers for a Python extension built from its sdist (purged after the build). */
const cBuild = ['gcc', 'libc6-dev', 'python3-dev', 'pkgconf'];

/**
 * A source release's recipes: the Debian release's, with each OpenStack image's Debian
 * packages of OpenStack replaced by its Python packages from PyPI in the virtualenv (the same
 * users, directories, kolla_extend_start and ports). MariaDB, RabbitMQ, Memcached, Open vSwitch,
 * OVN, libvirt and the operator stay Debian's.
 */
function sourceRecipes(
  release: string,
  extraSuites: ExtraSuites,
  pins: Readonly<Record<string, string>>,
): ReleaseRecipes {
  const deb = debianRecipes(release, extraSuites);
  const setupOf = (name: string): string => deb.recipes.find((r) => r.name === name)?.setup ?? ':';
  type SourcePart = Pick<ImageRecipe, 'packages' | 'venv' | 'versionPython' | 'setup'>;
  const source: Readonly<Record<string, SourcePart>> = {
    'openstack-base': {
      // python3-venv: the virtualenv (with pip) from Debian's Python 3.
      packages: ['python3-venv', 'uwsgi-core', 'uwsgi-plugin-python3', 'iproute2'],
      venv: {
        packages: [
          'pip',
          'PyMySQL',
          'oslo.db',
          'oslo.messaging',
          'oslo.log',
          'oslo.policy',
          'oslo.middleware',
          'oslo.cache',
          'keystonemiddleware',
          'python-keystoneclient',
          'python-openstackclient',
          'pymemcache',
          'python-memcached',
          'SQLAlchemy',
          'alembic',
          'PasteDeploy',
        ],
      },
      // sudo finds the virtualenv's programs (a later Defaults line wins).
      setup: [
        `printf '%s\\n' 'Defaults secure_path="${venvPath}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' > /etc/sudoers.d/kolla-venv`,
        'chmod 0440 /etc/sudoers.d/kolla-venv',
        'visudo -c >/dev/null',
      ].join('\n'),
    },
    keystone: {
      packages: [],
      // python-ldap has no wheel: built against OpenLDAP's and SASL's headers.
      venv: {
        packages: ['keystone', 'python-ldap', 'ldappool'],
        buildPackages: [...cBuild, 'libldap-dev', 'libsasl2-dev'],
      },
      versionPython: 'keystone',
      setup: [setupOf('keystone'), etcFromVenv('keystone')].join('\n'),
    },
    'glance-api': {
      packages: [],
      venv: { packages: ['glance'] },
      versionPython: 'glance',
      setup: [setupOf('glance-api'), etcFromVenv('glance'), rootwrap('glance')].join('\n'),
    },
    'placement-api': {
      packages: [],
      venv: { packages: ['openstack-placement', 'osc-placement'] },
      versionPython: 'openstack-placement',
      setup: setupOf('placement-api'),
    },
    'nova-base': {
      packages: [],
      venv: { packages: ['nova'] },
      setup: [setupOf('nova-base'), etcFromVenv('nova'), rootwrap('nova')].join('\n'),
    },
    'nova-api': { packages: [], versionPython: 'nova' },
    'nova-conductor': { packages: [], versionPython: 'nova' },
    'nova-scheduler': { packages: [], versionPython: 'nova' },
    // noVNC's HTML and JavaScript from Debian; websockify is nova's (the virtualenv's).
    'nova-novncproxy': { packages: ['novnc'], versionPython: 'nova' },
    'nova-compute': {
      packages: ['libvirt-clients', 'qemu-utils'],
      // libvirt-python has no wheel: built against Debian's libvirt.
      venv: { packages: ['libvirt-python'], buildPackages: [...cBuild, 'libvirt-dev'] },
      versionPython: 'nova',
      setup: setupOf('nova-compute'),
    },
    'neutron-base': {
      // ovsdb-client and ovs-vsctl for the OVN driver and the metadata agent. The ovs library
      // resolves the OVN databases' host names (tcp:ovn-sb-db.<namespace>.svc…) only with
      // libunbound's Python binding, which PyPI does not carry: Debian's, linked into the
      // virtualenv (without it the server and the metadata agent never connect).
      packages: ['openvswitch-common', 'python3-unbound'],
      venv: { packages: ['neutron'] },
      setup: [
        setupOf('neutron-base'),
        etcFromVenv('neutron'),
        rootwrap('neutron'),
        `site="$(${venvPath}/bin/python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"`,
        `for f in $(dpkg -L python3-unbound | grep -E '/dist-packages/[^/]+$'); do ln -sf "$f" "$site/"; done`,
        `${venvPath}/bin/python3 -c 'import unbound'`,
      ].join('\n'),
    },
    'neutron-server': { packages: [], versionPython: 'neutron' },
    'neutron-ovn-metadata-agent': { packages: ['haproxy', 'iptables'], versionPython: 'neutron' },
    horizon: {
      packages: [],
      venv: { packages: ['horizon'] },
      versionPython: 'horizon',
      setup: [horizonFromVenv, setupOf('horizon')].join('\n'),
    },
    toolbox: {
      packages: ['mariadb-client', 'jq', 'netcat-openbsd'],
      venv: {
        packages: [
          'python-openstackclient',
          'osc-placement',
          'python-glanceclient',
          'python-novaclient',
          'python-neutronclient',
        ],
      },
      versionPython: 'python-openstackclient',
    },
  };
  return {
    ...deb,
    python: { venv: venvPath, pins },
    recipes: deb.recipes.map((r): ImageRecipe => {
      const s = source[r.name];
      if (!s) return r;
      const { versionPackage: _debian, ...rest } = r;
      return { ...rest, ...s };
    }),
  };
}

const trixieUpdates: ExtraSuites = [
  { uri: 'debian', suite: 'trixie-updates' },
  { uri: 'debian-security', suite: 'trixie-security' },
];

// 2026.2 comes from sid (no -updates or -security suites); it builds once src/catalog/releases.ts
// lists it.
const byRelease: Readonly<Record<string, ReleaseRecipes>> = {
  '2025.1': debianRecipes('2025.1', trixieUpdates),
  '2026.1': sourceRecipes('2026.1', trixieUpdates, gazpachoPins),
  '2026.2': debianRecipes('2026.2', []),
};

export function releaseRecipes(release: string): ReleaseRecipes {
  const r = byRelease[release];
  if (!r) {
    throw new Error(
      `no image recipes for release ${JSON.stringify(release)}; recipes exist for: ${Object.keys(byRelease).join(', ')}`,
    );
  }
  return r;
}

/** A recipe and all its ancestors, root first. */
export function lineage(recipes: ReleaseRecipes, name: string): ImageRecipe[] {
  const out: ImageRecipe[] = [];
  let cur: string | undefined = name;
  while (cur) {
    const r = recipes.recipes.find((x) => x.name === cur);
    if (!r) throw new Error(`no recipe named ${cur} for release ${recipes.release}`);
    out.unshift(r);
    cur = r.parent;
  }
  return out;
}
