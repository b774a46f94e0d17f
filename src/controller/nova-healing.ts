// Nova's side of healing, through Nova's own API (src/openstack/api.ts) with the cloud's admin
// credentials. `decideNova` is pure (facts in, steps out); `NovaHealingReconciler` is the shell
// that reads the facts, takes the steps and tells them as Events.
//
// - A fenced node (./nodes.ts: power confirmed Off, then `stackanetes.io/fenced` and the
//   out-of-service taint): its nova-compute service is forced down and disabled with a reason
//   that starts with `stackanetes:`, then every server Nova places on it is evacuated; the
//   scheduler picks where. Nothing moves before the fence: an unfenced dead node is the node
//   controller's to report.
// - Never twice: Nova sets a server's task_state to `rebuilding` before its evacuate call
//   returns, and refuses an evacuation of a server whose task_state is set. A server is
//   evacuated only while it is still on the fenced host with no task_state, so an operator
//   killed between two calls resumes where it was, from what Nova says, without markers of its
//   own beyond the service's reason.
// - Not en masse: when more than spec.healing.maxDeadFraction of the compute services are
//   down, nothing is evacuated (the same bound the node controller fences by).
// - Back: when the node is no longer fenced, forced_down is cleared; nova-compute starts,
//   destroys the copies of the servers that were evacuated away (its init_host) and reports up;
//   only then is the service enabled again. A service disabled by someone else (a reason not
//   ours) is never enabled.
// - Gone: a service row whose host is no pod of the cloud (nova-conductor and nova-scheduler run
//   as Deployment pods, whose names are their hosts) and no node (nova-compute's host is its
//   node's name), and which Nova reports down, is deleted. Before, every restart of a pod left
//   a `down` row behind for ever.
import type { OpenStackCloud } from '../api/v1alpha1/spec.ts';
import { validateLive } from '../api/v1alpha1/validate.ts';
import { getCatalog } from '../catalog/index.ts';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import type { KubeObject } from '../render/kube.ts';
import { dataPlaneNamespace } from '../render/namespaces.ts';
import { keystoneInternalUrl, processName } from '../render/openstack/endpoints.ts';
import { adminSecret } from '../render/openstack/keystone.ts';
import { clusterIps } from '../openstack/endpoints.ts';
import {
  Nova,
  OpenStackError,
  OpenStackSession,
  type ComputeService,
  type ServerSummary,
} from '../openstack/api.ts';
import type { EventRecorder, Logger, ObjectStore } from './cloud.ts';
import { isFenced } from './nodes.ts';

/** The start of every disabled_reason this controller writes (and the only ones it clears). */
export const reasonPrefix = 'stackanetes:';

export interface NovaNode {
  name: string;
  /** Fenced and out of service (./nodes.ts wrote both). */
  fenced: boolean;
}

export interface NovaFacts {
  services: readonly ComputeService[];
  /** Names of the cloud's pods, listed after the services. */
  pods: ReadonlySet<string>;
  nodes: readonly NovaNode[];
  maxDeadFraction: number;
}

export type NovaStep =
  | { kind: 'remove'; service: ComputeService }
  | { kind: 'forceDown'; service: ComputeService; reason: string }
  | { kind: 'evacuateFrom'; service: ComputeService }
  | { kind: 'unforce'; service: ComputeService }
  | { kind: 'enable'; service: ComputeService }
  | { kind: 'holdMass'; down: number; total: number };

const ours = (s: ComputeService) => s.disabled_reason?.startsWith(reasonPrefix) ?? false;

export function decideNova(f: NovaFacts, now: Date = new Date()): NovaStep[] {
  const steps: NovaStep[] = [];
  const nodes = new Map(f.nodes.map((n) => [n.name, n]));
  const computes = f.services.filter((s) => s.binary === 'nova-compute');
  const down = computes.filter((s) => s.state === 'down' || s.forced_down).length;
  const mass = computes.length > 0 && down / computes.length > f.maxDeadFraction;
  for (const s of f.services) {
    const node = nodes.get(s.host);
    if (s.binary === 'nova-compute') {
      if (!node) {
        if (s.state === 'down') steps.push({ kind: 'remove', service: s });
        continue;
      }
      if (node.fenced) {
        if (!s.forced_down || s.status !== 'disabled' || !ours(s))
          steps.push({
            kind: 'forceDown',
            service: s,
            reason: `${reasonPrefix} node ${s.host} fenced, evacuating (${now.toISOString()})`,
          });
        else if (!mass) steps.push({ kind: 'evacuateFrom', service: s });
        else if (!steps.some((x) => x.kind === 'holdMass'))
          steps.push({ kind: 'holdMass', down, total: computes.length });
        continue;
      }
      if (ours(s)) {
        if (s.forced_down) steps.push({ kind: 'unforce', service: s });
        else if (s.state === 'up') steps.push({ kind: 'enable', service: s });
      }
      continue;
    }
    if (!f.pods.has(s.host) && !node && s.state === 'down')
      steps.push({ kind: 'remove', service: s });
  }
  return steps;
}

