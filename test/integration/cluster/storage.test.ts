// The default StorageClass provisions a volume on the node's disk; a file written to it survives
// the pod that wrote it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apply,
  container,
  deleteNamespace,
  getJson,
  kubectl,
  makeNamespace,
  waitFor,
  type PodList,
} from './helpers.ts';

let ns = '';
before(async () => {
  ns = await makeNamespace('stk-storage');
});
after(async () => {
  await deleteNamespace(ns);
});

const pod = (name: string, script: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: ns },
  spec: {
    restartPolicy: 'Never',
    terminationGracePeriodSeconds: 1,
    containers: [
      container('c', ['sh', '-c', script], {
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
      }),
    ],
    volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
  },
});

async function finished(name: string): Promise<string> {
  const phase = await waitFor(
    `pod ${name} to finish`,
    async () => {
      const p = await getJson<PodList['items'][number]>(['pod', name, '-n', ns]);
      return p.status.phase === 'Succeeded' || p.status.phase === 'Failed'
        ? p.status.phase
        : undefined;
    },
    180_000,
    500,
  );
  const logs = await kubectl(['logs', name, '-n', ns]);
  assert.equal(phase, 'Succeeded', logs);
  return logs;
}

void test('a PVC of the default StorageClass binds and keeps a file across a pod restart', async () => {
  const sc = await getJson<{
    items: { metadata: { name: string; annotations?: Record<string, string> } }[];
  }>(['storageclass']);
  const defaults = sc.items.filter(
    (s) => s.metadata.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true',
  );
  assert.equal(defaults.length, 1, 'exactly one default StorageClass');

  await apply({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'data', namespace: ns },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '64Mi' } } },
  });
  await apply(
    pod('writer', 'echo "written by $(hostname) at $(date +%s)" > /data/proof && cat /data/proof'),
  );
  const written = await finished('writer');

  const pvc = await getJson<{
    spec: { storageClassName?: string; volumeName?: string };
    status: { phase?: string };
  }>(['pvc', 'data', '-n', ns]);
  assert.equal(pvc.status.phase, 'Bound');
  assert.equal(pvc.spec.storageClassName, defaults[0]?.metadata.name);
  assert.ok(pvc.spec.volumeName);

  await kubectl(['delete', 'pod', 'writer', '-n', ns, '--wait=true']);
  await apply(pod('reader', 'cat /data/proof'));
  const read = await finished('reader');
  assert.equal(read.trim(), written.trim());
});
