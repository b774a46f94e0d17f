// The plan: rendered objects grouped per component, in dependency order, each component split
// into steps — its base objects, then its one-shot Jobs one after another, then its long-running
// workloads. A component is applied when what it needs is Ready.
import type { ComponentName, ReleaseCatalog } from '../catalog/types.ts';
import { componentLabel, type KubeObject } from '../render/kube.ts';
import { jobTaskLabel } from '../render/jobs.ts';

/** The order of one-shot tasks inside a component. */
export const taskOrder = ['db-init', 'rabbitmq-init', 'db-sync', 'bootstrap', 'register'] as const;

export interface JobStep {
  readonly task: string;
  /** The Job's config Secret and the Job itself. */
  readonly objects: readonly KubeObject[];
  readonly job: KubeObject;
}

export interface ComponentPlan {
  readonly name: ComponentName;
  readonly needs: readonly ComponentName[];
  readonly base: readonly KubeObject[];
  readonly jobs: readonly JobStep[];
  readonly workloads: readonly KubeObject[];
}

const workloadKinds = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob']);

export function buildPlan(
  components: readonly ComponentName[],
  objects: readonly KubeObject[],
  catalog: ReleaseCatalog,
): ComponentPlan[] {
  const byComponent = new Map<ComponentName, KubeObject[]>();
  for (const o of objects) {
    const c = o.metadata.labels?.[componentLabel] as ComponentName | undefined;
    if (!c) throw new Error(`${o.kind}/${o.metadata.name} has no ${componentLabel} label`);
    let list = byComponent.get(c);
    if (!list) byComponent.set(c, (list = []));
    list.push(o);
  }
  const plans = components.map((name): ComponentPlan => {
    const objs = byComponent.get(name) ?? [];
    const jobTasks = new Map<string, KubeObject[]>();
    const base: KubeObject[] = [];
    const workloads: KubeObject[] = [];
    for (const o of objs) {
      const task = o.metadata.labels?.[jobTaskLabel];
      if (task) {
        let l = jobTasks.get(task);
        if (!l) jobTasks.set(task, (l = []));
        l.push(o);
      } else if (workloadKinds.has(o.kind)) {
        workloads.push(o);
      } else {
        base.push(o);
      }
    }
    const rank = (t: string) => {
      const i = (taskOrder as readonly string[]).indexOf(t);
      return i < 0 ? taskOrder.length : i;
    };
    const jobs = [...jobTasks.entries()]
      .sort(([a], [b]) => rank(a) - rank(b) || (a < b ? -1 : 1))
      .map(([task, list]) => {
        const job = list.find((o) => o.kind === 'Job');
        if (!job) throw new Error(`task ${task} of ${name} has no Job`);
        return { task, objects: [...list.filter((o) => o.kind !== 'Job'), job], job };
      });
    return {
      name,
      needs: catalog.needs[name].filter((n) => components.includes(n)),
      base,
      jobs,
      workloads,
    };
  });
  return topoSort(plans);
}

/** Dependency order (stable: ties keep the catalog's component order). */
export function topoSort(plans: ComponentPlan[]): ComponentPlan[] {
  const done = new Set<ComponentName>();
  const out: ComponentPlan[] = [];
  let remaining = [...plans];
  while (remaining.length > 0) {
    const ready = remaining.filter((p) => p.needs.every((n) => done.has(n)));
    if (ready.length === 0) {
      throw new Error(`dependency cycle among ${remaining.map((p) => p.name).join(', ')}`);
    }
    for (const p of ready) {
      out.push(p);
      done.add(p.name);
    }
    remaining = remaining.filter((p) => !done.has(p.name));
  }
  return out;
}
