// What `kubectl apply --dry-run=server` would say: every object rendered from both examples is
// accepted by the real API server (Kubernetes 1.33) with strict field validation.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { render } from '../../../src/render/index.ts';
import { secretAsData } from '../../../src/controller/compare.ts';
import type { KubeClient, KubeObj } from '../../../src/kube/client.ts';
import { client, deleteNamespace, makeNamespace, skip } from '../kube/helpers.ts';
import { fixedSecrets, loadExample } from '../../unit/render/fixtures.ts';

let c: KubeClient;
let ns = '';

before(async () => {
  if (skip) return;
  c = await client();
  ns = await makeNamespace(c, 'dry');
});

after(async () => {
  if (skip) return;
  await deleteNamespace(c, ns);
  c.close();
});

for (const name of ['minimal', 'ha'] as const) {
  test(`the API server accepts every object of examples/${name}.yaml (server-side dry run, strict)`, { skip }, async () => {
    const objects = render(loadExample(name), fixedSecrets(), { namespace: ns });
    const refused: string[] = [];
    for (const o of objects) {
      try {
        await c.apply(secretAsData(o) as unknown as KubeObj, { dryRun: true });
      } catch (err) {
        refused.push(`${o.kind}/${o.metadata.name}: ${(err as Error).message}`);
      }
    }
    console.log(`${name}: ${objects.length - refused.length}/${objects.length} objects accepted`);
    assert.deepEqual(refused, []);
  });
}
