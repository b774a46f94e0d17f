// What every renderer is handed: the validated spec, the release catalog, the secrets, and the
// small derived facts (names, labels, images, node placement, URLs) they all share.
import type {
  OpenStackCloud,
  OpenStackCloudSpec,
  LabelSelector,
  PublicService,
} from '../api/v1alpha1/spec.ts';
import { apiVersion, kind } from '../api/v1alpha1/spec.ts';
import type { ComponentName, NodeRole, ReleaseCatalog } from '../catalog/types.ts';
import { imageReference, type ImageName } from '../catalog/images.ts';
import type { CloudSecrets } from './secrets.ts';
import type { Affinity, ObjectMeta } from './kube.ts';
import { componentLabel } from './kube.ts';

/**
 * What a rendering at an upgrade's target release carries besides the cloud (controller/upgrade.ts
 * takes the processes already moved, and this step's Job, from it).
 */
export interface UpgradeRender {
  /** The Job of the step in progress: a service's upgrade check or one of its migrations. */
  readonly job?: { readonly service: string; readonly task: string; readonly command: string };
  /** The catalog's pin (Nova's compute RPC version) is in the services' config. */
  readonly pinned: boolean;
}

export interface Ctx {
  readonly name: string;
  readonly namespace: string;
  readonly uid: string | undefined;
  readonly spec: OpenStackCloudSpec;
  readonly catalog: ReleaseCatalog;
  readonly secrets: CloudSecrets;
  readonly upgrade?: UpgradeRender;
}

export function makeCtx(
  cloud: OpenStackCloud,
  catalog: ReleaseCatalog,
  secrets: CloudSecrets,
  namespace?: string,
  upgrade?: UpgradeRender,
): Ctx {
  const meta = cloud.metadata as { name: string; namespace?: string; uid?: string };
  return {
    name: meta.name,
    namespace: namespace ?? meta.namespace ?? 'openstack',
    uid: meta.uid,
    spec: cloud.spec,
    catalog,
    secrets,
    ...(upgrade ? { upgrade } : {}),
  };
}

export function labels(ctx: Ctx, component: ComponentName, part?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': part ? `${component}-${part}` : component,
    'app.kubernetes.io/instance': ctx.name,
    'app.kubernetes.io/part-of': 'stackanetes',
    'app.kubernetes.io/managed-by': 'stackanetes',
    [componentLabel]: component,
  };
}

/** The labels a selector may match on (immutable on Deployments, so kept minimal). */
export function selectorLabels(ctx: Ctx, component: ComponentName, part?: string) {
  return {
    'app.kubernetes.io/name': part ? `${component}-${part}` : component,
    'app.kubernetes.io/instance': ctx.name,
  };
}

export function meta(
  ctx: Ctx,
  name: string,
  component: ComponentName,
  part?: string,
  annotations?: Record<string, string>,
): ObjectMeta & { name: string } {
  const m: ObjectMeta & { name: string } = {
    name,
    namespace: ctx.namespace,
    labels: labels(ctx, component, part),
  };
  if (annotations && Object.keys(annotations).length > 0) m.annotations = annotations;
  if (ctx.uid) {
    m.ownerReferences = [
      {
        apiVersion,
        kind,
        name: ctx.name,
        uid: ctx.uid,
        controller: true,
        blockOwnerDeletion: true,
      },
    ];
  }
  return m;
}

export function image(ctx: Ctx, name: ImageName): string {
  const imgs = ctx.spec.images;
  const o = imgs.overrides?.[name];
  const registry = o?.registry ?? imgs.registry;
  const tag =
    o?.digest ?? o?.tag ?? imgs.tag ?? ctx.catalog.imageTags?.[name] ?? ctx.catalog.source.imageTag;
  return imageReference(registry, o?.name ?? name, tag);
}

export function pullPolicy(ctx: Ctx): 'IfNotPresent' | 'Always' | 'Never' {
  return ctx.spec.images.pullPolicy;
}

/**
 * The directory on each node where this cloud keeps what must outlive its pods: Nova's node
 * identity, libvirt's domain definitions, the instances' disks. One per cloud, named after its
 * UID when it has one, so that a cloud deleted and created again under the same name starts
 * clean instead of meeting the guests of the one before (nova-compute refuses to start when its
 * hypervisor has instances that its database does not know). Rendered without a UID (`stackanetes
 * render`), it is named after the namespace and the name.
 */
export function nodeStateDir(ctx: Ctx): string {
  return `/var/lib/stackanetes/clouds/${ctx.uid ?? `${ctx.namespace}_${ctx.name}`}`;
}

export function selectorTerm(sel: LabelSelector) {
  type Op = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  const exprs: { key: string; operator: Op; values: string[] }[] = Object.entries(
    sel.matchLabels ?? {},
  ).map(([key, value]) => ({ key, operator: 'In', values: [value] }));
  for (const e of sel.matchExpressions ?? []) {
    exprs.push({ key: e.key, operator: e.operator, values: e.values ?? [] });
  }
  return {
    matchExpressions: exprs.map((e) =>
      e.values.length > 0 ? e : { key: e.key, operator: e.operator },
    ),
  };
}

/**
 * Node affinity for a role (or any of several roles), plus (for replicated control services) a
 * preference to put replicas on different nodes.
 */
export function placement(
  ctx: Ctx,
  role: NodeRole | readonly NodeRole[],
  spread?: Record<string, string>,
): Affinity {
  // Several roles: a node with any of them qualifies (nodeSelectorTerms are OR'ed); roles
  // whose selectors are the same give one term.
  const roles: readonly NodeRole[] = typeof role === 'string' ? [role] : role;
  const terms: ReturnType<typeof selectorTerm>[] = [];
  const seen = new Set<string>();
  for (const r of roles) {
    const t = selectorTerm(ctx.spec.nodeRoles[r]);
    const key = JSON.stringify(t);
    if (seen.has(key)) continue;
    seen.add(key);
    terms.push(t);
  }
  const a: Affinity = {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: terms },
    },
  };
  if (spread) {
    a.podAntiAffinity = {
      preferredDuringSchedulingIgnoredDuringExecution: [
        {
          weight: 100,
          podAffinityTerm: {
            labelSelector: { matchLabels: spread },
            topologyKey: 'kubernetes.io/hostname',
          },
        },
      ],
    };
  }
  return a;
}

/**
 * A Service's fully qualified name, for clients that do not use the resolver's search list
 * (Open vSwitch's Python library resolves with unbound).
 */
export function svcFqdn(ctx: Ctx, service: string): string {
  return `${svcHost(ctx, service)}.${ctx.spec.clusterDomain}`;
}

/** A Service's in-cluster host name. */
export function svcHost(ctx: Pick<Ctx, 'namespace'>, service: string): string {
  return `${service}.${ctx.namespace}.svc`;
}

type PublicKey = PublicService;

/** The public base URL of a service, or undefined when it has no public host name. */
export function publicHost(ctx: Pick<Ctx, 'spec'>, key: PublicKey): string | undefined {
  const pub = ctx.spec.endpoints.public;
  return pub.hosts?.[key] ?? (pub.domain ? `${key}.${pub.domain}` : undefined);
}

export function publicUrl(ctx: Pick<Ctx, 'spec'>, key: PublicKey, internal: string): string {
  const host = publicHost(ctx, key);
  if (!host) return internal;
  return `${ctx.spec.endpoints.public.tlsSecretName ? 'https' : 'http'}://${host}`;
}
