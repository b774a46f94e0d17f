// A guest outlives its nova-compute: libvirtd and virtlogd run in a DaemonSet of their own
// (nova-libvirt), so replacing the nova-compute pod — what every upgrade, fixed image or config
// change of nova-compute does — leaves the guest's QEMU process running. (While they shared
// nova-compute's pod, deleting that pod killed every guest on the node: seen on 2026-12-02.)
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { client, dataPlaneNamespace, isReady, kubectl, osJson, skip, until } from './helpers.ts';
import { createServer, deleteServers, qemuPids, waitStatus } from './guests.ts';
import type { KubeObject } from '../../src/render/kube.ts';

const name = `e2e-roll-${Date.now().toString(36)}`;

async function computePods(): Promise<KubeObject[]> {
  const { items } = await (
    await client()
  ).list('v1', 'Pod', {
    namespace: dataPlaneNamespace,
    labelSelector: 'app.kubernetes.io/name=nova-compute',
  });
  return items;
}

describe('a guest outlives the replacement of its nova-compute pod', { skip }, () => {
  let instance = '';
  let pids: number[] = [];

  before(async () => {
    await createServer(name);
    const s = await waitStatus(name, ['ACTIVE']);
    instance = s['OS-EXT-SRV-ATTR:instance_name']!;
    pids = qemuPids(instance);
    assert.equal(pids.length, 1, `one QEMU process for ${instance}: ${pids.join(', ')}`);
  });

  after(async () => {
    await deleteServers([name]);
  });

  test('nova-compute deleted and back Ready: the same QEMU process runs, the server is ACTIVE', async () => {
    const old = (await computePods()).map((p) => p.metadata.uid);
    assert.ok(old.length > 0, 'a nova-compute pod runs');
    await kubectl([
      '-n',
      dataPlaneNamespace,
      'delete',
      'pod',
      '-l',
      'app.kubernetes.io/name=nova-compute',
      '--wait=true',
    ]);
    await until(
      async () => {
        const now = await computePods();
        return now.length === old.length &&
          now.every((p) => !old.includes(p.metadata.uid) && isReady(p))
          ? true
          : undefined;
      },
      'new nova-compute pods Ready',
      300_000,
      2000,
    );
    assert.deepEqual(qemuPids(instance), pids, 'the guest was not restarted');
    // nova-compute, started again, finds the guest running and leaves it so.
    await until(
      async () => {
        const rows = await osJson<{ Binary: string; State: string }[]>(
          'compute service list --service nova-compute',
        );
        return rows.every((r) => r.State === 'up') ? true : undefined;
      },
      'nova-compute to report up again',
      300_000,
      5000,
    );
    const s = await osJson<{ status: string; 'OS-EXT-STS:power_state'?: string | number }>(
      `server show ${name}`,
    );
    assert.equal(s.status, 'ACTIVE');
    assert.deepEqual(qemuPids(instance), pids);
  });
});
