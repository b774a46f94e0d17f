// Placement: the resource inventory API Nova schedules against.
import type { Ctx } from '../context.ts';
import type { KubeObject } from '../kube.ts';
import {
  configFile,
  dbInitJob,
  dbSyncJob,
  mainConfig,
  processObjects,
  registerJob,
  serviceAccounts,
  uwsgiIni,
} from './common.ts';
import { portOf } from './endpoints.ts';

export function renderPlacement(ctx: Ctx): KubeObject[] {
  const def = ctx.catalog.services.placement;
  const api = def.processes[0]!;
  const conf = configFile(def, 'placement.conf', mainConfig(ctx, 'placement', def));
  const uwsgi = configFile(
    def,
    'placement-api-uwsgi.ini',
    uwsgiIni(ctx, def, 'placement-api', '/usr/bin/placement-api', portOf(api)),
  );
  return [
    ...serviceAccounts(ctx, 'placement', 'placement'),
    ...dbInitJob(ctx, 'placement', 'placement', def.databases),
    ...dbSyncJob(ctx, 'placement', def, [conf]),
    ...registerJob(ctx, 'placement'),
    ...processObjects(ctx, {
      component: 'placement',
      service: 'placement',
      def,
      proc: api,
      files: [conf, uwsgi],
      replicas: ctx.spec.services.placement.replicas,
    }),
  ];
}
