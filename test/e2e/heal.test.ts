// Self-healing, as a user of the cloud sees it: after a pod is deleted or a process dies or
// hangs, the service comes back by itself, the cloud says it was not Ready meanwhile, and nothing
// is lost. Behaviour only — the times are measured by bench/heal (and printed here as
// diagnostics). Runs last (it disrupts the cloud), after the other e2e files. Killing and
// stopping processes of a container needs root on the node (this host) and `crictl`.
import assert from 'node:assert/strict';
import { after, before, describe, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  cgroupPids,
  client,
  cloudReady,
  containerStatus,
  createServer,
  deleteServer,
  ensureTinyFlavor,
  getPod,
  hostPid,
  inClient,
  isReady,
  issueToken,
  keystoneAdmin,
  livenessRestartBudget,
  namespace,
  osJson,
  pods,
  postToken,
  replacedAndReady,
  serverSettled,
  sharedConnections,
  skip,
  until,
  uwsgiProcesses,
  watchCloudReady,
} from './helpers.ts';
import type { KubeObject } from '../../src/render/kube.ts';

const stamp = Date.now().toString(36);
const marker = `heal-marker-${stamp}`;
let markerId: string | undefined;
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

async function keystonePod(): Promise<KubeObject> {
  return until(
    async () => (await pods('keystone-api')).find(isReady),
    'a Ready keystone pod',
    300_000,
  );
}

/** The same Keystone pod, its container restarted (more restarts than before), Ready, serving. */
async function restartedInPlace(
  pod: KubeObject,
  restartsBefore: number,
): Promise<KubeObject | false> {
  const now = (await pods('keystone-api')).find((p) => p.metadata.uid === pod.metadata.uid);
  const s = now && containerStatus(now);
  return !!s && s.restartCount > restartsBefore && s.ready && (await tokenWorks()) && now;
}

/**
 * Where a token request fails now, for a failed test's message: the container's state, a request
 * to the pod's own address, and one to the public URL (Traefik answers `404 page not found` when
 * it has no route, as it had none while the pod had no ready endpoint).
 */
interface EndpointEntry {
  addresses: string[];
  conditions?: { ready?: boolean };
}

