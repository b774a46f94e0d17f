// Shared builders for pods and the controllers around them: probes, resources, the Kolla
// container, Deployments/DaemonSets, Services, PodDisruptionBudgets and ServiceAccounts.
import type { Resources } from '../api/v1alpha1/spec.ts';
import type {
  ComponentName,
  MemoryDef,
  NodeRole,
  Probe as ProbeDef,
  ProcessDef,
  UnlimitedMemoryDef,
} from '../catalog/types.ts';
import { restrictedUid, restrictedUser, type ImageName } from '../catalog/images.ts';
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
  type SecurityContext,
  type Service,
  type ServiceAccount,
  type Volume,
  type VolumeMount,
  type KubeObject,
} from './kube.ts';
import { configFileMounts, type KollaConfig } from './kolla.ts';
import { probes, settleSeconds } from './probes.ts';
import { nodeAgentPriorityClass, priorityClassOf } from './priority.ts';
import { memoryBytes } from './quantity.ts';

/** CPU request of a container when the spec gives none (the core four: coreCpuRequest). */
export const defaultCpuRequest = '100m';

/**
 * A container's memory: the catalog's request and limit, or (one container, libvirtd, whose
 * cgroup the guests' QEMU processes may share) a request and the reason it has no limit.
 */
export type ContainerMemory = MemoryDef | UnlimitedMemoryDef;

/**
 * Requests and limits: the spec's values where it gives them, else the CPU request and the
 * catalog's memory. A memory request above the catalog's limit raises the limit to it (the spec
 * knows the service needs more); a limit below the catalog's request lowers the request to it.
 */
export function resources(
  r: Resources | undefined,
  cpu: string,
  memory: ContainerMemory,
): ResourceRequirements {
  const userRequest = r?.requests?.memory;
  const userLimit = r?.limits?.memory;
  let limit: string | undefined;
  if (userLimit !== undefined) limit = String(userLimit);
  else if ('limit' in memory) {
    limit =
      userRequest !== undefined && memoryBytes(userRequest) > memoryBytes(memory.limit)
        ? String(userRequest)
        : memory.limit;
  }
  let request = userRequest !== undefined ? String(userRequest) : memory.request;
  if (userRequest === undefined && limit !== undefined && memoryBytes(limit) < memoryBytes(request))
    request = limit;
  const out: ResourceRequirements = {
    requests: { cpu: String(r?.requests?.cpu ?? cpu), memory: request },
  };
  const limits: Record<string, string> = {};
  if (r?.limits?.cpu !== undefined) limits.cpu = String(r.limits.cpu);
  if (limit !== undefined) limits.memory = limit;
  if (Object.keys(limits).length > 0) out.limits = limits;
  return out;
}

/**
 * How a container may run.
 * - `restricted`: Pod Security "restricted" — the image's Kolla user (restrictedUser), no
 *   privilege escalation, no capabilities, the runtime's default seccomp profile, a read-only
 *   root file system with `/tmp` (and the service's state directory) on emptyDir volumes. The
 *   config files are mounted where kolla_set_configs would copy them and the command is run
 *   directly: the copy needs root or sudo, which needs privilege escalation.
 * - `root`: the data plane's root, with only the capabilities named (none by default);
 *   `kolla_start` copies the config as Kolla's images do.
 * - `privileged`: the data plane's privileged containers, through `kolla_start`.
 */
export type ContainerSecurity =
  | { readonly kind: 'restricted' }
  | { readonly kind: 'root'; readonly capabilities?: readonly string[] }
  | { readonly kind: 'privileged' };

export interface KollaContainerOpts {
  readonly name: string;
  readonly image: ImageName;
  readonly config: KollaConfig;
  readonly probe?: ProbeDef;
  readonly ports?: readonly { name: string; port: number }[];
  readonly resources?: Resources;
  /** CPU request when the spec gives none (default defaultCpuRequest). */
  readonly cpu?: string;
  readonly memory: ContainerMemory;
  readonly env?: readonly EnvVar[];
  readonly mounts?: readonly VolumeMount[];
  /** Default `restricted`. */
  readonly security?: ContainerSecurity;
}

/** The runtime's default seccomp profile (Pod Security "restricted" asks for it). */
export const runtimeDefaultSeccomp = { type: 'RuntimeDefault' } as const;

/** A container's securityContext under Pod Security "restricted", running as `uid` (= gid). */
export function restrictedSecurityContext(uid: number): SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { ...runtimeDefaultSeccomp },
  };
}

/**
 * The emptyDir volumes a restricted container writes to (its root file system is read-only):
 * `tmp` at /tmp, `state` at the service's state directory.
 */
export const writableVolumeNames: ReadonlySet<string> = new Set(['tmp', 'state']);

const stateUsers = new Set(['keystone', 'glance', 'placement', 'nova', 'neutron', 'horizon']);

/**
 * Where a restricted container writes besides /tmp: an OpenStack service its state_path,
 * lock_path and uWSGI's working directory (/var/lib/<user>); OVN's databases and northd their
 * sockets and pid files (/run/ovn).
 */
function stateDir(img: ImageName): string | undefined {
  const user = restrictedUser(img);
  if (user && stateUsers.has(user)) return `/var/lib/${user}`;
  if (user === 'openvswitch') return '/run/ovn';
  return undefined;
}

/** The emptyDir mounts a restricted container of `image` needs, unless `mounts` cover them. */
function writableMounts(img: ImageName, mounts: readonly VolumeMount[]): VolumeMount[] {
  const state = stateDir(img);
  const paths: [string, string][] = [['tmp', '/tmp']];
  if (state) paths.push(['state', state]);
  return paths
    .filter(([, path]) => !mounts.some((m) => m.mountPath === path))
    .map(([name, mountPath]) => ({ name, mountPath }));
}

