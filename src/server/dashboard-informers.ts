// Starts the dashboard inside the operator: informers of its own (every replica serves the page,
// leader or not, so that a port-forward to any operator pod shows the same thing), the bearer token
// from a Secret (created with a random value when missing, re-read when it changes), and the
// server. The informers keep only the fields the dashboard reads (their `transform`, applied page
// by page as lists arrive and to every watch event): with a thousand nodes the pods are most of
// what it holds.
import { randomBytes } from 'node:crypto';
import type { IOwnerReference } from '@kubernetes-models/apimachinery/apis/meta/v1/OwnerReference';
import { apiVersion as cloudApiVersion, kind as cloudKind } from '../api/v1alpha1/spec.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { dataPlaneNamespace } from '../render/namespaces.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import { Informer } from '../kube/informer.ts';
import { slim } from '../kube/slim.ts';
import type { Logger } from '../controller/cloud.ts';
import { buildDashboard, type Dashboard, type DashboardSources } from './dashboard.ts';
import { unionSource } from './dashboard-timeline.ts';

export const dashboardTokenKey = 'token';

export interface StartDashboardOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** Watch the clouds of one namespace only (default: all), and its data plane's pods. */
  readonly namespace?: string;
  readonly port: number;
  readonly host: string;
  /** The Secret holding the bearer token (key `token`); created when missing. */
  readonly tokenSecret: { readonly namespace: string; readonly name: string };
}

export interface RunningDashboard {
  readonly dashboard: Dashboard;
  readonly url: string;
  close(): Promise<void>;
}

type Slim = (o: KubeObject) => KubeObject;

function meta(o: KubeObject, extra: (keyof KubeObject['metadata'])[] = []): KubeObject['metadata'] {
  const m = o.metadata;
  const out: KubeObject['metadata'] = { name: m.name };
  for (const k of [
    'namespace',
    'uid',
    'resourceVersion',
    'generation',
    'labels',
    'creationTimestamp',
    'deletionTimestamp',
    ...extra,
  ] as const) {
    if (m[k] !== undefined) Object.assign(out, { [k]: m[k] });
  }
  return out;
}

export const slimPod: Slim = (p) => {
  const st = (p.status ?? {}) as Record<string, unknown> & {
    conditions?: { type: string; status: string; reason?: string }[];
    containerStatuses?: {
      name: string;
      ready?: boolean;
      restartCount?: number;
      state?: { waiting?: { reason?: string } };
      lastState?: { terminated?: { reason?: string; exitCode?: number } };
    }[];
  };
  return {
    apiVersion: p.apiVersion,
    kind: p.kind,
    metadata: {
      ...meta(p),
      // Only what controllerOf reads: no apiVersion, which a whole reference has (hence the cast).
      ownerReferences: (p.metadata.ownerReferences ?? []).map((r) => ({
        kind: r.kind,
        name: r.name,
        uid: r.uid,
        controller: r.controller,
      })) as IOwnerReference[],
    },
    spec: { nodeName: (p.spec as { nodeName?: string } | undefined)?.nodeName },
    status: {
      phase: st.phase,
      reason: st.reason,
      message: st.message,
      conditions: (st.conditions ?? []).map((c) => ({
        type: c.type,
        status: c.status,
        reason: c.reason,
      })),
      containerStatuses: (st.containerStatuses ?? []).map((c) => ({
        name: c.name,
        ready: c.ready,
        restartCount: c.restartCount,
        state: c.state?.waiting ? { waiting: { reason: c.state.waiting.reason } } : {},
        lastState: c.lastState?.terminated
          ? {
              terminated: {
                reason: c.lastState.terminated.reason,
                exitCode: c.lastState.terminated.exitCode,
              },
            }
          : {},
      })),
    },
  };
};

export const slimJob: Slim = (j) => ({
  apiVersion: j.apiVersion,
  kind: j.kind,
  metadata: meta(j),
  status: j.status,
});

export const slimEvent: Slim = (e) => {
  const { metadata: _m, apiVersion, kind, ...rest } = e;
  const pick = [
    'involvedObject',
    'reason',
    'message',
    'type',
    'count',
    'lastTimestamp',
    'eventTime',
  ];
  return {
    apiVersion,
    kind,
    metadata: meta(e),
    ...Object.fromEntries(pick.filter((k) => rest[k] !== undefined).map((k) => [k, rest[k]])),
  };
};

