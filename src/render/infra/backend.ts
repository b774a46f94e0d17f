// What the database, the queue and the cache have in common: one container per member, from the
// catalog's image and memory with the core CPU request; members spread over nodes when there are
// several; the member's ServiceAccount, config Secret and disruption budget.
import type { Resources } from '../../api/v1alpha1/spec.ts';
import { restrictedUid } from '../../catalog/images.ts';
import type { BackendDef } from '../../catalog/types.ts';
import type { Ctx } from '../context.ts';
import type { KollaConfig } from '../kolla.ts';
import type { Container, KubeObject } from '../kube.ts';
import { coreCpuRequest } from '../priority.ts';
import {
  disruptionBudget,
  kollaContainer,
  podTemplate,
  service,
  serviceAccount,
  type KollaContainerOpts,
} from '../workload.ts';

export type BackendComponent = 'database' | 'messaging' | 'cache';

export interface BackendPodOpts {
  readonly component: BackendComponent;
  readonly def: BackendDef;
  readonly replicas: number;
  readonly resources?: Resources;
  readonly config: KollaConfig;
  readonly container: Pick<KollaContainerOpts, 'ports' | 'probe' | 'mounts' | 'env'>;
  readonly terminationGracePeriodSeconds?: number;
}

/** A member's container (named after the backend's Service) and the members' pod template. */
export function backendPod(ctx: Ctx, o: BackendPodOpts) {
  const container: Container = kollaContainer(ctx, {
    name: o.def.service,
    image: o.def.image,
    config: o.config,
    resources: o.resources,
    cpu: coreCpuRequest,
    memory: o.def.memory,
    ...o.container,
  });
  const template = podTemplate(ctx, {
    component: o.component,
    part: o.def.service,
    role: 'controlPlane',
    containers: [container],
    volumes: [o.config.volume],
    configHash: o.config.hash,
    serviceAccountName: o.def.service,
    spread: o.replicas > 1,
    terminationGracePeriodSeconds: o.terminationGracePeriodSeconds,
    user: restrictedUid(o.def.image),
  });
  return { container, template };
}

/** The backend's ServiceAccount, config Secret, `objects`, and with several members a PDB. */
export function backendObjects(
  ctx: Ctx,
  o: Pick<BackendPodOpts, 'component' | 'def' | 'replicas' | 'config'>,
  objects: KubeObject[],
): KubeObject[] {
  const name = o.def.service;
  return [
    serviceAccount(ctx, name, o.component),
    o.config.secret,
    ...objects,
    ...(o.replicas > 1 ? [disruptionBudget(ctx, name, o.component, name)] : []),
  ];
}

/** The Service that names the members (`<service>-headless`), on all their ports, ready or not. */
export function headlessName(def: BackendDef): string {
  return `${def.service}-headless`;
}

export function headlessService(
  ctx: Ctx,
  component: BackendComponent,
  def: BackendDef,
): KubeObject {
  const ports = Object.entries(def.ports).map(([name, port]) => ({ name, port }));
  return service(ctx, headlessName(def), component, def.service, ports, {
    headless: true,
    publishNotReady: true,
  });
}
