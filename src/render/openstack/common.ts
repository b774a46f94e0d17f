// What every OpenStack service shares: computed oslo.config sections (database, queue, cache,
// Keystone auth), its database and queue users, schema sync, Keystone registration, and the
// API Deployment with its Service and disruption budget.
import { stringify } from 'yaml';
import type { ComponentName, IniSections, ProcessDef, ServiceDef } from '../../catalog/types.ts';
import type { PublicService, ServiceName } from '../../api/v1alpha1/spec.ts';
import { restrictedUid } from '../../catalog/images.ts';
import { publicUrl, type Ctx } from '../context.ts';
import {
  databaseHost,
  dbUrl,
  internalUrl,
  keystoneInternalUrl,
  keystonePublicUrl,
  memcachedServers,
  messagingManagementUrl,
  transportUrl,
  type OpenStackService,
} from './endpoints.ts';
import { mergeIni, writeIni } from '../ini.ts';
import { job } from '../jobs.ts';
import { kollaConfig, type ConfigFile, type KollaConfig } from '../kolla.ts';
import type { Container, KubeObject, Volume, VolumeMount } from '../kube.ts';
import {
  daemonSet,
  deployment,
  disruptionBudget,
  kollaContainer,
  service,
  serviceAccount,
  type ContainerSecurity,
} from '../workload.ts';
import { healthScript, healthSh, usesHealthScript } from '../probes.ts';
import { coreCpuRequest, isCore } from '../priority.ts';
import { registerPy } from './scripts.ts';
import { mysqlClientCnf } from '../infra/database.ts';

/** Password auth as the service's own Keystone user. */
export function keystoneAuth(ctx: Ctx, user: string): Record<string, string> {
  return {
    auth_url: keystoneInternalUrl(ctx),
    auth_type: 'password',
    project_domain_name: 'Default',
    user_domain_name: 'Default',
    project_name: 'service',
    username: user,
    password: ctx.secrets.serviceUsers[user] ?? '',
    region_name: ctx.spec.region,
  };
}

/** oslo.config sections computed from the spec and secrets, for a service's main file. */
export function computedSections(ctx: Ctx, name: ServiceName, def: ServiceDef): IniSections {
  const out: Record<string, Record<string, string | boolean | number>> = {};
  if (def.databases.length > 0) {
    out[def.databaseSection ?? 'database'] = {
      connection: dbUrl(ctx, name, def.databases[0]!),
      max_retries: -1,
    };
  }
  if (def.messaging) {
    out.DEFAULT = { transport_url: transportUrl(ctx, name) };
    out.oslo_messaging_notifications = { driver: 'noop' };
  }
  const cache = memcachedServers(ctx).join(',');
  out.cache = { memcache_servers: cache, backend: 'oslo_cache.memcache_pool', enabled: true };
  if (def.keystoneUser) {
    out.keystone_authtoken = {
      ...keystoneAuth(ctx, name),
      www_authenticate_uri: keystonePublicUrl(ctx),
      memcached_servers: cache,
      memcache_security_strategy: 'ENCRYPT',
      memcache_secret_key: ctx.secrets.memcacheSecretKey,
      service_token_roles_required: true,
    };
  }
  return out;
}

/** The service's main file: catalog defaults, then computed values, then the user's overrides. */
export function mainConfig(
  ctx: Ctx,
  name: ServiceName,
  def: ServiceDef,
  extra: IniSections = {},
): string {
  return writeIni(
    mergeIni(
      def.defaults[def.mainConfig],
      computedSections(ctx, name, def),
      extra,
      ctx.spec.services[name].config,
    ),
  );
}

export function configFile(
  def: ServiceDef,
  name: string,
  content: string,
  dest?: string,
): ConfigFile {
  return {
    name,
    dest: dest ?? `${def.configDir}/${name}`,
    content,
    owner: `${def.user}:${def.user}`,
    perm: '0600',
  };
}

