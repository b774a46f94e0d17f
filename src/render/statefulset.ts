// StatefulSets: members with stable names (the database, the queue, the cache, OVN's databases),
// each keeping a data volume of its own where it has one.
import type { ComponentName } from '../catalog/types.ts';
import { meta, selectorLabels, type Ctx } from './context.ts';
import type { PersistentVolumeClaim, StatefulSet, KubeObject } from './kube.ts';
import type { podTemplate } from './workload.ts';

/** A member's volume claim, as a StatefulSet's template holds it. */
export type ClaimTemplate = NonNullable<
  NonNullable<StatefulSet['spec']>['volumeClaimTemplates']
>[number];

export interface StatefulSetOpts {
  readonly component: ComponentName;
  /** The StatefulSet's name, which its members' names start with. */
  readonly name: string;
  /** The pods' part (their labels); default `name`. */
  readonly part?: string;
  /** The Service that gives the members their names. */
  readonly serviceName: string;
  readonly replicas: number;
  readonly template: ReturnType<typeof podTemplate>;
  /** Members start together instead of one after another (after a full outage they must find each other). */
  readonly parallel?: boolean;
  readonly revisionHistoryLimit?: number;
  /**
   * One volume per member, kept when a member is scaled away and retained or deleted with the
   * cloud as the spec says. A StatefulSet's claim templates cannot change once it exists.
   */
  readonly claim?: ClaimTemplate;
  /**
   * How a member that lost its volume gets its data back from the others, when it can
   * (`memberRebuildAnnotation`): the operator may then give up the volume of a member whose node
   * stays fenced (spec.healing.rebuildMembersAfterSeconds, src/controller/members.ts).
   */
  readonly rebuild?: string;
}

/**
 * On a StatefulSet whose members can be rebuilt from the others: how (for the Event that says
 * so). Absent: a member that lost its volume cannot get its data back, and is never rebuilt.
 */
export const memberRebuildAnnotation = 'stackanetes.io/member-rebuild';

export function statefulSet(ctx: Ctx, o: StatefulSetOpts): StatefulSet & KubeObject {
  const part = o.part ?? o.name;
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(
      ctx,
      o.name,
      o.component,
      part,
      o.rebuild ? { [memberRebuildAnnotation]: o.rebuild } : undefined,
    ),
    spec: {
      serviceName: o.serviceName,
      replicas: o.replicas,
      ...(o.parallel ? { podManagementPolicy: 'Parallel' } : {}),
      ...(o.revisionHistoryLimit !== undefined
        ? { revisionHistoryLimit: o.revisionHistoryLimit }
        : {}),
      selector: { matchLabels: selectorLabels(ctx, o.component, part) },
      ...(o.claim
        ? {
            updateStrategy: { type: 'RollingUpdate' },
            persistentVolumeClaimRetentionPolicy: {
              whenDeleted: ctx.spec.retainVolumesOnDelete ? 'Retain' : 'Delete',
              whenScaled: 'Retain',
            },
          }
        : {}),
      template: o.template,
      ...(o.claim ? { volumeClaimTemplates: [o.claim] } : {}),
    },
  };
}

/** The `data` volume claim of each member: its size, and its storage class where one is named. */
export function dataClaim(size: string, storageClassName?: string): PersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'data' },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: size } },
      ...(storageClassName ? { storageClassName } : {}),
    },
  };
}
