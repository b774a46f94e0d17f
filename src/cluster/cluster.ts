// `cluster up | down | status | env` as plain functions: each step idempotent, so `up` after a
// crash starts whatever is not running, and a second `up` finds everything cached.
import { mirrorUrls, resolveMirrors } from './mirror.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { bmcCredentials, bmcUrl } from './bmc.ts';
import { binaryPaths, goBuildSteps } from './build.ts';
import { components, nodeLabels, nodeName, startOrder } from './components.ts';
import {
  cniConfig,
  containerdConfig,
  corefile,
  kubeletConfig,
  kubeProxyConfig,
  localPathConfig,
  registryConfig,
  writeChanged,
} from './config.ts';
import { removeCgroupTree, setCgroupValue, workingSetBytes } from './cgroups.ts';
import {
  destroyNode,
  killNode,
  nodeCpuShares,
  nodePower,
  plugNodeTunnel,
  restartInNode,
  startNode,
  stopNode,
  writeNodeConfig,
} from './nodecontainer.ts';
import { buildNodeRootfs, nodeRootfsReady } from './noderootfs.ts';
import { installPublicHosts, publicDomain, removePublicHosts } from './publichosts.ts';
import {
  containerNode,
  hostNode,
  nodeBudget,
  nodeCgroup,
  nodeDirs,
  planNodes,
  type NodeSpec,
} from './nodes.ts';
import { aptInstall, missingPackages } from '../util/apt.ts';
import { run } from '../util/exec.ts';
import { secondsSince, type Step } from '../util/progress.ts';
import { waitFor } from './wait.ts';
import { downloadModule } from './gobuild.ts';
import { adminTls, isOk } from './health.ts';
import { importArchive, importedImages } from '../images/containerd.ts';
import { buildPauseImage, buildTestImage, imageArchives, unmountUnder } from './images.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { layout, type Layout } from './layout.ts';
import {
  clusterObjects,
  fakeNode,
  fakeNodePrefix,
  kwokStages,
  toYamlStream,
  users,
} from './manifests.ts';
import {
  apiServerUrl,
  net,
  registry,
  removeKubeChains,
  setUpNetwork,
  setUpTunnelNetwork,
  tearDownNetwork,
  tearDownTunnelNetwork,
  tunnelNet,
} from './network.ts';
import { ensureCa, ensureCert, ensureServiceAccountKey } from './pki.ts';
import { isAlive, listRecords, running, startProcess, stopProcess, tail } from './processes.ts';
import { debianPackages, pauseImage, testImage, versions } from './versions.ts';

export { apiServerUrl };

function dirs(l: Layout) {
  for (const d of [
    l.state,
    l.pki,
    l.config,
    l.logs,
    l.pids,
    l.run,
    l.kubeletRoot,
    l.cniConf,
    l.volumes,
    l.shared,
    l.pathDir,
  ]) {
    mkdirSync(d, { recursive: true });
  }
}

export function kubectl(l: Layout, args: string[], input?: string) {
  return run(binaryPaths(l).kubectl, ['--kubeconfig', l.kubeconfig, ...args], {
    input,
    timeoutMs: 60_000,
  });
}

/**
 * Starts a component and waits until `ready`. One already running is kept, unless it was started
 * with another command line (another version of this code, or other simulated nodes): it is
 * stopped and started again, so that `cluster up` always leaves what it says running.
 */
async function startAndWait(
  l: Layout,
  name: (typeof startOrder)[number],
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
  fakeNodes?: number,
) {
  const c = components(l, fakeNodes)[name];
  if (!c) throw new Error(`unknown component ${name}`);
  const before = running(l.pids, name);
  const changed =
    before !== undefined && before.command.join('\0') !== [c.command, ...c.args].join('\0');
  if (changed) await stopProcess(l.pids, name);
  const wasRunning = before !== undefined && !changed;
  const rec = await startProcess({
    name,
    command: c.command,
    args: c.args,
    pidDir: l.pids,
    logDir: l.logs,
    ...(c.env ? { env: { ...process.env, ...c.env } } : {}),
  });
  await waitFor(
    `${name} to become ready (log: ${rec.log})`,
    async () => {
      if (!isAlive(rec))
        throw new Error(`${name} exited; last lines of ${rec.log}:\n${tail(rec.log)}`);
      return ready();
    },
    timeoutMs,
  ).catch((err: unknown) => {
    if (err instanceof Error && !err.message.includes('exited')) {
      err.message += `\nlast lines of ${rec.log}:\n${tail(rec.log)}`;
    }
    throw err;
  });
  return wasRunning
    ? `already running, pid ${rec.pid}`
    : `${changed ? 'restarted (its command line changed), ' : ''}pid ${rec.pid}`;
}

