// The one-shot work every OpenStack service shares, as Jobs run with the service's `-jobs`
// ServiceAccount: its database and database user, its queue vhost and user, its schema sync,
// its registration in Keystone.
import { stringify } from 'yaml';
import type { PublicService } from '../../api/v1alpha1/spec.ts';
import { publicUrl, type Ctx } from '../context.ts';
import { mysqlClientCnf } from '../infra/database.ts';
import { job, type JobOpts } from '../jobs.ts';
import type { ConfigFile } from '../kolla.ts';
import { kollaConfigDir } from '../kolla.ts';
import type { KubeObject } from '../kube.ts';
import {
  databaseHost,
  internalUrl,
  keystoneInternalUrl,
  messagingManagementUrl,
  type OpenStackService,
} from './endpoints.ts';
import { serviceAccounts } from './process.ts';
import { rabbitInitPy, registerPy } from './scripts.ts';

/**
 * What a service needs before its processes run, as the catalog says: its ServiceAccounts, its
 * databases and user (a service with databases), its queue user (one on the queue), its schema
 * (`files`: the config the sync reads), its entry in Keystone's catalog (Keystone makes its own
 * when it is bootstrapped).
 */
export function serviceSetup(
  ctx: Ctx,
  name: OpenStackService,
  files: readonly ConfigFile[],
): KubeObject[] {
  const def = ctx.catalog.services[name];
  return [
    ...serviceAccounts(ctx, def.component, name),
    ...(def.databases.length > 0 ? dbInitJob(ctx, name) : []),
    ...(def.messaging ? messagingInitJob(ctx, name) : []),
    ...dbSyncJob(ctx, name, files),
    ...(name === 'keystone' ? [] : registerJob(ctx, name)),
    ...upgradeJob(ctx, name, files),
  ];
}

/**
 * The Job of the upgrade step in progress when it is this service's (a rendering at the target
 * release carries at most one): the step's command with the new release's image and config, as
 * the schema sync runs. Named by its inputs like every Job, so a resumed upgrade finds it.
 */
export function upgradeJob(
  ctx: Ctx,
  name: OpenStackService,
  files: readonly ConfigFile[],
): KubeObject[] {
  const step = ctx.upgrade?.job;
  if (step?.service !== name) return [];
  return serviceJob(ctx, name, {
    task: step.task,
    image: ctx.catalog.services[name].processes[0]!.image,
    files,
    script: step.command,
  });
}

/** A Job of a service's, run with its `-jobs` ServiceAccount. */
export function serviceJob(
  ctx: Ctx,
  name: OpenStackService,
  o: Omit<JobOpts, 'component' | 'serviceAccountName'>,
): KubeObject[] {
  const component = ctx.catalog.services[name].component;
  return job(ctx, { component, serviceAccountName: `${component}-jobs`, ...o });
}

export interface ToolboxJobOpts {
  readonly task: string;
  /** The program's file name and source. */
  readonly program: readonly [string, string];
  /** The input's file name and value, written as JSON. */
  readonly input: readonly [string, unknown];
  readonly extra?: Record<string, string>;
  /** Environment variables (`A=b C=d`) the program runs with. */
  readonly env?: string;
}

/** A Job that runs one of our Python programs in the toolbox on a JSON document of its input. */
function toolboxJob(ctx: Ctx, name: OpenStackService, o: ToolboxJobOpts): KubeObject[] {
  const [program, source] = o.program;
  const [input, value] = o.input;
  return serviceJob(ctx, name, {
    task: o.task,
    image: ctx.catalog.toolbox,
    extra: { ...o.extra, [input]: JSON.stringify(value, null, 2) + '\n', [program]: source },
    script:
      (o.env ? `export ${o.env}\n` : '') +
      `python3 ${kollaConfigDir}/${program} ${kollaConfigDir}/${input}`,
  });
}

/** Creates the service's databases and its own database user (idempotent; rotates the password). */
export function dbInitJob(ctx: Ctx, user: OpenStackService): KubeObject[] {
  const databases = ctx.catalog.services[user].databases;
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
  return serviceJob(ctx, user, {
    task: 'db-init',
    image: ctx.catalog.database.image,
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
export function messagingInitJob(ctx: Ctx, user: OpenStackService): KubeObject[] {
  const spec = {
    url: messagingManagementUrl(ctx),
    admin: { user: 'stackanetes', password: ctx.secrets.messagingAdmin },
    vhost: user,
    user,
    password: ctx.secrets.messagingUsers[user] ?? '',
  };
  return toolboxJob(ctx, user, {
    task: 'rabbitmq-init',
    program: ['rabbitmq-init.py', rabbitInitPy],
    input: ['rabbitmq.json', spec],
  });
}

export function dbSyncJob(
  ctx: Ctx,
  name: OpenStackService,
  files: readonly ConfigFile[],
): KubeObject[] {
  const def = ctx.catalog.services[name];
  if (!def.dbSync) return [];
  return serviceJob(ctx, name, {
    task: 'db-sync',
    image: def.processes[0]!.image,
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
  return toolboxJob(ctx, name, {
    task: 'register',
    program: ['register.py', registerPy],
    input: ['register.json', input],
    extra: { 'clouds.yaml': adminCloudsYaml(ctx) },
    env: `OS_CLIENT_CONFIG_FILE=${kollaConfigDir}/clouds.yaml OS_CLOUD=admin`,
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
