// Glance: the image API, with image data on a PersistentVolumeClaim (the `file` store).
import { meta, type Ctx } from '../context.ts';
import type { KubeObject, PersistentVolumeClaim } from '../kube.ts';
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

export function renderGlance(ctx: Ctx): KubeObject[] {
  const def = ctx.catalog.services.glance;
  const spec = ctx.spec.services.glance;
  const api = def.processes[0]!;
  const conf = configFile(def, 'glance-api.conf', mainConfig(ctx, 'glance', def));
  const uwsgi = configFile(
    def,
    'glance-api-uwsgi.ini',
    uwsgiIni(ctx, def, 'glance-api', '/usr/bin/glance-wsgi-api', portOf(api)),
  );
  const store = spec.store;
  const pvc: PersistentVolumeClaim & { metadata: { name: string } } = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: meta(ctx, 'glance-images', 'glance', 'images'),
    spec: {
      // One replica can use a ReadWriteOnce volume; more need one they can share.
      accessModes: [spec.replicas > 1 ? 'ReadWriteMany' : 'ReadWriteOnce'],
      resources: { requests: { storage: store.size } },
      ...((store.storageClassName ?? ctx.spec.storageClassName)
        ? { storageClassName: store.storageClassName ?? ctx.spec.storageClassName }
        : {}),
    },
  };
  if (ctx.spec.retainVolumesOnDelete) {
    // The claim outlives the cloud: no owner reference, so garbage collection leaves it.
    delete pvc.metadata.ownerReferences;
  }
  return [
    ...serviceAccounts(ctx, 'glance', 'glance'),
    pvc,
    ...dbInitJob(ctx, 'glance', 'glance', def.databases),
    ...dbSyncJob(ctx, 'glance', def, [conf]),
    ...registerJob(ctx, 'glance'),
    ...processObjects(ctx, {
      component: 'glance',
      service: 'glance',
      def,
      proc: api,
      files: [conf, uwsgi],
      replicas: spec.replicas,
      volumes: [{ name: 'images', persistentVolumeClaim: { claimName: 'glance-images' } }],
      mounts: [{ name: 'images', mountPath: '/var/lib/glance/images' }],
    }),
  ];
}