/** A uWSGI ini for a WSGI API, served over HTTP directly by uWSGI. */
export function uwsgiIni(
  ctx: Ctx,
  def: ServiceDef,
  name: string,
  wsgiFile: string,
  port: number,
  extra: Record<string, string | boolean | string[]> = {},
): string {
  return writeIni({
    uwsgi: {
      plugins: ctx.catalog.uwsgiPlugin,
      'http-socket': `:${port}`,
      'wsgi-file': wsgiFile,
      name,
      master: true,
      processes: 2,
      threads: 1,
      'enable-threads': true,
      'lazy-apps': true,
      // A worker whose application failed to load (the database not answering yet at start)
      // makes uWSGI exit, and the container restart, instead of that worker answering every
      // request it gets with 500 "no python application found" while the pod stays Ready.
      'need-app': true,
      'die-on-term': true,
      'no-orphans': true,
      'buffer-size': 65535,
      'thunder-lock': true,
      'add-header': 'Connection: close',
      'http-auto-chunked': true,
      'http-chunked-input': true,
      'http-raw-body': true,
      'wsgi-manage-chunked-input': true,
      'socket-timeout': 30,
      chdir: `/var/lib/${def.user}`,
      ...extra,
    },
  });
}

// ---- jobs ------------------------------------------------------------------------------------

/** Creates the service's databases and its own database user (idempotent; rotates the password). */
export function dbInitJob(
  ctx: Ctx,
  component: ComponentName,
  user: string,
  databases: readonly string[],
): KubeObject[] {
  const pw = ctx.secrets.databaseUsers[user] ?? '';
  const sql = [
    ...databases.map(
      (d) =>
        `CREATE DATABASE IF NOT EXISTS \\\`${d}\\\` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;`,
    ),
    `CREATE USER IF NOT EXISTS '${user}'@'%' IDENTIFIED BY '${pw}';`,
    `ALTER USER '${user}'@'%' IDENTIFIED BY '${pw}';`,
    ...databases.map((d) => `GRANT ALL PRIVILEGES ON \\\`${d}\\\`.* TO '${user}'@'%';`),
  ].join(' ');
  const cnf = '/var/lib/kolla/config_files/root.cnf';
  const { host, port } = databaseHost(ctx);
  return job(ctx, {
    component,
    task: 'db-init',
    image: ctx.catalog.database.image,
    serviceAccountName: `${component}-jobs`,
    extra: { 'root.cnf': mysqlClientCnf('root', ctx.secrets.databaseRoot, host, port) },
    // Wait while the database does not answer; a refused login (1045) will not get better, so
    // the Job fails at once and says why (the operator shows its last line in the condition).
    script: [
      `until out=$(mariadb --defaults-extra-file=${cnf} -e 'SELECT 1' 2>&1 >/dev/null); do`,
      `  case "$out" in *'ERROR 1045'*) echo "the database refused the root login: $out"; exit 1 ;; esac`,
      `  echo "waiting for the database: $out"; sleep 3`,
      'done',
      `mariadb --defaults-extra-file=${cnf} -e "${sql}"`,
      `echo 'databases ${databases.join(', ')} and user ${user} are ready'`,
    ].join('\n'),
  });
}

/** Creates the service's RabbitMQ vhost and user with rights on that vhost only. */
export function messagingInitJob(ctx: Ctx, component: ComponentName, user: string): KubeObject[] {
  const spec = {
    url: messagingManagementUrl(ctx),
    admin: { user: 'stackanetes', password: ctx.secrets.messagingAdmin },
    vhost: user,
    user,
    password: ctx.secrets.messagingUsers[user] ?? '',
  };
  return job(ctx, {
    component,
    task: 'rabbitmq-init',
    image: ctx.catalog.toolbox,
    serviceAccountName: `${component}-jobs`,
    extra: {
      'rabbitmq.json': JSON.stringify(spec, null, 2) + '\n',
      'rabbitmq-init.py': rabbitInitPy,
    },
    script:
      'python3 /var/lib/kolla/config_files/rabbitmq-init.py /var/lib/kolla/config_files/rabbitmq.json',
  });
}

