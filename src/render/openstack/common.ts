// What every OpenStack service's config shares: the oslo.config sections computed from the spec
// and the secrets (database, queue, cache, Keystone auth), the main file with the catalog's
// defaults under them and the user's overrides over them, and the config file's owner and mode.
import type { IniSections, ServiceDef } from '../../catalog/types.ts';
import type { ServiceName } from '../../api/v1alpha1/spec.ts';
import type { Ctx } from '../context.ts';
import {
  dbUrl,
  keystoneInternalUrl,
  keystonePublicUrl,
  memcachedServers,
  transportUrl,
} from './endpoints.ts';
import { mergeIni, writeIni } from '../ini.ts';
import type { ConfigFile } from '../kolla.ts';

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
  // While an upgrade pins it (Nova's compute RPC version, old and new computes side by side).
  const pin = ctx.upgrade?.pinned ? def.upgrade?.pin?.config : undefined;
  return pin ? mergeIni(out, pin) : out;
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
