// `stackanetes crd`: print the CustomResourceDefinition generated from the spec's definition.
import type { Command } from 'commander';
import { crdYaml } from '../api/v1alpha1/crd.ts';

export function register(program: Command): void {
  program
    .command('crd')
    .description('Print the OpenStackCloud CustomResourceDefinition (YAML)')
    .addHelpText('after', '\nExample:\n  $ npx stackanetes crd | kubectl apply --server-side -f -')
    .action(() => {
      process.stdout.write(crdYaml());
    });
}