async function writePki(l: Layout) {
  await ensureCa(l.pki);
  await ensureServiceAccountKey(l.pki);
  const d = net.clusterDomain;
  await ensureCert(l.pki, {
    name: 'apiserver',
    cn: 'kube-apiserver',
    usage: 'server',
    dns: [
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      `kubernetes.default.svc.${d}`,
      'localhost',
      nodeName,
    ],
    ips: [net.nodeIp, '127.0.0.1', net.apiServiceIp],
  });
  await ensureCert(l.pki, {
    name: 'kubelet-serving',
    cn: nodeName,
    usage: 'server',
    dns: [nodeName, 'localhost'],
    ips: [net.nodeIp, '127.0.0.1'],
  });
  const clients: [string, string, string?][] = [
    ['admin', 'stackanetes-admin', 'system:masters'],
    ['apiserver-kubelet-client', 'kube-apiserver-kubelet-client', 'system:masters'],
    ['front-proxy-client', 'front-proxy-client'],
    ['controller-manager', 'system:kube-controller-manager'],
    ['scheduler', 'system:kube-scheduler'],
    ['kubelet', `system:node:${nodeName}`, 'system:nodes'],
    ['kube-proxy', 'system:kube-proxy'],
    ['coredns', users.coredns],
    ['local-path-provisioner', users.localPath],
    ['kwok', users.kwok],
    ['kube-router', users.kubeRouter],
    ['traefik', users.traefik],
  ];
  for (const [name, cn, org] of clients) {
    await ensureCert(l.pki, { name, cn, org, usage: 'client' });
    if (!['admin', 'apiserver-kubelet-client', 'front-proxy-client'].includes(name)) {
      writeKubeconfig(join(l.config, `${name}.kubeconfig`), apiServerUrl, l.pki, name);
    }
  }
  writeKubeconfig(l.kubeconfig, apiServerUrl, l.pki, 'admin');
}

function linkPath(l: Layout) {
  const b = binaryPaths(l);
  for (const [name, target] of [
    ['kubectl', b.kubectl],
    ['crictl', b.crictl],
  ] as const) {
    const link = join(l.pathDir, name);
    rmSync(link, { force: true });
    symlinkSync(target, link);
  }
  writeFileSync(
    join(l.config, 'crictl.yaml'),
    `runtime-endpoint: unix://${l.containerdSocket}\nimage-endpoint: unix://${l.containerdSocket}\ntimeout: 30\n`,
  );
}

async function nodeReady(l: Layout, name: string, heartbeatAfter = 0): Promise<boolean> {
  const r = await kubectl(l, ['get', 'node', name, '-o', 'json']).catch(() => undefined);
  if (!r) return false;
  const node = JSON.parse(r.stdout) as {
    status?: { conditions?: { type: string; status: string; lastHeartbeatTime?: string }[] };
  };
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
  // After a restart the node object still says what the previous kubelet reported: only a
  // heartbeat from the kubelet started now counts.
  return ready?.status === 'True' && Date.parse(ready.lastHeartbeatTime ?? '') >= heartbeatAfter;
}

export async function readyNodes(l: Layout): Promise<{ ready: number; total: number }> {
  const r = await kubectl(l, [
    'get',
    'nodes',
    '-o',
    'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
  ]);
  const lines = r.stdout.split('\n').filter(Boolean);
  return { ready: lines.filter((s) => s === 'True').length, total: lines.length };
}

