// bench/vm: real guests on the local cloud (Nova's libvirt driver; on this machine QEMU with TCG).
//   - one server: create → ACTIVE → its guest answers SSH on a floating IP (from the external
//     network's namespace);
//   - five servers created at once: the same, each, and until the last answers;
//   - memory per running guest on the node: each QEMU process's PSS, and the node's memory in use
//     before and with the five guests;
//   - with --deploy: the cloud's namespace deleted, then `stackanetes apply` → Ready → the guest
//     set-up of `stackanetes up` → the first guest answering SSH (images cached; goal: under
//     6 minutes on 2 cores).
// Figures are printed and saved with bench/results.ts: bench/results/vm-guests-<time>.json (one
// server, the servers at once, memory) and, with --deploy, vm-deploy-<time>.json; the README's
// rows come from them (bench/figures.ts).
// Usage (root): eval "$(npx stackanetes cluster env)"; node bench/vm.ts [--deploy] [--count 5]
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { parse } from 'yaml';
import { validateText } from '../src/api/v1alpha1/validate.ts';
import { prepareForGuests } from '../src/openstack/guest-setup.ts';
import {
  createServer,
  deleteServers,
  externalNamespace,
  floatingIp,
  keypair,
  pssKiB,
  qemuPids,
  serverShow,
  ssh,
  waitStatus,
  type Keypair,
} from '../test/e2e/guests.ts';
import { client, cloudReady, inClient, until } from '../test/e2e/helpers.ts';
import { dataPlaneNamespace } from '../src/render/namespaces.ts';
import { saveResult } from './results.ts';

if (!process.env.KUBECONFIG) {
  console.error('KUBECONFIG is not set: run `eval "$(npx stackanetes cluster env)"` first');
  process.exit(2);
}
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const deploy = process.argv.includes('--deploy');
const count = Number(arg('--count') ?? 5);
const file = arg('-f') ?? 'examples/minimal.yaml';
const log = (s: string) => console.log(`[${new Date().toISOString().slice(11, 19)}] ${s}`);
/** Seconds or MiB to one decimal, as saved. */
const r1 = (x: number) => Math.round(x * 10) / 10;
const stamp = Date.now().toString(36);

function memUsedMiB(): number {
  const m = readFileSync('/proc/meminfo', 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(m)?.[1] ?? 0);
  return (kb('MemTotal') - kb('MemAvailable')) / 1024;
}

interface Boot {
  name: string;
  activeSeconds: number;
  sshSeconds: number;
  host?: string;
  instance?: string;
}

/** Creates `names` at once; resolves when each answers SSH on a floating IP (times from t0). */
async function boot(names: string[], key: Keypair, ns: string): Promise<Boot[]> {
  const t0 = performance.now();
  for (const n of names) await createServer(n, { key: key.name });
  return Promise.all(
    names.map(async (n) => {
      const s = await waitStatus(n, ['ACTIVE'], 20 * 60_000);
      const activeSeconds = r1((performance.now() - t0) / 1000);
      const ip = await floatingIp(n);
      await until(
        async () => (await ssh(ns, ip, key, 'true', 30_000)).code === 0,
        `${n} (${ip}) to answer SSH`,
        20 * 60_000,
        2000,
      );
      const sshSeconds = r1((performance.now() - t0) / 1000);
      log(`${n}: ACTIVE ${activeSeconds.toFixed(1)} s, SSH ${sshSeconds.toFixed(1)} s`);
      return {
        name: n,
        activeSeconds,
        sshSeconds,
        host: s['OS-EXT-SRV-ATTR:host'],
        instance: s['OS-EXT-SRV-ATTR:instance_name'],
      };
    }),
  );
}

const results: Record<string, unknown> = {};

