// OpenStack's WSGI APIs, served over HTTP by uWSGI: the uWSGI ini, and a whole API service
// (Keystone, Glance, Placement) from its main config file, its set-up and its one process.
import type { Ctx } from '../context.ts';
import type { ConfigFile } from '../kolla.ts';
import type { KubeObject, Volume, VolumeMount } from '../kube.ts';
import { writeIni } from '../ini.ts';
import { uwsgiStatsPort } from '../probes.ts';
import type { ProcessDef, ServiceDef, WsgiApp } from '../../catalog/types.ts';
import { configFile, mainConfig } from './common.ts';
import { portOf, processName, type OpenStackService } from './endpoints.ts';
import { processObjects } from './process.ts';
import { serviceSetup } from './service-jobs.ts';

/**
 * How long a worker may spend on one request before uWSGI's master kills it and forks another
 * (`harakiri`). The liveness probe asks the master, which answers while its workers are busy, so
 * a worker stuck for good is the master's to replace: five minutes is far beyond any request of
 * these APIs on a loaded node (a token took 26 s at load average 85), and APIs that stream
 * uploads (Glance, Horizon's image upload) turn it off.
 */
export const harakiriSeconds = 300;

/** A uWSGI ini for a WSGI API, served over HTTP directly by uWSGI. */
export function uwsgiIni(
  ctx: Ctx,
  def: ServiceDef,
  name: string,
  proc: ProcessDef,
  extra: Record<string, string | boolean | string[]> = {},
): string {
  const venv = ctx.catalog.uwsgiVirtualenv;
  const app = wsgiApp(def.component, proc);
  const stats = uwsgiStatsPort(proc.probe);
  return writeIni({
    uwsgi: {
      plugins: ctx.catalog.uwsgiPlugin,
      ...(venv ? { virtualenv: venv } : {}),
      'http-socket': `:${portOf(proc)}`,
      // On every address of the pod: the kubelet's probe comes from the node. It tells worker
      // pids, request counts and memory, no configuration and no secret.
      ...(stats ? { stats: `:${stats}`, 'stats-http': true } : {}),
      harakiri: String(harakiriSeconds),
      ...('file' in app ? { 'wsgi-file': app.file } : { module: app.module }),
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

/** uWSGI options a service adds or changes. */
export type UwsgiOptions = Record<string, string | boolean | string[]>;

/** The uWSGI ini of an API process, `<service>-<process>-uwsgi.ini`, serving on its port. */
export function apiUwsgi(
  ctx: Ctx,
  service: OpenStackService,
  proc: ProcessDef,
  extra: UwsgiOptions = {},
): ConfigFile {
  const def = ctx.catalog.services[service];
  const name = processName(service, proc.name);
  return configFile(def, `${name}-uwsgi.ini`, uwsgiIni(ctx, def, name, proc, extra));
}

/** The application a WSGI process loads, from the catalog. */
export function wsgiApp(service: string, proc: ProcessDef): WsgiApp {
  if (!proc.wsgi) throw new Error(`${service} ${proc.name}: the catalog gives no WSGI application`);
  return proc.wsgi;
}

export interface WsgiServiceOpts {
  readonly uwsgi?: UwsgiOptions;
  readonly volumes?: Volume[];
  readonly mounts?: VolumeMount[];
}

/**
 * An API service of one process (the catalog's first): its main config file, its set-up
 * (serviceSetup) and its API. The main file is returned for the service's own further Jobs.
 */
export function wsgiService(
  ctx: Ctx,
  service: OpenStackService,
  o: WsgiServiceOpts,
): { conf: ConfigFile; objects: KubeObject[] } {
  const def: ServiceDef = ctx.catalog.services[service];
  const api = def.processes[0]!;
  const conf = configFile(def, def.mainConfig, mainConfig(ctx, service, def));
  const objects = [
    ...serviceSetup(ctx, service, [conf]),
    ...processObjects(ctx, {
      service,
      proc: api,
      files: [conf, apiUwsgi(ctx, service, api, o.uwsgi)],
      volumes: o.volumes,
      mounts: o.mounts,
    }),
  ];
  return { conf, objects };
}
