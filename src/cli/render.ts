// `stackanetes render -f SPEC [-o DIR] [--secrets FILE]`: the objects of a cloud as YAML, for
// review or GitOps. Secret values are redacted unless a secrets file is given.
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, basename } from 'node:path';
import type { Command } from 'commander';
import { dump } from 'js-yaml';
import type { OpenStackCloud } from '../api/v1alpha1/spec.ts';
import { enabledComponents } from '../plan/components.ts';
import { flatten, render, type RenderOptions } from '../render/index.ts';
import type { KubeObject } from '../render/kube.ts';
import { redactedSecrets, type CloudSecrets } from '../render/secrets.ts';
import {
  loadOrCreateSecrets,
  UnusableSecrets,
  type SecretsStore,
} from '../secrets/cloud-secrets.ts';
import { CliError } from './errors.ts';
import { readCloud, readText } from './spec-file.ts';

/** Every object of a cloud in one list: the components its spec enables, rendered. */
export function cloudObjects(
  cloud: OpenStackCloud,
  secrets: CloudSecrets,
  opts: RenderOptions = {},
): KubeObject[] {
  return flatten(render(cloud, secrets, enabledComponents(cloud), opts));
}

/** One YAML document per object (js-yaml's emitter: several times faster than `yaml`'s). */
export function objectYaml(o: KubeObject): string {
  return dump(o, { noRefs: true, lineWidth: -1 });
}

export function toYaml(objects: readonly KubeObject[]): string {
  return objects.map(objectYaml).join('---\n');
}

/** A secrets file; a new one is created with mode 0600, never over an existing one. */
function secretsFile(path: string): SecretsStore {
  return {
    read: () => Promise.resolve(existsSync(path) ? readText(path) : undefined),
    create: (text) => {
      mkdirSync(dirname(resolve(path)), { recursive: true });
      try {
        writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
        return Promise.resolve(true);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return Promise.resolve(false);
        throw err;
      }
    },
  };
}

/** Reads a secrets file, or creates one with fresh values (mode 0600) when it does not exist. */
async function secretsFromFile(path: string): Promise<{ secrets: CloudSecrets; created: boolean }> {
  try {
    return await loadOrCreateSecrets(secretsFile(path));
  } catch (err) {
    if (!(err instanceof UnusableSecrets)) throw err;
    if (err.notYaml) throw new CliError(`${path}: ${err.message}`);
    const lines = err.problems.map((p) => `  ${p.path}: ${p.message}`);
    throw new CliError(`${path} has secrets that cannot be used:\n${lines.join('\n')}`);
  }
}

function fileName(i: number, o: KubeObject): string {
  return `${String(i).padStart(3, '0')}-${o.kind.toLowerCase()}-${o.metadata.name}.yaml`;
}

/** Writes one file per object into a fresh directory and swaps it into place. */
function writeDir(dir: string, objects: readonly KubeObject[]): void {
  const target = resolve(dir);
  const staging = join(dirname(target), `.${basename(target)}.staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    objects.forEach((o, i) => writeFileSync(join(staging, fileName(i, o)), objectYaml(o)));
    const old = `${staging}.old`;
    if (existsSync(target)) renameSync(target, old);
    renameSync(staging, target);
    rmSync(old, { recursive: true, force: true });
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

export function register(program: Command): void {
  program
    .command('render')
    .description(
      'Render every Kubernetes object of a cloud (pure: the same input gives the same bytes)',
    )
    .requiredOption('-f, --file <spec>', 'spec file (YAML), or - for standard input')
    .option('-o, --output <dir>', 'write one file per object into this directory instead of stdout')
    .option(
      '--secrets <file>',
      'secret values to render with; created with fresh random values (mode 0600) if missing. Without it, Secret values are REDACTED',
    )
    .option(
      '-n, --namespace <ns>',
      'the cloud’s namespace (default: the spec’s, else openstack); its data plane’s is <ns>-dataplane',
    )
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes render -f examples/minimal.yaml | less
  $ npx stackanetes render -f examples/ha.yaml -o out/ha
  $ npx stackanetes render -f cloud.yaml --secrets ~/.config/stackanetes/cloud.secrets.yaml -o deploy/

Nothing is written if the spec is invalid.`,
    )
    .action(
      async (opts: { file: string; output?: string; secrets?: string; namespace?: string }) => {
        const cloud = readCloud(opts.file);
        let secrets = redactedSecrets();
        if (opts.secrets) {
          const loaded = await secretsFromFile(opts.secrets);
          secrets = loaded.secrets;
          if (loaded.created)
            process.stderr.write(
              `generated new secrets in ${opts.secrets} (mode 0600); keep it safe\n`,
            );
        } else {
          process.stderr.write(
            'note: Secret values are REDACTED; pass --secrets FILE to render deployable Secrets\n',
          );
        }
        const objects = cloudObjects(
          cloud,
          secrets,
          opts.namespace ? { namespace: opts.namespace } : {},
        );
        if (opts.output) {
          writeDir(opts.output, objects);
          process.stderr.write(`wrote ${objects.length} objects to ${opts.output}\n`);
        } else {
          process.stdout.write(toYaml(objects));
        }
      },
    );
}
