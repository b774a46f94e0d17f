// Memcached: a StatefulSet so that every member has a stable name, since OpenStack clients
// list the servers themselves and hash keys across them.
import { meta, selectorLabels, type Ctx } from '../context.ts';
import { restrictedUid } from '../../catalog/images.ts';
import { coreCpuRequest } from '../priority.ts';
import { kollaConfig } from '../kolla.ts';
import type { KubeObject, StatefulSet } from '../kube.ts';
import {
  disruptionBudget,
  kollaContainer,
  podTemplate,
  service,
  serviceAccount,
} from '../workload.ts';

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
  const container = kollaContainer(ctx, {
    name: 'memcached',
    image: def.image,
    config,
    ports: [{ name: 'memcached', port }],
    // memcached answers a TCP connect from its own event loop; the kernel's listen backlog
    // answers for a hung one, which this does not notice (a hang is rare; a restart loses the
    // cache, which every client tolerates).
    probe: { ready: { kind: 'tcp', port }, live: { kind: 'tcp', port } },
    resources: spec.resources,
    cpu: coreCpuRequest,
    memory: def.memory,
  });
  const template = podTemplate(ctx, {
    component: 'cache',
    part: cacheService,
    role: 'controlPlane',
    containers: [container],
    volumes: [config.volume],
    configHash: config.hash,
    serviceAccountName: cacheService,
    spread: spec.replicas > 1,
    user: restrictedUid(def.image),
  });
  const sts: StatefulSet & { metadata: { name: string } } = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(ctx, cacheService, 'cache', cacheService),
    spec: {
      serviceName: cacheService,
      replicas: spec.replicas,
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(ctx, 'cache', cacheService) },
      template,
    },
  };
  const out: KubeObject[] = [
    serviceAccount(ctx, cacheService, 'cache'),
    config.secret,
    service(ctx, cacheService, 'cache', cacheService, [{ name: 'memcached', port }], {
      headless: true,
    }),
    sts,
  ];
  if (spec.replicas > 1) out.push(disruptionBudget(ctx, cacheService, 'cache', cacheService));
  return out;
}
