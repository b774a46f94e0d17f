// The OpenStackCloud reconciler. Level-based and idempotent: each pass reads the cloud and what
// exists (from caches), renders what should exist, and walks the plan — a component is applied
// when what it needs is Ready; its Jobs run one after another (named by input hash, so a
// finished Job is never re-run); then its workloads roll out. One condition per component and a
// summarising Ready are written only when they change; Events mark every transition. Safe to
// kill at any line: the next pass picks up from what it finds.
import type { Condition, OpenStackCloud, UpgradeStatus } from '../api/v1alpha1/spec.ts';
import { apiVersion as cloudApiVersion, kind as cloudKind } from '../api/v1alpha1/spec.ts';
import { validateLive } from '../api/v1alpha1/validate.ts';
import type { ComponentName } from '../catalog/types.ts';
import { planObjects, type ComponentPlan } from '../plan/graph.ts';
import { cloudPlan, planRendered } from '../plan/steps.ts';
import { nextStep, planUpgrade, type PlannedStep, type UpgradePlan } from '../plan/upgrade.ts';
import { render, type RenderedComponents } from '../render/index.ts';
import { getCatalog, knownReleases } from '../catalog/index.ts';
import {
  advance,
  mixRendering,
  paceRoll,
  rollingWorkloads,
  stepBefore,
  processRolled,
  stepState,
  upgradeRender,
  upgradeTask,
} from './upgrade.ts';
import { enabledComponents, enabledServices } from '../plan/components.ts';
import { decideRelease, upgradedConditionType } from './release.ts';
import { jobTaskLabel } from '../render/jobs.ts';
import { selectorTerm } from '../render/context.ts';
import { createOnlyAnnotation, type KubeObject } from '../render/kube.ts';
import type { CloudSecrets } from '../render/secrets.ts';
import { loadOrCreateSecrets, UnusableSecrets } from '../secrets/cloud-secrets.ts';
import { collectionPath, resourceInfo, type KubeClient } from '../kube/client.ts';
import { defaultIdentity } from '../kube/leader.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import { contains, secretAsData } from './compare.ts';
import { crashingContainer, crashNote, dyingLine } from './crashloop.ts';
import { cloudNamespaceLabel, dataPlaneNamespace } from '../render/namespaces.ts';
import { liveOperatorState, type ReconcileRecord } from './liveness.ts';
import {
  componentConditionType,
  rfc3339,
  setCondition,
  summarise,
  type ComponentState,
  foreignConditionTypes,
} from './conditions.ts';

/** Cached reads: the reconciler never lists from the API server itself. */
export interface ObjectStore {
  /** `namespace` is undefined for cluster-scoped kinds. */
  get(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    name: string,
  ): KubeObject | undefined;
  /** Objects of a kind in a namespace carrying every given label. */
  list(
    apiVersion: string,
    kind: string,
    namespace: string,
    labels: Record<string, string>,
  ): KubeObject[];
}

