// Who is starved last: PriorityClasses and default requests for what everything else depends on.
// MariaDB, RabbitMQ, Memcached and Keystone get the higher class, and so do the node agents that
// hold the guests (a class of their own, of the same value): the scheduler preempts, and the
// kubelet evicts under memory or disk pressure, every other pod of the cloud (and anything with
// no class) before them, and neither preempts the other. Requests set the CPU share under contention: with cgroup v1 a container
// gets cpu.shares = request in millicores × 1024 / 1000, and all best-effort pods of a node share 2
// shares together, so a best-effort pod beside the cloud cannot take its CPU, and the core four,
// requesting more, win against the rest of the cloud.
// PriorityClasses are cluster-scoped and shared by every cloud of the cluster (same names, same
// values): they carry no owner reference (a namespaced cloud cannot own them) and no instance
// label, are never pruned, and belong to the database component, the first of every plan, so
// that they exist before any pod names them.
import type { ComponentName } from '../catalog/types.ts';
import type { Ctx } from './context.ts';
import { componentLabel, type KubeObject, type PriorityClass } from './kube.ts';

export const corePriorityClass = 'stackanetes-core';
export const servicePriorityClass = 'stackanetes-service';
/**
 * The agents on every compute and network node (DaemonSets: libvirt, nova-compute, Open vSwitch,
 * ovn-controller, the metadata agent), which hold the guests and their network. As high as the
 * core four, so that none of the cloud's pods preempts them: a Keystone surge pod on a full node
 * once preempted nine pods of 20m each, nova-libvirt and nova-compute among them.
 */
export const nodeAgentPriorityClass = 'stackanetes-node';

/**
 * CPU request of the core four when the spec gives none (every other container: 100m). Memory
 * requests come from the catalog, per container, as measured.
 */
export const coreCpuRequest = '250m';

/** The four components every other one depends on (Keystone: its API only). */
export function isCore(component: ComponentName, part: string): boolean {
  return (
    component === 'database' ||
    component === 'messaging' ||
    component === 'cache' ||
    (component === 'keystone' && part === 'api')
  );
}

export function priorityClassOf(component: ComponentName, part: string): string {
  return isCore(component, part) ? corePriorityClass : servicePriorityClass;
}

export function priorityClasses(_ctx: Ctx): KubeObject[] {
  const pc = (name: string, value: number, description: string): PriorityClass & KubeObject => ({
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: {
      name,
      labels: {
        'app.kubernetes.io/part-of': 'stackanetes',
        'app.kubernetes.io/managed-by': 'stackanetes',
        [componentLabel]: 'database',
      },
    },
    value,
    // globalDefault is left out (false is its default): the API server does not echo a false
    // value back, so the object never looked applied and was patched on every reconcile.
    preemptionPolicy: 'PreemptLowerPriority',
    description,
  });
  return [
    pc(
      corePriorityClass,
      100_000,
      'Stackanetes: MariaDB, RabbitMQ, Memcached and Keystone, which every OpenStack service needs',
    ),
    pc(
      nodeAgentPriorityClass,
      100_000,
      'Stackanetes: the agents on compute and network nodes (libvirt, nova-compute, Open vSwitch, OVN), which hold the guests',
    ),
    pc(servicePriorityClass, 10_000, 'Stackanetes: the other pods of an OpenStack cloud'),
  ];
}