/** The simulated nodes the cluster has. */
async function fakeNodeNames(l: Layout): Promise<string[]> {
  return (await kubectl(l, ['get', 'nodes', '-l', 'type=kwok', '-o', 'name'])).stdout
    .split('\n')
    .filter(Boolean)
    .map((n) => n.replace(/^node\//, ''));
}

async function ensureFakeNodes(l: Layout, count: number): Promise<string> {
  const existing = await fakeNodeNames(l);
  const wanted = new Set(Array.from({ length: count }, (_, i) => `${fakeNodePrefix}${i}`));
  const extra = existing.filter((n) => !wanted.has(n));
  // In batches: kubectl deletes one by one, and hundreds at once outlast its time limit.
  for (let i = 0; i < extra.length; i += 50) {
    await kubectl(l, [
      'delete',
      'node',
      '--wait=false',
      '--ignore-not-found',
      ...extra.slice(i, i + 50),
    ]);
  }
  // In batches: one kubectl apply of a thousand nodes is refused.
  for (let start = 0; start < count; start += 100) {
    const objs = Array.from({ length: Math.min(100, count - start) }, (_, i) =>
      fakeNode(start + i),
    );
    await kubectl(
      l,
      ['apply', '--server-side', '--force-conflicts', '--field-manager=stackanetes', '-f', '-'],
      toYamlStream(objs),
    );
  }
  await waitFor(
    `${count} simulated nodes to be Ready`,
    async () => {
      const r = await kubectl(l, [
        'get',
        'nodes',
        '-l',
        'type=kwok',
        '-o',
        'jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}',
      ]);
      const ready = r.stdout.split('\n').filter((s) => s === 'True').length;
      return ready === count;
    },
    120_000,
    1000,
  );
  return `${count} Ready`;
}

/** Build durations, kept beside the builds so `bench/cluster.ts` can report the cold build. */
export function buildTimesFile(l: Layout): string {
  return join(l.root, 'build-times.json');
}

export function readBuildTimes(l: Layout): Record<string, { seconds: number; at: string }> {
  try {
    return JSON.parse(readFileSync(buildTimesFile(l), 'utf8')) as Record<
      string,
      { seconds: number; at: string }
    >;
  } catch {
    return {};
  }
}

function recordBuildTime(l: Layout, title: string, seconds: number) {
  const times = readBuildTimes(l);
  times[title] = { seconds, at: new Date().toISOString() };
  writeFileSync(buildTimesFile(l), JSON.stringify(times, null, 2) + '\n');
}

export interface UpOptions {
  /** Number of kwok-simulated nodes; undefined keeps whatever exists. */
  fakeNodes?: number;
  /** Number of real nodes (the host node and node containers); undefined keeps what exists. */
  nodes?: number;
}

interface Topology {
  count: number;
}

function topologyFile(l: Layout): string {
  return join(l.state, 'nodes.json');
}

/** How many real nodes the cluster has (1 until `--nodes` says otherwise). */
export function recordedNodeCount(l: Layout = layout()): number {
  try {
    return (JSON.parse(readFileSync(topologyFile(l), 'utf8')) as Topology).count;
  } catch {
    return 1;
  }
}

function memTotalMiB(): number {
  const m = /^MemTotal:\s+(\d+)/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return Math.floor(Number(m?.[1] ?? 0) / 1024);
}

/**
 * The node count `up` will make and each node's memory share; throws (before anything starts)
 * for a count the machine cannot hold.
 */
export function planTopology(opts: UpOptions, l: Layout = layout()) {
  const count = opts.nodes ?? recordedNodeCount(l);
  return { count, budget: nodeBudget(count, memTotalMiB()), nodes: planNodes(count) };
}

type Topo = ReturnType<typeof planTopology>;

/** The node containers that exist on disk (whatever the recorded count says). */
function existingNodeContainers(l: Layout): NodeSpec[] {
  if (!existsSync(l.nodes)) return [];
  return readdirSync(l.nodes)
    .map((name) => /^stackanetes-node-(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => containerNode(Number(m[1])));
}

/**
 * The PersistentVolumes that live on the removed nodes' disks (local-path pins each to its node):
 * the disks are gone, so are they. Left behind, a Released volume would wait for ever for a
 * provisioner helper pod that has no node to run on. Returns how many were deleted per node.
 */
async function deleteVolumesOf(l: Layout, nodes: readonly string[]): Promise<Map<string, number>> {
  const deleted = new Map<string, number>();
  if (nodes.length === 0) return deleted;
  type Pv = {
    metadata: { name: string };
    spec?: {
      nodeAffinity?: {
        required?: {
          nodeSelectorTerms?: { matchExpressions?: { key: string; values?: string[] }[] }[];
        };
      };
    };
  };
  const pvs = (
    JSON.parse((await kubectl(l, ['get', 'pv', '-o', 'json'])).stdout) as { items: Pv[] }
  ).items;
  const names: string[] = [];
  for (const pv of pvs) {
    const node = nodes.find((n) =>
      (pv.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []).some((t) =>
        (t.matchExpressions ?? []).some(
          (e) => e.key === 'kubernetes.io/hostname' && (e.values ?? []).includes(n),
        ),
      ),
    );
    if (node === undefined) continue;
    names.push(pv.metadata.name);
    deleted.set(node, (deleted.get(node) ?? 0) + 1);
  }
  if (names.length) await kubectl(l, ['delete', 'pv', '--wait=false', ...names]);
  return deleted;
}

/**
 * Makes the real nodes what the topology says: node containers beyond the count are removed
 * (disk included, Node object and the PersistentVolumes on that disk deleted), the wanted ones
 * configured and booted; then every real node must be Ready with a heartbeat from the kubelet
 * that runs now.
 */
async function ensureNodeContainers(l: Layout, topo: Topo): Promise<string> {
  const wanted = topo.nodes.filter((n) => n.kind === 'container');
  const wantedNames = new Set(wanted.map((n) => n.name));
  const removed: string[] = [];
  for (const n of existingNodeContainers(l)) {
    if (wantedNames.has(n.name)) continue;
    await destroyNode(l, n);
    await kubectl(l, ['delete', 'node', n.name, '--ignore-not-found', '--wait=false']);
    removed.push(n.name);
  }
  const volumes = await deleteVolumesOf(l, removed);
  const bootedAt = Date.now() - 1000;
  const notes: string[] = [];
  const rebooted = new Set<string>();
  for (const n of wanted) {
    const { changed, bundleChanged } = await writeNodeConfig(l, n, topo.budget, nodeLabels);
    const running = (await nodePower(l, n)) === 'running';
    // One booted before nodes had a tunnel interface gets it now: an interface added, no reboot.
    if (running) await plugNodeTunnel(n);
    if (running && bundleChanged) {
      // The node itself changed (its mounts, namespaces, root). Rebooting nodes behind the
      // cloud's back can take a replicated service below quorum: say so, and let the user roll
      // them one at a time.
      notes.push(
        `${n.name} runs an older node container: \`cluster node stop ${n.name} && cluster node start ${n.name}\` applies it (one node at a time)`,
      );
    } else if (running) {
      // A running node reads its kubelet configuration at start: restart the kubelet (its
      // supervisor brings it back within seconds; pods keep running).
      if (changed) await restartInNode(l, n, 'kubelet');
      notes.push(`${n.name} ${changed ? 'reconfigured' : 'running'}`);
    } else {
      await startNode(l, n);
      notes.push(`${n.name} booted`);
      rebooted.add(n.name);
    }
  }
  // Each node weighs the same on the CPU: node containers' parent gets one node's weight each.
  if (wanted.length)
    setCgroupValue('cpu', '/stackanetes', 'cpu.shares', String(nodeCpuShares * wanted.length));
  else removeCgroupTree('/stackanetes');
  writeFileSync(topologyFile(l), JSON.stringify({ count: topo.count } satisfies Topology) + '\n');
  await waitFor(
    `${wanted.length} node containers to be Ready (logs in ${l.nodes}/<node>/logs)`,
    async () => {
      for (const n of wanted)
        if (!(await nodeReady(l, n.name, rebooted.has(n.name) ? bootedAt : 0))) return false;
      return true;
    },
    180_000,
    1000,
  );
  if (removed.length)
    notes.push(
      `removed ${removed
        .map((name) => {
          const v = volumes.get(name);
          return v ? `${name} (and its ${v} volume${v > 1 ? 's' : ''})` : name;
        })
        .join(', ')}`,
    );
  return notes.length ? notes.join('; ') : 'one node: no node containers';
}

/**
 * Builds a cached component with `build`, records how long it took under `recordAs` (for
 * bench/cluster.ts) and says so: `built in 312 s`.
 */
async function timedBuild(l: Layout, recordAs: string, build: () => Promise<unknown>) {
  const t = Date.now();
  await build();
  const secs = Math.round((Date.now() - t) / 1000);
  recordBuildTime(l, recordAs, secs);
  return `built in ${secs} s`;
}

/** The cluster's directories and the Debian packages it runs on. */
async function installDebianPackages(l: Layout) {
  dirs(l);
  const missing = await missingPackages(debianPackages);
  if (!missing.length) return 'installed';
  await aptInstall(missing, { logFile: join(l.logs, 'apt.log') });
  return `installed ${missing.join(' ')}`;
}

/** What `up` builds or installs on this machine, each cached once made. */
function buildSteps(l: Layout, topo: Topo): Step[] {
  return [
    {
      title: 'Debian packages (containerd, runc, CNI plugins, debootstrap, iptables)',
      run: () => installDebianPackages(l),
    },
    ...goBuildSteps(l).map((s) => ({
      title: `build ${s.title}`,
      run: async () => (s.done() ? 'cached' : timedBuild(l, s.title, () => s.run())),
    })),
    {
      title: `pause image ${pauseImage}`,
      run: async () => {
        if (existsSync(imageArchives(l).pause)) return 'cached';
        await buildPauseImage(l, join(l.logs, 'build-pause.log'));
      },
    },
    {
      title: `test image ${testImage} (debootstrap)`,
      run: async () => {
        if (existsSync(imageArchives(l).test)) return 'cached';
        return timedBuild(l, 'test image (debootstrap)', () =>
          buildTestImage(l, join(l.logs, 'build-test-image.log')),
        );
      },
    },
    {
      title: `node root file system (Debian ${versions.nodeSuite}: containerd, runc, iptables, ipset, tini)`,
      run: async () => {
        if (topo.count < 2) return 'not needed for one node';
        if (nodeRootfsReady(l)) return 'cached';
        return timedBuild(l, 'node root file system (debootstrap)', () =>
          buildNodeRootfs(l, join(l.logs, 'build-node-rootfs.log')),
        );
      },
    },
  ];
}

/** This machine made ready for the cluster: certificates, the bridge, a shared /run/netns. */
function hostSteps(l: Layout): Step[] {
  return [
    {
      title: 'certificates, keys and kubeconfigs',
      run: async () => {
        await writePki(l);
        linkPath(l);
      },
    },
    { title: `network (bridge ${net.bridge}, ${net.nodeIp})`, run: () => setUpNetwork() },
    {
      title: `tunnel network (bridge ${tunnelNet.bridge}, ${tunnelNet.interface} ${hostNode.tunnelIp})`,
      run: async () => {
        await setUpTunnelNetwork();
        await plugNodeTunnel(hostNode);
      },
    },
    { title: 'shared mount /run/netns (network namespaces made by pods)', run: sharedNetns },
  ];
}

/**
 * The cluster objects `up` keeps (DNS Service, default StorageClass, RBAC). A StorageClass cannot
 * be changed in place: one whose binding mode changed is replaced (volumes already made from it
 * are not touched).
 */
async function applyClusterObjects(l: Layout) {
  const objects = clusterObjects();
  const replaced: string[] = [];
  for (const o of objects.filter((x) => x.kind === 'StorageClass')) {
    const name = (o.metadata as { name: string }).name;
    const live = await kubectl(l, [
      'get',
      'storageclass',
      name,
      '--ignore-not-found',
      '-o',
      'jsonpath={.volumeBindingMode}',
    ]);
    if (live.stdout && live.stdout !== o.volumeBindingMode) {
      await kubectl(l, ['delete', 'storageclass', name]);
      replaced.push(`${name} (${live.stdout} → ${String(o.volumeBindingMode)})`);
    }
  }
  await kubectl(
    l,
    ['apply', '--server-side', '--force-conflicts', '--field-manager=stackanetes', '-f', '-'],
    toYamlStream(objects),
  );
  return replaced.length ? `StorageClass replaced: ${replaced.join(', ')}` : undefined;
}

/** The image registry, etcd, the API server, the controller manager, the scheduler. */
function controlPlaneSteps(l: Layout, fakeNodes: () => Promise<number>): Step[] {
  const tls = () => adminTls(l.pki);
  return [
    {
      title: `registry ${versions.registry} (${registry.name} → ${registry.address})`,
      run: () => {
        registryConfig(l);
        return startAndWait(l, 'registry', () => isOk(`${registry.url}/v2/`));
      },
    },
    {
      title: `etcd ${versions.etcd}`,
      run: () =>
        startAndWait(l, 'etcd', () => isOk(`http://127.0.0.1:${net.etcdClientPort}/health`)),
    },
    {
      title: `kube-apiserver ${versions.kubernetes}`,
      run: () =>
        startAndWait(l, 'kube-apiserver', () => isOk(`${apiServerUrl}/readyz`, tls()), 120_000),
    },
    {
      title: 'kube-controller-manager',
      run: async () =>
        startAndWait(
          l,
          'kube-controller-manager',
          () => isOk('https://127.0.0.1:10257/healthz'),
          60_000,
          await fakeNodes(),
        ),
    },
    {
      title: 'kube-scheduler',
      run: () => startAndWait(l, 'kube-scheduler', () => isOk('https://127.0.0.1:10259/healthz')),
    },
    {
      title: 'cluster objects (DNS Service, default StorageClass, RBAC)',
      run: () => applyClusterObjects(l),
    },
  ];
}

/** containerd, waited for until its CRI service answers; then the pause and test images in it. */
async function startContainerd(l: Layout) {
  containerdConfig(l);
  cniConfig(l);
  const note = await startAndWait(
    l,
    'containerd',
    // Its CRI service, not only its own API: containerd answers `ctr version` while the CRI
    // plugin is still loading its state (many images: seconds), and a kubelet started then
    // exits with "server is not initialized yet".
    async () =>
      existsSync(l.containerdSocket) &&
      (
        await run(
          binaryPaths(l).crictl,
          ['--runtime-endpoint', `unix://${l.containerdSocket}`, 'info'],
          { allowFailure: true },
        )
      ).code === 0,
    120_000,
  );
  const containerd = { ctr: 'ctr', address: l.containerdSocket };
  const have = await importedImages(containerd);
  const imported: string[] = [];
  for (const [name, archive] of [
    [pauseImage, imageArchives(l).pause],
    [testImage, imageArchives(l).test],
  ] as const) {
    if (!have.has(name)) {
      await importArchive(containerd, archive, join(l.logs, 'image-import.log'));
      imported.push(name);
    }
  }
  return imported.length ? `${note}; imported ${imported.join(', ')}` : note;
}

/**
 * The kubelet of this machine's node, restarted when its configuration changed, until its node
 * is registered and labelled. `startedAt` is when a kubelet started now began (0 when one was
 * running already): only its heartbeats count for Ready.
 */
async function startKubelet(l: Layout, topo: Topo) {
  const before = existsSync(join(l.config, 'kubelet.yaml'))
    ? readFileSync(join(l.config, 'kubelet.yaml'), 'utf8')
    : '';
  kubeletConfig(l, topo.budget.systemReservedMiB);
  // The kubelet reads its configuration once: a changed one (another node count) restarts it.
  if (before !== readFileSync(join(l.config, 'kubelet.yaml'), 'utf8'))
    await stopProcess(l.pids, 'kubelet');
  const started = Date.now();
  const note = await startAndWait(l, 'kubelet', () => isOk('http://127.0.0.1:10248/healthz'));
  const startedAt = note.startsWith('already') ? 0 : Math.floor(started / 1000) * 1000 - 1000;
  await waitFor(
    `node ${nodeName} to be registered`,
    async () =>
      (await kubectl(l, ['get', 'node', nodeName], undefined).catch(() => undefined)) !== undefined,
    60_000,
    500,
  );
  await kubectl(l, [
    'label',
    'node',
    nodeName,
    '--overwrite',
    'node-role.kubernetes.io/control-plane=',
    'node-role.kubernetes.io/compute=',
  ]);
  return { note, startedAt };
}

/**
 * This machine's node: containerd, the kubelet, kube-proxy and CoreDNS, until the node is Ready;
 * then its NetworkPolicy (kube-router) and the ingress (Traefik).
 */
function hostNodeSteps(l: Layout, topo: Topo): Step[] {
  // Set by the kubelet's step, read by the Ready step after it.
  let kubeletStartedAt = 0;
  return [
    { title: 'containerd (with runc and CNI bridge)', run: () => startContainerd(l) },
    {
      title: `kubelet (node ${nodeName})`,
      run: async () => {
        const { note, startedAt } = await startKubelet(l, topo);
        kubeletStartedAt = startedAt;
        return note;
      },
    },
    {
      title: 'kube-proxy (iptables)',
      run: () => {
        kubeProxyConfig(l, nodeName);
        return startAndWait(l, 'kube-proxy', () => isOk('http://127.0.0.1:10256/healthz'), 60_000);
      },
    },
    {
      title: `CoreDNS ${versions.coredns} (${net.dnsServiceIp} → ${net.nodeIp}:53)`,
      run: async () => {
        // This build of CoreDNS has no `reload` plugin: a changed Corefile means a restart.
        const mirrors = await resolveMirrors(mirrorUrls());
        if (corefile(l, mirrors) && running(l.pids, 'coredns'))
          await stopProcess(l.pids, 'coredns');
        return startAndWait(l, 'coredns', () => isOk('http://127.0.0.1:18181/ready'));
      },
    },
    {
      title: `node ${nodeName} Ready`,
      run: async () => {
        await waitFor(
          `node ${nodeName} to be Ready (kubelet log: ${join(l.logs, 'kubelet.log')})`,
          () => nodeReady(l, nodeName, kubeletStartedAt),
          90_000,
          500,
        );
      },
    },
    {
      title: `kube-router ${versions.kubeRouter} (NetworkPolicy for the pods of ${nodeName})`,
      run: () =>
        startAndWait(l, 'kube-router', () => isOk('http://127.0.0.1:20244/healthz'), 90_000),
    },
    {
      title: `Traefik ${versions.traefik} (Ingress on ${net.nodeIp}:80 and :443; *.${publicDomain} in /etc/hosts)`,
      run: async () => {
        const note = await startAndWait(
          l,
          'traefik',
          () => isOk('http://127.0.0.1:18082/ping'),
          60_000,
        );
        return installPublicHosts() ? `${note}; /etc/hosts updated` : note;
      },
    },
  ];
}

/** The other real nodes, the volume provisioner, kwok and the simulated nodes asked for. */
function otherNodeSteps(
  opts: UpOptions,
  l: Layout,
  topo: Topo,
  fakeNodes: () => Promise<number>,
): Step[] {
  const steps: Step[] = [
    {
      title: `${topo.count} real node${topo.count > 1 ? 's' : ''} (${topo.nodes.map((n) => n.name).join(', ')})`,
      run: () => ensureNodeContainers(l, topo),
    },
    {
      title: `BMC (Redfish power control of the node containers, ${bmcUrl})`,
      run: () => {
        bmcCredentials(l);
        return startAndWait(l, 'bmc', () => isOk(`${bmcUrl}/redfish/v1`));
      },
    },
    {
      title: `local-path-provisioner ${versions.localPath} (default StorageClass)`,
      run: async () => {
        if (localPathConfig(l, testImage, topo.nodes).changed)
          await stopProcess(l.pids, 'local-path-provisioner');
        const note = await startAndWait(l, 'local-path-provisioner', async () => {
          await sleep(500);
          return true;
        });
        return note;
      },
    },
    {
      title: `kwok ${versions.kwok}`,
      run: async () => {
        const mod = await downloadModule(l, 'sigs.k8s.io/kwok', versions.kwok);
        // Its stages are read at start: new ones (another version of this code) restart it.
        if (writeChanged(join(l.config, 'kwok.yaml'), kwokStages(mod.Dir)))
          await stopProcess(l.pids, 'kwok');
        return startAndWait(
          l,
          'kwok',
          () => isOk('http://127.0.0.1:10247/healthz'),
          60_000,
          await fakeNodes(),
        );
      },
    },
  ];
  if (opts.fakeNodes !== undefined) {
    const n = opts.fakeNodes;
    steps.push({ title: `${n} simulated nodes`, run: () => ensureFakeNodes(l, n) });
  }
  return steps;
}

/**
 * `cluster up`, in order: builds, this machine, the control plane, this machine's node until
 * Ready, then the other nodes and what runs on them. Each step is idempotent.
 */
export function upSteps(opts: UpOptions = {}, l: Layout = layout()): Step[] {
  const topo = planTopology(opts, l);
  // How many simulated nodes the processes are started for (their heartbeats): those asked for,
  // else those the cluster has, counted once (none when the API server does not answer).
  let counted: Promise<number> | undefined;
  const fakeNodes = () =>
    opts.fakeNodes !== undefined
      ? Promise.resolve(opts.fakeNodes)
      : (counted ??= fakeNodeNames(l).then(
          (names) => names.length,
          () => 0,
        ));
  return [
    ...buildSteps(l, topo),
    ...hostSteps(l),
    ...controlPlaneSteps(l, fakeNodes),
    ...hostNodeSteps(l, topo),
    ...otherNodeSteps(opts, l, topo, fakeNodes),
  ];
}

/** Processes our containerd started (the shims) that outlive it: found by our socket in their command line. */
function shimPids(l: Layout): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if ((cmd[0] ?? '').includes('containerd-shim') && cmd.includes(l.containerdSocket))
        pids.push(Number(entry));
    } catch {
      /* gone */
    }
  }
  return pids;
}

