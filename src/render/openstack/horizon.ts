// Horizon: the Django dashboard, served by uWSGI (static files too). Its settings file,
// local_settings.py, is Python: catalog defaults, then values computed from the spec and the
// secrets, then the user's `settings` overrides, each written as a Python literal.
import type { Ctx } from '../context.ts';
import { image, publicHost, publicUrl } from '../context.ts';
import { contentHash } from '../hash.ts';
import type { KubeObject } from '../kube.ts';
import { configFile } from './common.ts';
import { processObjects } from './process.ts';
import { serviceSetup } from './service-jobs.ts';
import { uwsgiIni } from './wsgi.ts';
import { internalUrl, keystoneInternalUrl, memcachedServers, processOf } from './endpoints.ts';

/** The one section of Horizon's config overrides: Django/Horizon setting name → value. */
export const horizonSettingsSection = 'settings';
/** Settings that must be Python identifiers (they become module-level names). */
export const pythonIdentifier = /^[A-Za-z_][A-Za-z0-9_]*$/;
const staticRoot = '/var/lib/openstack-dashboard/static';
/**
 * Debian's openstack-dashboard execs every local_settings.d/*.py snippet (sorted by name) after
 * importing local_settings.py, and its own snippets set CACHES to a per-process LocMemCache (with
 * the cache session engine, a login stored by one uWSGI worker is unknown to the other: the user
 * is sent back to the login page), DEBUG, COMPRESS_OFFLINE, STATIC_ROOT and WEBROOT. The rendered
 * settings are therefore applied again by a snippet that sorts after all of them.
 */
export const horizonSnippetName = '_9999_stackanetes.py';
const snippetDir = '/etc/openstack-dashboard/local_settings.d';

/** A JSON-like value written as a Python literal. */
export type PyValue =
  string | number | boolean | null | readonly PyValue[] | { readonly [k: string]: PyValue };

export function renderHorizon(ctx: Ctx): KubeObject[] {
  const def = ctx.catalog.services.horizon;
  const server = processOf(ctx, 'horizon', 'server');
  const settings = horizonSettings(ctx);
  const webroot = typeof settings.WEBROOT === 'string' ? settings.WEBROOT : '/';
  const conf = configFile(def, def.mainConfig, localSettings(settings));
  const snippet = configFile(
    def,
    horizonSnippetName,
    localSettings(settings, [
      "# Applied after Debian's local_settings.d snippets, which would otherwise override these",
      '# (CACHES with a per-process LocMemCache, DEBUG, STATIC_ROOT, WEBROOT, …).',
    ]),
    `${snippetDir}/${horizonSnippetName}`,
  );
  const uwsgi = configFile(
    def,
    'horizon-uwsgi.ini',
    uwsgiIni(ctx, def, 'horizon', server, {
      'static-map': `${webroot.replace(/\/*$/, '/')}static=${staticRoot}`,
      'offload-threads': '2',
      // An image uploaded through the dashboard streams through it for as long as it takes.
      harakiri: '0',
    }),
  );
  return [
    // With Horizon in Keystone's catalog (type `dashboard`), so that people and tools can find it.
    ...serviceSetup(ctx, 'horizon', []),
    ...processObjects(ctx, { service: 'horizon', proc: server, files: [conf, snippet, uwsgi] }),
  ];
}

/**
 * Horizon's URL, as registered in Keystone's catalog (and linked from the operator's dashboard):
 * its public host name when it has one, else its Service.
 */
export function horizonUrl(ctx: Pick<Ctx, 'spec' | 'namespace' | 'catalog'>): string {
  return publicUrl(ctx, 'horizon', internalUrl(ctx, 'horizon', 'server'));
}

/** Catalog defaults, computed values, then the user's overrides: setting → value. */
export function horizonSettings(ctx: Ctx): Record<string, PyValue> {
  const def = ctx.catalog.services.horizon;
  const defaults = def.defaults[def.mainConfig]?.[horizonSettingsSection] ?? {};
  const overrides = ctx.spec.services.horizon.config;
  for (const section of Object.keys(overrides)) {
    if (section !== horizonSettingsSection) {
      throw new Error(
        `spec.services.horizon.config.${section}: Horizon takes overrides only in the section "settings"`,
      );
    }
  }
  const user = overrides[horizonSettingsSection] ?? {};
  const merged: Record<string, PyValue> = {
    ...defaults,
    ...computed(ctx, defaults.WEBROOT),
    ...user,
  };
  for (const key of Object.keys(merged)) {
    if (!pythonIdentifier.test(key)) {
      throw new Error(
        `spec.services.horizon.config.settings.${key}: a setting name must be a Python identifier`,
      );
    }
  }
  return merged;
}

