// The operator as Kubernetes users install it (`kubectl apply -k deploy/`, which `stackanetes up`
// does once the operator image is built): two replicas from the operator image, non-root on a
// read-only root file system; one holds the Lease. Deleting the leader pod hands the Lease to the
// other replica, and reconciling goes on: a deleted Horizon Deployment comes back. Skipped when the
// operator runs as a host process (no operator image built).
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { KubeObject } from '../../src/render/kube.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import { client, cloudReady, isReady, kubectl, namespace, skip, until } from './helpers.ts';

const ns = process.env.STACKANETES_OPERATOR_NAMESPACE ?? 'stackanetes-system';
const deployment = 'stackanetes-operator';

async function operatorPods(): Promise<KubeObject[]> {
  const c = await client();
  return (
    await c.list('v1', 'Pod', {
      namespace: ns,
      labelSelector: `app.kubernetes.io/name=${deployment}`,
    })
  ).items.filter((p) => !p.metadata.deletionTimestamp);
}

async function leaseHolder(): Promise<string | undefined> {
  const c = await client();
  const lease = await c.get('coordination.k8s.io/v1', 'Lease', deployment, ns);
  return (lease.spec as { holderIdentity?: string }).holderIdentity || undefined;
}

let installed: string | false = false;

describe('the operator installed from deploy/', { skip, timeout: 1_800_000 }, () => {
  before(async () => {
    const c = await client();
    try {
      await c.get('apps/v1', 'Deployment', deployment, ns);
      installed = false;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      installed = `no Deployment ${ns}/${deployment}: the operator runs on the host (build the operator image: npx stackanetes images build --only operator)`;
    }
  });

  test('two Ready replicas run the operator image, non-root, on a read-only root file system', async (t) => {
    if (installed) return t.skip(installed);
    const ready = await until(
      async () => {
        const p = (await operatorPods()).filter(isReady);
        return p.length >= 2 && p;
      },
      'two Ready operator pods',
      300_000,
      2000,
    );
    const pod = ready[0]!;
    const spec = pod.spec as { containers: { image: string }[] };
    assert.match(spec.containers[0]!.image, /\/operator:/);
    // Inside the container: who it runs as, and that / cannot be written.
    const out = await kubectl([
      '-n',
      ns,
      'exec',
      pod.metadata.name,
      '--',
      '/opt/stackanetes/bin/node',
      '-e',
      "let w='writable';try{require('fs').writeFileSync('/opt/stackanetes/x','')}catch(e){w=e.code}console.log(process.getuid(),w,process.version)",
    ]);
    const [uid, write, version] = out.trim().split(' ');
    assert.notEqual(uid, '0', 'not root');
    assert.equal(write, 'EROFS', 'the root file system is read-only');
    assert.match(version!, /^v24\./);
  });

  test('deleting the leader pod hands the Lease to the other replica, and reconciling goes on', async (t) => {
    if (installed) return t.skip(installed);
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
    const pods = await operatorPods();
    const leader = await until(
      async () => {
        const h = await leaseHolder();
        return h && pods.some((p) => p.metadata.name === h) && h;
      },
      'an operator pod holding the Lease',
      120_000,
      1000,
    );
    const c = await client();
    const t0 = Date.now();
    await c.delete('v1', 'Pod', leader, ns);
    const next = await until(
      async () => {
        const h = await leaseHolder();
        return h && h !== leader && h;
      },
      `another replica to take the Lease from ${leader}`,
      180_000,
      500,
    );
    console.log(
      `# ${next} leads ${((Date.now() - t0) / 1000).toFixed(1)} s after ${leader} was deleted`,
    );
    assert.ok(next.startsWith(`${deployment}-`), `${next} is an operator pod`);

    // The new leader reconciles: a Deployment of the cloud deleted by hand comes back.
    const before = await c.get('apps/v1', 'Deployment', 'horizon-server', namespace);
    await c.delete('apps/v1', 'Deployment', 'horizon-server', namespace);
    await until(
      async () => {
        try {
          const d = await c.get('apps/v1', 'Deployment', 'horizon-server', namespace);
          return d.metadata.uid !== before.metadata.uid && d;
        } catch (err) {
          if (isNotFound(err)) return false;
          throw err;
        }
      },
      'the new leader to recreate the Horizon Deployment',
      300_000,
      1000,
    );
    await until(() => cloudReady(), 'the cloud Ready again', 15 * 60_000, 2000);
    // And the replica set is whole again.
    await until(
      async () => (await operatorPods()).filter(isReady).length >= 2,
      'two Ready operator pods again',
      300_000,
      2000,
    );
  });
});