if (deploy) {
  const doc = parse(readFileSync(file, 'utf8')) as { metadata: { namespace?: string } };
  const namespace = doc.metadata.namespace ?? 'openstack';
  const valid = validateText(readFileSync(file, 'utf8'));
  if (!valid.ok) throw new Error(`${file} is not valid`);
  log(`deleting namespace ${namespace}`);
  spawnSync('kubectl', ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true'], {
    stdio: 'inherit',
  });
  // The cloud's data plane has a namespace of its own, which the operator deletes with the cloud.
  spawnSync(
    'kubectl',
    ['wait', '--for=delete', `namespace/${dataPlaneNamespace(namespace)}`, '--timeout=5m'],
    { stdio: 'inherit' },
  );
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['bin/stackanetes.js', 'apply', '-f', file, '--no-wait'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`apply failed: ${r.stderr}`);
  await until(() => cloudReady(), 'the cloud to be Ready', 30 * 60_000, 1000);
  const ready = (performance.now() - t0) / 1000;
  log(`Ready after ${ready.toFixed(0)} s; setting up for guests`);
  await prepareForGuests(valid.cloud.spec, namespace, process.env, (l) => log(`  ${l}`));
  const setUp = (performance.now() - t0) / 1000;
  const key = await keypair(`bench-${stamp}`);
  const [first] = await boot([`bench-first-${stamp}`], key, await externalNamespace());
  const total = (performance.now() - t0) / 1000;
  results.deploy = {
    spec: file,
    readySeconds: r1(ready),
    setUpSeconds: r1(setUp),
    firstSshSeconds: r1(total),
    serverSshSeconds: first!.sshSeconds,
  };
  console.log(
    `deploy from empty → Ready ${ready.toFixed(0)} s → set up ${setUp.toFixed(0)} s → first guest answers SSH ${total.toFixed(0)} s (goal: under 360 s)`,
  );
  await deleteServers([`bench-first-${stamp}`]);
}

const ns = await externalNamespace();
const key = await keypair(`bench-${stamp}-k`);
try {
  const one = await boot([`bench-one-${stamp}`], key, ns);
  results.one = one[0];
  await deleteServers([`bench-one-${stamp}`]);

  const before = memUsedMiB();
  const names = Array.from({ length: count }, (_, i) => `bench-${count}x-${i}-${stamp}`);
  const many = await boot(names, key, ns);
  const after = memUsedMiB();
  const pss = many.flatMap((b) => (b.instance ? qemuPids(b.instance) : [])).map(pssKiB);
  results.many = {
    count,
    servers: many,
    lastSshSeconds: Math.max(...many.map((b) => b.sshSeconds)),
    lastActiveSeconds: Math.max(...many.map((b) => b.activeSeconds)),
    qemuPssMiB: pss.map((k) => r1(k / 1024)),
    meanQemuPssMiB: r1(pss.reduce((a, b) => a + b, 0) / Math.max(pss.length, 1) / 1024),
    nodeMemoryBeforeMiB: r1(before),
    nodeMemoryWithGuestsMiB: r1(after),
    perGuestNodeMiB: r1((after - before) / count),
  };
  const flavor = (await serverShow(names[0]!)) as unknown as { flavor?: unknown };
  results.flavor = flavor.flavor;
  await deleteServers(names);
} finally {
  await inClient(
    `openstack keypair delete ${key.name}; for ip in $(openstack floating ip list --status DOWN -f value -c 'Floating IP Address'); do openstack floating ip delete "$ip"; done; true`,
  );
  (await client()).close();
}

const one = results.one as Boot;
const many = results.many as {
  lastSshSeconds: number;
  meanQemuPssMiB: number;
  perGuestNodeMiB: number;
};
console.log('');
console.log(
  `one server: create → ACTIVE ${one.activeSeconds.toFixed(1)} s → SSH ${one.sshSeconds.toFixed(1)} s`,
);
console.log(`${count} at once: the last answers SSH after ${many.lastSshSeconds.toFixed(1)} s`);
console.log(
  `memory per running guest: QEMU PSS ${many.meanQemuPssMiB.toFixed(0)} MiB; node memory in use +${many.perGuestNodeMiB.toFixed(0)} MiB per guest`,
);
const { deploy: deployed, ...guests } = results;
saveResult('vm', guests, 'guests');
if (deployed) saveResult('vm', deployed, 'deploy');