export interface DownOptions {
  /** Also delete the cluster's state (etcd data, certificates, volumes); builds stay cached. */
  purge?: boolean;
}

/** Every node container's power cut, one after the other (each node's processes die at once). */
async function powerOffNodeContainers(l: Layout) {
  const nodes = existingNodeContainers(l);
  const notes: string[] = [];
  for (const n of nodes) notes.push(`${n.name}: ${await killNode(l, n)}`);
  return nodes.length ? notes.join('; ') : 'none';
}

/**
 * Stops a component, then runs its own clean-up (`args`) when its binary is built: the rules and
 * sets it left in the kernel.
 */
async function stopAndCleanUp(
  l: Layout,
  name: string,
  bin: string,
  args: string[],
  timeoutMs?: number,
) {
  const note = await stopProcess(l.pids, name);
  if (existsSync(bin))
    await run(bin, args, {
      allowFailure: true,
      logFile: join(l.logs, `${name}.log`),
      ...(timeoutMs ? { timeoutMs } : {}),
    });
  return note ? 'stopped' : 'not running';
}

/** Every pod sandbox, removed through containerd (while it runs). */
async function removePods(l: Layout) {
  const crictl = binaryPaths(l).crictl;
  if (!running(l.pids, 'containerd') || !existsSync(crictl)) return 'containerd not running';
  const r = await run(
    crictl,
    ['--config', join(l.config, 'crictl.yaml'), 'rmp', '--all', '--force'],
    {
      allowFailure: true,
      timeoutMs: 120_000,
    },
  );
  return r.code === 0 ? 'removed' : `crictl rmp failed: ${r.stderr.trim().split('\n').pop() ?? ''}`;
}

