// `stackanetes status [NAME]`: each cloud's components, pods and conditions.
import type { Command } from 'commander';
import { apiVersion, kind } from '../api/v1alpha1/spec.ts';
import { KubeClient, type KubeObj } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { readStatus, statusTable } from './cloud-view.ts';
import { CliError } from './errors.ts';

export function register(program: Command): void {
  program
    .command('status')
    .description('Show the components of a cloud (or of every cloud in the namespace)')
    .argument('[name]', 'the OpenStackCloud; all in the namespace if omitted')
    .option('-n, --namespace <ns>', 'namespace', 'openstack')
    .addHelpText(
      'after',
      '\nExamples:\n  $ npx stackanetes status\n  $ npx stackanetes status minimal -n openstack',
    )
    .action(async (name: string | undefined, opts: { namespace: string }) => {
      const client = await KubeClient.create();
      try {
        let clouds: KubeObj[];
        if (name) {
          try {
            clouds = [await client.get(apiVersion, kind, name, opts.namespace)];
          } catch (err) {
            if (isNotFound(err))
              throw new CliError(`no OpenStackCloud ${name} in namespace ${opts.namespace}`);
            throw err;
          }
        } else {
          clouds = (await client.list(apiVersion, kind, { namespace: opts.namespace })).items;
          if (clouds.length === 0)
            throw new CliError(`no OpenStackCloud in namespace ${opts.namespace}`);
        }
        for (const c of clouds) {
          const s = readStatus(c);
          const spec = c.spec as { release?: string };
          const ready = s.ready
            ? `${s.ready.status} (${s.ready.reason})`
            : 'Unknown (not reconciled yet)';
          const stale =
            s.observedGeneration < s.generation
              ? ' — the operator has not seen the latest spec yet'
              : '';
          process.stdout.write(
            `${c.metadata.namespace}/${c.metadata.name}  release ${spec.release ?? '?'}  Ready: ${ready}${stale}\n`,
          );
          if (s.components.length > 0)
            process.stdout.write(`${statusTable(s, process.stdout.columns ?? 160)}\n`);
          process.stdout.write('\n');
        }
      } finally {
        client.close();
      }
    });
}
