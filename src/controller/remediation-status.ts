// What `stackanetes remediate` and `stackanetes rollout` write on the cloud: status.remediation
// and the `Remediation` condition, under their own field manager, so that the operator's status
// writes (its own conditions) and theirs never undo each other (conditions are a map by type).
import { apiVersion, kind, type Condition, type RemediationStatus } from '../api/v1alpha1/spec.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { rfc3339 } from './conditions.ts';
import { remediationManager } from './rollout.ts';

export const remediationCondition = 'Remediation';

export async function writeRemediation(
  client: KubeClient,
  cloud: KubeObject,
  status: RemediationStatus,
  condition: Pick<Condition, 'status' | 'reason' | 'message'>,
  now: Date = new Date(),
): Promise<void> {
  const live = await client.get(apiVersion, kind, cloud.metadata.name, cloud.metadata.namespace);
  const before = ((live.status as { conditions?: Condition[] } | undefined)?.conditions ?? []).find(
    (c) => c.type === remediationCondition,
  );
  const lastTransitionTime =
    before && before.status === condition.status ? before.lastTransitionTime : rfc3339(now);
  await client.applyStatus(
    {
      apiVersion,
      kind,
      metadata: { name: cloud.metadata.name, namespace: cloud.metadata.namespace },
      status: {
        remediation: status,
        conditions: [
          {
            type: remediationCondition,
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
    remediationManager,
  );
}
