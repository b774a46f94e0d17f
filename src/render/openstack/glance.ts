// Glance: the image API, with image data on a PersistentVolumeClaim (the `file` store).
import { meta, type Ctx } from '../context.ts';
import type { KubeObject, PersistentVolumeClaim } from '../kube.ts';
import { wsgiService } from './wsgi.ts';

export function renderGlance(ctx: Ctx): KubeObject[] {
  const spec = ctx.spec.services.glance;
  const store = spec.store;
  const pvc: PersistentVolumeClaim & KubeObject = {
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
  const { objects } = wsgiService(ctx, 'glance', {
    // Image uploads and downloads stream through a worker for as long as they take.
    uwsgi: { harakiri: '0' },
    volumes: [{ name: 'images', persistentVolumeClaim: { claimName: 'glance-images' } }],
    mounts: [{ name: 'images', mountPath: '/var/lib/glance/images' }],
  });
  return [pvc, ...objects];
}