export const slimCloud: Slim = (c) => {
  const { managedFields: _mf, annotations: _a, ...metadata } = c.metadata;
  return { ...c, metadata };
};

/** Reads the token Secret, creating it with 32 random bytes (base64url) when it is missing. */
export async function ensureTokenSecret(
  client: Pick<KubeClient, 'get' | 'create'>,
  secret: { namespace: string; name: string },
): Promise<'created' | 'exists'> {
  try {
    await client.get('v1', 'Secret', secret.name, secret.namespace);
    return 'exists';
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await client.create({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: secret.name,
        namespace: secret.namespace,
        labels: { 'app.kubernetes.io/part-of': 'stackanetes' },
      },
      type: 'Opaque',
      data: {
        [dashboardTokenKey]: Buffer.from(randomBytes(32).toString('base64url')).toString('base64'),
      },
    });
    return 'created';
  } catch (err) {
    if (isConflict(err)) return 'exists'; // another replica made it first
    throw err;
  }
}

export async function startDashboard(o: StartDashboardOptions): Promise<RunningDashboard> {
  const informers: Informer[] = [];
  const watch = (
    apiVersion: string,
    kind: string,
    keep: Slim,
    sel: { namespace?: string; labelSelector?: string; fieldSelector?: string },
  ) => {
    const inf = new Informer(o.client, {
      apiVersion,
      kind,
      ...sel,
      transform: keep,
      onError: (err, context) =>
        o.log.warn({ kind, context, err: String(err) }, 'dashboard watch trouble; retrying'),
    });
    informers.push(inf);
    return inf;
  };
  const ns = o.namespace ? { namespace: o.namespace } : {};
  const managed = 'app.kubernetes.io/managed-by=stackanetes';
  const pods = watch('v1', 'Pod', slimPod, { ...ns, labelSelector: managed });
  const sources: DashboardSources = {
    clouds: watch(cloudApiVersion, cloudKind, slimCloud, ns),
    // The data plane's pods run in a namespace of their own (src/render/namespaces.ts): watched
    // there too when one namespace is.
    pods: o.namespace
      ? unionSource(
          pods,
          watch('v1', 'Pod', slimPod, {
            namespace: dataPlaneNamespace(o.namespace),
            labelSelector: managed,
          }),
        )
      : pods,
    jobs: watch('batch/v1', 'Job', slimJob, { ...ns, labelSelector: managed }),
    events: watch('v1', 'Event', slimEvent, {
      ...ns,
      fieldSelector: `involvedObject.kind=${cloudKind}`,
    }),
  };
  const tokenInformer = watch('v1', 'Secret', slim, {
    namespace: o.tokenSecret.namespace,
    fieldSelector: `metadata.name=${o.tokenSecret.name}`,
  });
  try {
    const made = await ensureTokenSecret(o.client, o.tokenSecret);
    if (made === 'created')
      o.log.info(
        { secret: `${o.tokenSecret.namespace}/${o.tokenSecret.name}` },
        'created the dashboard token',
      );
  } catch (err) {
    o.log.warn(
      { secret: `${o.tokenSecret.namespace}/${o.tokenSecret.name}`, err: String(err) },
      'cannot read or create the dashboard token Secret; the dashboard refuses every request until it exists',
    );
  }
  const token = () => {
    const data = tokenInformer.get(o.tokenSecret.namespace, o.tokenSecret.name)?.data as
      Record<string, string> | undefined;
    const value = data?.[dashboardTokenKey];
    return value ? Buffer.from(value, 'base64').toString('utf8').trim() || undefined : undefined;
  };
  const dashboard = buildDashboard({ sources, token, tokenSecret: o.tokenSecret });
  for (const inf of informers) inf.start();
  await dashboard.app.listen({ port: o.port, host: o.host });
  const url = `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}/`;
  o.log.info({ url }, 'dashboard listening');
  return {
    dashboard,
    url,
    close: async () => {
      await dashboard.app.close();
      await Promise.all(informers.map((i) => i.stop()));
    },
  };
}
