// The Kolla image contract: a Secret mounted at /var/lib/kolla/config_files/ holds config.json
// (the command and which files go where, with owner and mode) and the files themselves;
// `kolla_start` copies them into place and execs the command. The control plane's pods, which
// may not escalate to root for that copy, mount each file at its destination instead and run
// the command themselves (configFileMounts, workload.ts): the Secret is the same either way.
import type { ComponentName } from '../catalog/types.ts';
import { meta, type Ctx } from './context.ts';
import { contentHash } from './hash.ts';
import type { Secret, Volume, VolumeMount, KubeObject } from './kube.ts';

export const kollaConfigDir = '/var/lib/kolla/config_files';

export interface ConfigFile {
  /** File name inside the Secret (and under /var/lib/kolla/config_files/). */
  readonly name: string;
  readonly dest: string;
  readonly content: string;
  readonly owner: string;
  readonly perm: string;
}

export interface KollaPermission {
  readonly path: string;
  readonly owner: string;
  readonly recurse?: boolean;
}

export function configJson(
  command: string,
  files: readonly ConfigFile[],
  permissions: readonly KollaPermission[] = [],
): string {
  const doc = {
    command,
    config_files: files.map((f) => ({
      source: `${kollaConfigDir}/${f.name}`,
      dest: f.dest,
      owner: f.owner,
      perm: f.perm,
    })),
    permissions: permissions.map((p) => ({
      path: p.path,
      owner: p.owner,
      recurse: p.recurse ?? false,
    })),
  };
  return JSON.stringify(doc, null, 2) + '\n';
}

export interface KollaConfig {
  readonly secret: Secret & KubeObject;
  /** Hash of everything in the Secret: goes on the pod template so a change rolls the pods. */
  readonly hash: string;
  readonly volume: Volume;
  readonly mount: VolumeMount;
  /** config.json's command. */
  readonly command: string;
  /** config.json's config_files. */
  readonly files: readonly ConfigFile[];
}

/**
 * The config files mounted where kolla_set_configs would copy them, each one file of the Secret
 * (read-only, root-owned, group-readable by the pod's fsGroup): what a container gets instead of
 * the copy, which needs root or sudo.
 */
export function configFileMounts(config: KollaConfig): VolumeMount[] {
  return config.files.map((f) => ({
    name: config.volume.name,
    mountPath: f.dest,
    subPath: f.name,
    readOnly: true,
  }));
}

/**
 * The config Secret for one process. Config files carry passwords, so they are never put in a
 * ConfigMap. `extra` files are mounted but not copied (probe scripts and the like).
 */
export function kollaConfig(
  ctx: Ctx,
  component: ComponentName,
  part: string,
  command: string,
  files: readonly ConfigFile[],
  opts: { permissions?: readonly KollaPermission[]; extra?: Record<string, string> } = {},
): KollaConfig {
  const name = `${component === part ? component : `${component}-${part}`}-config`;
  const stringData: Record<string, string> = {
    'config.json': configJson(command, files, opts.permissions),
  };
  for (const f of files) stringData[f.name] = f.content;
  for (const [k, v] of Object.entries(opts.extra ?? {})) stringData[k] = v;
  const sorted = Object.fromEntries(
    Object.entries(stringData).sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  const volumeName = 'kolla-config';
  return {
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: meta(ctx, name, component, part),
      type: 'Opaque',
      stringData: sorted,
    },
    hash: contentHash(sorted, 16),
    volume: { name: volumeName, secret: { secretName: name, defaultMode: 0o440 } },
    mount: { name: volumeName, mountPath: kollaConfigDir, readOnly: true },
    command,
    files,
  };
}