/** containerd, and the shims that outlive it. */
async function stopContainerd(l: Layout) {
  const note = await stopProcess(l.pids, 'containerd');
  const shims = shimPids(l);
  for (const pid of shims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return (
    (note ? 'stopped' : 'not running') + (shims.length ? `; killed ${shims.length} shims` : '')
  );
}

const stopper = (l: Layout) => (name: string) => async () =>
  (await stopProcess(l.pids, name)) ? 'stopped' : 'not running';

/** What runs on the nodes, from the node containers down to this machine's kubelet and containerd. */
function nodeDownSteps(l: Layout): Step[] {
  const stop = stopper(l);
  return [
    { title: 'node containers (power off)', run: () => powerOffNodeContainers(l) },
    { title: 'BMC', run: stop('bmc') },
    { title: 'kwok', run: stop('kwok') },
    {
      title: `Traefik (and the *.${publicDomain} names in /etc/hosts)`,
      run: async () => {
        const note = await stop('traefik')();
        return removePublicHosts() ? `${note}; /etc/hosts entries removed` : note;
      },
    },
    {
      title: 'kube-router (and its iptables rules and ipsets)',
      run: () =>
        stopAndCleanUp(l, 'kube-router', binaryPaths(l).kubeRouter, ['--cleanup-config'], 60_000),
    },
    { title: 'local-path-provisioner', run: stop('local-path-provisioner') },
    { title: 'CoreDNS', run: stop('coredns') },
    {
      title: 'kube-proxy (and its iptables rules)',
      run: () => stopAndCleanUp(l, 'kube-proxy', binaryPaths(l).kubeProxy, ['--cleanup']),
    },
    { title: 'kubelet', run: stop('kubelet') },
    {
      title: 'iptables chains of kube-proxy and the kubelet',
      run: async () => `${await removeKubeChains()} removed`,
    },
    { title: 'pods (crictl rmp)', run: () => removePods(l) },
    { title: 'containerd (and its shims)', run: () => stopContainerd(l) },
  ];
}

/** The registry, then the control plane in the reverse of its start order. */
function controlPlaneDownSteps(l: Layout): Step[] {
  const stop = stopper(l);
  return ['registry', 'kube-scheduler', 'kube-controller-manager', 'kube-apiserver', 'etcd'].map(
    (name) => ({ title: name, run: stop(name) }),
  );
}

/** What is left on the machine: stray processes, mounts, cgroups, the network; the state if asked. */
function cleanUpSteps(opts: DownOptions, l: Layout): Step[] {
  return [
    {
      title: 'stray processes',
      run: async () => {
        const left = listRecords(l.pids);
        for (const r of left) await stopProcess(l.pids, r.name);
        return left.length ? `stopped ${left.map((r) => r.name).join(', ')}` : 'none';
      },
    },
    {
      title: 'mounts',
      run: async () => {
        const n = (await unmountUnder(l.state)) + (await unmountPodNetns());
        return `${n} unmounted`;
      },
    },
    {
      title: 'kubelet cgroups',
      run: () =>
        Promise.resolve(
          `${removeCgroupTree('/kubepods') + removeCgroupTree('/stackanetes')} removed`,
        ),
    },
    { title: `network (bridge ${net.bridge})`, run: () => tearDownNetwork() },
    { title: `tunnel network (bridge ${tunnelNet.bridge})`, run: () => tearDownTunnelNetwork() },
    ...(opts.purge
      ? [
          {
            title: 'cluster state',
            run: () => {
              rmSync(l.state, { recursive: true, force: true });
              return Promise.resolve(`removed ${l.state}`);
            },
          },
        ]
      : []),
  ];
}

/** `cluster down`, in order: the nodes and what runs on them, the control plane, what is left. */
export function downSteps(opts: DownOptions = {}, l: Layout = layout()): Step[] {
  return [...nodeDownSteps(l), ...controlPlaneDownSteps(l), ...cleanUpSteps(opts, l)];
}

/**
 * Pods that create network namespaces (Neutron's metadata agent, ovn-controller) mount /run/netns
 * with Bidirectional propagation, which needs /run/netns to sit on a shared mount, or containerd
 * refuses the container ("… is mounted on / but it is not a shared mount"). Without systemd the
 * root here is private. It is made shared recursively, as systemd does at boot and kind does in
 * its node containers: containers get a slave copy of it (runc's default), so nothing they mount
 * comes back. This works with pods already running and namespaces left in /run/netns by an earlier
 * run, which a bind mount of the directory over itself could not handle.
 */
async function sharedNetns(): Promise<string> {
  const dir = '/run/netns';
  mkdirSync(dir, { recursive: true });
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f.length > 6);
  // The mount /run/netns is on: the longest mount point that is it or one of its parents.
  const on = mounts
    .filter(([, , , , point]) => point === '/' || dir === point || dir.startsWith(`${point}/`))
    .sort((a, b) => b[4]!.length - a[4]!.length)[0];
  if (on?.slice(6).some((f) => f.startsWith('shared:'))) return `already shared (on ${on[4]})`;
  await run('mount', ['--make-rshared', '/']);
  return `made / shared (recursively); ${dir} was on ${on?.[4] ?? '/'}, private`;
}

