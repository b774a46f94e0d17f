// One process of an OpenStack service as Kubernetes runs it: its config Secret, its Deployment
// (with a Service and a disruption budget for an API) or DaemonSet, and the service's accounts.
import { restrictedUid } from '../../catalog/images.ts';
import type { ComponentName, ProcessDef } from '../../catalog/types.ts';
import type { Ctx } from '../context.ts';
import { kollaConfig, type ConfigFile, type KollaConfig } from '../kolla.ts';
import type { Container, KubeObject, Volume, VolumeMount } from '../kube.ts';
import { healthScript, healthSh, usesHealthScript, uwsgiStatsPort } from '../probes.ts';
import { coreCpuRequest, isCore } from '../priority.ts';
import {
  daemonSet,
  deployment,
  disruptionBudget,
  processContainer,
  service,
  serviceAccount,
  type ContainerSecurity,
} from '../workload.ts';
import { processName, type OpenStackService } from './endpoints.ts';

export interface ProcessOpts {
  /** The service, whose spec gives the replicas and resources. */
  readonly service: OpenStackService;
  readonly proc: ProcessDef;
  readonly files: readonly ConfigFile[];
  readonly volumes?: Volume[];
  readonly mounts?: VolumeMount[];
  readonly extraContainers?: Container[];
  /** The data plane's group that reads the mounted Secrets (the control plane: its user's). */
  readonly fsGroup?: number;
  /** Default: `restricted` for the control plane, `privileged` for processes on the host. */
  readonly security?: ContainerSecurity;
}

/**
 * Seconds an API pod keeps serving after it is told to stop (see processObjects): longer than a
 * replacement takes to be Ready (7.2 s for Keystone, bench/heal keystone-1), so that a service
 * with one replica whose pod is deleted or evicted keeps answering until its replacement does.
 */
export const drainSeconds = 15;

/** One process of a service: its config Secret, its workload, and for APIs a Service and PDB. */
export function processObjects(ctx: Ctx, o: ProcessOpts): KubeObject[] {
  const part = o.proc.name;
  const name = processName(o.service, part);
  const component = ctx.catalog.services[o.service].component;
  const spec = ctx.spec.services[o.service];
  const extra: Record<string, string> = usesHealthScript(o.proc.probe)
    ? { [healthScript]: healthSh }
    : {};
  const config: KollaConfig = kollaConfig(ctx, component, part, o.proc.command, o.files, {
    extra,
  });
  // uWSGI's stats server is the container's own (its liveness probe), not the Service's.
  const stats = uwsgiStatsPort(o.proc.probe);
  const container = processContainer(ctx, o.proc, config, {
    ports: [...o.proc.ports, ...(stats ? [{ name: 'uwsgi-stats', port: stats }] : [])],
    resources: spec.resources,
    ...(isCore(component, part) ? { cpu: coreCpuRequest } : {}),
    mounts: o.mounts ?? [],
    security: o.security ?? { kind: o.proc.host ? 'privileged' : 'restricted' },
  });
  if (o.proc.ports.length > 0 && o.proc.workload !== 'DaemonSet') {
    // A deleted pod gets SIGTERM at the same moment it is marked terminating in the Service's
    // EndpointSlice; kube-proxy needs a moment to stop sending it new connections, and while the
    // Service has no other Ready endpoint it keeps sending them to a terminating one that still
    // passes its readiness probe (KEP-1669, GA in 1.28). So the pod keeps serving through that
    // moment, and with one replica until its replacement is Ready.
    container.lifecycle = { preStop: { exec: { command: ['sleep', String(drainSeconds)] } } };
  }
  // The control plane (no host network) meets Pod Security "restricted" as its image's user.
  const controlPlane = !o.proc.host;
  const pod = {
    component,
    part,
    role: o.proc.role,
    containers: [container, ...(o.extraContainers ?? [])],
    volumes: [config.volume, ...(o.volumes ?? [])],
    configHash: config.hash,
    serviceAccountName: o.service,
    hostNetwork: o.proc.host ?? false,
    ...(controlPlane ? { user: restrictedUid(o.proc.image) } : { fsGroup: o.fsGroup }),
  };
  const out: KubeObject[] = [config.secret];
  if (o.proc.workload === 'DaemonSet') {
    out.push(daemonSet(ctx, name, pod));
  } else {
    out.push(deployment(ctx, name, spec.replicas, pod));
    if (o.proc.ports.length > 0) out.push(service(ctx, name, component, part, o.proc.ports));
    if (spec.replicas > 1) out.push(disruptionBudget(ctx, name, component, part));
  }
  return out;
}

/** The service's ServiceAccounts: one for its pods, one for its jobs. */
export function serviceAccounts(
  ctx: Ctx,
  component: ComponentName,
  serviceName: string,
): KubeObject[] {
  return [
    serviceAccount(ctx, serviceName, component),
    serviceAccount(ctx, `${component}-jobs`, component),
  ];
}
