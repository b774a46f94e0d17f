// The rendered NetworkPolicies as a security claim, enforced by the cluster's kube-router: a pod
// in the cloud's namespace without the labels the policies allow cannot open MariaDB, RabbitMQ or
// Memcached; Keystone, which the policies allow, can.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { client, kubectl, namespace, skip, testPod } from './helpers.ts';

const stranger = 'netpol-stranger';
const targets = [
  { service: 'mariadb', port: 3306 },
  { service: 'rabbitmq', port: 5672 },
  { service: 'memcached', port: 11211 },
];

/** Exit status of a TCP connect from a pod: 0 connected, else refused or dropped (5 s). */
function connectScript(host: string, port: number): string {
  return `timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/${port}' 2>/dev/null && echo CONNECTED || echo BLOCKED`;
}

before(async () => {
  if (skip) return;
  // In the cloud's namespace, which enforces Pod Security "restricted": the stranger meets it
  // (as nobody; bash's /dev/tcp needs no privilege).
  const c = await client();
  await c.create(
    testPod({
      name: stranger,
      namespace,
      labels: { app: 'netpol-test' },
      command: ['sleep', 'infinity'],
    }),
  );
  await kubectl([
    '-n',
    namespace,
    'wait',
    '--for=condition=Ready',
    `pod/${stranger}`,
    '--timeout=120s',
  ]);
});
after(async () => {
  if (skip) return;
  await kubectl(['-n', namespace, 'delete', 'pod', stranger, '--wait=false', '--ignore-not-found']);
  (await client()).close();
});

void test(
  'a pod without the allowed labels cannot open MariaDB, RabbitMQ or Memcached',
  { skip },
  async () => {
    for (const t of targets) {
      const host = `${t.service}.${namespace}.svc`;
      const out = await kubectl([
        '-n',
        namespace,
        'exec',
        stranger,
        '--',
        'bash',
        '-c',
        connectScript(host, t.port),
      ]);
      assert.equal(out.trim(), 'BLOCKED', `${stranger} → ${host}:${t.port}`);
    }
  },
);

void test('Keystone, which the policies allow, opens MariaDB and Memcached', { skip }, async () => {
  const py = (host: string, port: number) =>
    `python3 -c "import socket; socket.create_connection(('${host}', ${port}), 5); print('CONNECTED')"`;
  for (const t of targets.filter((x) => x.service !== 'rabbitmq')) {
    const host = `${t.service}.${namespace}.svc`;
    let out = '';
    for (let i = 0; i < 3 && !out.includes('CONNECTED'); i++) {
      out = await kubectl([
        '-n',
        namespace,
        'exec',
        'deploy/keystone-api',
        '--',
        'bash',
        '-c',
        py(host, t.port),
      ]).catch((e: Error) => e.message);
      if (!out.includes('CONNECTED')) await sleep(2000);
    }
    assert.match(out, /CONNECTED/, `keystone-api → ${host}:${t.port}`);
  }
});
