// `stackanetes validate -f SPEC`: check a spec without rendering or touching a cluster.
import type { Command } from 'commander';
import { enabledComponents } from '../plan/components.ts';
import { readCloud } from './spec-file.ts';

export function register(program: Command): void {
  program
    .command('validate')
    .description('Check an OpenStackCloud spec: schema, defaults and semantic rules')
    .requiredOption('-f, --file <spec>', 'spec file (YAML), or - for standard input')
    .addHelpText(
      'after',
      '\nExamples:\n  $ npx stackanetes validate -f examples/minimal.yaml\n  $ cat cloud.yaml | npx stackanetes validate -f -\n\nExits 0 when valid; otherwise prints each problem with its field path and exits 1.',
    )
    .action((opts: { file: string }) => {
      const cloud = readCloud(opts.file);
      process.stdout.write(
        `${opts.file}: valid OpenStackCloud ${cloud.metadata.name} (release ${cloud.spec.release}; components: ${enabledComponents(cloud).join(', ')})\n`,
      );
    });
}