export function dbSyncJob(
  ctx: Ctx,
  component: ComponentName,
  def: ServiceDef,
  files: readonly ConfigFile[],
): KubeObject[] {
  if (!def.dbSync) return [];
  const proc = def.processes[0]!;
  return job(ctx, {
    component,
    task: 'db-sync',
    image: proc.image,
    serviceAccountName: `${component}-jobs`,
    files,
    script: def.dbSync,
  });
}

/**
 * Registers the service user, the service and its endpoints in Keystone (idempotent). An
 * endpoint's public URL is its public host name's when the spec gives one, else its internal URL.
 */
export function registerJob(ctx: Ctx, name: OpenStackService): KubeObject[] {
  const def = ctx.catalog.services[name];
  const component = def.component;
  const endpoints = def.endpoints.map((e) => {
    const internal = internalUrl(ctx, name, e.process);
    const pub = publicUrl(ctx, e.name as PublicService, internal);
    return {
      type: e.type,
      name: e.name,
      urls: { public: pub + e.path, internal: internal + e.path, admin: internal + e.path },
    };
  });
  const input = {
    region: ctx.spec.region,
    user: def.keystoneUser
      ? { name, password: ctx.secrets.serviceUsers[name] ?? '', roles: ['admin', 'service'] }
      : null,
    services: endpoints,
  };
  return job(ctx, {
    component,
    task: 'register',
    image: ctx.catalog.toolbox,
    serviceAccountName: `${component}-jobs`,
    extra: {
      'clouds.yaml': adminCloudsYaml(ctx),
      'register.json': JSON.stringify(input, null, 2) + '\n',
      'register.py': registerPy,
    },
    script:
      'export OS_CLIENT_CONFIG_FILE=/var/lib/kolla/config_files/clouds.yaml OS_CLOUD=admin\n' +
      'python3 /var/lib/kolla/config_files/register.py /var/lib/kolla/config_files/register.json',
  });
}

/**
 * The admin credentials as clouds.yaml. Its reader (openstacksdk, PyYAML) speaks YAML 1.1, so
 * it is written for 1.1: a region named `yes` or `2025` stays a string.
 */
export function adminCloudsYaml(ctx: Ctx, url = keystoneInternalUrl(ctx)): string {
  const admin = {
    auth: {
      auth_url: `${url}/v3`,
      username: 'admin',
      password: ctx.secrets.keystoneAdmin,
      project_name: 'admin',
      user_domain_name: 'Default',
      project_domain_name: 'Default',
    },
    region_name: ctx.spec.region,
    interface: 'internal',
    identity_api_version: 3,
  };
  return stringify({ clouds: { admin } }, { version: '1.1' });
}

// ---- workloads -------------------------------------------------------------------------------

export interface ProcessOpts {
  readonly component: ComponentName;
  readonly service: string;
  readonly def: ServiceDef;
  readonly proc: ProcessDef;
  readonly files: readonly ConfigFile[];
  readonly replicas: number;
  readonly volumes?: Volume[];
  readonly mounts?: VolumeMount[];
  readonly extraContainers?: Container[];
  /** The data plane's group that reads the mounted Secrets (the control plane: its user's). */
  readonly fsGroup?: number;
  /** Default: `restricted` for the control plane, `privileged` for processes on the host. */
  readonly security?: ContainerSecurity;
}

/**
 * Seconds an API pod keeps serving after it is told to stop (see processObjects): longer than a
 * replacement takes to be Ready (7.2 s for Keystone, bench/heal keystone-1), so that a service
 * with one replica whose pod is deleted or evicted keeps answering until its replacement does.
 */
export const drainSeconds = 15;

