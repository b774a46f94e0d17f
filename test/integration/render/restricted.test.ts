// Pod Security as the real API server (Kubernetes 1.33) enforces it, on the two namespaces render
// makes for a cloud (src/render/namespaces.ts): its own, labelled to enforce "restricted", and its
// data plane's, `<namespace>-dataplane`, "privileged". Every object rendered for each example is
// accepted in the namespace it names, and so is a pod made from each of its pod templates
// (admission checks pods, not the workloads that make them: a Deployment is accepted whatever its
// template says); a deliberately privileged pod, and the data plane's pods, are refused in the
// cloud's namespace and accepted in the data plane's. Server-side dry runs; only the two
// namespaces and the ServiceAccounts, which pod admission looks up, are created for real (under a
// name of the test's own, deleted after).
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cloudObjects } from '../../../src/cli/render.ts';
import { secretAsData } from '../../../src/controller/compare.ts';
import type { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { dataPlaneNamespace, podSecurityEnforceLabel } from '../../../src/render/namespaces.ts';
import { client, deleteNamespace, skip } from '../kube/helpers.ts';
import { fixedSecrets, loadExample } from '../../unit/render/fixtures.ts';
import { podTemplateOf } from '../../unit/podsecurity.ts';

/** The workloads on the hosts: they need host networking, host paths or privileges. */
const dataPlane = new Set([
  'ovn-openvswitch',
  'ovn-controller',
  'neutron-ovn-metadata-agent',
  'nova-compute',
  // libvirtd and virtlogd, beside nova-compute on the same nodes (all three examples use libvirt).
  'nova-libvirt',
]);

let c: KubeClient;
/** The cloud's namespace, enforcing "restricted", and its data plane's, allowing privileged pods. */
let restricted = '';
let privileged = '';

before(async () => {
  if (skip) return;
  c = await client();
  restricted = `psa-${randomBytes(3).toString('hex')}`;
  privileged = dataPlaneNamespace(restricted);
  // The two namespaces as render makes them (applied for real: the dry runs need them), with
  // the enforce labels of its own, which this test checks.
  const namespaces = cloudObjects(loadExample('minimal'), fixedSecrets(), {
    namespace: restricted,
  }).filter((o) => o.kind === 'Namespace');
  assert.deepEqual(
    namespaces.map((n) => [n.metadata.name, n.metadata.labels?.[podSecurityEnforceLabel]]),
    [
      [restricted, 'restricted'],
      [privileged, 'privileged'],
    ],
  );
  for (const n of namespaces) await c.apply(n);
});

after(async () => {
  if (skip) return;
  await deleteNamespace(c, restricted);
  await deleteNamespace(c, privileged);
  c.close();
});

/** A pod as its workload's controller would make it, for admission. */
function podFrom(o: KubeObject, ns: string): KubeObject {
  const t = podTemplateOf(o)!;
  const spec = structuredClone(t.spec);
  // The PriorityClasses are cluster-wide and may not exist yet; Pod Security does not read them.
  delete spec.priorityClassName;
  // A StatefulSet's pods get a volume for each claim template.
  for (const claim of ((o as any).spec?.volumeClaimTemplates ?? []) as {
    metadata: { name: string };
  }[]) {
    spec.volumes = [
      ...(spec.volumes ?? []),
      {
        name: claim.metadata.name,
        persistentVolumeClaim: { claimName: `${claim.metadata.name}-${o.metadata.name}-0` },
      },
    ];
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${o.kind.toLowerCase()}-${o.metadata.name}`,
      namespace: ns,
      labels: t.metadata?.labels ?? {},
    },
    spec,
  };
}

async function createServiceAccounts(objects: readonly KubeObject[]): Promise<void> {
  for (const o of objects.filter((x) => x.kind === 'ServiceAccount')) {
    await c.apply(o);
  }
}

async function refusals(objects: readonly KubeObject[]): Promise<string[]> {
  const out: string[] = [];
  for (const o of objects) {
    try {
      if (o.kind === 'Pod') await c.create(o, { dryRun: true });
      else await c.apply(o, { dryRun: true });
    } catch (err) {
      out.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
    }
  }
  return out;
}

for (const name of ['minimal', 'ha', 'production'] as const) {
  test(
    `examples/${name}.yaml: every object, and a pod of each of its templates, is admitted in the namespace it names (the cloud's enforcing "restricted", the data plane's "privileged")`,
    { skip },
    async () => {
      const objects = cloudObjects(loadExample(name), fixedSecrets(), { namespace: restricted });
      const inNamespace = (ns: string) => objects.filter((o) => o.metadata.namespace === ns);
      const hosts = inNamespace(privileged).filter((o) => podTemplateOf(o));
      assert.deepEqual(
        hosts.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
        [...dataPlane].map((d) => `DaemonSet/${d}`).sort(),
        'the data plane, in its own namespace',
      );
      assert.deepEqual(
        objects
          .filter((o) => o.metadata.namespace !== restricted && o.metadata.namespace !== privileged)
          .map((o) => o.kind)
          .sort(),
        ['Namespace', 'Namespace', 'PriorityClass', 'PriorityClass', 'PriorityClass'],
        'cluster-scoped: the two namespaces and the PriorityClasses only',
      );
      await createServiceAccounts(objects);
      const pods = objects
        .filter((o) => podTemplateOf(o))
        .map((o) => podFrom(o, o.metadata.namespace!));
      const refused = await refusals([...objects.map((o) => secretAsData(o)), ...pods]);
      console.log(
        `${name}: ${objects.length} objects (${inNamespace(restricted).length} in ${restricted}, ${inNamespace(privileged).length} in ${privileged}) and ${pods.length} pods; ${refused.length} refused`,
      );
      assert.deepEqual(refused, []);
    },
  );
}

test(
  'the data plane’s pods are refused where "restricted" is enforced: they need their own namespace',
  { skip },
  async () => {
    const objects = cloudObjects(loadExample('production'), fixedSecrets(), {
      namespace: restricted,
    });
    await createServiceAccounts(objects);
    const hosts = objects.filter((o) => o.metadata.namespace === privileged && podTemplateOf(o));
    assert.equal(hosts.length, dataPlane.size);
    // Each of them put in the cloud's namespace (its ServiceAccount is there too: the services
    // share theirs with their APIs).
    const refused = await refusals(hosts.map((o) => podFrom(o, restricted)));
    assert.equal(refused.length, dataPlane.size, refused.join('\n'));
    for (const r of refused) assert.match(r, /violates PodSecurity "restricted/);
  },
);

test(
  'a deliberately privileged pod is refused where "restricted" is enforced, naming what it violates',
  { skip },
  async () => {
    const pod = (ns: string): KubeObject => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'privileged', namespace: ns },
      spec: {
        containers: [
          {
            name: 'shell',
            image: 'localhost:5001/stackanetes/toolbox:2025.1',
            command: ['sleep', 'infinity'],
            securityContext: { privileged: true },
          },
        ],
      },
    });
    const err = await c.create(pod(restricted), { dryRun: true }).then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(err, 'the privileged pod was admitted');
    assert.match(err.message, /403/);
    assert.match(err.message, /violates PodSecurity "restricted:latest"/);
    assert.match(err.message, /privileged/);
    // The same pod in the data plane's namespace, where privileged pods are allowed: the refusal
    // was Pod Security's.
    await c.create(pod(privileged), { dryRun: true });
  },
);
