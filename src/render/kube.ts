// The shapes renderers produce: plain objects typed by kubernetes-models' interfaces.
import type { IObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
export type { IObjectMeta as ObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
export type { IContainer as Container } from 'kubernetes-models/v1/Container';
export type { IPodSpec as PodSpec } from 'kubernetes-models/v1/PodSpec';
export type { IProbe as Probe } from 'kubernetes-models/v1/Probe';
export type { IVolume as Volume } from 'kubernetes-models/v1/Volume';
export type { IVolumeMount as VolumeMount } from 'kubernetes-models/v1/VolumeMount';
export type { IAffinity as Affinity } from 'kubernetes-models/v1/Affinity';
export type { IResourceRequirements as ResourceRequirements } from 'kubernetes-models/v1/ResourceRequirements';
export type { IEnvVar as EnvVar } from 'kubernetes-models/v1/EnvVar';
export type { ISecurityContext as SecurityContext } from 'kubernetes-models/v1/SecurityContext';
export type { IDeployment as Deployment } from 'kubernetes-models/apps/v1/Deployment';
export type { IDaemonSet as DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
export type { IStatefulSet as StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
export type { IJob as Job } from 'kubernetes-models/batch/v1/Job';
export type { ICronJob as CronJob } from 'kubernetes-models/batch/v1/CronJob';
export type { IService as Service } from 'kubernetes-models/v1/Service';
export type { ISecret as Secret } from 'kubernetes-models/v1/Secret';
export type { INamespace as Namespace } from 'kubernetes-models/v1/Namespace';
export type { IServiceAccount as ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
export type { IPersistentVolumeClaim as PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
export type { IPodDisruptionBudget as PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
export type { IPriorityClass as PriorityClass } from 'kubernetes-models/scheduling.k8s.io/v1/PriorityClass';
export type { INetworkPolicy as NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
export type { IIngress as Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
export type { IRole as Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
export type { IRoleBinding as RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';

/**
 * Any Kubernetes object: what render emits and what the API server returns. The fields it does
 * not name (spec, status, data, …) are left for the reader to narrow; a renderer types its
 * objects by kind, e.g. `Deployment & KubeObject`.
 */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: IObjectMeta & { name: string };
  [field: string]: unknown;
}

/** Annotation: the applier creates this object if absent and never overwrites it. */
export const createOnlyAnnotation = 'stackanetes.io/create-only';
/** Annotation on pod templates: hash of the config the pods read, so a change rolls them. */
export const configHashAnnotation = 'stackanetes.io/config-hash';
/** Label on every object: the component (plan node) it belongs to. */
export const componentLabel = 'stackanetes.io/component';
