// The operator's HTTP endpoints: /metrics (Prometheus), /healthz (the process answers; never
// tied to work in progress, so a liveness probe cannot kill the controller mid-task) and
// /readyz (caches synced).
import Fastify, { type FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface OperatorMetrics {
  readonly registry: Registry;
  readonly reconciles: Counter<'outcome'>;
  readonly reconcileSeconds: Histogram;
  readonly queueDepth: Gauge;
  readonly apiRequests: Gauge<'verb' | 'resource'>;
  readonly leader: Gauge;
}

export function operatorMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'stackanetes_operator_' });
  return {
    registry,
    reconciles: new Counter({
      name: 'stackanetes_reconcile_total',
      help: 'Reconciles of OpenStackClouds by outcome (ready, progressing, error)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    reconcileSeconds: new Histogram({
      name: 'stackanetes_reconcile_duration_seconds',
      help: 'Time spent in one reconcile',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'stackanetes_workqueue_depth',
      help: 'Clouds waiting to be reconciled',
      registers: [registry],
    }),
    apiRequests: new Gauge({
      name: 'stackanetes_api_requests',
      help: 'Kubernetes API requests made since start, by verb and resource',
      labelNames: ['verb', 'resource'],
      registers: [registry],
    }),
    leader: new Gauge({
      name: 'stackanetes_leader',
      help: '1 while this replica is the elected leader',
      registers: [registry],
    }),
  };
}

export async function serveMetrics(
  metrics: OperatorMetrics,
  opts: { port: number; host: string; ready: () => boolean; beforeScrape?: () => void },
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  app.get('/healthz', () => Promise.resolve('ok\n'));
  app.get('/readyz', async (_req, reply) => {
    if (opts.ready()) return 'ok\n';
    return reply.code(503).send('caches not synced\n');
  });
  app.get('/metrics', async (_req, reply) => {
    opts.beforeScrape?.();
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  await app.listen({ port: opts.port, host: opts.host });
  return app;
}
