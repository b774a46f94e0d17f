// `stackanetes init`: a commented example spec to start from.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from './errors.ts';

export const exampleSpec = `# An OpenStackCloud: everything Stackanetes needs to know about one cloud.
# Check it with \`stackanetes validate -f FILE\`; see every field with \`stackanetes crd\`.
apiVersion: stackanetes.io/v1alpha1
kind: OpenStackCloud
metadata:
  name: mycloud          # lower-case DNS label, at most 40 characters
  namespace: openstack
spec:
  release: '2025.1'      # OpenStack release; the catalog lists the known ones
  region: RegionOne
  images:
    registry: localhost:5001/stackanetes   # where images come from (the local cluster's registry)
    # tag: '2025.1'                   # defaults to the release
    pullPolicy: IfNotPresent
  # Which nodes run what, by label (these are the defaults):
  nodeRoles:
    controlPlane: { matchLabels: { stackanetes.io/control-plane: 'true' } }
    compute: { matchLabels: { stackanetes.io/compute: 'true' } }
    network: { matchLabels: { stackanetes.io/network: 'true' } }
  infrastructure:
    database: { replicas: 1, storage: { size: 10Gi } }   # 3 or 5 for a Galera cluster
    messaging: { replicas: 1, storage: { size: 5Gi } }
    cache: { replicas: 1 }
  services:
    keystone: { replicas: 1 }
    glance: { replicas: 1, store: { backend: file, size: 20Gi } }
    placement: { replicas: 1 }
    nova:
      replicas: 1
      computeDriver: fake   # libvirt for real instances
      # Per-service oslo.config overrides: section → key → value, over the catalog defaults.
      config:
        DEFAULT: { debug: false }
    neutron: { replicas: 1 }
    horizon: { replicas: 1 }
  # endpoints:
  #   public: { domain: cloud.example.com, tlsSecretName: cloud-tls }
`;

export function register(program: Command): void {
  program
    .command('init')
    .description('Write a commented example OpenStackCloud spec')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--force', 'overwrite an existing file')
    .addHelpText(
      'after',
      '\nExample:\n  $ npx stackanetes init -o cloud.yaml && npx stackanetes validate -f cloud.yaml',
    )
    .action((opts: { output?: string; force?: boolean }) => {
      if (!opts.output) {
        process.stdout.write(exampleSpec);
        return;
      }
      try {
        writeFileSync(opts.output, exampleSpec, { flag: opts.force ? 'w' : 'wx' });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new CliError(`${opts.output} exists; pass --force to overwrite it`);
        }
        throw err;
      }
      process.stderr.write(`wrote ${opts.output}\n`);
    });
}