/**
 * Network namespaces of the node's pods: left by pods whose sandbox was never stopped (e.g. after
 * a crash), and the ones the cloud's data plane made on the node (`stackanetes-…`, such as the
 * external network's `stackanetes-ext`, which holds the other end of a veth on a bridge that goes
 * with the cluster), and the OVN metadata agent's `ovnmeta-<network id>` (one per network with a
 * guest port on the node, where its haproxy answers 169.254.169.254).
 */
const podNetns = (name: string) =>
  name.startsWith('cni-') || name.startsWith('stackanetes-') || name.startsWith('ovnmeta-');

async function unmountPodNetns(): Promise<number> {
  const dir = '/run/netns';
  if (!existsSync(dir)) return 0;
  const mountPoints = () =>
    readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4] ?? '')
      .filter((p) => p === dir || (p.startsWith(`${dir}/`) && podNetns(p.slice(dir.length + 1))));
  let n = 0;
  // Namespace files, then a mount of the directory itself (older versions of `up` made /run/netns
  // its own shared mount), then whatever that mount covered; a mount point may be stacked more
  // than once.
  for (let round = 0; round < 5; round++) {
    const points = mountPoints().sort((a, b) => b.length - a.length);
    if (points.length === 0) break;
    for (const p of points) {
      if ((await run('umount', ['-l', p], { allowFailure: true })).code === 0) n++;
    }
  }
  for (const f of readdirSync(dir)) {
    if (!podNetns(f)) continue;
    try {
      rmSync(join(dir, f), { force: true });
    } catch {
      /* still pinned by a process outside the cluster: leave it */
    }
  }
  return n;
}

