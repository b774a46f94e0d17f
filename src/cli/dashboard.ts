// `stackanetes dashboard`: opens the operator's dashboard — a `kubectl port-forward` to a Ready
// operator pod, then the local URL and how to read the token (never the token itself). Runs until
// Ctrl-C. With a host operator (`stackanetes operator --dashboard-port …`, as `stackanetes up`
// starts one when no operator image is built) there is nothing to forward: it says where that
// one listens.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Command } from 'commander';
import { hostOperatorDashboard } from '../cluster/hostoperator.ts';
import { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { CliError } from './errors.ts';

const operatorLabel = 'app.kubernetes.io/name=stackanetes-operator';

interface Flags {
  namespace: string;
  port: string;
  address: string;
  tokenSecret: string;
  open?: boolean;
}

function isReady(p: KubeObject): boolean {
  const conds = (p.status as { conditions?: { type: string; status: string }[] } | undefined)
    ?.conditions;
  return (
    !p.metadata.deletionTimestamp &&
    (conds ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** The dashboard's container port of an operator pod (the port named `dashboard`). */
export function dashboardPort(pod: KubeObject): number | undefined {
  const containers = (
    pod.spec as { containers?: { ports?: { name?: string; containerPort: number }[] }[] }
  ).containers;
  for (const c of containers ?? [])
    for (const p of c.ports ?? []) if (p.name === 'dashboard') return p.containerPort;
  return undefined;
}

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(new URL('healthz', url), { signal: AbortSignal.timeout(3000) });
    await r.arrayBuffer();
    return r.ok;
  } catch {
    return false;
  }
}

/** Starts `kubectl port-forward` and resolves once it listens. */
function portForward(args: string[]): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', ['port-forward', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (d.includes('Forwarding from')) resolve(child);
    });
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        new CliError(
          e.code === 'ENOENT'
            ? 'kubectl is not on PATH (for the local cluster: eval "$(npx stackanetes cluster env)")'
            : `kubectl port-forward: ${e.message}`,
        ),
      ),
    );
    child.on('exit', (code) =>
      reject(new CliError(`kubectl port-forward exited (${code}): ${err.trim()}`)),
    );
  });
}

function openBrowser(url: string): void {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.on('error', () =>
    process.stderr.write(`(could not start ${opener}; open ${url} yourself)\n`),
  );
  child.unref();
}

export function register(program: Command): void {
  program
    .command('dashboard')
    .description(
      "Open the operator's dashboard: each cloud's components and pods, and a live timeline of what the operator did and why",
    )
    .option('-n, --namespace <ns>', "the operator's namespace", 'stackanetes-system')
    .option('-p, --port <port>', 'local port', '8081')
    .option('--address <address>', 'local address to listen on', '127.0.0.1')
    .option(
      '--token-secret <name>',
      "the Secret (in the operator's namespace) with the bearer token",
      'stackanetes-dashboard',
    )
    .option('--open', 'open the URL in a browser too')
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes dashboard                 # forwards 127.0.0.1:8081 to an operator pod
  $ npx stackanetes dashboard -p 9000 --open

The page asks for the bearer token once per browser tab; read it with
  kubectl -n stackanetes-system get secret stackanetes-dashboard -o jsonpath='{.data.token}' | base64 -d
The dashboard is read-only. Stop the forward with Ctrl-C.`,
    )
    .action(async (flags: Flags) => {
      const client = await KubeClient.create();
      let pods: KubeObject[];
      try {
        pods = (
          await client.list('v1', 'Pod', {
            namespace: flags.namespace,
            labelSelector: operatorLabel,
          })
        ).items;
      } finally {
        client.close();
      }
      const tokenHint = `kubectl -n ${flags.namespace} get secret ${flags.tokenSecret} -o jsonpath='{.data.token}' | base64 -d`;
      const pod = pods.filter(isReady).find((p) => dashboardPort(p) !== undefined);
      let url: string;
      let forward: ChildProcess | undefined;
      if (!pod) {
        if (await answers(hostOperatorDashboard)) {
          url = hostOperatorDashboard;
          process.stderr.write(
            `no operator pod in ${flags.namespace}; the host operator serves the dashboard\n`,
          );
        } else {
          throw new CliError(
            pods.length
              ? `no Ready operator pod with a dashboard port in namespace ${flags.namespace} (${pods.map((p) => p.metadata.name).join(', ')}): see kubectl -n ${flags.namespace} describe pods -l ${operatorLabel}`
              : `no operator in namespace ${flags.namespace}: install it with \`kubectl apply --server-side -k deploy/\`, or run one here with \`npx stackanetes operator --dashboard-port 8081 --dashboard-host 127.0.0.1\``,
          );
        }
      } else {
        const remote = dashboardPort(pod)!;
        forward = await portForward([
          '-n',
          flags.namespace,
          `pod/${pod.metadata.name}`,
          '--address',
          flags.address,
          `${flags.port}:${remote}`,
        ]);
        url = `http://${flags.address.includes(':') ? `[${flags.address}]` : flags.address}:${flags.port}/`;
        if (!(await answers(url))) {
          forward.kill();
          throw new CliError(
            `the forward to ${pod.metadata.name}:${remote} does not answer ${url}healthz`,
          );
        }
        process.stderr.write(
          `forwarding ${url} → ${flags.namespace}/${pod.metadata.name}:${remote}\n`,
        );
      }
      process.stdout.write(
        [
          `dashboard: ${url}`,
          `token (the page asks for it once per tab): ${tokenHint}`,
          forward ? 'Ctrl-C stops the forward.' : '',
          '',
        ]
          .filter((l, i, a) => l || i === a.length - 1)
          .join('\n'),
      );
      if (flags.open) openBrowser(url);
      if (!forward) return;
      await new Promise<void>((resolve) => {
        const stop = () => {
          forward.kill();
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        forward.once('exit', (code) => {
          process.stderr.write(`kubectl port-forward ended (${code})\n`);
          process.exitCode = 1;
          resolve();
        });
      });
    });
}
