// `stackanetes operator`: the controller. Elects a leader on a Lease; the leader runs the
// informers and the reconciler; every replica serves /metrics, /healthz and /readyz.
import type { Command } from 'commander';
import pino from 'pino';
import { KubeClient } from '../kube/client.ts';
import { LeaderElector } from '../kube/leader.ts';
import { Manager } from '../controller/manager.ts';
import { startDashboard } from '../server/dashboard-informers.ts';
import { operatorMetrics, serveMetrics } from '../server/metrics.ts';

export function register(program: Command): void {
  program
    .command('operator')
    .description('Run the OpenStackCloud controller (in-cluster config, else KUBECONFIG)')
    .option('-n, --namespace <ns>', 'watch only this namespace (default: all)')
    .option('--metrics-port <port>', 'port for /metrics, /healthz, /readyz', '8080')
    .option('--metrics-host <host>', 'address to listen on', '0.0.0.0')
    .option(
      '--lease-namespace <ns>',
      'namespace of the leader-election Lease',
      process.env.POD_NAMESPACE ?? 'stackanetes-system',
    )
    .option('--workers <n>', 'clouds reconciled at once', '2')
    .option('--dashboard-port <port>', 'serve the dashboard on this port (no dashboard without it)')
    .option('--dashboard-host <host>', 'address the dashboard listens on', '0.0.0.0')
    .option(
      '--dashboard-token-secret <name>',
      "Secret in the lease namespace with the dashboard's bearer token (created when missing)",
      'stackanetes-dashboard',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes operator                         # against the current kubeconfig
  $ npx stackanetes operator -n openstack --metrics-port 9090
  $ npx stackanetes operator --dashboard-port 8081 --dashboard-host 127.0.0.1   # then: npx stackanetes dashboard

Logs are JSON lines (pino) on stdout. Two replicas elect one leader; on SIGTERM the leader
releases its Lease so another takes over at once.`,
    )
    .action(
      async (opts: {
        namespace?: string;
        metricsPort: string;
        metricsHost: string;
        leaseNamespace: string;
        workers: string;
        dashboardPort?: string;
        dashboardHost: string;
        dashboardTokenSecret: string;
      }) => {
        const log = pino({
          name: 'stackanetes-operator',
          redact: ['*.password', '*.data', '*.stringData'],
        });
        const client = await KubeClient.create();
        const metrics = operatorMetrics();
        let manager: Manager | undefined;
        const server = await serveMetrics(metrics, {
          port: Number(opts.metricsPort),
          host: opts.metricsHost,
          ready: () => true,
          beforeScrape: () => {
            metrics.queueDepth.set(manager?.queue.length ?? 0);
            for (const [key, n] of Object.entries(client.counts.byResource)) {
              const [verb, resource] = key.split(' ') as [string, string];
              metrics.apiRequests.set({ verb, resource }, n);
            }
          },
        });
        await ensureLeaseNamespace(client, opts.leaseNamespace);
        // Every replica serves the dashboard from informers of its own, leader or not.
        const dashboard = opts.dashboardPort
          ? await startDashboard({
              client,
              log,
              ...(opts.namespace ? { namespace: opts.namespace } : {}),
              port: Number(opts.dashboardPort),
              host: opts.dashboardHost,
              tokenSecret: { namespace: opts.leaseNamespace, name: opts.dashboardTokenSecret },
            })
          : undefined;
        const elector = new LeaderElector(client, {
          namespace: opts.leaseNamespace,
          name: 'stackanetes-operator',
          onStartedLeading: async (signal) => {
            log.info({ identity: elector.identity }, 'became leader');
            metrics.leader.set(1);
            manager = new Manager({
              client,
              log,
              ...(opts.namespace ? { namespace: opts.namespace } : {}),
              workers: Number(opts.workers),
              hooks: {
                onReconcile: (key, seconds, outcome) => {
                  metrics.reconciles.inc({ outcome });
                  metrics.reconcileSeconds.observe(seconds);
                  log.info(
                    { cloud: key, seconds: Number(seconds.toFixed(3)), outcome },
                    'reconciled',
                  );
                },
              },
            });
            await manager.run(signal);
          },
          onStoppedLeading: () => {
            metrics.leader.set(0);
            log.info({}, 'stopped leading');
          },
          onNewLeader: (identity) => log.info({ leader: identity }, 'leader observed'),
          onError: (err, context) =>
            log.warn({ context, err: String(err) }, 'leader election trouble'),
        });
        elector.start();
        log.info(
          { identity: elector.identity, lease: `${opts.leaseNamespace}/stackanetes-operator` },
          'operator started',
        );
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        log.info({}, 'shutting down');
        await elector.stop();
        await dashboard?.close();
        await server.close();
        client.close();
      },
    );
}

async function ensureLeaseNamespace(client: KubeClient, ns: string): Promise<void> {
  try {
    await client.get('v1', 'Namespace', ns);
  } catch {
    await client
      .apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } })
      .catch(() => undefined);
  }
}
