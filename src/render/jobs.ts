// One-shot work (database creation, schema sync, Keystone registration) as Jobs named by a hash
// of their inputs: a finished Job is never re-run, and a changed input makes a new Job.
import type { ComponentName } from '../catalog/types.ts';
import { restrictedUid, type ImageName } from '../catalog/images.ts';
import { meta, type Ctx } from './context.ts';
import { contentHash } from './hash.ts';
import { kollaConfig, type ConfigFile } from './kolla.ts';
import type { Job, KubeObject, Volume, VolumeMount } from './kube.ts';
import { kollaContainer, podTemplate } from './workload.ts';

/** Label carrying a Job's task, so old Jobs of the same task can be found and pruned. */
export const jobTaskLabel = 'stackanetes.io/job-task';
export const inputHashAnnotation = 'stackanetes.io/input-hash';

export interface JobOpts {
  readonly component: ComponentName;
  /** Task name, e.g. `db-sync`; the Job is `<component>-<task>-<hash>`. */
  readonly task: string;
  readonly image: ImageName;
  /** Shell script run by the Job (bash), shipped in the config Secret. */
  readonly script: string;
  /** Config files copied into place before the script runs. */
  readonly files?: readonly ConfigFile[];
  /** Extra files mounted beside the script (helpers, credentials). */
  readonly extra?: Record<string, string>;
  readonly serviceAccountName: string;
  readonly volumes?: Volume[];
  readonly mounts?: VolumeMount[];
  readonly backoffLimit?: number;
}

const scriptName = 'job.sh';
/** CPU request of a Job's container (they run one at a time, beside the cloud). */
export const jobCpuRequest = '50m';
/** The toolbox's user (kolla) has a home on the read-only root file system. */
export const toolboxEnv = [{ name: 'HOME', value: '/tmp' }];

/** The Job and its config Secret (whose name carries the same hash, so it never changes under a running Job). */
export function job(ctx: Ctx, o: JobOpts): KubeObject[] {
  const base = `${o.component}-${o.task}`;
  const extra = { ...(o.extra ?? {}), [scriptName]: `#!/bin/bash\nset -euo pipefail\n${o.script}` };
  const probe = kollaConfig(ctx, o.component, o.task, 'x', o.files ?? [], { extra });
  // Everything the pod runs with goes into the name: a Job whose volumes change is a new Job.
  const hash = contentHash(
    { image: o.image, config: probe.hash, volumes: o.volumes ?? [], mounts: o.mounts ?? [] },
    10,
  );
  const command = `bash /var/lib/kolla/config_files/${scriptName}`;
  const config = kollaConfig(ctx, o.component, `${o.task}-${hash}`, command, o.files ?? [], {
    extra,
  });
  const labelled = { ...config.secret.metadata.labels, [jobTaskLabel]: o.task };
  config.secret.metadata.labels = labelled;
  const template = podTemplate(ctx, {
    component: o.component,
    part: o.task,
    role: 'controlPlane',
    containers: [
      kollaContainer(ctx, {
        name: o.task,
        image: o.image,
        config,
        mounts: o.mounts ?? [],
        cpu: jobCpuRequest,
        memory: ctx.catalog.memory.job,
        ...(o.image === ctx.catalog.toolbox ? { env: toolboxEnv } : {}),
      }),
    ],
    volumes: [config.volume, ...(o.volumes ?? [])],
    configHash: config.hash,
    serviceAccountName: o.serviceAccountName,
    user: restrictedUid(o.image),
  });
  // Never, not OnFailure: a failed try stays as a Failed pod with its log, which the operator
  // quotes in the condition (with OnFailure the Job controller deletes the one pod when the Job
  // fails, and the reason with it).
  template.spec.restartPolicy = 'Never';
  const name = `${base}-${hash}`;
  const j: Job & KubeObject = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta(ctx, name, o.component, o.task, { [inputHashAnnotation]: hash }),
    spec: {
      backoffLimit: o.backoffLimit ?? ctx.spec.jobs.retries,
      activeDeadlineSeconds: 1800,
      template,
    },
  };
  j.metadata.labels = { ...j.metadata.labels, [jobTaskLabel]: o.task };
  return [config.secret, j];
}
