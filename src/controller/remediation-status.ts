// What `stackanetes remediate` and `stackanetes rollout` write on the cloud: status.remediation
// and the `Remediation` condition, under their own field manager, so that the operator's status
// writes (its own conditions) and theirs never undo each other (conditions are a map by type).
import type { Condition, RemediationStatus } from '../api/v1alpha1/spec.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { writeOwnCondition } from './conditions.ts';
import { remediationManager } from './rollout.ts';

export const remediationCondition = 'Remediation';

export function writeRemediation(
  client: KubeClient,
  cloud: KubeObject,
  status: RemediationStatus,
  condition: Pick<Condition, 'status' | 'reason' | 'message'>,
  now: Date = new Date(),
): Promise<void> {
  return writeOwnCondition(
    client,
    cloud,
    remediationManager,
    { type: remediationCondition, ...condition },
    { remediation: status },
    now,
  );
}
