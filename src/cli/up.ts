// `stackanetes up`: the whole local path in one command — the local cluster, the images, the
// operator and a cloud applied and followed until Ready; it ends by printing the endpoints and a
// working `openstack` command line. Each step is the same command a user could run alone. The
// operator is installed the way Kubernetes users install it (`kubectl apply -k deploy/`: CRD,
// RBAC, a Deployment of two replicas) once its image has been built; until then it runs as a
// supervised process beside the cluster's own, stopped by `cluster down`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { parse } from 'yaml';
import type { OpenStackCloudSpec } from '../api/v1alpha1/spec.ts';
import { bmcCredentials, bmcUrl } from '../cluster/bmc.ts';
import { layout } from '../cluster/layout.ts';
import { isNotFound } from '../kube/errors.ts';
import { startHostOperator } from '../cluster/hostoperator.ts';
import { builtOperatorImage, installOperator } from '../cluster/operator.ts';
import { publicDomain } from '../cluster/publichosts.ts';
import { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { dataPlaneNamespace } from '../render/namespaces.ts';
import { validateText } from '../api/v1alpha1/validate.ts';
import { clusterIps, endpointTable, openstack, publicEndpoints } from '../openstack/endpoints.ts';
import { prepareForGuests } from '../openstack/guest-setup.ts';
import { run } from '../util/exec.ts';
import { progressLines, runSteps } from '../util/progress.ts';
import { CliError } from './errors.ts';
import { readText } from './spec-file.ts';

/** The Secret a spec's Redfish fencing reads when it points at the local cluster's BMC. */
export function localRedfish(spec: OpenStackCloudSpec): string | undefined {
  const { method, redfish } = spec.healing.fencing;
  if (method !== 'redfish' || !redfish) return undefined;
  return new URL(redfish.url).origin === new URL(bmcUrl).origin ? redfish.secretName : undefined;
}

/** The BMC's user and password as Secret `name` (username, password), the namespace made if new. */
async function storeBmcSecret(
  namespace: string,
  name: string,
  c: { username: string; password: string },
): Promise<string> {
  const client = await KubeClient.create();
  try {
    await client.get('v1', 'Namespace', namespace);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  }
  await client.apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    type: 'Opaque',
    stringData: { username: c.username, password: c.password },
  });
  return `user ${c.username} (the password is not shown)`;
}

const bin = fileURLToPath(new URL('../../bin/stackanetes.js', import.meta.url));

/** Lines a step writes about its own work, under its title. */
const indented = (line: string) => process.stderr.write(`  ${line}\n`);

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
  cluster up        build (first run: ~30 min on 2 cores) or reuse the local Kubernetes, start it
  images build      build (first run: ~10 min) or reuse the images, push them to the cluster's registry
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
      const doc = opts.cloud ? (parse(readText(opts.file)) as KubeObject) : undefined;
      const namespace = doc?.metadata?.namespace ?? 'openstack';
      const name = doc?.metadata?.name;
      const t0 = Date.now();
      const l = layout();
      const env = {
        ...process.env,
        KUBECONFIG: l.kubeconfig,
        PATH: `${l.pathDir}:${process.env.PATH ?? ''}`,
      };
      // One step at a time, as lines (the commands it runs write to the terminal themselves); the
      // next step's title depends on what the one before made.
      const times: string[] = [];
      const timed = async (title: string, work: () => Promise<string | void>) => {
        for (const t of await runSteps([{ title, run: work }], { redraw: false, start: t0 }))
          times.push(`${t.title}: ${t.seconds} s`);
      };
      await timed(`cluster up${opts.nodes ? ` --nodes ${opts.nodes}` : ''}`, () =>
        stackanetes(['cluster', 'up', ...(opts.nodes ? ['--nodes', opts.nodes] : [])], env),
      );
      await timed('images build', () => stackanetes(['images', 'build'], env));
      process.env.KUBECONFIG = l.kubeconfig;
      const operatorDigest = await builtOperatorImage();
      await timed(operatorDigest ? 'operator (in the cluster, from deploy/)' : 'operator', () =>
        operatorDigest
          ? installOperator(env, operatorDigest, indented)
          : startHostOperator(l.kubeconfig),
      );
      if (!opts.cloud) {
        process.stdout.write(
          `the cluster, the images and the operator are up (${((Date.now() - t0) / 1000).toFixed(0)} s in all: ${times.join(', ')}); deploy a cloud with: npx stackanetes apply -f SPEC\n`,
        );
        return;
      }
      const valid = validateText(readText(opts.file));
      // Fencing through the local cluster's BMC: its credentials go where the spec names them.
      const redfish = valid.ok ? localRedfish(valid.cloud.spec) : undefined;
      if (redfish)
        await timed(`fencing: the local BMC's credentials in Secret ${namespace}/${redfish}`, () =>
          storeBmcSecret(namespace, redfish, bmcCredentials(l)),
        );
      await timed(`apply -f ${opts.file}`, () =>
        stackanetes(['apply', '-f', opts.file, '--timeout', opts.timeout], env),
      );
      // With the libvirt driver: the guest image in Glance, a flavor, networks, a router.
      let guests: string | undefined;
      if (valid.ok && valid.cloud.spec.services.nova.computeDriver === 'libvirt')
        await timed('guests: image, flavor, networks', async () => {
          guests = await prepareForGuests(valid.cloud.spec, namespace, env, indented);
        });

      progressLines(t0)('start', 'endpoints');
      const client = await KubeClient.create();
      try {
        const ips = await clusterIps(client, namespace);
        const endpoints = await publicEndpoints(namespace, env);
        const { lines, onIngress } = endpointTable(endpoints, ips, publicDomain);
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
            'The data plane (Open vSwitch, ovn-controller, the OVN metadata agent, nova-compute) runs in a namespace of its own:',
            `  kubectl -n ${dataPlaneNamespace(namespace)} get pods -o wide`,
            '',
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
