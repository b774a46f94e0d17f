// A cloud's two namespaces (src/render/namespaces.ts): the control plane in the cloud's own,
// enforcing Pod Security "restricted"; the data plane — the DaemonSets and what their pods name —
// in `<namespace>-dataplane`, which allows privileged pods. Each pod finds what it names in its
// own namespace, nothing crosses namespaces by owner reference, and the data plane reaches the
// control plane's Services by names that carry their namespace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObject } from '../../../src/api/v1alpha1/validate.ts';
import type { OpenStackCloud } from '../../../src/api/v1alpha1/spec.ts';
import { cloudObjects } from '../../../src/cli/render.ts';
import { render } from '../../../src/render/index.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import {
  cloudNamespaceLabel,
  dataPlaneNamespace,
  maxCloudNamespaceLength,
  podSecurityEnforceLabel,
} from '../../../src/render/namespaces.ts';
import { podTemplateOf } from '../podsecurity.ts';
import { cloudOf, fixedSecrets, loadExample } from './fixtures.ts';

const secrets = fixedSecrets();
const examples = ['minimal', 'ha', 'production'] as const;
/** Not the examples' namespace: nothing may assume `openstack`. */
const ns = 'tenant-a';
const dp = dataPlaneNamespace(ns);
const clusterScoped = new Set(['Namespace', 'PriorityClass']);

/** A cloud as the operator sees it: with a UID, so that its objects name it as their owner. */
function owned(cloud: OpenStackCloud): OpenStackCloud {
  const c = structuredClone(cloud);
  (c.metadata as Record<string, unknown>).uid = '0b6f6a52-6e4e-4b8e-9d4c-2f0c1d1b8a01';
  return c;
}

/** The examples and a cloud with Nova's fake driver: [what, the cloud, its objects]. */
function clouds(): [string, OpenStackCloud, KubeObject[]][] {
  const all: [string, OpenStackCloud][] = [
    ...examples.map((e): [string, OpenStackCloud] => [e, loadExample(e)]),
    ['fake driver', cloudOf({ services: { nova: { computeDriver: 'fake' } } })],
  ];
  return all.map(([what, cloud]) => [
    what,
    cloud,
    cloudObjects(owned(cloud), secrets, { namespace: ns }),
  ]);
}

/** What a pod names and must find in its own namespace (written apart from render's own). */
function referenced(spec: Record<string, any>): string[] {
  const out: string[] = [];
  if (spec.serviceAccountName) out.push(`ServiceAccount/${spec.serviceAccountName}`);
  for (const v of spec.volumes ?? []) {
    if (v.secret) out.push(`Secret/${v.secret.secretName}`);
    if (v.configMap) out.push(`ConfigMap/${v.configMap.name}`);
    for (const s of v.projected?.sources ?? []) {
      if (s.secret) out.push(`Secret/${s.secret.name}`);
      if (s.configMap) out.push(`ConfigMap/${s.configMap.name}`);
    }
  }
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    for (const e of c.env ?? []) {
      if (e.valueFrom?.secretKeyRef) out.push(`Secret/${e.valueFrom.secretKeyRef.name}`);
      if (e.valueFrom?.configMapKeyRef) out.push(`ConfigMap/${e.valueFrom.configMapKeyRef.name}`);
    }
    for (const e of c.envFrom ?? []) {
      if (e.secretRef) out.push(`Secret/${e.secretRef.name}`);
      if (e.configMapRef) out.push(`ConfigMap/${e.configMapRef.name}`);
    }
  }
  return out;
}

const key = (o: KubeObject) => `${o.kind}/${o.metadata.name}`;

test('the data plane is in its own namespace: every DaemonSet, without owners, naming its cloud by labels', () => {
  for (const [name, cloud, objs] of clouds()) {
    const daemonSets = objs.filter((o) => o.kind === 'DaemonSet');
    assert.ok(daemonSets.length >= 4, `${name}: ${daemonSets.length} DaemonSets`);
    for (const o of daemonSets) assert.equal(o.metadata.namespace, dp, `${name}: ${key(o)}`);
    for (const o of objs) {
      const where = `${name}: ${key(o)} in ${o.metadata.namespace}`;
      if (clusterScoped.has(o.kind)) {
        assert.equal(o.metadata.namespace, undefined, where);
        assert.equal(o.metadata.ownerReferences, undefined, where);
      } else if (o.metadata.namespace === dp) {
        assert.equal(o.metadata.ownerReferences, undefined, `${where} has an owner`);
        assert.equal(o.metadata.labels?.[cloudNamespaceLabel], ns, where);
        assert.equal(o.metadata.labels?.['app.kubernetes.io/instance'], cloud.metadata.name, where);
        assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'stackanetes', where);
        // Their pods too: the dashboard and `status` tell a pod's cloud by it.
        const template = (o.spec as { template?: { metadata?: { labels?: object } } } | undefined)
          ?.template;
        if (template)
          assert.equal(
            (template.metadata?.labels as Record<string, string> | undefined)?.[
              cloudNamespaceLabel
            ],
            ns,
            `${where}: its pods`,
          );
      } else {
        assert.equal(o.metadata.namespace, ns, where);
        // Glance's images outlive the cloud when the spec retains volumes: no owner, as before.
        if (!(o.kind === 'PersistentVolumeClaim' && cloud.spec.retainVolumesOnDelete))
          assert.equal(o.metadata.ownerReferences?.length, 1, `${where} has no owner`);
        assert.equal(o.metadata.labels?.[cloudNamespaceLabel], undefined, where);
      }
    }
  }
});

