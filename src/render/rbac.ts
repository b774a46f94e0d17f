// What a pod's own ServiceAccount may do in the API: a Role and its RoleBinding, both named
// after the account.
import type { ComponentName } from '../catalog/types.ts';
import { meta, type Ctx } from './context.ts';
import type { KubeObject, Role, RoleBinding } from './kube.ts';

export type PolicyRule = NonNullable<Role['rules']>[number];

/** The Role `account` with these rules, bound to the ServiceAccount `account`. */
export function accountRole(
  ctx: Ctx,
  account: string,
  component: ComponentName,
  part: string,
  rules: PolicyRule[],
): KubeObject[] {
  const role: Role & KubeObject = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(ctx, account, component, part),
    rules,
  };
  const binding: RoleBinding & KubeObject = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(ctx, account, component, part),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: account },
    subjects: [{ kind: 'ServiceAccount', name: account, namespace: ctx.namespace }],
  };
  return [role, binding];
}
