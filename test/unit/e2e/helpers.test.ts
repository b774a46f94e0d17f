// The end-to-end suite's own instruments, checked on this machine's processes and sockets: how a
// failed request is classified (the hung-Keystone test needs a timeout, not a refusal) and how
// connections shared across a fork are found in /proc; and, without a cluster, where the suite
// looks for the cloud's pods and that the pods it runs itself are admitted beside the cloud.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import {
  dataPlaneNamespace,
  dataPlaneWorkloads,
  namespace,
  namespaceOf,
  postToken,
  procInfo,
  sharedConnections,
  testPod,
} from '../../e2e/helpers.ts';
import { dataPlaneNamespace as dataPlaneNamespaceOf } from '../../../src/render/namespaces.ts';
import { restrictedViolations } from '../podsecurity.ts';
import { cloudObjects } from '../../../src/cli/render.ts';
import { fixedSecrets, loadExample } from '../render/fixtures.ts';

async function listen(onConnection: (s: net.Socket) => void = () => {}): Promise<net.Server> {
  const server = net.createServer(onConnection).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return server;
}

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

test('a request to a server that accepts and never answers is a timeout', async () => {
  const held: net.Socket[] = [];
  const server = await listen((s) => held.push(s));
  try {
    const a = await postToken(`http://127.0.0.1:${portOf(server)}`, '{}', 300);
    assert.equal('failure' in a && a.failure, 'timeout', JSON.stringify(a));
  } finally {
    for (const s of held) s.destroy();
    server.close();
  }
});

test('a request to a port nobody listens on is a refusal, not a timeout', async () => {
  const server = await listen();
  const port = portOf(server);
  await new Promise((resolve) => server.close(resolve));
  const a = await postToken(`http://127.0.0.1:${port}`, '{}', 3000);
  assert.equal('failure' in a && a.failure, 'refused', JSON.stringify(a));
});

test('a connection reset before the answer is a reset', async () => {
  const server = await listen((s) => s.once('data', () => s.resetAndDestroy()));
  try {
    const a = await postToken(`http://127.0.0.1:${portOf(server)}`, '{}', 3000);
    assert.equal('failure' in a && a.failure, 'reset', JSON.stringify(a));
  } finally {
    server.close();
  }
});

test('sharedConnections finds a TCP connection a child inherited, not a listening socket or one held alone', async () => {
  const server = await listen();
  const inherited = net.connect(portOf(server), '127.0.0.1');
  const alone = net.connect(portOf(server), '127.0.0.1');
  await Promise.all([inherited, alone].map((s) => new Promise((r) => s.once('connect', r))));
  const fd = (s: net.Socket | net.Server) =>
    (s as unknown as { _handle: { fd: number } })._handle.fd;
  const child = spawn('sleep', ['30'], {
    stdio: ['ignore', 'ignore', 'ignore', fd(inherited), fd(server)],
  });
  try {
    await new Promise((resolve) => child.once('spawn', resolve));
    assert.deepEqual(procInfo(child.pid!)?.ppid, process.pid, 'procInfo reads the parent');
    assert.equal(procInfo(child.pid!)?.comm, 'sleep', 'and the command name');
    const shared = sharedConnections([process.pid, child.pid!]);
    assert.equal(shared.length, 1, JSON.stringify(shared));
    assert.deepEqual(
      shared[0]!.pids,
      [process.pid, child.pid!].sort((a, b) => a - b),
    );
    assert.deepEqual(sharedConnections([process.pid]), [], 'one process shares nothing');
  } finally {
    child.kill();
    inherited.destroy();
    alone.destroy();
    server.close();
  }
});

test("the data plane's pods are looked for in the data plane's namespace, every other pod in the cloud's", () => {
  assert.equal(dataPlaneNamespace, dataPlaneNamespaceOf(namespace));
  for (const name of dataPlaneWorkloads) assert.equal(namespaceOf(name), dataPlaneNamespace, name);
  for (const name of ['keystone-api', 'database-mariadb', 'messaging-rabbitmq', 'nova-conductor'])
    assert.equal(namespaceOf(name), namespace, name);
  // The suite's list is the rendered DaemonSets, by their pods' app.kubernetes.io/name.
  for (const example of ['minimal', 'ha', 'production'] as const) {
    const daemonSets = cloudObjects(loadExample(example), fixedSecrets())
      .filter((o) => o.kind === 'DaemonSet')
      .map(
        (o) =>
          (o.spec as { template: { metadata: { labels: Record<string, string> } } }).template
            .metadata.labels['app.kubernetes.io/name'],
      );
    assert.deepEqual(daemonSets.sort(), [...dataPlaneWorkloads].sort(), example);
  }
});

test('the pods the suite runs (CPU hog, leaking service, network policy stranger) meet Pod Security "restricted"', () => {
  const pods = [
    testPod({ name: 'hog', namespace, labels: {}, nodeName: 'n', command: ['sh', '-c', ':'] }),
    testPod({
      name: 'leak',
      namespace,
      labels: {},
      restartPolicy: 'Always',
      command: ['sh', '-c', 'exec tail /dev/zero'],
      resources: { limits: { memory: '64Mi' } },
    }),
    testPod({ name: 'stranger', namespace, labels: {}, command: ['sleep', 'infinity'] }),
  ];
  for (const p of pods) {
    assert.deepEqual(restrictedViolations(p.spec as Record<string, unknown>), [], p.metadata.name);
    const spec = p.spec as { securityContext: { runAsUser: unknown } };
    assert.equal(typeof spec.securityContext.runAsUser, 'number', 'a numeric, non-root user');
    assert.notEqual(spec.securityContext.runAsUser, 0);
  }
});
