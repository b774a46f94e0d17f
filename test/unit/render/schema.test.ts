// Every rendered object passes the Kubernetes OpenAPI schema (kubernetes-models' validators).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { PriorityClass } from 'kubernetes-models/scheduling.k8s.io/v1/PriorityClass';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { KubeObject } from '../../../src/render/kube.ts';
import { cloudOf, fixedSecrets, renderExample } from './fixtures.ts';
import { cloudObjects } from '../../../src/cli/render.ts';

const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/ConfigMap': ConfigMap,
  'apps/v1/Deployment': Deployment,
  'apps/v1/DaemonSet': DaemonSet,
  'apps/v1/StatefulSet': StatefulSet,
  'batch/v1/Job': Job,
  'batch/v1/CronJob': CronJob,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'scheduling.k8s.io/v1/PriorityClass': PriorityClass,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'networking.k8s.io/v1/Ingress': Ingress,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
};

function check(objs: KubeObject[]): void {
  for (const o of objs) {
    const Model = models[`${o.apiVersion}/${o.kind}`];
    assert.ok(Model, `no validator for ${o.apiVersion} ${o.kind}`);
    try {
      new Model(o as never).validate();
    } catch (err) {
      assert.fail(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
    }
    assert.match(o.metadata.name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${o.kind} name`);
    assert.ok(o.metadata.name.length <= 63, `${o.kind}/${o.metadata.name} longer than 63`);
  }
}

test('examples/minimal.yaml renders objects valid against the Kubernetes schema', () => {
  check(renderExample('minimal', fixedSecrets()));
});

test('examples/ha.yaml renders objects valid against the Kubernetes schema', () => {
  check(renderExample('ha', fixedSecrets()));
});

test('examples/production.yaml renders objects valid against the Kubernetes schema', () => {
  check(renderExample('production', fixedSecrets()));
});

test('a cloud with only keystone renders valid objects', () => {
  const cloud = cloudOf({
    services: {
      glance: { enabled: false },
      placement: { enabled: false },
      nova: { enabled: false },
      neutron: { enabled: false },
      horizon: { enabled: false },
    },
  });
  const objs = cloudObjects(cloud, fixedSecrets());
  check(objs);
  assert.ok(!objs.some((o) => o.metadata.name.startsWith('nova')));
});
