// `stackanetes up`: the whole local path in one command — the local cluster, the images, the
// operator and a cloud applied and followed until Ready; it ends by printing the endpoints and a
// working `openstack` command line. Each step is the same command a user could run alone. The
// operator is installed the way Kubernetes users install it (`kubectl apply -k deploy/`: CRD,
// RBAC, a Deployment of two replicas) once its image has been built; until then it runs as a
// supervised process beside the cluster's own, stopped by `cluster down`.
import { setTimeout as sleep } from 'node:timers/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { kubectl } from '../cluster/cluster.ts';
import { layout } from '../cluster/layout.ts';
import { publicDomain } from '../cluster/publichosts.ts';
import { running, startProcess, stopProcess, tail } from '../cluster/processes.ts';
import { listRecords } from '../images/build.ts';
import { cachePaths } from '../images/paths.ts';
import { operatorImage } from '../images/recipes.ts';
import { KubeClient, type KubeObj } from '../kube/client.ts';
import { validateText } from '../api/v1alpha1/validate.ts';
import { prepareForGuests } from '../openstack/guest-setup.ts';
import { capture, run } from '../util/exec.ts';
import { hostOperatorDashboardArgs } from './dashboard.ts';
import { CliError } from './errors.ts';
import { readText } from './spec-file.ts';

const bin = fileURLToPath(new URL('../../bin/stackanetes.js', import.meta.url));
const deployDir = fileURLToPath(new URL('../../deploy/', import.meta.url));
const operatorNamespace = 'stackanetes-system';
const operatorDeployment = 'stackanetes-operator';
export const operatorProcess = 'stackanetes-operator';
const operatorMetricsPort = 9090;

function step(title: string): void {
  process.stderr.write(`\n== ${title}\n`);
}

/** Runs `stackanetes <args>` with this Node, its output passed through. */
async function stackanetes(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const r = await run(process.execPath, [bin, ...args], {
    env,
    passThrough: true,
    allowFailure: true,
  });
  if (r.code !== 0)
    throw new CliError(
      `\`stackanetes ${args.join(' ')}\` failed (${r.signal ?? `exit ${r.code}`})`,
    );
}