async function tokenPaths(pod: KubeObject): Promise<string> {
  const now = (await pods('keystone-api')).find((p) => p.metadata.uid === pod.metadata.uid);
  const s = now && containerStatus(now);
  const ip = (now?.status as { podIP?: string } | undefined)?.podIP;
  const direct = ip ? `HTTP ${await issueToken(`http://${ip}:5000`, body)}` : 'no pod IP';
  let viaPublic: string;
  try {
    const r = await fetch(`${keystone}/v3/auth/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.timeout(5000),
    });
    viaPublic = `HTTP ${r.status} ${(await r.text()).slice(0, 60).replace(/\s+/g, ' ')}`;
  } catch (err) {
    viaPublic = String(err);
  }
  // What Kubernetes tells Traefik: the keystone-api Service's EndpointSlices and their ready addresses.
  const { items: slices } = await (
    await client()
  ).list('discovery.k8s.io/v1', 'EndpointSlice', {
    namespace,
    labelSelector: 'kubernetes.io/service-name=keystone-api',
  });
  const endpoints = slices
    .flatMap((sl) => (sl as unknown as { endpoints?: EndpointEntry[] }).endpoints ?? [])
    .map((e) => `${e.addresses.join(',')} ready=${e.conditions?.ready}`)
    .join('; ');
  return `container ready ${s?.ready}, ${s?.restartCount} restarts; a token at the pod's address ${ip}: ${direct}; EndpointSlices of keystone-api: ${endpoints || 'no endpoint'}; at ${keystone}: ${viaPublic}`;
}

/** A Glance image uploaded once, whose survival the MariaDB test checks and servers boot from. */
async function ensureMarker(): Promise<string> {
  markerId ??= (
    await inClient(
      `head -c 4096 /dev/urandom > /tmp/m.img && openstack image create --disk-format raw --container-format bare --file /tmp/m.img ${marker} -f value -c id`,
    )
  )
    .trim()
    .split('\n')
    .pop()!;
  return markerId;
}

/**
 * Runs `outage` while watching the cloud's Ready condition; then asserts that Ready went False
 * (with a message naming `cause`) and is True again, and prints the states it went through.
 */
async function readyFalseThenTrue(
  t: TestContext,
  cause: RegExp,
  outage: () => Promise<void>,
): Promise<void> {
  await until(() => cloudReady(), 'the OpenStackCloud to be Ready before', 15 * 60_000, 2000);
  const ready = await watchCloudReady();
  try {
    await outage();
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready again', 15 * 60_000, 1000);
    await sleep(500); // the watcher's last look
  } finally {
    await ready.stop();
  }
  t.diagnostic(
    `Ready went: ${ready.seen.map((c) => `${c.status} (${c.reason}${c.status === 'True' ? '' : `: ${c.message}`})`).join(' → ')}`,
  );
  const down = ready.seen.filter((c) => c.status === 'False');
  assert.ok(down.length > 0, 'the cloud reported Ready=False during the outage');
  assert.ok(
    down.some((c) => cause.test(c.message)),
    `a Ready=False message names the cause (${cause}): ${down.map((c) => c.message).join(' | ')}`,
  );
  assert.equal(ready.seen.at(-1)?.status, 'True', 'and Ready=True afterwards');
}

describe('self-healing', { skip }, () => {
  before(async () => {
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
    ({ url: keystone, body } = await keystoneAdmin());
  });

  after(async () => {
    if (markerId)
      await inClient(`openstack image delete ${markerId}`).catch((err: unknown) =>
        console.log(`# could not delete the image ${marker}: ${String(err)}`),
      );
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

  test("Keystone's uWSGI workers, forked from one master, share no database or cache connection", async (t) => {
    const pod = await keystonePod();
    // Tokens make the workers open their database and memcached connections.
    for (let i = 0; i < 6; i++) assert.ok(await tokenWorks(), 'a token is issued');
    const { init, master, workers } = await uwsgiProcesses(pod);
    t.diagnostic(`dumb-init ${init}, uWSGI master ${master}, workers ${workers.join(' ')}`);
    assert.equal(workers.length, 2, 'the master runs its 2 workers');
    assert.deepEqual(
      sharedConnections([master, ...workers]),
      [],
      'no TCP connection (socket inode) is held by two of these processes',
    );
  });

  test("Keystone's uWSGI master killed: the container restarts in the same pod and tokens come back", async (t) => {
    const pod = await keystonePod();
    const before = containerStatus(pod)!.restartCount;
    const { init, master } = await uwsgiProcesses(pod);
    t.diagnostic(
      `SIGKILL the uWSGI master, host PID ${master} (the container's PID 1 is dumb-init, ${init})`,
    );
    process.kill(master, 'SIGKILL');
    const now = await until(
      () => restartedInPlace(pod, before),
      'the container restarted in the same pod and serving',
      300_000,
    ).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}; ${await tokenPaths(pod)}`);
    });
    const s = containerStatus(now)!;
    assert.equal(
      s.lastState?.terminated?.exitCode,
      137,
      'the container ended because its service was killed (dumb-init exits 128 + SIGKILL)',
    );
    assert.notEqual((await uwsgiProcesses(now)).master, master, 'a new uWSGI master serves');
  });

  test('a Keystone uWSGI worker killed: the master forks a new one, the container keeps running and tokens keep coming', async (t) => {
    const pod = await keystonePod();
    const before = containerStatus(pod)!;
    const { master, workers } = await uwsgiProcesses(pod);
    const victim = workers[0]!;
    // One token request at a time all along: at most the one in flight on the victim can fail.
    const answers: { at: number; ok: boolean; what: string }[] = [];
    let sending = true;
    const sender = (async () => {
      while (sending) {
        const a = await postToken(keystone, body, 10_000);
        const ok = 'status' in a && a.status === 201;
        answers.push({ at: Date.now(), ok, what: 'status' in a ? `HTTP ${a.status}` : a.failure });
        await sleep(100);
      }
    })();
    let killedAt = 0;
    let replacement: number | undefined;
    try {
      await sleep(2000);
      t.diagnostic(
        `SIGKILL uWSGI worker ${victim} (master ${master}, workers ${workers.join(' ')})`,
      );
      killedAt = Date.now();
      process.kill(victim, 'SIGKILL');
      const now = await until(
        async () => {
          const p = await uwsgiProcesses(pod);
          return p.master === master && p.workers.length === 2 && !p.workers.includes(victim) && p;
        },
        'the uWSGI master to have 2 workers again, without the killed one',
        120_000,
        100,
      );
      replacement = now.workers.find((w) => !workers.includes(w));
      await sleep(3000);
    } finally {
      sending = false;
      await sender;
    }
    const afterKill = answers.filter((a) => a.at >= killedAt);
    const failed = afterKill.filter((a) => !a.ok);
    t.diagnostic(
      `new worker ${replacement}; after the kill ${afterKill.length - failed.length}/${afterKill.length} token requests succeeded${failed.length ? ` (failed: ${failed.map((f) => f.what).join(', ')})` : ''}`,
    );
    assert.ok(afterKill.length > 0, 'token requests were sent after the kill');
    if (failed.length > 1) t.diagnostic(await tokenPaths(pod));
    assert.ok(failed.length <= 1, `at most the request in flight failed, not ${failed.length}`);
    assert.ok(answers.at(-1)!.ok, 'the last token request succeeded');
    const p = await getPod(pod.metadata.name);
    const s = p && containerStatus(p);
    assert.equal(p?.metadata.uid, pod.metadata.uid, 'the same pod');
    assert.equal(s?.restartCount, before.restartCount, 'the container was not restarted');
    assert.equal(s?.containerID, before.containerID, 'the same container');
  });

  test('a hung Keystone (SIGSTOP) does not answer (timeout, not refusal), fails its liveness probe and is restarted', async (t) => {
    const pod = await keystonePod();
    const before = containerStatus(pod)!.restartCount;
    // The probe is patient on purpose (a slow Keystone must not be killed): wait out its budget,
    // as the pod states it, plus two minutes for the restarted process to serve again.
    const budget = livenessRestartBudget(pod);
    const stopped = cgroupPids(await hostPid(pod));
    const stoppedAt = Date.now();
    for (const pid of stopped) process.kill(pid, 'SIGSTOP');
    try {
      const ip = (pod.status as { podIP: string }).podIP;
      // The kernel still accepts the connection; nobody reads the request.
      const answer = await postToken(`http://${ip}:5000`, body, 3000);
      assert.equal(
        'failure' in answer && answer.failure,
        'timeout',
        `the hung API accepts the connection and never answers (got ${JSON.stringify(answer)})`,
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
    // What the user sees in `kubectl describe pod`: the kubelet killed it for its liveness probe.
    const { items } = await (
      await client()
    ).list<KubeObject>('v1', 'Event', {
      namespace,
      fieldSelector: `involvedObject.name=${pod.metadata.name}`,
    });
    const killing = items.filter(
      (e) =>
        e.reason === 'Killing' &&
        /liveness probe/i.test(String(e.message)) &&
        Date.parse(String(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp)) >= stoppedAt - 2000,
    );
    t.diagnostic(`kubelet: ${killing.map((e) => String(e.message)).join('; ')}`);
    assert.ok(killing.length > 0, 'a Killing event says the container failed its liveness probe');
  });

  test('MariaDB pod deleted: the cloud reports Ready=False, then Ready again, and no data is lost', async (t) => {
    await ensureMarker();
    await readyFalseThenTrue(t, /database|mariadb/, async () => {
      const uid = await deletePod('mariadb-0');
      await until(() => replacedAndReady('mariadb-0', uid), 'mariadb-0 back and Ready', 600_000);
      const images = await until(
        () => osJson<{ Name: string }[]>('image list'),
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
  });

  test('RabbitMQ pod deleted: the cloud reports Ready=False, then Ready; once nova-compute reports again, one server boots', async (t) => {
    const image = await ensureMarker();
    const flavor = await ensureTinyFlavor();
    await readyFalseThenTrue(t, /messaging|rabbitmq/, async () => {
      const deleted = Date.now();
      const uid = await deletePod('rabbitmq-0');
      await until(() => replacedAndReady('rabbitmq-0', uid), 'rabbitmq-0 back and Ready', 600_000);
      const back = Date.now();
      // nova-compute reports every 10 s through nova-conductor, over RabbitMQ: a report made
      // after RabbitMQ came back shows that it has reconnected. Bounded: then the boot is tried once.
      const reported = await until(
        async () => {
          const list =
            await osJson<{ Binary: string; State: string; 'Updated At': string }[]>(
              'compute service list',
            );
          const c = list.find((s) => s.Binary === 'nova-compute');
          const at = c && Date.parse(c['Updated At'].replace(/(\.\d{3})\d*$/, '$1') + 'Z');
          return c?.State === 'up' && at !== undefined && at > back && Date.now();
        },
        'nova-compute to report its state through RabbitMQ again',
        180_000,
        2000,
      );
      const id = await createServer(
        `heal-vm-${stamp}`,
        `--flavor ${flavor} --image ${image} --nic none`,
      );
      try {
        const server = await serverSettled(id);
        t.diagnostic(
          `rabbitmq-0 Ready ${((back - deleted) / 1000).toFixed(1)} s after its delete; nova-compute reported ${((reported - back) / 1000).toFixed(1)} s later; the server was ${server.status} ${((Date.now() - back) / 1000).toFixed(1)} s after RabbitMQ was Ready`,
        );
        assert.equal(
          server.status,
          'ACTIVE',
          `the one server booted after RabbitMQ came back (fault: ${JSON.stringify(server.fault ?? null)})`,
        );
      } finally {
        await deleteServer(id);
      }
    });
  });
});