/** vm_states Nova evacuates from (nova/compute/api.py: active, stopped, error). */
const evacuable = new Set(['active', 'stopped', 'error']);

/** The servers of a fenced host to evacuate now: on it, idle, in a state Nova evacuates. */
export function toEvacuate(servers: readonly ServerSummary[], host: string): ServerSummary[] {
  return servers.filter(
    (s) =>
      s['OS-EXT-SRV-ATTR:host'] === host &&
      !s['OS-EXT-STS:task_state'] &&
      evacuable.has(s['OS-EXT-STS:vm_state'] ?? ''),
  );
}

export interface NovaHealingOptions {
  readonly client: KubeClient;
  readonly cloud: (namespace: string, name: string) => KubeObject | undefined;
  readonly nodes: () => KubeObject[];
  /** Cached reads (the manager's informers) for the admin Secret and the API Deployments. */
  readonly store?: ObjectStore;
  readonly events: EventRecorder;
  readonly log: Logger;
  /** Nova for a cloud (default: its admin Secret and Keystone's in-cluster URL). */
  readonly nova?: (cloud: OpenStackCloud, namespace: string) => Promise<Nova>;
  /** Between passes (default 10 s). */
  readonly intervalMs?: number;
  readonly now?: () => Date;
}

export class NovaHealingReconciler {
  readonly #o: NovaHealingOptions;
  readonly #now: () => Date;
  /** One session per cloud (its token is reused until shortly before it expires). */
  readonly #novas = new Map<string, { secret: string; nova: Nova }>();
  /** The last failure told per cloud (an Event when it changes, not every pass). */
  readonly #told = new Map<string, string>();
  /** The last mass-failure hold told per cloud. */
  readonly #held = new Map<string, string>();

  constructor(o: NovaHealingOptions) {
    this.#o = o;
    this.#now = o.now ?? (() => new Date());
  }

  async reconcile(namespace: string, name: string): Promise<{ requeueAfterMs?: number }> {
    const again = { requeueAfterMs: this.#o.intervalMs ?? 10_000 };
    const live = this.#o.cloud(namespace, name);
    if (!live || live.metadata.deletionTimestamp) return {};
    const checked = validateLive(live);
    if (!checked.ok || checked.cloud.spec.services.nova.enabled === false) return {};
    // Until Keystone and the Nova API serve there is nothing to ask. Not NovaReady: while a node
    // is dead, Nova's Deployments miss the replicas that ran there and Nova is not Ready, which is
    // exactly when this pass has work.
    const catalog = getCatalog(checked.cloud.spec.release);
    const apis = (['keystone', 'nova'] as const).map((svc) =>
      processName(svc, catalog.services[svc].endpoints[0]!.process),
    );
    if (!(await this.#serving(namespace, apis))) return again;
    const key = `${namespace}/${name}`;
    try {
      const nova = await this.#nova(checked.cloud, namespace);
      await this.#pass(live, checked.cloud, key, nova);
      this.#told.delete(key);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      if (this.#told.get(key) !== why) {
        this.#told.set(key, why);
        this.#o.log.warn({ cloud: key, err: why }, 'nova healing pass failed');
        await this.#o.events.record(live, 'Warning', 'NovaHealingFailed', why);
      }
    }
    return again;
  }

  async #pass(live: KubeObject, cloud: OpenStackCloud, key: string, nova: Nova) {
    const namespace = live.metadata.namespace!;
    const services = await nova.services();
    const pods = new Set<string>();
    for (const ns of [namespace, dataPlaneNamespace(namespace)]) {
      const { items } = await this.#o.client.list<KubeObject>('v1', 'Pod', { namespace: ns });
      for (const p of items) pods.add(p.metadata.name);
    }
    const nodes = this.#o.nodes().map((n) => ({ name: n.metadata.name, fenced: isFenced(n) }));
    const steps = decideNova(
      { services, pods, nodes, maxDeadFraction: cloud.spec.healing.maxDeadFraction },
      this.#now(),
    );
    if (!steps.some((s) => s.kind === 'holdMass')) this.#held.delete(key);
    const tell = (type: 'Normal' | 'Warning', reason: string, message: string) =>
      this.#o.events.record(live, type, reason, message);
    for (const step of steps) {
      switch (step.kind) {
        case 'remove':
          await nova.deleteService(step.service.id).catch((err: unknown) => {
            if (!(err instanceof OpenStackError && err.status === 404)) throw err;
          });
          this.#o.log.info(
            { binary: step.service.binary, host: step.service.host },
            'removed the service row of a pod that no longer exists',
          );
          await tell(
            'Normal',
            'NovaServiceRemoved',
            `${step.service.binary} on ${step.service.host}: no such pod or node any more, down (last report ${step.service.updated_at ?? 'never'}): its service row is deleted`,
          );
          break;
        case 'forceDown':
          await nova.updateService(step.service.id, {
            status: 'disabled',
            disabled_reason: step.reason,
            forced_down: true,
          });
          await tell(
            'Warning',
            'ComputeForcedDown',
            `nova-compute on ${step.service.host}: forced down and disabled (its node is fenced); its servers are evacuated next`,
          );
          break;
        case 'evacuateFrom':
          await this.#evacuate(nova, step.service, tell);
          break;
        case 'unforce':
          await nova.updateService(step.service.id, { forced_down: false });
          await tell(
            'Normal',
            'ComputeReturning',
            `nova-compute on ${step.service.host}: its node is back; forced_down cleared, enabled once it reports up`,
          );
          break;
        case 'enable':
          await nova.updateService(step.service.id, { status: 'enabled' });
          await tell(
            'Normal',
            'ComputeEnabled',
            `nova-compute on ${step.service.host}: up again and enabled`,
          );
          break;
        case 'holdMass': {
          const why = `${step.down} of ${step.total} compute services are down, more than spec.healing.maxDeadFraction (${cloud.spec.healing.maxDeadFraction}): no server is evacuated (a partition or a site failure looks the same; an administrator decides)`;
          if (this.#held.get(key) !== why) {
            this.#held.set(key, why);
            this.#o.log.warn(step, 'too many compute services down: no evacuation');
            await tell('Warning', 'EvacuationWithheld', why);
          }
          break;
        }
      }
    }
  }

