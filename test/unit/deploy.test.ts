// deploy/: what `kubectl apply -k deploy/` installs (kustomize is built into kubectl; here the
// kustomization is read as the list of files it is). Every file it names exists, parses and passes
// the Kubernetes schema; the operator Deployment runs the image `images build` makes, as two
// restricted, read-only replicas with probes; the ClusterRole covers what the operator watches.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import { register as registerOperator } from '../../src/cli/operator.ts';
import { parseAllDocuments, parse } from 'yaml';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import { ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { PriorityClass } from 'kubernetes-models/scheduling.k8s.io/v1/PriorityClass';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { defaultImageRegistry, imageReference } from '../../src/catalog/images.ts';
import { ownedKinds } from '../../src/controller/cloud.ts';
import { renderExample } from './render/fixtures.ts';
import { resourceInfo } from '../../src/kube/client.ts';
import { operatorImage, operatorUid, operatorVersion } from '../../src/images/recipes.ts';

const models: Record<string, new (data: never) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
  'scheduling.k8s.io/v1/PriorityClass': PriorityClass,
};

const root = 'deploy';
const kustomization = parse(readFileSync(join(root, 'kustomization.yaml'), 'utf8')) as {
  apiVersion: string;
  kind: string;
  resources: string[];
};

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: any;
}

/** Every object `kubectl apply -k deploy/` would send, in the kustomization's order. */
function objects(): { file: string; obj: Obj }[] {
  const out: { file: string; obj: Obj }[] = [];
  for (const file of kustomization.resources) {
    for (const doc of parseAllDocuments(readFileSync(join(root, file), 'utf8'))) {
      assert.deepEqual(doc.errors, [], `${file} parses`);
      const obj = doc.toJS() as Obj | null;
      if (obj) out.push({ file, obj });
    }
  }
  return out;
}

const find = (kind: string, name: string) =>
  objects().find((o) => o.obj.kind === kind && o.obj.metadata.name === name)?.obj;

test('the kustomization lists files that exist, and every file under deploy/', () => {
  assert.equal(kustomization.apiVersion, 'kustomize.config.k8s.io/v1beta1');
  assert.equal(kustomization.kind, 'Kustomization');
  for (const f of kustomization.resources) assert.ok(existsSync(join(root, f)), `${f} exists`);
  const onDisk = ['crds', 'operator'].flatMap((d) =>
    readdirSync(join(root, d))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => `${d}/${f}`),
  );
  assert.deepEqual([...kustomization.resources].sort(), onDisk.sort(), 'nothing left out');
});

test('every object passes the Kubernetes schema and names a namespace that is installed too', () => {
  const namespaces = new Set([
    ...objects()
      .filter((o) => o.obj.kind === 'Namespace')
      .map((o) => o.obj.metadata.name),
    // Kubernetes makes this one itself (the kubelets' Leases).
    'kube-node-lease',
  ]);
  for (const { file, obj } of objects()) {
    const Model = models[`${obj.apiVersion}/${obj.kind}`];
    assert.ok(Model, `${file}: no validator for ${obj.apiVersion} ${obj.kind}`);
    try {
      new Model(obj as never).validate();
    } catch (err) {
      assert.fail(`${file}: ${obj.kind}/${obj.metadata.name}: ${(err as Error).message}`);
    }
    if (obj.metadata.namespace)
      assert.ok(namespaces.has(obj.metadata.namespace), `${obj.kind} ${obj.metadata.name}`);
  }
});

test('the operator Deployment: the built image, two replicas, probes, restricted and read-only', () => {
  const d = find('Deployment', 'stackanetes-operator');
  assert.ok(d);
  assert.equal(d.spec.replicas, 2);
  const pod = d.spec.template.spec;
  const [c, ...others] = pod.containers;
  assert.equal(others.length, 0);
  assert.equal(c.image, imageReference(defaultImageRegistry, operatorImage, operatorVersion));
  const ports = new Map<string, number>(c.ports.map((p: any) => [p.name, p.containerPort]));
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
  assert.ok(c.args.includes(`--metrics-port=${ports.get('metrics')}`));
  assert.ok(c.args.includes(`--dashboard-port=${ports.get('dashboard')}`));
  assert.ok(c.args.includes('--lease-namespace=stackanetes-system'));
  // Every argument is an option of `stackanetes operator` (a typo would stop the pod at start).
  const program = new Command();
  registerOperator(program);
  const known = program.commands.find((x) => x.name() === 'operator')!.options.map((o) => o.long);
  for (const a of c.args.slice(1)) assert.ok(known.includes(a.split('=')[0]), `${a} is an option`);
  // The scan's cache and scratch space are on a writable volume (the root file system is not).
  const cache = /^--scan-cache=(.*)$/.exec(
    c.args.find((a: string) => a.startsWith('--scan-cache=')),
  )?.[1];
  const tmp = c.env.find((e: any) => e.name === 'TMPDIR')?.value;
  for (const dir of [cache, tmp]) {
    assert.ok(
      c.volumeMounts.some((m: any) => dir === m.mountPath || dir?.startsWith(`${m.mountPath}/`)),
      `${dir} is on a mounted volume`,
    );
  }
  // The "restricted" Pod Security Standard, which the namespace enforces.
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, operatorUid);
  assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(
    find('Namespace', 'stackanetes-system')?.metadata.labels?.[
      'pod-security.kubernetes.io/enforce'
    ],
    'restricted',
  );
  const svc = find('Service', 'stackanetes-dashboard');
  assert.equal(
    svc?.spec.ports[0].targetPort,
    'dashboard',
    'the Service reaches the dashboard port',
  );
  assert.deepEqual(svc?.spec.selector, d.spec.selector.matchLabels);
});

