// How a cloud's status reads at a terminal: one row per component; for `stackanetes status`,
// the live workloads beside what the operator recorded (pure: no API calls here; whether an
// operator is still reconciling is src/controller/liveness.ts).
import type { Condition, OpenStackCloud } from '../api/v1alpha1/spec.ts';
import { jobState, unscheduledNote, workloadReadiness } from '../controller/cloud.ts';
import { cloudPlan } from '../plan/steps.ts';
import { jobTaskLabel } from '../render/jobs.ts';
import { componentLabel, type KubeObject } from '../render/kube.ts';
import { redactedSecrets } from '../render/secrets.ts';
import type { OperatorState } from '../controller/liveness.ts';

/**
 * A row's condition: as the operator recorded it, or made from the live workloads (which have
 * no transition time to give).
 */
type Cond = Omit<Condition, 'lastTransitionTime'> & Partial<Pick<Condition, 'lastTransitionTime'>>;

export interface CloudStatus {
  generation: number;
  observedGeneration: number;
  ready: Cond | undefined;
  components: { name: string; cond: Cond; replicas?: number; readyReplicas?: number }[];
}

export function readStatus(cloud: KubeObject): CloudStatus {
  const st = (cloud.status ?? {}) as {
    observedGeneration?: number;
    conditions?: Condition[];
    components?: Record<string, { replicas?: number; readyReplicas?: number }>;
  };
  const conds = st.conditions ?? [];
  return {
    generation: cloud.metadata.generation ?? 0,
    observedGeneration: st.observedGeneration ?? 0,
    ready: conds.find((c) => c.type === 'Ready'),
    // One `<Component>Ready` condition per component; others (Remediation, NodesHealthy) are not
    // components.
    components: conds
      .filter((c) => c.type !== 'Ready' && c.type.endsWith('Ready'))
      .map((c) => {
        const name = c.type.replace(/Ready$/, '').toLowerCase();
        const r = st.components?.[name];
        return { name, cond: c, replicas: r?.replicas, readyReplicas: r?.readyReplicas };
      }),
  };
}

export function statusTable(s: CloudStatus, width = 120): string {
  const rows = [['COMPONENT', 'READY', 'PODS', 'REASON', 'MESSAGE']];
  for (const c of s.components) {
    rows.push([
      c.name,
      c.cond.status,
      c.replicas !== undefined ? `${c.readyReplicas ?? 0}/${c.replicas}` : '-',
      c.cond.reason,
      c.cond.message,
    ]);
  }
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => {
      const head = r
        .slice(0, 4)
        .map((v, i) => v.padEnd(widths[i]!))
        .join('  ');
      const room = Math.max(20, width - head.length - 2);
      const msg = r[4]!.length > room ? `${r[4]!.slice(0, room - 1)}…` : r[4]!;
      return `${head}  ${msg}`;
    })
    .join('\n');
}

/** A failure worth stopping for: a component whose reason says something failed. */
export function failure(
  s: CloudStatus,
): { name: string; reason: string; message: string } | undefined {
  const f = s.components.find((c) => c.cond.status === 'False' && /Failed$/.test(c.cond.reason));
  if (f) return { name: f.name, reason: f.cond.reason, message: f.cond.message };
  if (s.ready?.reason === 'InvalidSpec')
    return { name: 'spec', reason: 'InvalidSpec', message: s.ready.message };
  return undefined;
}

// ---- what `stackanetes status` shows: live workloads ----

export interface LiveComponent {
  readonly name: string;
  readonly ready: boolean;
  readonly replicas: number;
  readonly readyReplicas: number;
  /** Workloads missing or not ready, Jobs not complete: `deployment/horizon missing`. */
  readonly problems: string[];
  readonly missing: boolean;
}

/**
 * Each component as the cluster has it now: the workloads the spec calls for (rendered, so a
 * deleted one shows as missing) and the newest Job of each of its tasks, read live. `live` holds
 * the cloud's objects from both its namespaces (the data plane's DaemonSets run in their own): a
 * workload is the one in the namespace the render puts it in, else one of its kind and name in
 * the other (where an older operator left it).
 */
