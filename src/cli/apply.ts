// `stackanetes apply -f SPEC`: create or update the OpenStackCloud and follow the operator's
// progress component by component until the cloud is Ready or something fails.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { apiVersion, kind } from '../api/v1alpha1/spec.ts';
import { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { cloudNamespaceProblem } from '../render/namespaces.ts';
import { ApiError } from '../kube/errors.ts';
import { ensureCrd, ensureNamespace } from '../controller/install.ts';
import { operatorState } from '../controller/liveness.ts';
import { failure, readStatus, statusTable } from './cloud-view.ts';
import { CliError } from './errors.ts';
import { readSpec } from './spec-file.ts';

export function register(program: Command): void {
  program
    .command('apply')
    .description('Create or update an OpenStackCloud and follow it until it is Ready')
    .requiredOption('-f, --file <spec>', 'spec file (YAML), or - for standard input')
    .option('-n, --namespace <ns>', 'namespace (default: the spec’s, else openstack)')
    .option('--no-wait', 'return once the spec is accepted')
    .option('--timeout <minutes>', 'give up after this many minutes', '30')
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes apply -f examples/minimal.yaml
  $ npx stackanetes apply -f cloud.yaml --no-wait && npx stackanetes status

Needs the operator running in the cluster (or \`npx stackanetes operator\` beside it).
Exits 0 when Ready, 1 when a component fails (its reason and last log line are shown).`,
    )
    .action(async (opts: { file: string; namespace?: string; wait: boolean; timeout: string }) => {
      const { text, cloud } = readSpec(opts.file);
      // Apply what the user wrote; the API server fills defaults from the CRD schema.
      const doc = parse(text) as KubeObject;
      const namespace = opts.namespace ?? cloud.metadata.namespace ?? 'openstack';
      // The data plane runs in a namespace named after the cloud's (-n is not validated with the spec).
      const problem = cloudNamespaceProblem(namespace);
      if (problem) throw new CliError(`namespace ${namespace}: ${problem}`);
      doc.metadata = { ...doc.metadata, namespace };
      const client = await KubeClient.create();
      try {
        await ensureCrd(client);
        await ensureNamespace(client, namespace);
        let applied: KubeObject;
        try {
          applied = await client.apply(doc);
        } catch (err) {
          if (err instanceof ApiError && err.invalid) {
            throw new CliError(`the API server rejected the spec: ${err.message}`);
          }
          throw err;
        }
        const name = applied.metadata.name;
        process.stderr.write(
          `openstackcloud ${namespace}/${name} applied (generation ${applied.metadata.generation})\n`,
        );
        if (!opts.wait) return;
        await follow(
          client,
          namespace,
          name,
          applied.metadata.generation ?? 0,
          Number(opts.timeout) * 60_000,
        );
      } finally {
        client.close();
      }
    });
}

async function follow(
  client: KubeClient,
  namespace: string,
  name: string,
  generation: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const tty = process.stderr.isTTY;
  let last = '';
  let lines = 0;
  while (Date.now() < deadline) {
    let cloud: KubeObject;
    try {
      cloud = await client.get<KubeObject>(apiVersion, kind, name, namespace);
    } catch (err) {
      // The API server restarting or a dropped connection is no reason to stop following.
      if (!(err instanceof ApiError && err.retriable)) throw err;
      process.stderr.write(`(API server: ${err.reason}; retrying)\n`);
      lines = 0;
      await sleep(3000);
      continue;
    }
    const s = readStatus(cloud);
    const current = s.observedGeneration >= generation;
    // Say so when nothing will ever pick the spec up (no operator running, or a dead one).
    const operator = current
      ? undefined
      : operatorState({
          status: cloud.status as Parameters<typeof operatorState>[0]['status'],
          createdAt: cloud.metadata.creationTimestamp,
          lease: undefined,
          serverNow: client.serverNow(),
        });
    const table = current
      ? statusTable(s, process.stderr.columns ?? 120)
      : operator?.reconciling === false
        ? `waiting for the operator to observe the new spec: ${operator.summary}; is \`stackanetes operator\` (or its Deployment) running?`
        : 'waiting for the operator to observe the new spec…';
    if (table !== last) {
      if (tty && lines > 0) process.stderr.write(`\x1b[${lines}A\x1b[J`);
      process.stderr.write(`${table}\n`);
      lines = table.split('\n').length;
      last = table;
    }
    if (current) {
      const f = failure(s);
      if (f) throw new CliError(`${f.name}: ${f.reason}: ${f.message}`);
      if (s.ready?.status === 'True') {
        process.stdout.write(`openstackcloud ${namespace}/${name} is Ready\n`);
        return;
      }
    }
    await sleep(2000);
  }
  throw new CliError(
    `openstackcloud ${namespace}/${name} was not Ready after ${Math.round(timeoutMs / 60000)} minutes; see \`stackanetes status ${name}\``,
  );
}