test('the operator outranks every pod of a cloud (so none preempts it) and preempts nothing', () => {
  const pc = find('PriorityClass', 'stackanetes-operator') as
    (ReturnType<typeof find> & { value: number; preemptionPolicy?: string }) | undefined;
  assert.ok(pc, 'deploy/ installs the PriorityClass the Deployment names');
  const d = find('Deployment', 'stackanetes-operator') as
    { spec: { template: { spec: { priorityClassName?: string } } } } | undefined;
  assert.equal(d?.spec.template.spec.priorityClassName, 'stackanetes-operator');
  const classes = renderExample('production').filter((o) => o.kind === 'PriorityClass');
  assert.ok(classes.length > 0, 'a cloud renders its PriorityClasses');
  const highest = Math.max(...classes.map((c) => (c as unknown as { value: number }).value));
  assert.ok(pc.value > highest, `${pc.value} above the clouds' ${highest}`);
  assert.equal(pc.preemptionPolicy, 'Never');
});

test('the operator version is the package version (the image tag the Deployment names)', () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
  assert.equal(operatorVersion, pkg.version);
});

test('the ClusterRole lets the operator and its dashboard watch and write what they do', () => {
  const role = find('ClusterRole', 'stackanetes-operator');
  assert.ok(role);
  const allows = (apiVersion: string, kind: string, verbs: string[]) => {
    const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
    const resource = resourceInfo(apiVersion, kind).plural;
    const granted = new Set(
      (role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[])
        .filter((r) => r.apiGroups.includes(group!) && r.resources.includes(resource))
        .flatMap((r) => r.verbs),
    );
    for (const v of verbs) assert.ok(granted.has(v), `${v} ${resource} (${apiVersion})`);
  };
  for (const [apiVersion, kind] of ownedKinds)
    allows(apiVersion, kind, ['get', 'list', 'watch', 'create', 'patch', 'delete']);
  allows('stackanetes.io/v1alpha1', 'OpenStackCloud', ['get', 'list', 'watch']);
  allows('v1', 'Pod', ['get', 'list', 'watch']);
  // The reconciler records Events; the dashboard reads them back for its timeline.
  allows('v1', 'Event', ['create', 'list', 'watch']);
  // The dashboard's token Secret: created when missing, watched for rotation.
  allows('v1', 'Secret', ['get', 'create', 'list', 'watch']);
});

test('node health: nodes patched (the taint), Leases read in kube-node-lease only', () => {
  const role = find('ClusterRole', 'stackanetes-operator');
  assert.ok(role);
  const rules = role.rules as { apiGroups: string[]; resources: string[]; verbs: string[] }[];
  const verbs = (group: string, resource: string) =>
    new Set(
      rules
        .filter((r) => r.apiGroups.includes(group) && r.resources.includes(resource))
        .flatMap((r) => r.verbs),
    );
  for (const v of ['get', 'list', 'watch', 'patch']) assert.ok(verbs('', 'nodes').has(v), v);
  assert.ok(!verbs('', 'nodes').has('delete'));
  // Cluster-wide, Leases are only read one by one (another operator's); listed and watched
  // only where the kubelets keep theirs.
  assert.deepEqual([...verbs('coordination.k8s.io', 'leases')], ['get']);
  const leases = find('Role', 'stackanetes-operator-node-leases');
  assert.ok(leases);
  assert.equal(leases.metadata.namespace, 'kube-node-lease');
  assert.deepEqual(leases.rules, [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'list', 'watch'] },
  ]);
  const binding = find('RoleBinding', 'stackanetes-operator-node-leases');
  assert.ok(binding);
  assert.deepEqual(binding.subjects, [
    { kind: 'ServiceAccount', name: 'stackanetes-operator', namespace: 'stackanetes-system' },
  ]);
});