export interface EventRecorder {
  record(
    cloud: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void>;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface ReconcileResult {
  /** Come back after this long even if nothing changes (work in progress). */
  readonly requeueAfterMs?: number;
  readonly ready: boolean;
  /**
   * No such cloud (deleted): nothing was done. Events of its objects still queue its key while
   * they go (thousands of pods on a large cloud), and each is one of these.
   */
  readonly gone?: boolean;
}

/** How long what a look at a not-ready workload's pods found stands before another look. */
export const crashNoteMs = 30_000;

/** The kinds Stackanetes owns and prunes. */
export const ownedKinds: readonly [string, string][] = [
  ['v1', 'Secret'],
  ['v1', 'ServiceAccount'],
  ['v1', 'Service'],
  ['v1', 'PersistentVolumeClaim'],
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'StatefulSet'],
  ['apps/v1', 'DaemonSet'],
  ['batch/v1', 'Job'],
  ['batch/v1', 'CronJob'],
  ['policy/v1', 'PodDisruptionBudget'],
  ['networking.k8s.io/v1', 'NetworkPolicy'],
  ['networking.k8s.io/v1', 'Ingress'],
  ['rbac.authorization.k8s.io/v1', 'Role'],
  ['rbac.authorization.k8s.io/v1', 'RoleBinding'],
];

/**
 * Cluster-scoped kinds Stackanetes applies (cached, never pruned: every cloud of the cluster
 * renders the same ones, and no namespaced cloud can own them).
 */
export const clusterKinds: readonly [string, string][] = [
  ['scheduling.k8s.io/v1', 'PriorityClass'],
  // The cloud's namespace (its Pod Security label) and its data plane's: applied, never pruned;
  // the data plane's is deleted with the cloud (dataPlaneFinalizer).
  ['v1', 'Namespace'],
];

/**
 * On every cloud: its data plane lives in a second namespace (src/render/namespaces.ts), where
 * owner references cannot reach, so the operator deletes it before the cloud may go.
 */
export const dataPlaneFinalizer = 'stackanetes.io/data-plane';

export const secretsKey = 'secrets.yaml';

/** An object's place among a cloud's: kind, namespace and name (a cloud has two namespaces). */
function placeKey(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}
export const secretsSecretName = (cloud: string) => `${cloud}-stackanetes-secrets`;

const progressRequeueMs = 5_000;

/** Who reconciles: written into every cloud's status, so `status` can tell whether it still runs. */
export interface ReconciledBy {
  /** The operator replica: the pod's name, or host_pid outside a cluster (its Lease identity). */
  readonly identity: string;
  /** `namespace/name` of the leader-election Lease it holds. */
  readonly lease?: string;
  /** How often it looks at every cloud even when nothing changes. */
  readonly resyncSeconds?: number;
}

export interface ReconcilerOptions {
  readonly client: KubeClient;
  readonly store: ObjectStore;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly now?: () => Date;
  readonly reconciledBy?: ReconciledBy;
}

/**
 * status.lastReconcileTime is refreshed when older than this even if nothing else changed: with
 * resyncs every 10 min, one status write per cloud per resync in a steady state, none between.
 */
const heartbeatMs = 5 * 60_000;
/** How often a cloud left to another operator is looked at again. */
const rivalRecheckMs = 30_000;

export class CloudReconciler {
  readonly #client: KubeClient;
  readonly #store: ObjectStore;
  readonly #events: EventRecorder;
  readonly #log: Logger;
  readonly #now: () => Date;
  readonly #reconciledBy: ReconciledBy;
  #statusFieldsDropped = false;
  /** Clouds left to another operator, and that operator's Lease (to say so once). */
  readonly #rivalsSeen = new Map<string, string>();
  /** The live copy of a rendered object, from the informer caches. */
  readonly #live = (o: KubeObject): KubeObject | undefined =>
    this.#store.get(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name);
  /** The last look at each not-ready workload's pods for a crash-looping container, and when. */
  readonly #crashNotes = new Map<string, { at: number; note: string | undefined }>();

  constructor(o: ReconcilerOptions) {
    this.#client = o.client;
    this.#store = o.store;
    this.#events = o.events;
    this.#log = o.log;
    this.#now = o.now ?? (() => new Date());
    this.#reconciledBy = o.reconciledBy ?? { identity: defaultIdentity() };
  }