test('every Secret, ConfigMap and ServiceAccount a pod names is in the pod’s namespace; what both planes name is in both', () => {
  for (const [name, , objs] of clouds()) {
    const have = new Set(objs.map((o) => `${o.metadata.namespace}/${key(o)}`));
    const usedIn = new Map<string, Set<string>>();
    for (const o of objs) {
      const t = podTemplateOf(o);
      if (!t) continue;
      for (const r of referenced(t.spec)) {
        assert.ok(
          have.has(`${o.metadata.namespace}/${r}`),
          `${name}: ${key(o)} in ${o.metadata.namespace} names ${r}, which is not there`,
        );
        usedIn.set(r, (usedIn.get(r) ?? new Set()).add(o.metadata.namespace!));
      }
    }
    // Nothing is left or copied where no pod names it: a ServiceAccount, Secret or ConfigMap of
    // the data plane is in the cloud's namespace too only when a control-plane pod names it.
    for (const o of objs.filter((x) => x.metadata.namespace === dp)) {
      if (o.kind === 'DaemonSet') continue;
      assert.ok(usedIn.get(key(o))?.has(dp), `${name}: ${key(o)} is in ${dp} for no pod`);
      assert.equal(
        have.has(`${ns}/${key(o)}`),
        usedIn.get(key(o))!.has(ns),
        `${name}: ${key(o)} in ${ns}`,
      );
    }
  }
  // The services' ServiceAccounts, used by their APIs and by their agents on the hosts.
  const objs = cloudObjects(loadExample('minimal'), secrets, { namespace: ns });
  for (const sa of ['ovn', 'neutron', 'nova']) {
    const where = objs
      .filter((o) => o.kind === 'ServiceAccount' && o.metadata.name === sa)
      .map((o) => o.metadata.namespace);
    assert.deepEqual(where, [ns, dp], sa);
  }
  const compute = objs.filter((o) => o.metadata.name === 'nova-compute-config');
  assert.deepEqual(
    compute.map((o) => `${o.kind} in ${o.metadata.namespace}`),
    [`Secret in ${dp}`],
  );
});

test('the data plane names the control plane’s Services with their namespace, never by a short name', () => {
  for (const [name, , objs] of clouds()) {
    const services = objs.filter((o) => o.kind === 'Service').map((o) => o.metadata.name);
    assert.ok(services.includes('ovn-sb-db') && services.includes('rabbitmq'), name);
    for (const o of objs.filter((x) => x.metadata.namespace === dp)) {
      const text =
        o.kind === 'Secret' || o.kind === 'ConfigMap'
          ? Object.values((o.stringData ?? o.data ?? {}) as Record<string, string>).join('\n')
          : JSON.stringify(o.spec ?? {});
      for (const svc of services) {
        const re = new RegExp(`(?<![-\\w.])${svc}(?![-\\w])`, 'g');
        for (const m of text.matchAll(re)) {
          const after = text.slice(m.index + svc.length);
          assert.ok(
            after.startsWith(`.${ns}.svc`),
            `${name}: ${key(o)} names ${svc} without its namespace: …${text.slice(m.index, m.index + svc.length + 30)}`,
          );
        }
      }
    }
  }
  // The ones the hosts' agents need.
  const objs = cloudObjects(loadExample('minimal'), secrets, { namespace: ns });
  const data = (name: string) =>
    Object.values(
      objs.find((o) => o.kind === 'Secret' && o.metadata.name === name)!.stringData as object,
    ).join('\n');
  assert.match(data('ovn-controller-config'), new RegExp(`ovn-sb-db\\.${ns}\\.svc`));
  const agent = data('neutron-ovn-metadata-agent-config');
  assert.match(agent, new RegExp(`nova_metadata_host = nova-metadata\\.${ns}\\.svc`));
  assert.match(agent, new RegExp(`ovn_sb_connection = tcp:ovn-sb-db\\.${ns}\\.svc`));
  const nova = data('nova-compute-config');
  assert.match(nova, new RegExp(`transport_url = rabbit://.*@rabbitmq\\.${ns}\\.svc:`));
  assert.match(nova, new RegExp(`auth_url = http://keystone-api\\.${ns}\\.svc:`));
  assert.match(nova, new RegExp(`memcache_servers = memcached-0\\.memcached\\.${ns}\\.svc:`));
});

