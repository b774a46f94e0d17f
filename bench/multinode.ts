// bench/multinode: the local cluster's real nodes. With the cluster up and no cloud on it:
// how long `cluster up --nodes 3` takes to add two node containers to a one-node cluster (both
// Ready), how long a stopped node takes to boot Ready again (`cluster node start`), and each
// node container's memory (cgroup working set) while idle. With --cloud (a cloud deployed on the
// three nodes): each node container's memory under it, and how long each node took to pull each
// image from the cluster's registry (the kubelet's "Successfully pulled" events, which give it).
// Saves through bench/results.ts (variant `nodes`, or `cloud` with --cloud).
// Usage: sudo node bench/multinode.ts            (cluster up, no cloud: changes the node count)
//        sudo node bench/multinode.ts --cloud    (after `up --nodes 3 -f examples/ha.yaml`)
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { kubectl, listNodes } from '../src/cluster/cluster.ts';
import { layout } from '../src/cluster/layout.ts';
import { saveResult } from './results.ts';

const l = layout();
const cli = (args: string[]) => {
  const t = performance.now();
  const r = spawnSync(process.execPath, ['bin/stackanetes.js', ...args], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`stackanetes ${args.join(' ')} exited ${r.status}`);
  return (performance.now() - t) / 1000;
};
const kubectlOut = async (args: string[]) => (await kubectl(l, args)).stdout;

async function nodeMemory(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of await listNodes(l)) if (r.memoryMiB !== undefined) out[r.name] = r.memoryMiB;
  return out;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

if (process.argv.includes('--cloud')) {
  // Pull times per node and image, from the kubelet's events (kept 1 h by the API server).
  const events = JSON.parse(
    await kubectlOut(['get', 'events', '-A', '--field-selector', 'reason=Pulled', '-o', 'json']),
  ) as { items: { message?: string; source?: { host?: string }; reportingInstance?: string }[] };
  const pulls: Record<string, Record<string, number>> = {};
  let cached = 0;
  for (const e of events.items) {
    const host = e.source?.host ?? e.reportingInstance ?? '?';
    const m = /Successfully pulled image "([^"]+)" in ([\d.]+)(ms|s)/.exec(e.message ?? '');
    if (!m) {
      if (/already present/.test(e.message ?? '')) cached++;
      continue;
    }
    const image = m[1]!.replace(/^.*\//, '');
    const secs = m[3] === 'ms' ? Number(m[2]) / 1000 : Number(m[2]);
    (pulls[host] ??= {})[image] = round1(secs);
  }
  const perNode = Object.fromEntries(
    Object.entries(pulls).map(([node, p]) => {
      const v = Object.values(p);
      return [
        node,
        {
          images: v.length,
          totalSeconds: round1(v.reduce((a, b) => a + b, 0)),
          max: Math.max(...v),
        },
      ];
    }),
  );
  const memory = await nodeMemory();
  console.log('memory of each node container under the cloud (MiB):', memory);
  console.log('pulls per node:', perNode, `(${cached} "already present" events)`);
  const file = saveResult(
    'multinode',
    { memoryMiB: memory, pulls: perNode, pullsByImage: pulls },
    'cloud',
  );
  console.log(`saved ${file}`);
} else {
  const pods = await kubectlOut([
    'get',
    'pods',
    '-n',
    'openstack',
    '--no-headers',
    '--ignore-not-found',
  ]);
  if (pods.trim()) {
    console.error(
      'a cloud runs in namespace openstack: this bench changes the node count; use --cloud',
    );
    process.exit(2);
  }
  cli(['cluster', 'up', '--nodes', '1', '--fake-nodes', '0']);
  const addTwo = cli(['cluster', 'up', '--nodes', '3', '--fake-nodes', '0']);
  console.log(`cluster up --nodes 3 from one node: ${addTwo.toFixed(1)} s`);
  // Idle: a minute for what each node starts (kube-proxy, kube-router) to settle.
  await new Promise((r) => setTimeout(r, 60_000));
  const idle = await nodeMemory();
  console.log('idle memory of each node container (MiB):', idle);
  cli(['cluster', 'node', 'stop', 'stackanetes-node-3']);
  const t = performance.now();
  cli(['cluster', 'node', 'start', 'stackanetes-node-3']);
  for (;;) {
    const row = (await listNodes(l)).find((r) => r.name === 'stackanetes-node-3');
    if (row?.ready === 'Ready') break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const startToReady = (performance.now() - t) / 1000;
  console.log(`node start → Ready: ${startToReady.toFixed(1)} s`);
  const file = saveResult(
    'multinode',
    {
      addTwoNodesSeconds: round1(addTwo),
      startToReadySeconds: round1(startToReady),
      idleMiB: idle,
    },
    'nodes',
  );
  console.log(`saved ${file}`);
}