export function liveComponents(
  cloud: OpenStackCloud,
  namespace: string,
  live: readonly KubeObject[],
): LiveComponent[] {
  const plan = cloudPlan(cloud, redactedSecrets(), namespace);
  const byName = new Map(live.map((o) => [`${o.kind}/${o.metadata.name}`, o]));
  const byPlace = new Map(
    live.map((o) => [`${o.metadata.namespace}/${o.kind}/${o.metadata.name}`, o]),
  );
  return plan.map((step) => {
    const problems: string[] = [];
    let missing = false;
    let replicas = 0;
    let readyReplicas = 0;
    for (const w of step.workloads) {
      const obj =
        byPlace.get(`${w.metadata.namespace ?? namespace}/${w.kind}/${w.metadata.name}`) ??
        byName.get(`${w.kind}/${w.metadata.name}`);
      const id = `${w.kind.toLowerCase()}/${w.metadata.name}`;
      const r = workloadReadiness(obj);
      replicas += r.want;
      readyReplicas += r.have;
      if (!obj) {
        missing = true;
        problems.push(`${id} missing`);
      } else if (!r.ready) {
        const note = r.unscheduled ? unscheduledNote(w, cloud.spec.nodeRoles) : r.note;
        problems.push(`${id} ${r.have}/${r.want} ready${note ? ` (${note})` : ''}`);
      }
    }
    for (const { task } of step.jobs) {
      // Job names carry a hash of inputs that include secrets: found by component and task.
      const newest = live
        .filter(
          (o) =>
            o.kind === 'Job' &&
            o.metadata.labels?.[componentLabel] === step.name &&
            o.metadata.labels?.[jobTaskLabel] === task,
        )
        .sort((a, b) =>
          String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)),
        )[0];
      const state = jobState(newest);
      if (state === 'complete') continue;
      if (state === 'absent') missing = true;
      problems.push(
        state === 'absent' ? `job ${task} missing` : `job ${newest!.metadata.name} ${state}`,
      );
    }
    return {
      name: step.name,
      ready: problems.length === 0,
      replicas,
      readyReplicas,
      problems,
      missing,
    };
  });
}

export interface CloudView {
  readonly ready: { status: Condition['status']; message: string };
  readonly operator: OperatorState;
  readonly components: CloudStatus['components'];
}

/**
 * The status a person should believe: readiness from the live workloads; the operator's own
 * conditions where they agree or explain (a Job running, waiting for another component); and
 * the live problem where the operator last recorded Ready but the cluster says otherwise.
 */
export function cloudView(
  recorded: CloudStatus,
  live: readonly LiveComponent[] | undefined,
  operator: OperatorState,
): CloudView {
  if (!live) {
    const r = recorded.ready;
    return {
      ready: r
        ? { status: r.status, message: `${r.reason}: ${r.message}` }
        : { status: 'Unknown', message: 'not reconciled yet' },
      operator,
      components: recorded.components,
    };
  }
  const rows = live.map((l) => {
    const cond = recorded.components.find((c) => c.name === l.name)?.cond;
    const pods = { replicas: l.replicas, readyReplicas: l.readyReplicas };
    const row = (reason: string, detail: string, note = '') => {
      const made: Cond = {
        type: cond?.type ?? l.name,
        status: l.ready ? 'True' : 'False',
        reason,
        message: `${detail}${note}`,
      };
      return { detail, component: { name: l.name, cond: made, ...pods } };
    };
    if (l.ready)
      return cond?.status === 'True'
        ? row(cond.reason, cond.message)
        : row('Ready', 'every workload ready');
    // The operator's own reason explains a component on its way (a Job running, waiting for
    // another component); where it last recorded Ready, the cluster's word counts.
    if (cond && cond.status !== 'True') return row(cond.reason, cond.message);
    return row(
      l.missing ? 'Missing' : 'NotReady',
      l.problems.join(', '),
      cond ? ' (the operator last recorded it Ready)' : '',
    );
  });
  const components = rows.map((r) => r.component);
  const notReady = rows.filter((r) => r.component.cond.status !== 'True');
  const first = notReady[0];
  const claimed =
    recorded.ready?.status === 'True' ? '; the operator last recorded the cloud Ready' : '';
  return {
    ready: first
      ? {
          status: 'False',
          message: `${first.component.name}: ${first.detail} (${rows.length - notReady.length}/${rows.length} components ready${claimed})`,
        }
      : { status: 'True', message: `${rows.length} components ready` },
    operator,
    components,
  };
}

/** The whole text for one cloud. */
export function viewText(title: string, view: CloudView, width = 160): string {
  const op = view.operator;
  const opLine =
    op.reconciling === false
      ? `NOT RECONCILING: ${op.summary}.${op.advice ? ` ${op.advice}` : ''}`
      : op.reconciling
        ? `reconciling: ${op.summary}`
        : `unknown: ${op.summary}`;
  const lines = [
    title,
    `Ready:    ${view.ready.status} — ${view.ready.message}`,
    `Operator: ${opLine}`,
  ];
  if (view.components.length > 0)
    lines.push(
      statusTable(
        { generation: 0, observedGeneration: 0, ready: undefined, components: view.components },
        width,
      ),
    );
  return lines.join('\n');
}