function computed(ctx: Ctx, defaultWebroot: unknown): Record<string, PyValue> {
  const userWebroot = ctx.spec.services.horizon.config[horizonSettingsSection]?.WEBROOT;
  const webrootRaw =
    typeof userWebroot === 'string'
      ? userWebroot
      : typeof defaultWebroot === 'string'
        ? defaultWebroot
        : '/';
  const webroot = webrootRaw.replace(/\/*$/, '/');
  const keystone = keystoneInternalUrl(ctx);
  const tls =
    Boolean(ctx.spec.endpoints.public.tlsSecretName) && publicHost(ctx, 'horizon') !== undefined;
  const neutron = ctx.spec.services.neutron.enabled;
  const out: Record<string, PyValue> = {
    SECRET_KEY: ctx.secrets.horizonSecretKey,
    OPENSTACK_HOST: new URL(keystone).hostname,
    OPENSTACK_KEYSTONE_URL: `${keystone}/v3`,
    OPENSTACK_API_VERSIONS: { identity: 3, image: 2, compute: 2 },
    OPENSTACK_KEYSTONE_DEFAULT_DOMAIN: 'Default',
    OPENSTACK_KEYSTONE_MULTIDOMAIN_SUPPORT: false,
    // Horizon runs in the cluster: it calls the services on their internal endpoints.
    OPENSTACK_ENDPOINT_TYPE: 'internalURL',
    SECONDARY_ENDPOINT_TYPE: 'publicURL',
    // Two caches on the same memcached. What Horizon renders and caches (the Angular templates
    // it preloads, inside a compressed block whose key must be in the image's offline manifest)
    // is keyed by the image as well: during a roll to another image, pods of both images share
    // memcached, and a fragment cached by the old image made every page of the new one fail
    // (OfflineGenerationError). Sessions keep the keys they had (Django's session keys are prefixed
    // already), without the image, so that nobody is logged out by a roll.
    CACHES: {
      default: {
        BACKEND: 'django.core.cache.backends.memcached.PyMemcacheCache',
        LOCATION: memcachedServers(ctx),
        KEY_PREFIX: `horizon-${contentHash(image(ctx, 'horizon'), 12)}`,
      },
      sessions: {
        BACKEND: 'django.core.cache.backends.memcached.PyMemcacheCache',
        LOCATION: memcachedServers(ctx),
      },
    },
    SESSION_CACHE_ALIAS: 'sessions',
    OPENSTACK_NEUTRON_NETWORK: {
      enable_router: neutron,
      enable_quotas: neutron,
      enable_ipv6: neutron,
      enable_distributed_router: false,
      enable_ha_router: false,
      enable_fip_topology_check: neutron,
    },
    LOCAL_PATH: '/var/lib/openstack-dashboard',
    STATIC_ROOT: staticRoot,
    STATIC_URL: `${webroot}static/`,
    CSRF_COOKIE_SECURE: tls,
    SESSION_COOKIE_SECURE: tls,
    SESSION_COOKIE_HTTPONLY: true,
  };
  if (tls) {
    // TLS ends at the ingress, which says so in X-Forwarded-Proto.
    out.SECURE_PROXY_SSL_HEADER = ['HTTP_X_FORWARDED_PROTO', 'https'];
  }
  return out;
}

/** local_settings.py (and the snippet): one assignment per setting, sorted by name. */
export function localSettings(
  settings: Readonly<Record<string, PyValue>>,
  comment: readonly string[] = [],
): string {
  const lines = [
    '# Rendered by Stackanetes from the OpenStackCloud spec; changes here are overwritten.',
    '# Override settings in spec.services.horizon.config.settings.',
    ...comment,
    '',
  ];
  for (const key of Object.keys(settings).sort()) {
    if (!pythonIdentifier.test(key))
      throw new Error(`horizon setting ${JSON.stringify(key)} is not a Python identifier`);
    lines.push(`${key} = ${pyLiteral(settings[key]!)}`);
  }
  return lines.join('\n') + '\n';
}

/**
 * A Python literal for a JSON-like value. JSON string escapes (\" \\ \n \uXXXX …) are valid in
 * Python string literals, so strings are written as JSON strings.
 */
export function pyLiteral(v: PyValue, indent = ''): string {
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`${v} has no Python literal`);
    return String(v);
  }
  if (typeof v === 'string') return JSON.stringify(v);
  const inner = `${indent}    `;
  if (Array.isArray(v)) {
    const items = v as readonly PyValue[];
    if (items.length === 0) return '[]';
    return `[\n${items.map((x) => `${inner}${pyLiteral(x, inner)},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(v as Record<string, PyValue>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${pyLiteral(x, inner)},`).join('\n')}\n${indent}}`;
}