/** One process of a service: its config Secret, its workload, and for APIs a Service and PDB. */
export function processObjects(ctx: Ctx, o: ProcessOpts): KubeObject[] {
  const part = o.proc.name;
  const name = `${o.service}-${part}`;
  const extra: Record<string, string> = usesHealthScript(o.proc.probe)
    ? { [healthScript]: healthSh }
    : {};
  const config: KollaConfig = kollaConfig(ctx, o.component, part, o.proc.command, o.files, {
    extra,
  });
  const container = kollaContainer(ctx, {
    name: part,
    image: o.proc.image,
    config,
    probe: o.proc.probe,
    ports: o.proc.ports,
    resources: ctx.spec.services[o.service as ServiceName]?.resources,
    ...(isCore(o.component, part) ? { cpu: coreCpuRequest } : {}),
    memory: o.proc.memory,
    mounts: o.mounts ?? [],
    security: o.security ?? { kind: o.proc.host ? 'privileged' : 'restricted' },
  });
  if (o.proc.ports.length > 0 && o.proc.workload !== 'DaemonSet') {
    // A deleted pod gets SIGTERM at the same moment it is marked terminating in the Service's
    // EndpointSlice; kube-proxy needs a moment to stop sending it new connections, and while the
    // Service has no other Ready endpoint it keeps sending them to a terminating one that still
    // passes its readiness probe (KEP-1669, GA in 1.28). So the pod keeps serving through that
    // moment, and with one replica until its replacement is Ready.
    container.lifecycle = { preStop: { exec: { command: ['sleep', String(drainSeconds)] } } };
  }
  // The control plane (no host network) meets Pod Security "restricted" as its image's user.
  const controlPlane = !o.proc.host;
  const pod = {
    component: o.component,
    part,
    role: o.proc.role,
    containers: [container, ...(o.extraContainers ?? [])],
    volumes: [config.volume, ...(o.volumes ?? [])],
    configHash: config.hash,
    serviceAccountName: o.service,
    hostNetwork: o.proc.host ?? false,
    ...(controlPlane ? { user: restrictedUid(o.proc.image) } : { fsGroup: o.fsGroup }),
  };
  const out: KubeObject[] = [config.secret];
  if (o.proc.workload === 'DaemonSet') {
    out.push(daemonSet(ctx, name, pod));
  } else {
    const d = deployment(ctx, name, o.replicas, pod);
    out.push(d);
    if (o.proc.ports.length > 0) out.push(service(ctx, name, o.component, part, o.proc.ports));
    if (o.replicas > 1) out.push(disruptionBudget(ctx, name, o.component, part));
  }
  return out;
}

/** The service's ServiceAccounts: one for its pods, one for its jobs. */
export function serviceAccounts(
  ctx: Ctx,
  component: ComponentName,
  serviceName: string,
): KubeObject[] {
  return [
    serviceAccount(ctx, serviceName, component),
    serviceAccount(ctx, `${component}-jobs`, component),
  ];
}

const rabbitInitPy = `import base64, json, sys, time, urllib.error, urllib.parse, urllib.request

spec = json.load(open(sys.argv[1]))
auth = base64.b64encode(f"{spec['admin']['user']}:{spec['admin']['password']}".encode()).decode()


def call(method, path, body=None):
    req = urllib.request.Request(spec['url'] + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={'Authorization': 'Basic ' + auth, 'Content-Type': 'application/json'})
    return urllib.request.urlopen(req, timeout=30)


for attempt in range(200):
    try:
        call('GET', '/api/overview')
        break
    except (urllib.error.URLError, OSError) as e:
        print('waiting for RabbitMQ:', e, flush=True)
        time.sleep(3)
else:
    sys.exit('RabbitMQ did not answer')
vhost = urllib.parse.quote(spec['vhost'], safe='')
user = urllib.parse.quote(spec['user'], safe='')
call('PUT', f'/api/vhosts/{vhost}', {})
call('PUT', f'/api/users/{user}', {'password': spec['password'], 'tags': ''})
call('PUT', f'/api/permissions/{vhost}/{user}', {'configure': '.*', 'write': '.*', 'read': '.*'})
print(f"vhost {spec['vhost']} and user {spec['user']} are ready")
`;
