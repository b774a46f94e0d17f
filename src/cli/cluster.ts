// `stackanetes cluster up | down | status | env`: the local Kubernetes built from upstream components.
import { Command, InvalidArgumentError } from 'commander';
import {
  downSteps,
  envExports,
  listNodes,
  nodeAction,
  nodeForAction,
  planTopology,
  recordedNodeCount,
  status,
  upSteps,
  type NodeAction,
} from '../cluster/cluster.ts';
import { layout } from '../cluster/layout.ts';
import { bmcApp, bmcCredentials, bmcCredentialsFile, bmcPort, localPower } from '../cluster/bmc.ts';
import { planNodes } from '../cluster/nodes.ts';
import { runSteps, secondsSince } from '../util/progress.ts';
import { CliError } from './errors.ts';

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError('expected a whole number, 0 or more');
  return n;
}

function requireRoot() {
  if (process.getuid && process.getuid() !== 0) {
    throw new CliError(
      'the local cluster runs containerd, the kubelet and iptables: run it as root',
    );
  }
}

export function register(program: Command): void {
  const cluster = new Command('cluster').description(
    'a local Kubernetes built from upstream components (etcd, kube-*, containerd, CoreDNS, kwok)',
  );
  cluster.addHelpText(
    'after',
    `
Example:
  $ npx stackanetes cluster up --fake-nodes 10
  $ eval "$(npx stackanetes cluster env)"; kubectl get nodes

Builds and state live under $STACKANETES_CACHE (default ~/.cache/stackanetes).`,
  );

  cluster
    .command('up')
    .description('build what is missing, then start every component and wait for a Ready node')
    .option(
      '--nodes <n>',
      'keep exactly this many real nodes: this machine plus n-1 node containers (default: as before, 1 at first)',
      nonNegativeInt,
    )
    .option('--fake-nodes <n>', 'keep exactly this many kwok-simulated nodes', nonNegativeInt)
    .addHelpText(
      'after',
      `
Example:
  $ npx stackanetes cluster up                  # first run builds Kubernetes (tens of minutes)
  $ npx stackanetes cluster up --nodes 3        # this machine + 2 node containers, all real
  $ npx stackanetes cluster up --fake-nodes 100 # 100 simulated nodes beside the real one

Node containers (stackanetes-node-2, -3, …) each run their own containerd, kubelet, kube-proxy
and kube-router in their own namespaces and cgroup; \`cluster node kill NAME\` cuts one's power.`,
    )
    .action(async (opts: { fakeNodes?: number; nodes?: number }) => {
      requireRoot();
      const l = layout();
      // A node count the machine cannot hold is refused before anything starts.
      try {
        planTopology({ nodes: opts.nodes }, l);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      const t = Date.now();
      await runSteps(upSteps({ fakeNodes: opts.fakeNodes, nodes: opts.nodes }, l), { start: t });
      process.stderr.write(
        `cluster up in ${secondsSince(t)} s; logs in ${l.logs}\n` +
          `use it with: eval "$(npx stackanetes cluster env)"\n`,
      );
    });

  cluster
    .command('down')
    .description(
      'stop every process the cluster started and remove its mounts and network interfaces',
    )
    .option(
      '--purge',
      "also delete the cluster's state (etcd data, certificates, volumes); builds stay cached",
    )
    .addHelpText('after', `\nExample:\n  $ npx stackanetes cluster down --purge`)
    .action(async (opts: { purge?: boolean }) => {
      requireRoot();
      await runSteps(downSteps({ purge: opts.purge }));
    });

  cluster
    .command('status')
    .description('which components run (with PIDs), the server version and Ready nodes')
    .option('--json', 'print JSON')
    .addHelpText('after', `\nExample:\n  $ npx stackanetes cluster status`)
    .action(async (opts: { json?: boolean }) => {
      const s = await status();
      if (opts.json) {
        process.stdout.write(JSON.stringify(s, null, 2) + '\n');
      } else {
        const lines = s.components.map(
          (c) => `${c.name.padEnd(24)} ${c.running ? `running (pid ${c.pid})` : 'stopped'}`,
        );
        lines.push('');
        lines.push(`server:     ${s.server ?? 'not answering'}`);
        if (s.nodes) lines.push(`nodes:      ${s.nodes.ready}/${s.nodes.total} Ready`);
        lines.push(`kubeconfig: ${s.kubeconfig}`, `logs:       ${s.logs}`);
        process.stdout.write(lines.join('\n') + '\n');
      }
      if (!s.components.every((c) => c.running)) process.exitCode = 3;
    });

  cluster
    .command('env')
    .description("print shell exports: KUBECONFIG, and PATH with the cluster's kubectl first")
    .addHelpText(
      'after',
      `\nExample:\n  $ eval "$(npx stackanetes cluster env)"; kubectl get nodes`,
    )
    .action(() => {
      process.stdout.write(envExports());
    });

  const node = new Command('node').description(
    "the cluster's real nodes: list them, or power a node container on or off",
  );
  node.addHelpText(
    'after',
    `
Example:
  $ npx stackanetes cluster up --nodes 3
  $ npx stackanetes cluster node list
  $ npx stackanetes cluster node kill stackanetes-node-3   # power cut: every process dies at once
  $ npx stackanetes cluster node start stackanetes-node-3  # boots; its kubelet re-registers`,
  );
  node
    .command('list')
    .description('every real node: address, pod subnet, power, Ready, pods')
    .option('--json', 'print JSON')
    .addHelpText('after', `\nExample:\n  $ npx stackanetes cluster node list`)
    .action(async (opts: { json?: boolean }) => {
      const rows = await listNodes();
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      const head = ['NAME', 'KIND', 'ADDRESS', 'POD SUBNET', 'POWER', 'STATUS', 'PODS', 'MEMORY'];
      const table = [
        head,
        ...rows.map((r) => [
          r.name,
          r.kind,
          r.ip,
          r.podCidr,
          r.power,
          r.ready,
          String(r.pods),
          r.memoryMiB === undefined ? '(machine)' : `${r.memoryMiB} MiB`,
        ]),
      ];
      const widths = head.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
      process.stdout.write(
        table
          .map((r) =>
            r
              .map((c, i) => c.padEnd(widths[i] ?? 0))
              .join('  ')
              .trimEnd(),
          )
          .join('\n') + '\n',
      );
    });
  const actions: [NodeAction, string, string][] = [
    ['start', 'boot a node container; waits until its kubelet reports Ready', 'start'],
    [
      'stop',
      'shut a node container down cleanly: kubelet first, then every pod with its grace period',
      'stop',
    ],
    ['kill', 'cut the power: every process of the node dies at once and its network goes', 'kill'],
  ];
  for (const [action, description] of actions) {
    const cmd = node
      .command(`${action} <name>`)
      .description(description)
      .addHelpText(
        'after',
        `\nExample:\n  $ npx stackanetes cluster node ${action} stackanetes-node-2`,
      );
    if (action === 'start')
      cmd.option('--no-wait', 'return once it boots, without waiting for Ready');
    cmd.action(async (name: string, opts: { wait?: boolean }) => {
      requireRoot();
      try {
        nodeForAction(name);
      } catch (err) {
        throw new CliError((err as Error).message);
      }
      const t = Date.now();
      const note = await nodeAction(action, name, { wait: opts.wait });
      process.stderr.write(`${name}: ${note} (${secondsSince(t)} s)\n`);
    });
  }
  cluster.addCommand(node);

  cluster
    .command('bmc')
    .description(
      "serve the node containers' power control as a Redfish BMC (`cluster up` runs it on 10.244.0.1:8000)",
    )
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port', String(bmcPort))
    .addHelpText(
      'after',
      `
Example:
  $ sudo npx stackanetes cluster bmc --port 8000
  $ curl -u stackanetes:PASSWORD http://127.0.0.1:8000/redfish/v1/Systems/stackanetes-node-2
The user and password are generated once into the cluster's state (pki/bmc.json).`,
    )
    .action(async (opts: { host: string; port: string }) => {
      requireRoot();
      const l = layout();
      const app = bmcApp({
        // The node count is read on every request: \`up --nodes N\` may change it.
        power: localPower(l, () => planNodes(recordedNodeCount(l))),
        credentials: bmcCredentials(l),
        log: (line) => process.stdout.write(`${line}\n`),
      });
      await app.listen({ host: opts.host, port: Number(opts.port) });
      process.stdout.write(
        `BMC on http://${opts.host}:${opts.port}/redfish/v1 (credentials in ${bmcCredentialsFile(l)})\n`,
      );
      const stop = () => void app.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });

  program.addCommand(cluster);
}
