// Pod Security as the real API server (Kubernetes 1.33) enforces it: in a namespace labelled
// `pod-security.kubernetes.io/enforce: restricted`, every object rendered for the control plane of
// each example is accepted, and so is a pod made from each of its pod templates (admission checks
// pods, not the workloads that make them: a Deployment is accepted whatever its template says);
// a deliberately privileged pod, and the data plane's pods, are refused there and accepted where
// the namespace allows privileged pods. Server-side dry runs; only the ServiceAccounts, which pod
// admission looks up, are created for real (in namespaces of the test's own, deleted after).
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cloudObjects } from '../../../src/cli/render.ts';
import { secretAsData } from '../../../src/controller/compare.ts';
import type { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { client, deleteNamespace, skip } from '../kube/helpers.ts';
import { fixedSecrets, loadExample } from '../../unit/render/fixtures.ts';
import { podTemplateOf } from '../../unit/podsecurity.ts';

/** The workloads on the hosts: they need host networking, host paths or privileges. */
const dataPlane = new Set([
  'ovn-openvswitch',
  'ovn-controller',
  'neutron-ovn-metadata-agent',
  'nova-compute',
]);

let c: KubeClient;
let restricted = '';
let privileged = '';

async function namespace(prefix: string, level: 'restricted' | 'privileged'): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await c.create({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels: {
        'pod-security.kubernetes.io/enforce': level,
        'pod-security.kubernetes.io/enforce-version': 'latest',
      },
    },
  });
  return name;
}

before(async () => {
  if (skip) return;
  c = await client();
  restricted = await namespace('psa-restricted', 'restricted');
  privileged = await namespace('psa-privileged', 'privileged');
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
    `examples/${name}.yaml: the control plane's objects, and a pod of each of its templates, are admitted where "restricted" is enforced`,
    { skip },
    async () => {
      const objects = cloudObjects(loadExample(name), fixedSecrets(), { namespace: restricted });
      const control = objects.filter((o) => !dataPlane.has(o.metadata.name));
      await createServiceAccounts(control);
      const pods = control.filter((o) => podTemplateOf(o)).map((o) => podFrom(o, restricted));
      const refused = await refusals([...control.map((o) => secretAsData(o)), ...pods]);
      console.log(
        `${name}: ${control.length} objects and ${pods.length} pods; ${refused.length} refused`,
      );
      assert.deepEqual(refused, []);
    },
  );
}

test(
  'the data plane is refused where "restricted" is enforced, and admitted where privileged pods are allowed',
  { skip },
  async () => {
    for (const ns of [restricted, privileged]) {
      const objects = cloudObjects(loadExample('production'), fixedSecrets(), { namespace: ns });
      await createServiceAccounts(objects);
      const hosts = objects.filter((o) => dataPlane.has(o.metadata.name));
      assert.equal(hosts.length, dataPlane.size);
      const refused = await refusals(hosts.map((o) => podFrom(o, ns)));
      if (ns === privileged) assert.deepEqual(refused, []);
      else {
        assert.equal(refused.length, dataPlane.size, refused.join('\n'));
        for (const r of refused) assert.match(r, /violates PodSecurity "restricted/);
      }
    }
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
    // The same pod where privileged pods are allowed: the refusal was Pod Security's.
    await c.create(pod(privileged), { dryRun: true });
  },
);