  async reconcile(namespace: string, name: string): Promise<ReconcileResult> {
    const live = this.#store.get(cloudApiVersion, cloudKind, namespace, name);
    if (!live) return { ready: false, gone: true };
    if (live.metadata.deletionTimestamp) return this.#deleteDataPlane(live);
    const rival = await this.#rival(live);
    if (rival) return { ready: false, requeueAfterMs: rivalRecheckMs };
    if (!(live.metadata.finalizers ?? []).includes(dataPlaneFinalizer))
      await this.#setFinalizers(live, [...(live.metadata.finalizers ?? []), dataPlaneFinalizer]);
    const status = (live.status ?? {}) as { conditions?: Condition[]; observedGeneration?: number };
    const conditions: Condition[] = structuredClone(status.conditions ?? []);
    const generation = live.metadata.generation ?? 0;
    const transitions: { type: 'Normal' | 'Warning'; reason: string; message: string }[] = [];
    const set = (type: string, state: ComponentState) => {
      const changed = setCondition(conditions, type, state, generation, this.#now());
      if (changed) {
        transitions.push({
          type: state.status === 'False' && /Failed$/.test(state.reason) ? 'Warning' : 'Normal',
          reason: state.reason,
          message: `${type}: ${state.message}`,
        });
      }
    };

    // A condition whose changes are not Events: an upgrade's progress (its own Events mark
    // each step), which changes on nearly every pass.
    const quiet = (type: string, state: ComponentState) =>
      setCondition(conditions, type, state, generation, this.#now());

    // The release the cloud runs (status.release), kept whatever happens in this pass.
    const running = (live.status as { release?: string } | undefined)?.release;
    const checked = validateLive(live);
    if (!checked.ok) {
      const message = checked.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
      set('Ready', { status: 'False', reason: 'InvalidSpec', message });
      await this.#finish(live, conditions, generation, transitions, {}, running);
      return { ready: false };
    }
    // A release change is an upgrade, never a re-render of everything at the new release.
    const release = decideRelease(checked.cloud.spec.release, running);
    const cloud: OpenStackCloud = {
      ...checked.cloud,
      metadata: {
        ...checked.cloud.metadata,
        namespace,
        uid: live.metadata.uid,
      } as OpenStackCloud['metadata'],
      spec: { ...checked.cloud.spec, release: release.render },
    };

    const secrets = await this.#ensureSecrets(live);
    const upgrading = release.upgrade
      ? this.#upgradePass(live, cloud, secrets, namespace, release.upgrade, conditions)
      : undefined;
    const plan = upgrading
      ? planRendered(cloud, upgrading.rendered)
      : cloudPlan(cloud, secrets, namespace);

    const ready = new Set<ComponentName>();
    const componentStatus: Record<
      string,
      { ready: boolean; replicas?: number; readyReplicas?: number }
    > = {};
    for (const step of plan) {
      const type = componentConditionType(step.name);
      const waiting = step.needs.filter((n) => !ready.has(n));
      if (waiting.length > 0) {
        set(type, {
          status: 'False',
          reason: `WaitingFor${cap(waiting[0]!)}`,
          message: `waiting for ${waiting.join(', ')} to be ready`,
        });
        componentStatus[step.name] = { ready: false };
        continue;
      }
      const state = await this.#applyComponent(step, namespace, cloud.spec.nodeRoles);
      set(type, state.condition);
      componentStatus[step.name] = { ready: state.ready, ...state.replicas };
      if (state.ready) ready.add(step.name);
    }
    for (const c of conditions.filter((c) => c.type !== 'Ready')) {
      // Components no longer in the spec lose their condition, as does Upgraded once spec and
      // status agree on the release.
      if (!plan.some((p) => componentConditionType(p.name) === c.type)) {
        conditions.splice(conditions.indexOf(c), 1);
      }
    }
    if (release.condition) set(upgradedConditionType, release.condition);
    let upgrade = (live.status as { upgrade?: UpgradeStatus } | undefined)?.upgrade;
    if (release.upgrade && !upgrading) {
      quiet(upgradedConditionType, {
        status: 'False',
        reason: 'WaitingForReady',
        message: `the upgrade ${release.upgrade.from} → ${release.upgrade.to} starts once every component is Ready`,
      });
    }
    if (upgrading) {
      const { step, plan: steps } = upgrading;
      const state = stepState(
        step,
        upgrading.target,
        this.#live,
        (w) => workloadReadiness(w).ready,
        (j) => {
          const s = jobState(j);
          return s === 'absent' ? 'running' : s;
        },
      );
      upgrade = advance(upgrading.upgrade, steps, step, state, rfc3339(this.#now()));
      const n = steps.steps.findIndex((s) => s.id === step.id) + 1;
      if (upgrade.finishedAt) {
        const took = Math.round(
          (Date.parse(upgrade.finishedAt) - Date.parse(upgrade.startedAt)) / 1000,
        );
        transitions.push({
          type: 'Normal',
          reason: 'UpgradeFinished',
          message: `upgrade ${steps.from} → ${steps.to} finished: ${steps.steps.length} steps in ${took} s`,
        });
      } else if (state.state === 'failed') {
        set(upgradedConditionType, {
          status: 'False',
          reason: 'UpgradeStepFailed',
          message: `step ${n}/${steps.steps.length} ${step.id}: ${state.note}; the upgrade waits here (delete the failed Job to run it again)`,
        });
      } else {
        if (state.state === 'done') {
          transitions.push({
            type: 'Normal',
            reason: 'UpgradeStepDone',
            message: `step ${n}/${steps.steps.length} ${step.id} done`,
          });
        }
        quiet(upgradedConditionType, {
          status: 'False',
          reason: 'Upgrading',
          message: `${steps.from} → ${steps.to}, step ${n}/${steps.steps.length} ${step.id}: ${state.state === 'done' ? 'done' : state.note}`,
        });
      }
    }
    await this.#prune(cloud, namespace, planObjects(plan));
    const summary = summarise(
      plan.map((p) => ({
        name: p.name,
        condition: conditions.find((c) => c.type === componentConditionType(p.name))!,
      })),
    );
    set('Ready', summary);
    const allReady = summary.status === 'True';
    // The release the cloud runs: what it was first Ready at, and kept until an upgrade ends.
    const runs =
      upgrade?.finishedAt && upgrading
        ? upgrade.to
        : (running ?? (allReady ? release.render : undefined));
    await this.#finish(live, conditions, generation, transitions, componentStatus, runs, upgrade);
    if (upgrading) return { ready: false, requeueAfterMs: progressRequeueMs };
    return allReady ? { ready: true } : { ready: false, requeueAfterMs: progressRequeueMs };
  }

  /**
   * The upgrade in progress (or starting: only from a Ready cloud), with the step this pass works
   * on and the cloud rendered for it (controller/upgrade.ts); undefined while it may not start.
   */
  #upgradePass(
    live: KubeObject,
    cloud: OpenStackCloud,
    secrets: CloudSecrets,
    namespace: string,
    wanted: { from: string; to: string },
    conditions: Condition[],
  ):
    | {
        upgrade: UpgradeStatus;
        plan: UpgradePlan;
        step: PlannedStep;
        rendered: RenderedComponents;
        target: RenderedComponents;
      }
    | undefined {
    const prior = (live.status as { upgrade?: UpgradeStatus } | undefined)?.upgrade;
    const current =
      prior && prior.from === wanted.from && prior.to === wanted.to && !prior.finishedAt
        ? prior
        : undefined;
    const readyNow = conditions.some((c) => c.type === 'Ready' && c.status === 'True');
    if (!current && !readyNow) return undefined;
    const upgrade: UpgradeStatus = current ?? {
      from: wanted.from,
      to: wanted.to,
      startedAt: rfc3339(this.#now()),
      completed: [],
    };
    const components = enabledComponents(cloud);
    const plan = planUpgrade(
      getCatalog(wanted.from),
      getCatalog(wanted.to),
      enabledServices(cloud),
      knownReleases(),
    );
    const step = nextStep(plan, upgrade.completed);
    if (!step) return undefined;
    const at = (release: string) => ({ ...cloud, spec: { ...cloud.spec, release } });
    const from = render(at(wanted.from), secrets, components, { namespace });
    const to = render(at(wanted.to), secrets, components, {
      namespace,
      upgrade: upgradeRender(step),
    });
    const rolled = (name: string) =>
      processRolled(to, name, this.#live, (l) => workloadReadiness(l).ready);
    const { moved, held } = rollingWorkloads(plan, upgrade.completed, step, rolled);
    const mixed = mixRendering(
      from,
      to,
      moved,
      step.kind === 'roll' ? undefined : upgradeTask(step),
    );
    const rendered = held.size
      ? mixRendering(
          mixed,
          render(at(wanted.to), secrets, components, {
            namespace,
            upgrade: upgradeRender(stepBefore(plan, step)),
          }),
          held,
          undefined,
        )
      : mixed;
    return {
      upgrade: { ...upgrade, step: step.id },
      plan,
      step,
      rendered: paceRoll(rendered, moved, this.#live),
      target: to,
    };
  }

  /**
   * Another operator (another Lease) that its status names and that still runs: this one keeps
   * its hands off, or each would rewrite the status with its own name and trigger the other's
   * next reconcile, hundreds of writes a minute. It takes over once that operator's Lease is gone
   * or no longer renewed. Said once per cloud and rival, in the log and as an Event.
   */
  async #rival(live: KubeObject): Promise<string | undefined> {
    const record = live.status as ReconcileRecord | undefined;
    const lease = record?.reconciledBy?.lease;
    const mine = this.#reconciledBy.lease;
    if (!lease || !mine || lease === mine) return undefined;
    const state = await liveOperatorState(this.#client, live);
    const key = `${live.metadata.namespace}/${live.metadata.name}`;
    // Cannot tell (its Lease unreadable) but it reconciled recently: in doubt, no fight.
    if (state.reconciling === false) {
      this.#rivalsSeen.delete(key);
      return undefined;
    }
    if (this.#rivalsSeen.get(key) !== lease) {
      this.#rivalsSeen.set(key, lease);
      const message = `another operator reconciles this cloud (${state.summary}); this one (Lease ${mine}) leaves it alone until that one stops`;
      this.#log.warn({ cloud: key, rival: lease }, message);
      await this.#events.record(live, 'Warning', 'AnotherOperator', message);
    }
    return lease;
  }

  /**
   * A cloud being deleted: its data plane's objects (found by label in the data plane's
   * namespace), then that namespace when no other cloud has objects there, then the finalizer,
   * which lets the cloud go. Its own namespace's objects go by their owner references.
   */
  async #deleteDataPlane(live: KubeObject): Promise<ReconcileResult> {
    const finalizers = live.metadata.finalizers ?? [];
    if (!finalizers.includes(dataPlaneFinalizer)) return { ready: false };
    const cloudNamespace = live.metadata.namespace!;
    const namespace = dataPlaneNamespace(cloudNamespace);
    const mine = {
      'app.kubernetes.io/instance': live.metadata.name,
      'app.kubernetes.io/managed-by': 'stackanetes',
      [cloudNamespaceLabel]: cloudNamespace,
    };
    let others = 0;
    for (const [apiVersion, kind] of ownedKinds) {
      const all = this.#store.list(apiVersion, kind, namespace, {
        'app.kubernetes.io/managed-by': 'stackanetes',
      });
      for (const o of all) {
        const labels = o.metadata.labels ?? {};
        if (Object.entries(mine).some(([k, v]) => labels[k] !== v)) {
          others++;
          continue;
        }
        if (!o.metadata.deletionTimestamp)
          await this.#deleteIfThere(apiVersion, kind, o.metadata.name, namespace);
      }
    }
    const ns = this.#store.get('v1', 'Namespace', undefined, namespace);
    if (others === 0 && ns?.metadata.labels?.['app.kubernetes.io/managed-by'] === 'stackanetes')
      await this.#deleteIfThere('v1', 'Namespace', namespace);
    this.#log.info(
      { cloud: `${cloudNamespace}/${live.metadata.name}`, namespace },
      'cloud deleted: its data plane deleted',
    );
    await this.#setFinalizers(
      live,
      finalizers.filter((f) => f !== dataPlaneFinalizer),
    );
    return { ready: false };
  }

  /** Sets the cloud's finalizers, refused if the cloud changed since it was read (409). */
  async #setFinalizers(live: KubeObject, finalizers: string[]): Promise<void> {
    try {
      await this.#client.mergePatch(
        cloudApiVersion,
        cloudKind,
        live.metadata.name,
        live.metadata.namespace,
        {
          metadata: {
            finalizers: finalizers.length > 0 ? finalizers : null,
            resourceVersion: live.metadata.resourceVersion,
          },
        },
      );
    } catch (err) {
      // Gone already, or changed meanwhile: the next reconcile sees the new state.
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  /** The cloud's generated secrets: created once, read back ever after. */
  async #ensureSecrets(cloud: KubeObject): Promise<CloudSecrets> {
    const namespace = cloud.metadata.namespace!;
    const name = secretsSecretName(cloud.metadata.name);
    try {
      const { secrets, created } = await loadOrCreateSecrets({
        read: async () => {
          const existing =
            this.#store.get('v1', 'Secret', namespace, name) ??
            (await this.#getOrUndefined('v1', 'Secret', namespace, name));
          const data = (existing?.data as Record<string, string> | undefined)?.[secretsKey];
          return data ? Buffer.from(data, 'base64').toString('utf8') : undefined;
        },
        create: async (text) => {
          try {
            await this.#client.create({
              apiVersion: 'v1',
              kind: 'Secret',
              metadata: {
                name,
                namespace,
                labels: {
                  'app.kubernetes.io/instance': cloud.metadata.name,
                  'app.kubernetes.io/managed-by': 'stackanetes',
                  'app.kubernetes.io/part-of': 'stackanetes',
                },
                ownerReferences: [ownerRef(cloud)],
              },
              type: 'Opaque',
              data: { [secretsKey]: Buffer.from(text).toString('base64') },
            });
            return true;
          } catch (err) {
            // Another writer (a previous leader) created it between our read and our create.
            if (isConflict(err)) return false;
            throw err;
          }
        },
      });
      if (created) this.#log.info({ cloud: cloud.metadata.name }, 'generated the cloud secrets');
      return secrets;
    } catch (err) {
      if (err instanceof UnusableSecrets)
        throw new Error(`Secret ${name} key ${secretsKey}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  async #getOrUndefined(
    apiVersion: string,
    kind: string,
    namespace: string,
    name: string,
  ): Promise<KubeObject | undefined> {
    try {
      return await this.#client.get(apiVersion, kind, name, namespace);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async #applyComponent(
    step: ComponentPlan,
    namespace: string,
    nodeRoles: OpenStackCloud['spec']['nodeRoles'],
  ): Promise<{
    ready: boolean;
    condition: ComponentState;
    replicas?: { replicas: number; readyReplicas: number };
  }> {
    for (const o of step.base) await this.#ensure(o, namespace);
    for (const j of step.jobs) {
      for (const o of j.objects) await this.#ensure(o, namespace);
      const job = this.#store.get('batch/v1', 'Job', namespace, j.job.metadata.name);
      const state = jobState(job);
      if (state === 'complete') continue;
      const label = cap(j.task.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()));
      if (state === 'failed') {
        const last = await this.#lastLogLine(namespace, j.job.metadata.name);
        return {
          ready: false,
          condition: {
            status: 'False',
            reason: `${label}Failed`,
            message: `job ${j.job.metadata.name} failed${last ? `: ${last}` : ''}`,
          },
        };
      }
      return {
        ready: false,
        condition: {
          status: 'False',
          reason: `Running${label}`,
          message: `job ${j.job.metadata.name} is running`,
        },
      };
    }
    for (const o of step.workloads) await this.#ensure(o, namespace);
    let replicas = 0;
    let readyReplicas = 0;
    const notReady: string[] = [];
    let noNode = false;
    for (const w of step.workloads) {
      const ns = w.metadata.namespace ?? namespace;
      const live = this.#store.get(w.apiVersion, w.kind, ns, w.metadata.name);
      const r = workloadReadiness(live);
      replicas += r.want;
      readyReplicas += r.have;
      const note = r.unscheduled
        ? unscheduledNote(w, nodeRoles)
        : (r.note ?? (!r.ready && live ? await this.#crashNote(ns, live) : undefined));
      noNode ||= r.unscheduled === true;
      if (!r.ready)
        notReady.push(
          `${w.kind.toLowerCase()}/${w.metadata.name} ${r.have}/${r.want} ready${note ? ` (${note})` : ''}`,
        );
    }
    if (notReady.length > 0) {
      return {
        ready: false,
        condition: {
          status: 'False',
          reason: noNode ? 'NoNodeForRole' : 'WaitingForPods',
          message: notReady.join(', '),
        },
        replicas: { replicas, readyReplicas },
      };
    }
    return {
      ready: true,
      condition: {
        status: 'True',
        reason: 'Ready',
        message: `${step.workloads.length} workloads ready, ${step.jobs.length} jobs complete`,
      },
      replicas: { replicas, readyReplicas },
    };
  }

  /** Apply one object unless the live one already matches; create-only objects once. */
  async #ensure(desired: KubeObject, cloudNamespace: string): Promise<void> {
    // The data plane's objects name their own namespace; the rest go in the cloud's.
    const namespace = resourceInfo(desired.apiVersion, desired.kind).namespaced
      ? (desired.metadata.namespace ?? cloudNamespace)
      : undefined;
    const want = secretAsData({
      ...desired,
      metadata: { ...desired.metadata, ...(namespace ? { namespace } : {}) },
    });
    const live = this.#store.get(want.apiVersion, want.kind, namespace, want.metadata.name);
    const createOnly =
      want.metadata.annotations?.[createOnlyAnnotation] === 'true' || want.kind === 'Job';
    if (createOnly) {
      if (live) return;
      try {
        await this.#client.create(want);
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
      return;
    }
    if (live && contains(live, want)) return;
    await this.#client.apply(want);
  }

  async #lastLogLine(namespace: string, job: string): Promise<string> {
    const pods = this.#store
      .list('v1', 'Pod', namespace, { 'job-name': job })
      .sort((a, b) =>
        String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)),
      );
    const pod = pods[0];
    if (!pod) return '';
    const text = await this.#client.podLog(namespace, pod.metadata.name, undefined, 5);
    const lines = text.trim().split('\n').filter(Boolean);
    return (lines[lines.length - 1] ?? '').slice(0, 300);
  }

  /**
   * A container of a workload that is not ready which keeps restarting, with the line its last run
   * died with. The reconciler caches no workload pods (hundreds of nodes would fill the cache):
   * one list of at most 100, only for a workload that is not ready, and one log read if one is
   * crash-looping.
   */
  async #crashNote(namespace: string, live: KubeObject): Promise<string | undefined> {
    // At most one look per workload per crashNoteMs: a DaemonSet on 1000 nodes is not ready for
    // minutes of a deploy, with a reconcile every few seconds (316 pod lists in one bench run).
    const key = placeKey(live.kind, namespace, live.metadata.name);
    const now = this.#now().getTime();
    const seen = this.#crashNotes.get(key);
    if (seen && now - seen.at < crashNoteMs) return seen.note;
    const note = await this.#lookForCrash(namespace, live);
    this.#crashNotes.set(key, { at: now, note });
    return note;
  }

  async #lookForCrash(namespace: string, live: KubeObject): Promise<string | undefined> {
    const sel = (live.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)
      ?.selector?.matchLabels;
    if (!sel) return undefined;
    const labelSelector = Object.entries(sel)
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    let pods: KubeObject[];
    try {
      const list = await this.#client.request<{ items: KubeObject[] }>(
        'GET',
        collectionPath('v1', 'Pod', namespace),
        { query: { labelSelector, limit: 100 } },
      );
      pods = list.items;
    } catch {
      return undefined;
    }
    const c = crashingContainer(pods);
    if (!c) return undefined;
    const log = await this.#client.podLog(namespace, c.pod, c.container, 40, true);
    return crashNote(c, dyingLine(log));
  }

  /** Deletes what this cloud owns and no longer wants: found by label, never by guess. */
  async #prune(
    cloud: OpenStackCloud,
    namespace: string,
    objects: readonly KubeObject[],
  ): Promise<void> {
    const wanted = new Set(
      objects.map((o) => placeKey(o.kind, o.metadata.namespace ?? namespace, o.metadata.name)),
    );
    wanted.add(placeKey('Secret', namespace, secretsSecretName(cloud.metadata.name)));
    const currentJobs = new Map<string, string>();
    for (const o of objects) {
      const task = o.metadata.labels?.[jobTaskLabel];
      if (o.kind === 'Job' && task)
        currentJobs.set(
          `${o.metadata.labels?.['stackanetes.io/component']}/${task}`,
          o.metadata.name,
        );
    }
    const labels = {
      'app.kubernetes.io/instance': cloud.metadata.name,
      'app.kubernetes.io/managed-by': 'stackanetes',
    };
    // The cloud's namespace, and its data plane's (where the label names the cloud's namespace).
    const places: [string, Record<string, string>][] = [
      [namespace, labels],
      [dataPlaneNamespace(namespace), { ...labels, [cloudNamespaceLabel]: namespace }],
    ];
    for (const [apiVersion, kind] of ownedKinds) {
      if (kind === 'PersistentVolumeClaim' && cloud.spec.retainVolumesOnDelete) continue;
      for (const [ns, selector] of places)
        await this.#pruneIn(apiVersion, kind, ns, selector, wanted, currentJobs);
    }
  }

  /** Prunes one kind in one namespace: what carries the cloud's labels and is not wanted. */
  async #pruneIn(
    apiVersion: string,
    kind: string,
    namespace: string,
    labels: Record<string, string>,
    wanted: ReadonlySet<string>,
    currentJobs: ReadonlyMap<string, string>,
  ): Promise<void> {
    for (const o of this.#store.list(apiVersion, kind, namespace, labels)) {
      if (wanted.has(placeKey(kind, namespace, o.metadata.name)) || o.metadata.deletionTimestamp)
        continue;
      if (kind === 'Job') {
        // An old Job goes once the Job that replaced it has finished.
        const task = `${o.metadata.labels?.['stackanetes.io/component']}/${o.metadata.labels?.[jobTaskLabel]}`;
        const current = currentJobs.get(task);
        if (
          current &&
          jobState(this.#store.get('batch/v1', 'Job', namespace, current)) !== 'complete'
        )
          continue;
      }
      this.#log.info({ kind, name: o.metadata.name }, 'pruning an object the spec no longer wants');
      await this.#deleteIfThere(apiVersion, kind, o.metadata.name, namespace);
    }
  }

  /** Deletes an object; one already gone is fine. */
  async #deleteIfThere(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
  ): Promise<void> {
    try {
      await this.#client.delete(apiVersion, kind, name, namespace);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async #finish(
    live: KubeObject,
    conditions: Condition[],
    generation: number,
    transitions: { type: 'Normal' | 'Warning'; reason: string; message: string }[],
    components: Record<string, { ready: boolean; replicas?: number; readyReplicas?: number }>,
    release: string | undefined,
    upgrade?: UpgradeStatus,
  ): Promise<void> {
    // No components (an invalid spec): the field is left out. An empty map in an apply patch
    // reaches the API server as null, which the CRD's schema refuses (422), so the status that
    // says why the spec is invalid would never be written.
    const observed = {
      observedGeneration: generation,
      conditions: conditions.filter((c) => !foreignConditionTypes.has(c.type)),
      ...(Object.keys(components).length > 0 ? { components } : {}),
      ...(release ? { release } : {}),
      ...(upgrade ? { upgrade } : {}),
    };
    // What other writers own (`stackanetes remediate`'s status.remediation and its condition)
    // is neither compared nor applied: the conditions are a map keyed by type, so each writer
    // keeps its own entries.
    const {
      lastReconcileTime,
      reconciledBy,
      remediation: _remediation,
      ...rest
    }: {
      lastReconcileTime?: string;
      reconciledBy?: object;
      remediation?: object;
      conditions?: Condition[];
    } = live.status ?? {};
    const before = rest.conditions
      ? { ...rest, conditions: rest.conditions.filter((c) => !foreignConditionTypes.has(c.type)) }
      : rest;
    const now = this.#now();
    const changed = !live.status || !contains(before, observed) || !contains(observed, before);
    // Also when never written (NaN compares false).
    const stale = !(now.getTime() - Date.parse(lastReconcileTime ?? '') < heartbeatMs);
    const by = { ...this.#reconciledBy };
    const moved = !contains(reconciledBy, by) || !contains(by, reconciledBy);
    // An older CRD drops the fields it does not know: then only a change is worth a write, or
    // every write would look stale and trigger the next one.
    if (changed || (!this.#statusFieldsDropped && (stale || moved))) {
      const written = await this.#client.applyStatus({
        apiVersion: cloudApiVersion,
        kind: cloudKind,
        metadata: { name: live.metadata.name, namespace: live.metadata.namespace },
        status: { ...observed, lastReconcileTime: rfc3339(now), reconciledBy: by },
      });
      const kept = (written?.status as { lastReconcileTime?: string } | undefined)
        ?.lastReconcileTime;
      if (written && kept === undefined && !this.#statusFieldsDropped) {
        this.#statusFieldsDropped = true;
        this.#log.warn(
          { crd: `${cloudKind} (stackanetes.io)` },
          'the API server dropped status.lastReconcileTime and status.reconciledBy: the CRD in the cluster is older than this operator; apply deploy/crds (or run `stackanetes apply`, which updates it)',
        );
      }
    }
    for (const t of transitions) await this.#events.record(live, t.type, t.reason, t.message);
  }
}

export function ownerRef(cloud: KubeObject) {
  return {
    apiVersion: cloudApiVersion,
    kind: cloudKind,
    name: cloud.metadata.name,
    uid: cloud.metadata.uid!,
    controller: true,
    blockOwnerDeletion: true,
  };
}

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function jobState(
  job: KubeObject | undefined,
): 'absent' | 'running' | 'complete' | 'failed' {
  if (!job) return 'absent';
  const conds =
    (job.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions ??
    [];
  if (conds.some((c) => c.type === 'Complete' && c.status === 'True')) return 'complete';
  if (conds.some((c) => c.type === 'Failed' && c.status === 'True')) return 'failed';
  return 'running';
}

export function workloadReadiness(live: KubeObject | undefined): {
  ready: boolean;
  want: number;
  have: number;
  note?: string;
  /** A DaemonSet that no node qualifies for: the role it serves has no node. */
  unscheduled?: boolean;
} {
  if (!live) return { ready: false, want: 1, have: 0, note: 'not created yet' };
  const spec = (live.spec ?? {}) as Record<string, number | undefined>;
  const st = (live.status ?? {}) as Record<string, number | string | undefined>;
  const gen = live.metadata.generation ?? 0;
  const observed = Number(st.observedGeneration ?? 0);
  if (live.kind === 'CronJob') return { ready: true, want: 0, have: 0 };
  if (observed < gen)
    return {
      ready: false,
      want: Number(spec.replicas ?? 1),
      have: 0,
      note: 'update not observed yet',
    };
  if (live.kind === 'DaemonSet') {
    const want = Number(st.desiredNumberScheduled ?? 0);
    const have = Number(st.numberReady ?? 0);
    const updated = Number(st.updatedNumberScheduled ?? 0);
    // On no node at all, the role it serves (compute, network) has no node: the cloud cannot work.
    if (want === 0) return { ready: false, want, have, note: 'on no node', unscheduled: true };
    return { ready: have >= want && updated >= want, want, have };
  }
  const want = Number(spec.replicas ?? 1);
  const have = Number(st.readyReplicas ?? 0);
  const updated = Number(st.updatedReplicas ?? 0);
  if (live.kind === 'StatefulSet') {
    const rolled = st.currentRevision === st.updateRevision || updated >= want;
    return { ready: have >= want && rolled, want, have };
  }
  const available = Number(st.availableReplicas ?? 0);
  // Pods of the old template still running: the roll is not over (as kubectl rollout status
  // has it), whatever the Ready count says — it counts old and new pods alike.
  const old = Number(st.replicas ?? updated) - updated;
  return {
    ready: have >= want && available >= want && updated >= want && old <= 0,
    want,
    have,
    ...(old > 0 && have >= want
      ? { note: `${old} old pods still running` }
      : have >= want && available < want
        ? {
            note: `${available} available: a new pod counts once Ready for ${spec.minReadySeconds ?? 0} s`,
          }
        : {}),
  };
}

type NodeRoles = OpenStackCloud['spec']['nodeRoles'];

function describeTerm(term: ReturnType<typeof selectorTerm>): string {
  return term.matchExpressions
    .map((e) => {
      const values = 'values' in e ? e.values : [];
      if (e.operator === 'In' && values.length === 1) return `${e.key}=${values[0]}`;
      if (e.operator === 'In') return `${e.key} in (${values.join(', ')})`;
      if (e.operator === 'NotIn') return `${e.key} notin (${values.join(', ')})`;
      if (e.operator === 'Exists') return e.key;
      return `!${e.key}`;
    })
    .join(',');
}

/**
 * Why a DaemonSet runs on no node, for a person: the labels a node needs and the role of the
 * spec they come from, e.g. `no node has the label stackanetes.io/compute=true
 * (spec.nodeRoles.compute)`.
 */
export function unscheduledNote(daemonSet: KubeObject, nodeRoles: NodeRoles): string {
  const template = (daemonSet as { spec?: { template?: { spec?: { affinity?: unknown } } } }).spec
    ?.template?.spec?.affinity as
    | {
        nodeAffinity?: {
          requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: unknown[] };
        };
      }
    | undefined;
  const terms = template?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
    ?.nodeSelectorTerms as ReturnType<typeof selectorTerm>[] | undefined;
  if (!terms?.length) return 'on no node: no node accepts its pods (taints?)';
  const roles = Object.entries(nodeRoles) as [keyof NodeRoles, NodeRoles[keyof NodeRoles]][];
  const described = terms.map((t) => {
    const json = JSON.stringify(t);
    const from = roles
      .filter(([, sel]) => JSON.stringify(selectorTerm(sel)) === json)
      .map(([r]) => `spec.nodeRoles.${r}`);
    return `${describeTerm(t)}${from.length ? ` (${from.join(', ')})` : ''}`;
  });
  return `on no node: no node has the label ${described.join(' or ')}`;
}
