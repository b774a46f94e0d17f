// The cluster's ingress (Traefik on the node's address, port 80) in front of a pod whose
// readiness goes away and comes back in the same pod, as a service's container does when its
// main process is killed and restarted in place: the pod keeps its address, only the
// EndpointSlice's ready condition changes. While the pod is not ready, the ingress does not send
// to it; once it is ready again, requests reach it again through the ingress, even after the
// ingress rebuilt its routes for another reason while the pod was not ready.
// (Traefik before v3.6.22 / v3.7.6 ignored EndpointSlice updates that changed only conditions:
// a route dropped while the pod was not ready stayed dropped, answering 404, until some other
// object changed; an e2e heal test once saw 300 s of 404 from Keystone that way.)
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { ingressClass } from '../../../src/cluster/components.ts';
import { net } from '../../../src/cluster/network.ts';
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
const host = () => `flip.${ns}.ingress.test`;

before(async () => {
  ns = await makeNamespace('stk-ingress');
});
after(async () => {
  await deleteNamespace(ns);
});

/** One GET through the ingress with the test's Host: the status and the body's first line. */
function viaIngress(): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      { host: net.nodeIp, port: 80, path: '/', headers: { host: host() }, timeout: 5000 },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: body.split('\n')[0] ?? '' }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolve({ status: 0, body: String(err) }));
    req.end();
  });
}

/** Asks through the ingress every half second until its status satisfies `want`. */
function ingressAnswers(
  what: string,
  want: (status: number) => boolean,
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  return waitFor(
    what,
    async () => {
      const a = await viaIngress();
      return want(a.status) ? a : undefined;
    },
    timeoutMs,
    500,
  );
}

interface Slice {
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
}

/** The ready condition of the Service's one endpoint, as the EndpointSlice controller wrote it. */
async function endpointReady(): Promise<boolean | undefined> {
  const { items } = await getJson<{ items: Slice[] }>([
    'endpointslices',
    '-n',
    ns,
    '-l',
    'kubernetes.io/service-name=flip',
  ]);
  const eps = items.flatMap((s) => s.endpoints ?? []);
  return eps.length === 1 ? eps[0]!.conditions?.ready === true : undefined;
}

async function thePod(): Promise<PodList['items'][number] & { status: { podIP?: string } }> {
  const { items } = await getJson<PodList>(['pods', '-n', ns, '-l', 'app=flip']);
  assert.equal(items.length, 1, 'one pod');
  return items[0]!;
}

test('a pod behind the ingress answers through it', async () => {
  await apply(
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'flip', namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'flip' } },
        template: {
          metadata: { labels: { app: 'flip' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [
              container(
                'web',
                [
                  'sh',
                  '-c',
                  'mkdir -p /www && echo "flip $(hostname)" > /www/index.html && touch /tmp/ready && exec busybox httpd -f -p 8080 -h /www',
                ],
                {
                  ports: [{ containerPort: 8080 }],
                  // Ready while /tmp/ready exists: the test takes readiness away and gives it
                  // back without restarting anything.
                  readinessProbe: {
                    exec: { command: ['test', '-e', '/tmp/ready'] },
                    periodSeconds: 1,
                    failureThreshold: 1,
                  },
                },
              ),
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'flip', namespace: ns },
      spec: { selector: { app: 'flip' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'flip', namespace: ns },
      spec: {
        ingressClassName: ingressClass.name,
        rules: [
          {
            host: host(),
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: 'flip', port: { number: 80 } } },
                },
              ],
            },
          },
        ],
      },
    },
  );
  const r = await ingressAnswers(
    'the pod to answer through the ingress',
    (s) => s === 200,
    180_000,
  );
  assert.match(r.body, /^flip flip-/);
});

test('readiness lost and back in the same pod: not served meanwhile, served again after, though the ingress rebuilt its routes in between', async () => {
  const pod = await thePod();
  const ip = pod.status.podIP;
  await kubectl(['exec', '-n', ns, pod.metadata.name, '--', 'rm', '/tmp/ready']);
  await waitFor(
    'the endpoint to be not ready',
    async () => (await endpointReady()) === false,
    60_000,
    250,
  );
  // Another object the ingress watches changes (a Secret beside it, which nothing else follows):
  // the ingress builds its routes again while the endpoint is not ready.
  await apply({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'other', namespace: ns },
    stringData: { any: 'thing' },
  });
  const meanwhile = await ingressAnswers(
    'the ingress to stop sending to the not-ready pod',
    (s) => s !== 200,
    60_000,
  );
  console.log(`# while not ready: HTTP ${meanwhile.status} ${meanwhile.body}`);
  await kubectl(['exec', '-n', ns, pod.metadata.name, '--', 'touch', '/tmp/ready']);
  await waitFor(
    'the endpoint to be ready again',
    async () => (await endpointReady()) === true,
    60_000,
    250,
  );
  const again = await thePod();
  assert.equal(again.metadata.uid, pod.metadata.uid, 'the same pod');
  assert.equal(again.status.podIP, ip, 'at the same address');
  const back = await ingressAnswers(
    'the pod to answer through the ingress again',
    (s) => s === 200,
    120_000,
  ).catch(async (err: unknown) => {
    const last = await viaIngress();
    throw new Error(
      `${(err as Error).message}; the ingress now answers HTTP ${last.status} ${last.body}`,
    );
  });
  assert.match(back.body, /^flip flip-/);
});
