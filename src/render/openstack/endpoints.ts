// Where each service answers, from the catalog: the Service names and ports of OpenStack's
// processes and of the database, queue and cache, and the URLs built from them.
import type { PublicService } from '../../api/v1alpha1/spec.ts';
import type { ComponentName, ProcessDef, ReleaseCatalog } from '../../catalog/types.ts';
import { publicUrl, svcHost, type Ctx } from '../context.ts';

export type OpenStackService = keyof ReleaseCatalog['services'];

type Where = Pick<Ctx, 'catalog' | 'namespace'>;

/** A process of a service, as the catalog describes it. */
export function processOf(ctx: Pick<Ctx, 'catalog'>, service: OpenStackService, name: string) {
  const p = ctx.catalog.services[service].processes.find((x) => x.name === name);
  if (!p) throw new Error(`${service}: the catalog has no process ${name}`);
  return p;
}

/** The port a process serves on (its first). */
export function portOf(proc: ProcessDef): number {
  const p = proc.ports[0]?.port;
  if (p === undefined) throw new Error(`${proc.name}: the catalog gives it no port`);
  return p;
}

/** The name of a process's workload and Service: `<service>-<process>`. */
export function processName(service: string, proc: string): string {
  return `${service}-${proc}`;
}

/** A process's in-cluster base URL, `http://<service>-<process>.<namespace>.svc:<port>`. */
export function internalUrl(ctx: Where, service: OpenStackService, proc: string): string {
  const port = portOf(processOf(ctx, service, proc));
  return `http://${svcHost(ctx, processName(service, proc))}:${port}`;
}

/** The host and port of a process, for options that take them apart. */
export function processHost(ctx: Where, service: OpenStackService, proc: string) {
  return {
    host: svcHost(ctx, processName(service, proc)),
    port: portOf(processOf(ctx, service, proc)),
  };
}

/** What the public endpoints are served by: each Keystone endpoint, and Nova's console proxy. */
export interface PublicProcess {
  readonly component: ComponentName;
  readonly key: PublicService;
  readonly service: OpenStackService;
  readonly process: string;
}

export function publicProcesses(ctx: Pick<Ctx, 'catalog'>): PublicProcess[] {
  const out: PublicProcess[] = [];
  for (const [service, def] of Object.entries(ctx.catalog.services)) {
    for (const e of def.endpoints) {
      out.push({
        component: def.component,
        key: e.name as PublicService,
        service: service as OpenStackService,
        process: e.process,
      });
    }
    // The console proxy is not in Keystone's catalog; browsers reach it by its own host name.
    if (service === 'nova') {
      out.push({ component: 'nova', key: 'novncproxy', service: 'nova', process: 'novncproxy' });
    }
  }
  return out;
}

export function keystoneInternalUrl(ctx: Where): string {
  return internalUrl(ctx, 'keystone', ctx.catalog.services.keystone.endpoints[0]!.process);
}

export function keystonePublicUrl(ctx: Where & Pick<Ctx, 'spec'>): string {
  return publicUrl(ctx, 'keystone', keystoneInternalUrl(ctx));
}

/** The database's host and port, as clients reach it. */
export function databaseHost(ctx: Where): { host: string; port: number } {
  const db = ctx.catalog.database;
  return { host: svcHost(ctx, db.service), port: db.ports.mysql };
}

/**
 * How long (s) a service waits on one read or write of its database connection before it drops
 * the connection and takes another. Without it, a connection to a member whose node lost power
 * waits for TCP to give up (about 15 minutes): no reset ever comes, and a request (or the pool's
 * check before reuse) hangs on it. Above InnoDB's lock wait (50 s), so a statement that waits on a
 * lock still fails as a lock wait, not as a lost connection. PyMySQL takes both from the URL.
 */
export const databaseIoTimeoutSeconds = 60;

export function dbUrl(ctx: Ctx, user: string, database: string): string {
  const pw = ctx.secrets.databaseUsers[user];
  const { host, port } = databaseHost(ctx);
  const t = databaseIoTimeoutSeconds;
  return `mysql+pymysql://${user}:${pw}@${host}:${port}/${database}?charset=utf8mb4&read_timeout=${t}&write_timeout=${t}`;
}

/** The members of a StatefulSet behind a headless Service, as `<name>-<i>.<headless>.<ns>.svc`. */
export function memberHosts(ctx: Ctx, name: string, headless: string, replicas: number): string[] {
  return Array.from(
    { length: replicas },
    (_, i) => `${name}-${i}.${headless}.${ctx.namespace}.svc`,
  );
}

export function messagingHosts(ctx: Ctx): string[] {
  const { service, ports } = ctx.catalog.messaging;
  const n = ctx.spec.infrastructure.messaging.replicas;
  if (n === 1) return [`${svcHost(ctx, service)}:${ports.amqp}`];
  return memberHosts(ctx, service, `${service}-headless`, n).map((h) => `${h}:${ports.amqp}`);
}

export function transportUrl(ctx: Ctx, user: string): string {
  const pw = ctx.secrets.messagingUsers[user];
  return `rabbit://${messagingHosts(ctx)
    .map((h) => `${user}:${pw}@${h}`)
    .join(',')}/${user}`;
}

/** The queue's management API, where the rabbitmq-init Jobs create vhosts and users. */
export function messagingManagementUrl(ctx: Ctx): string {
  const { service, ports } = ctx.catalog.messaging;
  return `http://${svcHost(ctx, service)}:${ports.management}`;
}

export function memcachedServers(ctx: Ctx): string[] {
  const { service, ports } = ctx.catalog.cache;
  const n = ctx.spec.infrastructure.cache.replicas;
  return memberHosts(ctx, service, service, n).map((h) => `${h}:${ports.memcached}`);
}