  async #evacuate(
    nova: Nova,
    service: ComputeService,
    tell: (type: 'Normal' | 'Warning', reason: string, message: string) => Promise<void>,
  ): Promise<void> {
    const servers = toEvacuate(await nova.serversOnHost(service.host), service.host);
    for (const s of servers) {
      try {
        await nova.evacuate(s.id);
      } catch (err) {
        // 409: another pass (or an administrator) started it in between: nothing to do.
        if (err instanceof OpenStackError && err.status === 409) continue;
        await tell(
          'Warning',
          'EvacuationFailed',
          `server ${s.name} (${s.id}) on ${service.host}: ${String(err)}`,
        );
        continue;
      }
      this.#o.log.warn({ server: s.id, host: service.host }, 'evacuating');
      await tell(
        'Warning',
        'Evacuating',
        `server ${s.name} (${s.id}, ${s['OS-EXT-STS:vm_state']}) from fenced ${service.host}: rebuilt where the scheduler places it`,
      );
    }
  }

  /** Whether each of these Deployments (the APIs) has a ready pod. */
  async #serving(namespace: string, deployments: readonly string[]): Promise<boolean> {
    for (const d of deployments) {
      const dep = await this.#read('apps/v1', 'Deployment', namespace, d);
      if (!((dep?.status as { readyReplicas?: number } | undefined)?.readyReplicas ?? 0))
        return false;
    }
    return true;
  }

  /** An object from the cache when there is one, else from the API; undefined when absent. */
  async #read(apiVersion: string, kind: string, namespace: string, name: string) {
    if (this.#o.store) return this.#o.store.get(apiVersion, kind, namespace, name);
    try {
      return await this.#o.client.get(apiVersion, kind, name, namespace);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Nova with the cloud's admin credentials (the keystone-admin Secret the cloud renders). */
  async #nova(cloud: OpenStackCloud, namespace: string): Promise<Nova> {
    if (this.#o.nova) return this.#o.nova(cloud, namespace);
    const secret = await this.#read('v1', 'Secret', namespace, adminSecret);
    if (!secret)
      throw new Error(`Secret ${namespace}/${adminSecret} (the admin credentials) does not exist`);
    const data = (secret.data ?? {}) as Record<string, string>;
    const field = (k: string) => Buffer.from(data[k] ?? '', 'base64').toString('utf8');
    const key = `${namespace}/${cloud.metadata.name}`;
    const have = this.#novas.get(key);
    if (have && have.secret === secret.metadata.resourceVersion) return have.nova;
    const catalog = getCatalog(cloud.spec.release);
    const authUrl = keystoneInternalUrl({ catalog, namespace });
    const ips = await this.#serviceIps(namespace);
    const session = new OpenStackSession(
      {
        authUrl,
        username: field('OS_USERNAME'),
        password: field('OS_PASSWORD'),
        projectName: field('OS_PROJECT_NAME'),
        region: field('OS_REGION_NAME') || undefined,
      },
      { rewrite: (u) => rewriteHost(u, ips) },
    );
    const nova = new Nova(session);
    this.#novas.set(key, { secret: secret.metadata.resourceVersion ?? '', nova });
    return nova;
  }

  /**
   * In a pod, in-cluster names resolve: nothing to rewrite. An operator on a host (`stackanetes
   * operator` beside the cluster) reaches the Services by their cluster IPs.
   */
  async #serviceIps(namespace: string): Promise<Map<string, string>> {
    if (process.env.KUBERNETES_SERVICE_HOST) return new Map();
    return clusterIps(this.#o.client, namespace);
  }
}

/** A URL whose host is a key of `ips` with that host replaced (port and path kept). */
export function rewriteHost(url: string, ips: ReadonlyMap<string, string>): string {
  const u = new URL(url);
  const ip = ips.get(u.hostname);
  if (!ip) return url;
  u.hostname = ip;
  return u.toString().replace(/\/$/, url.endsWith('/') ? '/' : '');
}
