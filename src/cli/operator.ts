// `stackanetes operator`: the controller. Every replica runs the informers and serves /metrics,
// /healthz and /readyz (ready once the caches are synced), and the dashboard when asked; replicas
// elect a leader on a Lease, and only the leader reconciles.
import type { Command } from 'commander';
import pino from 'pino';
import { KubeClient } from '../kube/client.ts';
import { LeaderElector, defaultIdentity } from '../kube/leader.ts';
import { Manager, defaultResyncMs } from '../controller/manager.ts';
import { startDashboard } from '../server/dashboard-informers.ts';
import { operatorMetrics, serveMetrics } from '../server/metrics.ts';
import { CliError } from './errors.ts';
import { dirname, join } from 'node:path';
import { localRegistry } from '../catalog/images.ts';
import { defaultCacheRoot } from '../images/paths.ts';

export function register(program: Command): void {
  program
    .command('operator')
    .description('Run the OpenStackCloud controller (in-cluster config, else KUBECONFIG)')
    .option(
      '-n, --namespace <ns>',
      'watch only the clouds of this namespace, and their data plane in <ns>-dataplane (default: all)',
    )
    .option('--metrics-port <port>', 'port for /metrics, /healthz, /readyz', '8080')
    .option('--metrics-host <host>', 'address to listen on', '0.0.0.0')
    .option(
      '--lease-namespace <ns>',
      'namespace of the leader-election Lease',
      process.env.POD_NAMESPACE ?? 'stackanetes-system',
    )
    .option('--workers <n>', 'clouds reconciled at once', '2')
    .option(
      '--lease-duration <seconds>',
      'how long the leader Lease holds without renewal; a new leader takes over this long after the last one stopped renewing',
      '15',
    )
    .option(
      '--scan-cache <dir>',
      "where the scan of spec.remediation keeps the images' SBOMs and the Debian indexes it downloads",
      join(dirname(defaultCacheRoot()), 'operator-scan'),
    )
    .option(
      '--registry-mirrors <name=url,...>',
      'where a registry named in image references answers, for fetching the SBOMs beside the images (others: https://<name>)',
      process.env.STACKANETES_REGISTRY_MIRRORS ?? `${localRegistry.name}=${localRegistry.url}`,
    )
    .option('--no-scan', 'leave spec.remediation to `stackanetes remediate` (no scheduled scan)')
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
releases its Lease so another takes over at once.
spec.remediation.policy report or automatic: the leader scans the images each cloud runs every
spec.remediation.scanIntervalMinutes (and once the cloud is Ready after a change of its spec),
from the SBOM pushed beside each image, against the release's -security and -updates suites
($STACKANETES_DEBIAN_MIRROR, default http://deb.debian.org/debian).`,
    )
    .action(
      async (opts: {
        namespace?: string;
        metricsPort: string;
        metricsHost: string;
        leaseNamespace: string;
        workers: string;
        leaseDuration: string;
        dashboardPort?: string;
        dashboardHost: string;
        dashboardTokenSecret: string;
        scanCache: string;
        registryMirrors: string;
        scan: boolean;
      }) => {
        const leaseSeconds = Number(opts.leaseDuration);
        if (!Number.isInteger(leaseSeconds) || leaseSeconds < 2)
          throw new CliError(
            `--lease-duration: expected a whole number of seconds, at least 2 (got ${opts.leaseDuration})`,
          );
        const log = pino({
          name: 'stackanetes-operator',
          redact: ['*.password', '*.data', '*.stringData'],
        });
        const client = await KubeClient.create();
        const metrics = operatorMetrics();
        const identity = defaultIdentity();
        const leaseName = 'stackanetes-operator';
        // The caches run on every replica: /readyz says whether they are synced, and a
        // replica that becomes leader starts from warm caches.
        const manager = new Manager({
          client,
          log,
          ...(opts.namespace ? { namespace: opts.namespace } : {}),
          workers: Number(opts.workers),
          resyncMs: defaultResyncMs,
          ...(opts.scan
            ? {
                remediationScan: {
                  cacheDir: opts.scanCache,
                  registryMirrors: opts.registryMirrors,
                },
              }
            : {}),
          reconciledBy: {
            identity,
            lease: `${opts.leaseNamespace}/${leaseName}`,
            resyncSeconds: defaultResyncMs / 1000,
          },
          hooks: {
            onReconcile: (key, seconds, outcome) => {
              metrics.reconciles.inc({ outcome });
              metrics.reconcileSeconds.observe(seconds);
              // A deleted cloud's key, queued again by the deletion of its objects: not news.
              const line = { cloud: key, seconds: Number(seconds.toFixed(3)), outcome };
              if (outcome === 'gone') log.debug(line, 'reconciled');
              else log.info(line, 'reconciled');
            },
          },
        });
        const server = await serveMetrics(metrics, {
          port: Number(opts.metricsPort),
          host: opts.metricsHost,
          ready: () => manager.synced,
          beforeScrape: () => {
            metrics.queueDepth.set(manager.queueLength);
            for (const [key, n] of Object.entries(client.counts.byResource)) {
              const [verb, resource] = key.split(' ') as [string, string];
              metrics.apiRequests.set({ verb, resource }, n);
            }
          },
        });
        manager.start();
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
          name: leaseName,
          identity,
          // client-go's proportions: renew deadline 2/3 of the lease, retry every 2/15 (15 s → 10 s, 2 s).
          leaseDurationMs: leaseSeconds * 1000,
          renewDeadlineMs: (leaseSeconds * 1000 * 2) / 3,
          retryPeriodMs: (leaseSeconds * 1000 * 2) / 15,
          onStartedLeading: async (signal) => {
            log.info({ identity }, 'became leader');
            metrics.leader.set(1);
            await manager.lead(signal);
          },
          onStoppedLeading: () => {
            metrics.leader.set(0);
            log.info({}, 'stopped leading');
          },
          onNewLeader: (leader) => log.info({ leader }, 'leader observed'),
          onError: (err, context) =>
            log.warn({ context, err: String(err) }, 'leader election trouble'),
        });
        elector.start();
        log.info({ identity, lease: `${opts.leaseNamespace}/${leaseName}` }, 'operator started');
        await new Promise<void>((resolve) => {
          const stop = () => resolve();
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        log.info({}, 'shutting down');
        await elector.stop();
        await manager.stop();
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
