// status.conditions the Kubernetes way: one per component plus a summarising Ready; a
// condition's lastTransitionTime moves only when its status does.
import { apiVersion, kind, type Condition } from '../api/v1alpha1/spec.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import type { ComponentName } from '../catalog/types.ts';

/** What a reconcile pass decides about one condition; the times are setCondition's. */
export type ComponentState = Readonly<Pick<Condition, 'status' | 'reason' | 'message'>>;

/**
 * Condition types other writers own: the cloud reconciler neither writes nor removes them, and
 * does not count them in Ready (`Remediation` is `stackanetes remediate`'s, see
 * src/controller/rollout.ts; `NodesHealthy` the node health reconciler's, ./nodes.ts).
 */
export const foreignConditionTypes: ReadonlySet<string> = new Set(['Remediation', 'NodesHealthy']);

export function componentConditionType(c: ComponentName): string {
  return `${c.charAt(0).toUpperCase()}${c.slice(1)}Ready`;
}

/** RFC 3339 to the second, as Kubernetes writes times. */
export function rfc3339(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Sets a condition in place; returns true when its status or reason changed. */
export function setCondition(
  conditions: Condition[],
  type: string,
  state: ComponentState,
  generation: number,
  now: Date,
): boolean {
  const time = rfc3339(now);
  const existing = conditions.find((c) => c.type === type);
  if (!existing) {
    conditions.push({ type, ...state, lastTransitionTime: time, observedGeneration: generation });
    return true;
  }
  const changed = existing.status !== state.status || existing.reason !== state.reason;
  if (existing.status !== state.status) existing.lastTransitionTime = time;
  existing.status = state.status;
  existing.reason = state.reason;
  existing.message = state.message;
  existing.observedGeneration = generation;
  return changed;
}

/** Ready is True when every component is; otherwise it names the first one that is not. */
export function summarise(
  components: { name: ComponentName; condition: Condition | undefined }[],
): ComponentState {
  const pending = components.filter((c) => c.condition?.status !== 'True');
  if (pending.length === 0) {
    return {
      status: 'True',
      reason: 'AllComponentsReady',
      message: `${components.length} components ready`,
    };
  }
  const failed = pending.find((c) => c.condition?.reason.endsWith('Failed'));
  const first =
    failed ?? pending.find((c) => !c.condition?.reason.startsWith('WaitingFor')) ?? pending[0]!;
  return {
    status: 'False',
    reason: first.condition?.reason ?? 'Unknown',
    message: `${first.name}: ${first.condition?.message ?? 'no status yet'} (${components.length - pending.length}/${components.length} components ready)`,
  };
}

/**
 * Writes one condition of the cloud (and other status fields it goes with) under a field manager
 * of its own, so the cloud reconciler's status writes and this one never undo each other
 * (conditions are a map by type). Its lastTransitionTime stays while its status does.
 */
export async function writeOwnCondition(
  client: KubeClient,
  cloud: KubeObject,
  manager: string,
  condition: Pick<Condition, 'type' | 'status' | 'reason' | 'message'>,
  status: Record<string, unknown> = {},
  now: Date = new Date(),
): Promise<void> {
  const live = await client.get(apiVersion, kind, cloud.metadata.name, cloud.metadata.namespace);
  const before = ((live.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find(
    (c) => c.type === condition.type,
  );
  const lastTransitionTime =
    before && before.status === condition.status ? before.lastTransitionTime : rfc3339(now);
  await client.applyStatus(
    {
      apiVersion,
      kind,
      metadata: { name: cloud.metadata.name, namespace: cloud.metadata.namespace },
      status: {
        ...status,
        conditions: [
          {
            ...condition,
            message: condition.message.slice(0, 1024),
            lastTransitionTime,
            ...(live.metadata.generation !== undefined
              ? { observedGeneration: live.metadata.generation }
              : {}),
          },
        ],
      },
    },
    manager,
  );
}
