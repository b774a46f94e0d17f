// Real containers on the real node: a Deployment of the test image becomes Available and heals
// when a pod is deleted; another namespace reaches it through its Service's DNS name; a Job completes.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  apply,
  container,
  deleteNamespace,
  getJson,
  isReady,
  kubectl,
  makeNamespace,
  nodeName,
  seconds,
  waitFor,
  type Condition,
  type PodList,
} from './helpers.ts';

let ns = '';
let clientNs = '';

before(async () => {
  ns = await makeNamespace('stk-web');
  clientNs = await makeNamespace('stk-client');
});
after(async () => {
  await deleteNamespace(ns);
  await deleteNamespace(clientNs);
});

const web = () => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: ns },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [
          container(
            'web',
            [
              'sh',
              '-c',
              'mkdir -p /www && echo "hello from $(hostname)" > /www/index.html && exec busybox httpd -f -p 8080 -h /www',
            ],
            {
              ports: [{ containerPort: 8080 }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
            },
          ),
        ],
      },
    },
  },
});

void test('a 2-replica Deployment of the test image becomes Available on the real node', async () => {
  const t = Date.now();
  await apply(web(), {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: ns },
    spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  await waitFor(
    'Deployment web to be Available with 2 ready replicas',
    async () => {
      const d = await getJson<{ status: { readyReplicas?: number; conditions?: Condition[] } }>([
        'deployment',
        'web',
        '-n',
        ns,
      ]);
      return d.status.readyReplicas === 2 && isReady(d.status.conditions, 'Available');
    },
    180_000,
    500,
  );
  console.log(`# Deployment Available in ${seconds(Date.now() - t)}`);
  const pods = await getJson<PodList>(['pods', '-n', ns, '-l', 'app=web']);
  assert.equal(pods.items.length, 2);
  for (const p of pods.items) assert.equal(p.spec.nodeName, nodeName);
});

void test('deleting a pod gets a replacement Running', async () => {
  const before = await getJson<PodList>(['pods', '-n', ns, '-l', 'app=web']);
  const victim = before.items[0];
  assert.ok(victim);
  const t = Date.now();
  await kubectl(['delete', 'pod', '-n', ns, victim.metadata.name, '--wait=false']);
  const replacement = await waitFor(
    'a replacement pod to be Running and Ready',
    async () => {
      const pods = await getJson<PodList>(['pods', '-n', ns, '-l', 'app=web']);
      return pods.items.find(
        (p) =>
          p.metadata.uid !== victim.metadata.uid &&
          !before.items.some((b) => b.metadata.uid === p.metadata.uid) &&
          p.status.phase === 'Running' &&
          isReady(p.status.conditions),
      );
    },
    120_000,
    200,
  );
  console.log(
    `# replacement pod ${replacement.metadata.name} Running and Ready ${seconds(Date.now() - t)} after the delete`,
  );
});

void test("a pod in another namespace reaches the Deployment's Service by its DNS name", async () => {
  const host = `web.${ns}.svc.cluster.local`;
  await apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'client', namespace: clientNs },
    spec: {
      restartPolicy: 'Never',
      containers: [
        container('client', [
          'bash',
          '-c',
          // bash's /dev/tcp: a plain HTTP/1.0 GET through the Service's name and ClusterIP.
          `for i in $(seq 1 30); do getent hosts ${host} && (exec 3<>/dev/tcp/${host}/80 && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && timeout 5 cat <&3) && exit 0; sleep 1; done; exit 1`,
        ]),
      ],
    },
  });
  const phase = await waitFor(
    'the client pod to finish',
    async () => {
      const p = await getJson<PodList['items'][number]>(['pod', 'client', '-n', clientNs]);
      return p.status.phase === 'Succeeded' || p.status.phase === 'Failed'
        ? p.status.phase
        : undefined;
    },
    120_000,
    500,
  );
  const logs = await kubectl(['logs', 'client', '-n', clientNs]);
  assert.equal(phase, 'Succeeded', logs);
  assert.match(logs, /^10\.96\.\d+\.\d+\s+web\./m, 'the name resolves to the ClusterIP');
  assert.match(logs, /hello from web-/);
});

void test('a Job runs to completion in a real container', async () => {
  await apply({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'once', namespace: ns },
    spec: {
      backoffLimit: 0,
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [
            container('once', [
              'sh',
              '-c',
              'echo "job ran on $(cat /etc/debian_version) in $(hostname)"',
            ]),
          ],
        },
      },
    },
  });
  await waitFor(
    'Job once to complete',
    async () => {
      const j = await getJson<{
        status: { succeeded?: number; failed?: number; conditions?: Condition[] };
      }>(['job', 'once', '-n', ns]);
      if (j.status.failed) throw new Error('the Job failed');
      return isReady(j.status.conditions, 'Complete');
    },
    120_000,
    500,
  );
  const logs = await kubectl(['logs', 'job/once', '-n', ns]);
  assert.match(logs, /^job ran on 12\.\d+ in once-/m);
  const pods = await getJson<PodList>(['pods', '-n', ns, '-l', 'job-name=once']);
  assert.equal(pods.items[0]?.spec.nodeName, nodeName);
});
