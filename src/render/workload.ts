// Shared builders for pods and the controllers around them: probes, resources, the Kolla
// container, Deployments/DaemonSets, Services, PodDisruptionBudgets and ServiceAccounts.
import type { Resources } from '../api/v1alpha1/spec.ts';
import type { ComponentName, NodeRole, Probe as ProbeDef } from '../catalog/types.ts';
import type { ImageName } from '../catalog/images.ts';
import { image, meta, placement, pullPolicy, selectorLabels, labels, type Ctx } from './context.ts';
import {
  configHashAnnotation,
  type Container,
  type DaemonSet,
  type Deployment,
  type EnvVar,
  type PodDisruptionBudget,
  type PodSpec,
  type ResourceRequirements,
  type Service,
  type ServiceAccount,
  type Volume,
  type VolumeMount,
} from './kube.ts';
import type { KollaConfig } from './kolla.ts';
import { probes } from './probes.ts';
import { priorityClassOf } from './priority.ts';

const defaultRequests = { cpu: '100m', memory: '128Mi' };

export function resources(
  r: Resources | undefined,
  requests = defaultRequests,
): ResourceRequirements {
  const out: ResourceRequirements = { requests: { ...requests } };
  if (r?.requests) out.requests = { ...out.requests, ...stringify(r.requests) };
  if (r?.limits) out.limits = stringify(r.limits);
  return out;
}

function stringify(l: { cpu?: string | number; memory?: string | number }): Record<string, string> {
  const o: Record<string, string> = {};
  if (l.cpu !== undefined) o.cpu = String(l.cpu);
  if (l.memory !== undefined) o.memory = String(l.memory);
  return o;
}

export interface KollaContainerOpts {
  readonly name: string;
  readonly image: ImageName;
  readonly config: KollaConfig;
  readonly probe?: ProbeDef;
  readonly ports?: readonly { name: string; port: number }[];
  readonly resources?: Resources;
  /** Requests when the spec gives none (default 100m CPU, 128Mi). */
  readonly defaultRequests?: { cpu: string; memory: string };
  readonly env?: readonly EnvVar[];
  readonly mounts?: readonly VolumeMount[];
  readonly privileged?: boolean;
}

/** A container started by `kolla_start` from its config Secret. */
export function kollaContainer(ctx: Ctx, o: KollaContainerOpts): Container {
  const c: Container = {
    name: o.name,
    image: image(ctx, o.image),
    imagePullPolicy: pullPolicy(ctx),
    // The image's ENTRYPOINT (dumb-init) stays PID 1: it forwards SIGTERM to the service and
    // reaps zombies; `command` would replace it.
    args: ['kolla_start'],
    env: [{ name: 'KOLLA_CONFIG_STRATEGY', value: 'COPY_ALWAYS' }, ...(o.env ?? [])],
  };
  if (o.ports && o.ports.length > 0) {
    c.ports = o.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' }));
  }
  if (o.probe) Object.assign(c, probes(o.probe, ctx.catalog.messaging.ports.amqp!));
  c.resources = resources(o.resources, o.defaultRequests);
  c.volumeMounts = [o.config.mount, ...(o.mounts ?? [])];
  if (o.privileged) c.securityContext = { privileged: true };
  else c.securityContext = { allowPrivilegeEscalation: true, readOnlyRootFilesystem: false };
  return c;
}

export interface PodOpts {
  readonly component: ComponentName;
  readonly part: string;
  readonly role: NodeRole;
  readonly containers: Container[];
  readonly initContainers?: Container[];
  readonly volumes: Volume[];
  readonly configHash: string;
  readonly serviceAccountName: string;
  readonly spread?: boolean;
  readonly hostNetwork?: boolean;
  readonly terminationGracePeriodSeconds?: number;
}

export function podTemplate(ctx: Ctx, o: PodOpts) {
  const sel = selectorLabels(ctx, o.component, o.part);
  const spec: PodSpec = {
    serviceAccountName: o.serviceAccountName,
    automountServiceAccountToken: false,
    priorityClassName: priorityClassOf(o.component, o.part),
    affinity: placement(ctx, o.role, o.spread ? sel : undefined),
    ...(o.initContainers ? { initContainers: o.initContainers } : {}),
    containers: o.containers,
    volumes: o.volumes,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: o.terminationGracePeriodSeconds ?? 30,
  };
  if (o.hostNetwork) {
    spec.hostNetwork = true;
    spec.dnsPolicy = 'ClusterFirstWithHostNet';
  }
  if (ctx.spec.tolerations?.length) spec.tolerations = ctx.spec.tolerations.map((t) => ({ ...t }));
  if (ctx.spec.images.pullSecrets?.length) {
    spec.imagePullSecrets = ctx.spec.images.pullSecrets.map((name) => ({ name }));
  }
  return {
    metadata: {
      labels: labels(ctx, o.component, o.part),
      annotations: { [configHashAnnotation]: o.configHash },
    },
    spec,
  };
}

export function deployment(
  ctx: Ctx,
  name: string,
  replicas: number,
  o: PodOpts,
): Deployment & { metadata: { name: string } } {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(ctx, name, o.component, o.part),
    spec: {
      replicas,
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels(ctx, o.component, o.part) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: podTemplate(ctx, { ...o, spread: replicas > 1 }),
    },
  };
}

export function daemonSet(
  ctx: Ctx,
  name: string,
  o: PodOpts,
): DaemonSet & { metadata: { name: string } } {
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(ctx, name, o.component, o.part),
    spec: {
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels(ctx, o.component, o.part) },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } },
      template: podTemplate(ctx, o),
    },
  };
}

export function service(
  ctx: Ctx,
  name: string,
  component: ComponentName,
  part: string,
  ports: readonly { name: string; port: number }[],
  opts: { headless?: boolean; publishNotReady?: boolean } = {},
): Service & { metadata: { name: string } } {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(ctx, name, component, part),
    spec: {
      ...(opts.headless ? { clusterIP: 'None' } : { type: 'ClusterIP' }),
      ...(opts.publishNotReady ? { publishNotReadyAddresses: true } : {}),
      selector: selectorLabels(ctx, component, part),
      ports: ports.map((p) => ({
        name: p.name,
        port: p.port,
        targetPort: p.port,
        protocol: 'TCP',
      })),
    },
  };
}

/** Keeps at most one replica down during voluntary disruptions (node drains, upgrades). */
export function disruptionBudget(
  ctx: Ctx,
  name: string,
  component: ComponentName,
  part: string,
): PodDisruptionBudget & { metadata: { name: string } } {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(ctx, name, component, part),
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(ctx, component, part) } },
  };
}

export function serviceAccount(
  ctx: Ctx,
  name: string,
  component: ComponentName,
): ServiceAccount & { metadata: { name: string } } {
  return {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: meta(ctx, name, component),
    automountServiceAccountToken: false,
  };
}

/** A hostPath volume (created on the node when missing, unless `Directory` says it must exist). */
export function hostPathVolume(
  name: string,
  path: string,
  type: 'DirectoryOrCreate' | 'Directory' = 'DirectoryOrCreate',
): Volume {
  return { name, hostPath: { path, type } };
}