export interface ComponentStatus {
  name: string;
  pid?: number;
  running: boolean;
  log: string;
}

export async function status(l: Layout = layout()) {
  const comps: ComponentStatus[] = startOrder.map((name) => {
    const r = running(l.pids, name);
    return { name, running: !!r, pid: r?.pid, log: join(l.logs, `${name}.log`) };
  });
  let server: string | undefined;
  let nodes: { ready: number; total: number } | undefined;
  if (comps.find((c) => c.name === 'kube-apiserver')?.running && existsSync(l.kubeconfig)) {
    try {
      const v = await kubectl(l, ['version', '-o', 'json']);
      server = (JSON.parse(v.stdout) as { serverVersion?: { gitVersion?: string } }).serverVersion
        ?.gitVersion;
      nodes = await readyNodes(l);
    } catch {
      /* API not answering */
    }
  }
  return { components: comps, server, nodes, kubeconfig: l.kubeconfig, logs: l.logs };
}

export function envExports(l: Layout = layout()): string {
  return [
    `export KUBECONFIG='${l.kubeconfig}'`,
    `export CRI_CONFIG_FILE='${join(l.config, 'crictl.yaml')}'`,
    `export PATH='${l.pathDir}':"$PATH"`,
    '',
  ].join('\n');
}

export interface NodeRow {
  name: string;
  kind: NodeSpec['kind'];
  ip: string;
  podCidr: string;
  power: 'running' | 'off';
  ready: string;
  pods: number;
  /** Working set of everything the node runs (node containers only: the host node is the machine). */
  memoryMiB?: number;
}