/**
 * A container started from its config Secret: a restricted one runs its command directly with
 * the config files mounted in place; a data-plane one runs `kolla_start`, which copies them.
 */
export function kollaContainer(ctx: Ctx, o: KollaContainerOpts): Container {
  const security = o.security ?? { kind: 'restricted' };
  const c: Container = {
    name: o.name,
    image: image(ctx, o.image),
    imagePullPolicy: pullPolicy(ctx),
  };
  // The image's ENTRYPOINT (dumb-init) stays PID 1: it forwards SIGTERM to the service and
  // reaps zombies; `command` would replace it.
  if (security.kind === 'restricted') {
    // As kolla_start runs it: split on white space, no shell.
    c.args = o.config.command.split(/\s+/).filter(Boolean);
    if (o.env?.length) c.env = [...o.env];
  } else {
    c.args = ['kolla_start'];
    c.env = [{ name: 'KOLLA_CONFIG_STRATEGY', value: 'COPY_ALWAYS' }, ...(o.env ?? [])];
  }
  if (o.ports && o.ports.length > 0) {
    c.ports = o.ports.map((p) => ({ name: p.name, containerPort: p.port, protocol: 'TCP' }));
  }
  if (o.probe) Object.assign(c, probes(o.probe, ctx.catalog.messaging.ports.amqp));
  c.resources = resources(o.resources, o.cpu ?? defaultCpuRequest, o.memory);
  const mounts = o.mounts ?? [];
  if (security.kind === 'restricted') {
    c.volumeMounts = [
      o.config.mount,
      ...configFileMounts(o.config),
      ...writableMounts(o.image, mounts),
      ...mounts,
    ];
    c.securityContext = restrictedSecurityContext(restrictedUid(o.image));
  } else {
    c.volumeMounts = [o.config.mount, ...mounts];
    c.securityContext =
      security.kind === 'privileged'
        ? { privileged: true }
        : {
            runAsUser: 0,
            runAsGroup: 0,
            allowPrivilegeEscalation: false,
            capabilities: {
              drop: ['ALL'],
              ...(security.capabilities?.length ? { add: [...security.capabilities] } : {}),
            },
          };
  }
  return c;
}

/** The container of a process the catalog describes: its name, image, probe and memory. */
export function processContainer(
  ctx: Ctx,
  proc: ProcessDef,
  config: KollaConfig,
  o: Omit<KollaContainerOpts, 'name' | 'image' | 'config' | 'probe' | 'memory'> = {},
): Container {
  return kollaContainer(ctx, {
    name: proc.name,
    image: proc.image,
    config,
    probe: proc.probe,
    memory: proc.memory,
    ...o,
  });
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
  /**
   * The control plane: every container runs as this Kolla uid, which is also the pod's fsGroup
   * (the group that reads the mounted Secrets): the pod meets Pod Security "restricted".
   * Unset for the data plane, whose containers say how they run.
   */
  readonly user?: number;
  /** The data plane: the group that reads the mounted Secrets. */
  readonly fsGroup?: number;
}

/** The pod-level securityContext: restricted for the control plane (`user`), else seccomp only. */
export function podSecurityContext(
  o: Pick<PodOpts, 'user' | 'fsGroup'>,
): PodSpec['securityContext'] {
  if (o.user !== undefined) {
    return {
      runAsNonRoot: true,
      runAsUser: o.user,
      runAsGroup: o.user,
      fsGroup: o.user,
      // Volumes whose top directory already has the group are not walked again at every start.
      fsGroupChangePolicy: 'OnRootMismatch',
      seccompProfile: { ...runtimeDefaultSeccomp },
    };
  }
  return {
    ...(o.fsGroup !== undefined ? { fsGroup: o.fsGroup } : {}),
    seccompProfile: { ...runtimeDefaultSeccomp },
  };
}

/** The pod's volumes, plus an emptyDir for each writable mount of its containers. */
function withWritableVolumes(containers: readonly Container[], volumes: Volume[]): Volume[] {
  const out = [...volumes];
  for (const c of containers) {
    for (const m of c.volumeMounts ?? []) {
      if (writableVolumeNames.has(m.name) && !out.some((v) => v.name === m.name)) {
        out.push({ name: m.name, emptyDir: {} });
      }
    }
  }
  return out;
}

export function podTemplate(ctx: Ctx, o: PodOpts) {
  const sel = selectorLabels(ctx, o.component, o.part);
  const spec: PodSpec = {
    serviceAccountName: o.serviceAccountName,
    automountServiceAccountToken: false,
    priorityClassName: priorityClassOf(o.component, o.part),
    affinity: placement(ctx, o.role, o.spread ? sel : undefined),
    securityContext: podSecurityContext(o),
    ...(o.initContainers ? { initContainers: o.initContainers } : {}),
    containers: o.containers,
    volumes: withWritableVolumes([...(o.initContainers ?? []), ...o.containers], o.volumes),
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
): Deployment & KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(ctx, name, o.component, o.part),
    spec: {
      replicas,
      revisionHistoryLimit: 3,
      minReadySeconds: settleSeconds,
      selector: { matchLabels: selectorLabels(ctx, o.component, o.part) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: podTemplate(ctx, { ...o, spread: replicas > 1 }),
    },
  };
}

export function daemonSet(ctx: Ctx, name: string, o: PodOpts): DaemonSet & KubeObject {
  const template = podTemplate(ctx, o);
  template.spec.priorityClassName = nodeAgentPriorityClass;
  return {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: meta(ctx, name, o.component, o.part),
    spec: {
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels(ctx, o.component, o.part) },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '10%' } },
      template,
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
): Service & KubeObject {
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
): PodDisruptionBudget & KubeObject {
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
): ServiceAccount & KubeObject {
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
