// Memcached: a StatefulSet so that every member has a stable name, since OpenStack clients
// list the servers themselves and hash keys across them.
import type { Ctx } from '../context.ts';
import { kollaConfig } from '../kolla.ts';
import type { KubeObject } from '../kube.ts';
import { statefulSet } from '../statefulset.ts';
import { service } from '../workload.ts';
import { backendObjects, backendPod } from './backend.ts';

export function renderCache(ctx: Ctx): KubeObject[] {
  const spec = ctx.spec.infrastructure.cache;
  const def = ctx.catalog.cache;
  const cacheService = def.service;
  const port = def.ports.memcached;
  const config = kollaConfig(
    ctx,
    'cache',
    cacheService,
    `memcached -p ${port} -U 0 -l 0.0.0.0 -m 256 -c 4096`,
    [],
  );
  const pod = { component: 'cache', def, replicas: spec.replicas, config } as const;
  const { template } = backendPod(ctx, {
    ...pod,
    resources: spec.resources,
    container: {
      ports: [{ name: 'memcached', port }],
      // memcached answers a TCP connect from its own event loop; the kernel's listen backlog
      // answers for a hung one, which this does not notice (a hang is rare; a restart loses the
      // cache, which every client tolerates).
      probe: { ready: { kind: 'tcp', port }, live: { kind: 'tcp', port } },
    },
  });
  const sts = statefulSet(ctx, {
    component: 'cache',
    name: cacheService,
    serviceName: cacheService,
    replicas: spec.replicas,
    template,
    parallel: true,
  });
  return backendObjects(ctx, pod, [
    service(ctx, cacheService, 'cache', cacheService, [{ name: 'memcached', port }], {
      headless: true,
    }),
    sts,
  ]);
}