/** Every real node: power as runc sees it, Ready and pod count as the API server sees them. */
export async function listNodes(l: Layout = layout()): Promise<NodeRow[]> {
  const nodes = planNodes(recordedNodeCount(l));
  const api = await kubectl(l, ['get', 'nodes', '-o', 'json']).catch(() => undefined);
  const items = api
    ? (
        JSON.parse(api.stdout) as {
          items: {
            metadata: { name: string };
            status?: { conditions?: { type: string; status: string }[] };
          }[];
        }
      ).items
    : [];
  const pods = await kubectl(l, [
    'get',
    'pods',
    '-A',
    '--field-selector=status.phase!=Succeeded,status.phase!=Failed',
    '-o',
    'jsonpath={range .items[*]}{.spec.nodeName}{"\\n"}{end}',
  ]).catch(() => undefined);
  const podNodes = (pods?.stdout ?? '').split('\n');
  const rows: NodeRow[] = [];
  for (const n of nodes) {
    const item = items.find((i) => i.metadata.name === n.name);
    const ready = item?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    rows.push({
      name: n.name,
      kind: n.kind,
      ip: n.ip,
      podCidr: n.podCidr,
      power:
        n.kind === 'host'
          ? running(l.pids, 'kubelet')
            ? 'running'
            : 'off'
          : await nodePower(l, n),
      ready: ready === 'True' ? 'Ready' : ready === undefined ? 'not registered' : 'NotReady',
      pods: podNodes.filter((p) => p === n.name).length,
      ...(n.kind === 'container'
        ? { memoryMiB: Math.round((workingSetBytes(nodeCgroup(n.name)) ?? 0) / 2 ** 20) }
        : {}),
    });
  }
  return rows;
}

export type NodeAction = 'start' | 'stop' | 'kill';

/** The node container a name designates; a clear error for the host node or an unknown name. */
export function nodeForAction(name: string, l: Layout = layout()): NodeSpec {
  const nodes = planNodes(recordedNodeCount(l));
  const containers = nodes.filter((n) => n.kind === 'container').map((n) => n.name);
  const n = nodes.find((x) => x.name === name);
  if (!n)
    throw new Error(
      `no node named ${JSON.stringify(name)}: this cluster's node containers are ${containers.length ? containers.join(', ') : 'none (run `cluster up --nodes 3`)'}`,
    );
  if (n.kind === 'host')
    throw new Error(
      `${name} is this machine, which runs the control plane: it cannot be stopped, started or killed on its own (\`cluster down\` stops everything). Node containers: ${containers.join(', ') || 'none'}`,
    );
  return n;
}

/**
 * Powers a node container on or off. `start` waits until its kubelet (started now) reports
 * Ready unless `wait` is false.
 */
export async function nodeAction(
  action: NodeAction,
  name: string,
  opts: { wait?: boolean } = {},
  l: Layout = layout(),
): Promise<string> {
  const n = nodeForAction(name, l);
  switch (action) {
    case 'kill':
      return killNode(l, n);
    case 'stop':
      return stopNode(l, n);
    case 'start': {
      const t = Date.now() - 1000;
      const note = await startNode(l, n);
      if (opts.wait === false || note === 'already running') return note;
      await waitFor(
        `${n.name} to be Ready (log: ${join(nodeDirs(l, n.name).logs, 'kubelet.log')})`,
        () => nodeReady(l, n.name, t),
        180_000,
        1000,
      );
      return `${note}; Ready after ${secondsSince(t)} s`;
    }
  }
}
