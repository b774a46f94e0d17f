// Self-healing, as a user of the cloud sees it: after a pod is deleted or a process dies or
// hangs, the service comes back by itself and nothing is lost. Behaviour only — the times are
// measured by bench/heal.ts. Runs last (it disrupts the cloud), after the other e2e files.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  adminCredentials,
  bootServer,
  cgroupPids,
  client,
  cloudReady,
  containerStatus,
  deleteServer,
  hostPid,
  inClient,
  isReady,
  issueToken,
  livenessRestartBudget,
  namespace,
  osJson,
  pods,
  replacedAndReady,
  serviceUrl,
  skip,
  tokenRequest,
  until,
} from './helpers.ts';
import type { KubeObj } from '../../src/kube/client.ts';

const stamp = Date.now().toString(36);
const marker = `heal-marker-${stamp}`;
let keystone = '';
let body = '';

async function tokenWorks(): Promise<boolean> {
  return (await issueToken(keystone, body)) === 201;
}

async function deletePod(name: string): Promise<string> {
  const c = await client();
  const pod = await c.get('v1', 'Pod', name, namespace);
  await c.delete('v1', 'Pod', name, namespace);
  return pod.metadata.uid!;
}

/** The same Keystone pod, its container restarted (more restarts than before), Ready, serving. */
async function restartedInPlace(pod: KubeObj, restartsBefore: number): Promise<boolean> {
  const now = (await pods('keystone-api')).find((p) => p.metadata.uid === pod.metadata.uid);
  const s = now && containerStatus(now);
  return !!s && s.restartCount > restartsBefore && s.ready && (await tokenWorks());
}

async function keystonePod(): Promise<KubeObj> {
  return until(
    async () => (await pods('keystone-api')).find(isReady),
    'a Ready keystone pod',
    300_000,
  );
}

describe('self-healing', { skip }, () => {
  before(async () => {
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
    keystone = await serviceUrl('keystone-api');
    const admin = await adminCredentials();
    body = tokenRequest(admin.username, admin.password);
  });

  after(async () => {
    await inClient(`openstack image delete ${marker} >/dev/null 2>&1; true`).catch(() => undefined);
  });

  test('a deleted Keystone pod is replaced and tokens are issued again', async () => {
    const old = await keystonePod();
    await (await client()).delete('v1', 'Pod', old.metadata.name, namespace);
    await until(
      async () => {
        const ready = (await pods('keystone-api')).filter(isReady);
        return ready.some((p) => p.metadata.uid !== old.metadata.uid) && (await tokenWorks());
      },
      'a new keystone pod Ready and a token issued',
      300_000,
    );
  });

  test('the main process killed inside the Keystone container: the kubelet restarts it', async () => {
    const pod = await keystonePod();
    const before = containerStatus(pod)!.restartCount;
    process.kill(await hostPid(pod), 'SIGKILL');
    await until(
      () => restartedInPlace(pod, before),
      'the container restarted in the same pod and serving',
      300_000,
    );
  });

  test('a hung Keystone (SIGSTOP) fails its liveness probe and is restarted', async () => {
    const pod = await keystonePod();
    const before = containerStatus(pod)!.restartCount;
    // The probe is patient on purpose (a slow Keystone must not be killed): wait out its budget,
    // as the pod states it, plus two minutes for the restarted process to serve again.
    const budget = livenessRestartBudget(pod);
    const stopped = cgroupPids(await hostPid(pod));
    for (const pid of stopped) process.kill(pid, 'SIGSTOP');
    try {
      const ip = (pod.status as { podIP: string }).podIP;
      assert.equal(
        await issueToken(`http://${ip}:5000`, body, 3000),
        0,
        'the hung API does not answer',
      );
      await until(
        () => restartedInPlace(pod, before),
        `the liveness probe to restart the container (${budget.text})`,
        (budget.seconds + 120) * 1000,
        1000,
      );
    } finally {
      for (const pid of stopped) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          // restarted: gone
        }
      }
    }
  });

  test('MariaDB pod deleted: the cloud recovers with no data lost', async () => {
    await inClient(
      `head -c 4096 /dev/urandom > /tmp/m.img && openstack image create --disk-format raw --container-format bare --file /tmp/m.img ${marker} >/dev/null`,
    );
    const uid = await deletePod('mariadb-0');
    await until(() => replacedAndReady('mariadb-0', uid), 'mariadb-0 back and Ready', 600_000);
    const images = await until(
      async () => {
        const list = await osJson<{ Name: string }[]>('image list');
        return list;
      },
      'glance to list images again',
      300_000,
      2000,
    );
    assert.ok(
      images.some((i) => i.Name === marker),
      `the image uploaded before (${marker}) is still listed`,
    );
    await until(() => tokenWorks(), 'keystone to issue tokens again', 300_000);
  });

  test('RabbitMQ pod deleted: Nova still boots a server afterwards', async () => {
    const uid = await deletePod('rabbitmq-0');
    await until(() => replacedAndReady('rabbitmq-0', uid), 'rabbitmq-0 back and Ready', 600_000);
    const name = `heal-vm-${stamp}`;
    const status = await until(
      async () => ((await bootServer(name, marker)) === 'ACTIVE' ? 'ACTIVE' : undefined),
      'a server to reach ACTIVE after RabbitMQ came back',
      900_000,
      5000,
    );
    assert.equal(status, 'ACTIVE');
    await deleteServer(name);
  });

  test('afterwards the cloud reports Ready again', async () => {
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
  });
});
