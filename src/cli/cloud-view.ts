// How a cloud's status reads at a terminal: one row per component.
import type { KubeObj } from '../kube/client.ts';

interface Cond {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export interface CloudStatus {
  generation: number;
  observedGeneration: number;
  ready: Cond | undefined;
  components: { name: string; cond: Cond; replicas?: number; readyReplicas?: number }[];
}

export function readStatus(cloud: KubeObj): CloudStatus {
  const st = (cloud.status ?? {}) as {
    observedGeneration?: number;
    conditions?: Cond[];
    components?: Record<string, { replicas?: number; readyReplicas?: number }>;
  };
  const conds = st.conditions ?? [];
  return {
    generation: cloud.metadata.generation ?? 0,
    observedGeneration: st.observedGeneration ?? 0,
    ready: conds.find((c) => c.type === 'Ready'),
    components: conds
      .filter((c) => c.type !== 'Ready')
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