/** (Re)starts the operator from this checkout, so a changed operator is the one that runs. */
export async function startOperator(kubeconfig: string): Promise<string> {
  const l = layout();
  const restarted = running(l.pids, operatorProcess) !== undefined;
  await stopProcess(l.pids, operatorProcess);
  const rec = await startProcess({
    name: operatorProcess,
    command: process.execPath,
    args: [
      bin,
      'operator',
      '--metrics-host',
      '127.0.0.1',
      '--metrics-port',
      String(operatorMetricsPort),
      ...hostOperatorDashboardArgs,
    ],
    pidDir: l.pids,
    logDir: l.logs,
    env: { ...process.env, KUBECONFIG: kubeconfig },
  });
  // It answers /healthz once it is up; give it a few seconds before calling it broken.
  for (let i = 0; i < 100; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${operatorMetricsPort}/healthz`);
      if (r.ok) return `${restarted ? 'restarted' : 'started'}: pid ${rec.pid}, log ${rec.log}`;
    } catch {
      /* not listening yet */
    }
    if (!running(l.pids, operatorProcess))
      throw new CliError(`the operator exited; see ${rec.log}:\n${tail(rec.log)}`);
    await sleep(100);
  }
  throw new CliError(`the operator did not answer /healthz within 10 s; see ${rec.log}`);
}

/**
 * Installs the operator from deploy/ (CRD, RBAC, the Deployment) and waits for a replica to be
 * Ready. A host operator started before is stopped first: one operator reconciles a cloud. The
 * image is named by its digest, so that a rebuilt image (same tag) rolls the pods and runs.
 */
export async function installOperator(
  env: NodeJS.ProcessEnv,
  manifestDigest: string,
  timeoutMs = 5 * 60_000,
): Promise<string> {
  const l = layout();
  const host = running(l.pids, operatorProcess) !== undefined;
  if (host) await stopProcess(l.pids, operatorProcess);
  // The image by digest: a rebuilt image keeps its tag, and a node that pulled the tag before
  // would start the old one (pullPolicy IfNotPresent). deploy/ names the tag; the manifests
  // kustomize renders from it are applied with the digest added.
  const manifests = (await capture('kubectl', ['kustomize', deployDir], { env })).replace(
    /^(\s*image: )(\S*\/operator:[^\s@]+)$/gm,
    `$1$2@${manifestDigest}`,
  );
  if (!manifests.includes(manifestDigest))
    throw new CliError(
      `no operator image in the manifests of ${deployDir} to pin to ${manifestDigest}`,
    );
  await kubectl(l, ['apply', '--server-side', '--force-conflicts', '-f', '-'], manifests);
  const client = await KubeClient.create();
  try {
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      const d = await client.get('apps/v1', 'Deployment', operatorDeployment, operatorNamespace);
      const st = (d.status ?? {}) as {
        observedGeneration?: number;
        updatedReplicas?: number;
        availableReplicas?: number;
        replicas?: number;
      };
      const want = Number((d.spec as { replicas?: number }).replicas ?? 1);
      const now = `${st.availableReplicas ?? 0}/${want} replicas available, ${st.updatedReplicas ?? 0} updated`;
      if (now !== last) process.stderr.write(`  ${now}\n`);
      last = now;
      // The roll-out is over (no replica of an older template is left: one of those may hold the
      // Lease and reconcile a spec its code does not know) and a replica is Ready.
      if (
        (st.observedGeneration ?? 0) >= (d.metadata.generation ?? 0) &&
        (st.updatedReplicas ?? 0) >= want &&
        (st.replicas ?? 0) === (st.updatedReplicas ?? 0) &&
        (st.availableReplicas ?? 0) >= 1
      )
        return `installed from deploy/ (${host ? 'the host operator stopped; ' : ''}${now}); dashboard: npx stackanetes dashboard`;
      await sleep(2000);
    }
    throw new CliError(
      `the operator Deployment has no Ready replica after ${timeoutMs / 1000} s (${last}); see kubectl -n ${operatorNamespace} describe pods -l app.kubernetes.io/name=${operatorDeployment}`,
    );
  } finally {
    client.close();
  }
}

/** The operator image's digest when `images build` has made it. */
async function builtOperatorImage(): Promise<string | undefined> {
  const records = await listRecords(cachePaths());
  return records.find((r) => r.name === operatorImage)?.manifestDigest;
}

interface Endpoint {
  service: string;
  url: string;
}

/** The public endpoints from Keystone's catalog, asked through the cloud's openstack-client pod. */
async function catalog(namespace: string, env: NodeJS.ProcessEnv): Promise<Endpoint[]> {
  const out = await openstack(namespace, env, 'endpoint list --interface public -f json');
  const rows = JSON.parse(out) as { 'Service Name': string; URL: string }[];
  return rows
    .map((r) => ({ service: r['Service Name'], url: r.URL }))
    .sort((a, b) => a.service.localeCompare(b.service));
}

/** `openstack <args>` in the cloud's openstack-client pod (admin credentials), its output. */
function openstack(namespace: string, env: NodeJS.ProcessEnv, args: string): Promise<string> {
  const argv = ['-n', namespace, 'exec', 'deploy/openstack-client', '--', 'openstack'];
  return capture('kubectl', [...argv, ...args.split(' ')], { env });
}

/** Service host name → cluster IP, so that this host can reach what the catalog names. */
async function clusterIps(client: KubeClient, namespace: string): Promise<Map<string, string>> {
  const { items: services } = await client.list<KubeObj>('v1', 'Service', { namespace });
  const m = new Map<string, string>();
  for (const s of services) {
    const ip = (s.spec as { clusterIP?: string }).clusterIP;
    if (ip && ip !== 'None') m.set(`${s.metadata.name}.${namespace}.svc`, ip);
  }
  return m;
}

export function register(program: Command): void {
  program
    .command('up')
    .description(
      'the main job: local cluster, images, operator, and a cloud deployed and followed until Ready',
    )
    .option('-f, --file <spec>', 'the cloud to deploy', 'examples/minimal.yaml')
    .option('--timeout <minutes>', 'give up waiting for Ready after this many minutes', '30')
    .option(
      '--nodes <n>',
      'real nodes for the local cluster: this machine plus n-1 node containers (default: as before)',
    )
    .option(
      '--no-cloud',
      'stop once the operator runs: the cluster, the images and the operator, no cloud applied',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ sudo npx stackanetes up                       # examples/minimal.yaml on the local cluster
  $ sudo npx stackanetes up --nodes 3 --no-cloud  # three nodes and the operator; then apply -f
  $ sudo npx stackanetes up -f my-cloud.yaml
  $ sudo npx stackanetes up --nodes 3 -f examples/ha.yaml   # the HA cloud on three real nodes

Steps (each is a command of its own):
  cluster up        build (first run: ~50 min) or reuse the local Kubernetes, start it
  images build      build (first run: ~30 min) or reuse the images, push them to the cluster's registry
  operator          \`kubectl apply -k deploy/\` (CRD, RBAC, the operator Deployment) when the
                    operator image is built; else (re)start \`stackanetes operator\` beside the
                    cluster (log in the cluster's logs)
  apply -f SPEC     create/update the cloud and follow it until Ready
Then prints the public endpoints and how to use the \`openstack\` command line.
\`npx stackanetes cluster down\` stops everything, the operator included.`,
    )
    .action(async (opts: { file: string; timeout: string; nodes?: string; cloud: boolean }) => {
      if (process.getuid && process.getuid() !== 0)
        throw new CliError('the local cluster runs containerd and the kubelet: run it as root');
      // --no-cloud deploys no spec: the file is neither needed nor read.
      if (opts.cloud && !existsSync(opts.file)) throw new CliError(`${opts.file}: no such file`);
      const doc = opts.cloud ? (parse(readText(opts.file)) as KubeObj) : undefined;
      const namespace = doc?.metadata?.namespace ?? 'openstack';
      const name = doc?.metadata?.name;
      const t0 = Date.now();
      const l = layout();
      const env = {
        ...process.env,
        KUBECONFIG: l.kubeconfig,
        PATH: `${l.pathDir}:${process.env.PATH ?? ''}`,
      };
      const times: string[] = [];
      const timed = async (title: string, f: () => Promise<string | void>) => {
        step(title);
        const t = Date.now();
        const note = await f();
        const secs = ((Date.now() - t) / 1000).toFixed(1);
        if (note) process.stderr.write(`${note}\n`);
        times.push(`${title}: ${secs} s`);
      };
      await timed(`cluster up${opts.nodes ? ` --nodes ${opts.nodes}` : ''}`, () =>
        stackanetes(['cluster', 'up', ...(opts.nodes ? ['--nodes', opts.nodes] : [])], env),
      );
      await timed('images build', () => stackanetes(['images', 'build'], env));
      process.env.KUBECONFIG = l.kubeconfig;
      const operatorDigest = await builtOperatorImage();
      await timed(operatorDigest ? 'operator (in the cluster, from deploy/)' : 'operator', () =>
        operatorDigest ? installOperator(env, operatorDigest) : startOperator(l.kubeconfig),
      );
      if (!opts.cloud) {
        process.stdout.write(
          `the cluster, the images and the operator are up (${((Date.now() - t0) / 1000).toFixed(0)} s in all: ${times.join(', ')}); deploy a cloud with: npx stackanetes apply -f SPEC\n`,
        );
        return;
      }
      await timed(`apply -f ${opts.file}`, () =>
        stackanetes(['apply', '-f', opts.file, '--timeout', opts.timeout], env),
      );
      // With the libvirt driver: the guest image in Glance, a flavor, networks, a router.
      const valid = validateText(readText(opts.file));
      let guests: string | undefined;
      if (valid.ok && valid.cloud.spec.services.nova.computeDriver === 'libvirt')
        await timed('guests: image, flavor, networks', async () => {
          guests = await prepareForGuests(valid.cloud.spec, namespace, env, (l) =>
            process.stderr.write(`  ${l}\n`),
          );
        });

      step('endpoints');
      const client = await KubeClient.create();
      try {
        const ips = await clusterIps(client, namespace);
        const endpoints = await catalog(namespace, env);
        const width = Math.max(...endpoints.map((e) => e.service.length));
        const lines = endpoints.map((e) => {
          const host = new URL(e.url).hostname;
          const ip = ips.get(host);
          return `  ${e.service.padEnd(width)}  ${e.url}${ip ? `   (from this host: ${e.url.replace(host, ip)})` : ''}`;
        });
        const publicHorizon = endpoints.find((e) => e.service === 'horizon')?.url;
        const horizon = ips.get(`horizon-server.${namespace}.svc`);
        if (publicHorizon && new URL(publicHorizon).hostname.endsWith(`.${publicDomain}`))
          lines.push(`  ${'dashboard'.padEnd(width)}  ${publicHorizon}/ (user admin)`);
        else if (horizon)
          lines.push(`  ${'dashboard'.padEnd(width)}  http://${horizon}:8080/ (user admin)`);
        const onIngress = endpoints.some((e) =>
          new URL(e.url).hostname.endsWith(`.${publicDomain}`),
        );
        process.stdout.write(
          [
            `cloud ${namespace}/${name} is Ready (${((Date.now() - t0) / 1000).toFixed(0)} s in all: ${times.join(', ')})`,
            '',
            'Public endpoints (Keystone catalog):',
            ...lines,
            '',
            'The openstack command line (admin credentials from the Secret keystone-admin, never printed):',
            '  eval "$(npx stackanetes cluster env)"',
            `  kubectl -n ${namespace} exec deploy/openstack-client -- openstack server list`,
            `  kubectl -n ${namespace} exec -it deploy/openstack-client -- bash    # then: openstack …`,
            '',
            ...(guests ? [guests, ''] : []),
            "The operator's dashboard (components, pods per node, a live timeline of what it did):",
            '  npx stackanetes dashboard',
            '',
            ...(onIngress
              ? [
                  `Or with your own client on this host (the public URLs go through the cluster's ingress;`,
                  `\`cluster up\` put *.${publicDomain} in /etc/hosts), the same credentials as environment variables:`,
                ]
              : [
                  'Or with your own client, the same credentials as environment variables (the URLs are',
                  "in-cluster names: use them where the cluster's DNS answers, e.g. a pod, or the IPs above):",
                ]),
            `  eval "$(kubectl -n ${namespace} get secret keystone-admin -o go-template='{{range $k, $v := .data}}{{if ne $k "clouds.yaml"}}export {{$k}}={{$v | base64decode}}{{"\\n"}}{{end}}{{end}}')"`,
            '',
          ].join('\n'),
        );
        const token = await openstack(namespace, env, 'token issue -f value -c expires');
        process.stdout.write(
          `checked: \`openstack token issue\` works (token expires ${token.trim()})\n`,
        );
        const identity = endpoints.find((e) => e.service === 'keystone')?.url;
        if (identity && onIngress) {
          const r = await fetch(identity, { signal: AbortSignal.timeout(10_000) });
          process.stdout.write(
            `checked: ${identity} answers this host through the ingress (HTTP ${r.status})\n`,
          );
        }
      } finally {
        client.close();
      }
    });
}
