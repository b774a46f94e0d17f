// What `kubectl apply --dry-run=server` would say: every object rendered from both examples is
// accepted by the real API server (Kubernetes 1.33) with strict field validation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { cloudObjects } from '../../../src/cli/render.ts';
import { secretAsData } from '../../../src/controller/compare.ts';
import type { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { dataPlaneNamespace } from '../../../src/render/namespaces.ts';
import { client, deleteNamespace, makeNamespace, skip } from '../kube/helpers.ts';
import { fixedSecrets, loadExample } from '../../unit/render/fixtures.ts';

let c: KubeClient;
let ns = '';

before(async () => {
  if (skip) return;
  c = await client();
  ns = await makeNamespace(c, 'dry');
  // The cloud's data plane goes in a namespace of its own (src/render/namespaces.ts).
  await c.create({
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: dataPlaneNamespace(ns) },
  });
});

after(async () => {
  if (skip) return;
  await deleteNamespace(c, ns);
  await deleteNamespace(c, dataPlaneNamespace(ns));
  c.close();
});

test(
  'the API server accepts the operator’s Deployment and RBAC (server-side dry run, strict)',
  { skip },
  async () => {
    const docs = ['namespace', 'priority', 'rbac', 'deployment'].flatMap((f) =>
      parseAllDocuments(readFileSync(`deploy/operator/${f}.yaml`, 'utf8')).map(
        (d) => d.toJS() as KubeObject,
      ),
    );
    const refused: string[] = [];
    for (const d of docs) {
      // The namespace may not exist yet: a dry run of namespaced objects needs it, so put them in ours.
      const o = d.metadata.namespace ? { ...d, metadata: { ...d.metadata, namespace: ns } } : d;
      const named =
        o.kind === 'ClusterRoleBinding'
          ? {
              ...o,
              subjects: [{ kind: 'ServiceAccount', name: 'stackanetes-operator', namespace: ns }],
            }
          : o;
      await c
        .apply(named, { dryRun: true })
        .catch((err: Error) => refused.push(`${o.kind}/${o.metadata.name}: ${err.message}`));
    }
    assert.deepEqual(refused, []);
  },
);

for (const name of ['minimal', 'ha', 'production'] as const) {
  test(
    `the API server accepts every object of examples/${name}.yaml (server-side dry run, strict)`,
    { skip },
    async () => {
      const objects = cloudObjects(loadExample(name), fixedSecrets(), { namespace: ns });
      const refused: string[] = [];
      for (const o of objects) {
        try {
          await c.apply(secretAsData(o), { dryRun: true });
        } catch (err) {
          refused.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
        }
      }
      console.log(`${name}: ${objects.length - refused.length}/${objects.length} objects accepted`);
      assert.deepEqual(refused, []);
    },
  );
}
