// The plan: the components a spec deploys, in dependency order, decided before rendering; and
// each component's rendered objects split into steps — its base objects, then its one-shot Jobs
// one after another, then its long-running workloads. A component is applied when what it needs
// is Ready.
import type { ComponentName, ReleaseCatalog } from '../catalog/types.ts';
import type { KubeObject } from '../render/kube.ts';
import { jobTaskLabel } from '../render/jobs.ts';

/** The order of one-shot tasks inside a component. */
export const taskOrder = ['db-init', 'rabbitmq-init', 'db-sync', 'bootstrap', 'register'] as const;

export interface JobStep {
  readonly task: string;
  /** The Job's config Secret and the Job itself. */
  readonly objects: readonly KubeObject[];
  readonly job: KubeObject;
}

export interface PlannedComponent {
  readonly name: ComponentName;
  readonly needs: readonly ComponentName[];
}

export interface ComponentPlan extends PlannedComponent {
  readonly base: readonly KubeObject[];
  readonly jobs: readonly JobStep[];
  readonly workloads: readonly KubeObject[];
}

const workloadKinds = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'CronJob']);

/** The components, each with what it needs among them, in dependency order. */
export function planComponents(
  components: readonly ComponentName[],
  catalog: ReleaseCatalog,
): PlannedComponent[] {
  return topoSort(
    components.map((name) => ({
      name,
      needs: catalog.needs[name].filter((n) => components.includes(n)),
    })),
  );
}

/** A planned component with its rendered objects in steps. */
export function componentSteps(
  component: PlannedComponent,
  objects: readonly KubeObject[],
): ComponentPlan {
  const jobTasks = new Map<string, KubeObject[]>();
  const base: KubeObject[] = [];
  const workloads: KubeObject[] = [];
  for (const o of objects) {
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
      if (!job) throw new Error(`task ${task} of ${component.name} has no Job`);
      return { task, objects: [...list.filter((o) => o.kind !== 'Job'), job], job };
    });
  return { ...component, base, jobs, workloads };
}

/** Every object of a plan (in step order). */
export function planObjects(plan: readonly ComponentPlan[]): KubeObject[] {
  return plan.flatMap((c) => [...c.base, ...c.jobs.flatMap((j) => j.objects), ...c.workloads]);
}

/** Dependency order (stable: ties keep the catalog's component order). */
export function topoSort<T extends PlannedComponent>(plans: readonly T[]): T[] {
  const done = new Set<ComponentName>();
  const out: T[] = [];
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