test('the cloud’s two namespaces come first: its own enforcing "restricted", its data plane’s "privileged"', () => {
  const cloud = owned(loadExample('minimal'));
  const objs = cloudObjects(cloud, secrets, { namespace: ns });
  const namespaces = objs.filter((o) => o.kind === 'Namespace');
  assert.deepEqual(
    objs.slice(0, 2).map((o) => `${o.kind}/${o.metadata.name}`),
    [`Namespace/${ns}`, `Namespace/${dp}`],
  );
  assert.equal(namespaces.length, 2);
  const [own, data] = namespaces as [KubeObject, KubeObject];
  for (const n of namespaces) assert.equal(n.metadata.ownerReferences, undefined);
  assert.equal(own.metadata.labels?.[podSecurityEnforceLabel], 'restricted');
  // The cloud's own namespace is the user's: nothing that would let it be pruned with the cloud.
  assert.equal(own.metadata.labels?.['app.kubernetes.io/instance'], undefined);
  assert.deepEqual(data.metadata.labels, {
    'app.kubernetes.io/instance': 'minimal',
    'app.kubernetes.io/part-of': 'stackanetes',
    'app.kubernetes.io/managed-by': 'stackanetes',
    'stackanetes.io/component': 'database',
    [cloudNamespaceLabel]: ns,
    [podSecurityEnforceLabel]: 'privileged',
  });
  // With the first component of the plan, beside the PriorityClasses.
  const rendered = render(cloud, secrets, ['database', 'messaging', 'cache', 'keystone'], {
    namespace: ns,
  });
  assert.deepEqual(
    rendered
      .get('database')!
      .filter((o) => o.kind === 'Namespace')
      .map((o) => o.metadata.name),
    [ns, dp],
  );
  for (const c of ['messaging', 'cache', 'keystone'] as const)
    assert.ok(!rendered.get(c)!.some((o) => o.kind === 'Namespace'), c);
});

test('the database, the queue and the cache admit their clients from the data plane’s namespace too', () => {
  const objs = cloudObjects(loadExample('minimal'), secrets, { namespace: ns });
  const policies = objs.filter((o) => o.kind === 'NetworkPolicy') as Record<string, any>[];
  assert.equal(policies.length, 3);
  for (const np of policies) {
    const clients = np.spec.ingress[0].from;
    assert.equal(clients.length, 2, np.metadata.name);
    assert.equal(clients[0].namespaceSelector, undefined, 'the cloud’s own namespace');
    assert.deepEqual(clients[1].namespaceSelector, {
      matchLabels: { 'kubernetes.io/metadata.name': dp },
    });
    assert.deepEqual(clients[1].podSelector, clients[0].podSelector, np.metadata.name);
  }
});

test('host-network agents reach the queue and the cache from spec.nodeNetworks; the database admits no address', () => {
  const objs = cloudObjects(loadExample('ha'), secrets, { namespace: ns });
  const from = (name: string) =>
    (
      objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === name) as Record<
        string,
        any
      >
    ).spec.ingress[0].from as Record<string, unknown>[];
  for (const name of ['rabbitmq-clients', 'memcached-clients'])
    assert.deepEqual(from(name).at(-1), { ipBlock: { cidr: '10.243.0.0/24' } }, name);
  assert.ok(from('mariadb-clients').every((f) => !('ipBlock' in f)));
  const invalid = validateObject({
    apiVersion: 'stackanetes.io/v1alpha1',
    kind: 'OpenStackCloud',
    metadata: { name: 'test', namespace: 'openstack' },
    spec: { release: '2025.1', nodeNetworks: ['10.243.0.0'] },
  });
  assert.equal(invalid.ok, false);
  if (!invalid.ok) assert.equal(invalid.problems[0]?.path, 'spec.nodeNetworks[0]');
});

test('a namespace that leaves no room for its data plane’s is refused, by validation and by render', () => {
  const at = (namespace: string) =>
    validateObject({
      apiVersion: 'stackanetes.io/v1alpha1',
      kind: 'OpenStackCloud',
      metadata: { name: 'test', namespace },
      spec: { release: '2025.1' },
    });
  assert.equal(maxCloudNamespaceLength, 53);
  assert.equal(at('a'.repeat(maxCloudNamespaceLength)).ok, true);
  const r = at('a'.repeat(maxCloudNamespaceLength + 1));
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.equal(r.problems.length, 1);
    assert.equal(r.problems[0]!.path, 'metadata.namespace');
    assert.match(r.problems[0]!.message, /at most 53 characters \(got 54\)/);
    assert.match(r.problems[0]!.message, /-dataplane/);
  }
  // A namespace given to render (`stackanetes render -n`) is not validated with the spec.
  assert.throws(
    () => cloudObjects(loadExample('minimal'), secrets, { namespace: 'b'.repeat(54) }),
    /at most 53 characters/,
  );
  cloudObjects(loadExample('minimal'), secrets, { namespace: 'b'.repeat(53) });
  // Nor is a data plane's namespace a cloud's: the two clouds would share it.
  const inDataPlane = at('openstack-dataplane');
  assert.equal(inDataPlane.ok, false);
  if (!inDataPlane.ok) {
    assert.equal(inDataPlane.problems[0]!.path, 'metadata.namespace');
    assert.match(inDataPlane.problems[0]!.message, /must not end in "-dataplane".*"openstack"/);
  }
});
