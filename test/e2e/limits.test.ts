// Least privilege and memory limits on the running cloud (issue 18): what the rendered security
// settings become once the kubelet and the kernel apply them, and what a memory limit does to a
// container that leaks. Behaviour only; run after the other e2e files (it adds a pod beside the
// cloud), before heal.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeObject } from '../../src/render/kube.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import {
  controlPlaneLevel,
  dataPlaneLevel,
  podSecurityEnforceLabel,
} from '../../src/render/namespaces.ts';
import {
  adminCredentials,
  client,
  cloudPods,
  cloudReady,
  dataPlaneNamespace,
  dataPlaneWorkloads,
  issueToken,
  kubectl,
  namespace,
  restartCounts,
  restartsBetween,
  serviceUrl,
  skip,
  testPod,
  tokenRequest,
  until,
} from './helpers.ts';

const leak = 'memory-leak-test';

interface Status {
  name: string;
  restartCount: number;
  lastState?: { terminated?: { reason?: string; exitCode?: number } };
}

async function deleteLeak(): Promise<void> {
  const c = await client();
  await c.delete('v1', 'Pod', leak, namespace).catch((err: unknown) => {
    if (!isNotFound(err)) throw err;
  });
}

before(async () => {
  if (skip) return;
  await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
  await deleteLeak();
});

after(async () => {
  if (skip) return;
  await deleteLeak().catch(() => undefined);
});

test(
  'the control plane runs in a namespace that enforces "restricted", the data plane alone in its own',
  { skip },
  async () => {
    const c = await client();
    const level = async (ns: string) =>
      (await c.get('v1', 'Namespace', ns)).metadata.labels?.[podSecurityEnforceLabel];
    assert.equal(await level(namespace), controlPlaneLevel, `namespace ${namespace}`);
    assert.equal(
      await level(dataPlaneNamespace),
      dataPlaneLevel,
      `namespace ${dataPlaneNamespace}`,
    );
    const where = (await cloudPods())
      .filter((p) => !p.metadata.labels?.['job-name'])
      .map((p) => ({
        pod: `${p.metadata.namespace}/${p.metadata.name}`,
        dataPlane: dataPlaneWorkloads.includes(p.metadata.labels?.['app.kubernetes.io/name'] ?? ''),
        inDataPlaneNamespace: p.metadata.namespace === dataPlaneNamespace,
      }));
    assert.ok(
      where.some((p) => p.dataPlane),
      `the data plane's pods: ${where.map((p) => p.pod).join(', ')}`,
    );
    assert.deepEqual(
      where.filter((p) => p.dataPlane !== p.inDataPlaneNamespace).map((p) => p.pod),
      [],
      `the data plane's pods (${dataPlaneWorkloads.join(', ')}) in ${dataPlaneNamespace}, no other pod there`,
    );
  },
);

test(
  "the control plane's containers run as their Kolla users, without root and with a read-only root file system; every container has a memory limit",
  { skip },
  async () => {
    // Both namespaces: the memory limits hold on the data plane too.
    const items = await cloudPods();
    const running = items.filter((p) => (p.status as { phase?: string }).phase === 'Running');
    assert.ok(running.length >= 20, `${running.length} running pods`);
    assert.ok(
      running.some((p) => p.metadata.namespace === dataPlaneNamespace),
      `no running pod of the cloud in ${dataPlaneNamespace}`,
    );
    for (const p of running) {
      const name = p.metadata.labels?.['app.kubernetes.io/name'] ?? '';
      const spec = p.spec as { containers: Record<string, any>[] };
      for (const ct of spec.containers) {
        const where = `${p.metadata.namespace}/${p.metadata.name}/${ct.name}`;
        if (ct.name !== 'libvirt') assert.ok(ct.resources?.limits?.memory, `${where}: no limit`);
        if (dataPlaneWorkloads.includes(name)) continue;
        // What the process really is, not what the spec asked for.
        const exec = async (...command: string[]) =>
          (
            await kubectl([
              '-n',
              p.metadata.namespace!,
              'exec',
              p.metadata.name,
              '-c',
              ct.name,
              '--',
              ...command,
            ])
          ).trim();
        const id = await exec('id', '-u');
        assert.notEqual(id, '0', `${where} runs as root`);
        assert.equal(String(ct.securityContext?.runAsUser), id, where);
        // The root file system's mount options, as the container's processes see them.
        const root = await exec(
          'awk',
          '$2 == "/" { split($4, o, ","); print o[1] }',
          '/proc/mounts',
        );
        assert.equal(root, 'ro', `${where}: its root file system is mounted ${root}`);
      }
    }
  },
);

test(
  'a container that exceeds its memory limit is OOM-killed and restarted, and the rest of the cloud keeps serving',
  { skip },
  async () => {
    const c = await client();
    const keystone = await serviceUrl('keystone-api');
    const admin = await adminCredentials();
    const body = tokenRequest(admin.username, admin.password);
    const restartsBefore = await restartCounts();
    // A leaking service: `tail` keeps the current line of /dev/zero, which never ends, in memory.
    // In the cloud's namespace, which admits it: it meets Pod Security "restricted", as nobody.
    await c.create(
      testPod({
        name: leak,
        namespace,
        labels: { 'app.kubernetes.io/name': leak },
        container: 'leak',
        restartPolicy: 'Always',
        command: ['sh', '-c', 'sleep 2; exec tail /dev/zero'],
        resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
      }),
    );
    // Tokens asked for all the while, twice a second.
    let asked = 0;
    const failed: number[] = [];
    let done = false;
    const load = (async () => {
      while (!done) {
        const status = await issueToken(keystone, body, 10_000);
        asked++;
        if (status !== 201) failed.push(status);
        await sleep(500);
      }
    })();
    let last: Status | undefined;
    try {
      await until(
        async () => {
          const p = await c.get<KubeObject>('v1', 'Pod', leak, namespace);
          last = (p.status as { containerStatuses?: Status[] }).containerStatuses?.[0];
          return (
            (last?.restartCount ?? 0) >= 2 && last?.lastState?.terminated?.reason === 'OOMKilled'
          );
        },
        'the leaking container to be OOM-killed and restarted twice',
        5 * 60_000,
        2000,
      );
    } finally {
      done = true;
      await load;
    }
    assert.equal(last?.lastState?.terminated?.reason, 'OOMKilled');
    assert.equal(last?.lastState?.terminated?.exitCode, 137);
    assert.ok(asked > 10, `${asked} token requests`);
    assert.deepEqual(failed, [], `${failed.length} of ${asked} token requests failed`);
    const changed = restartsBetween(restartsBefore, await restartCounts());
    assert.equal(changed.total, 0, `cloud containers restarted: ${JSON.stringify(changed)}`);
    assert.ok(await cloudReady(), 'the cloud is Ready');
  },
);
