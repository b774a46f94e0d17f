// `cluster down` leaves nothing running or mounted and no interface or iptables chain behind;
// `cluster up` then brings the same cluster back (warm: everything is cached).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { net } from '../../../src/cluster/network.ts';
import { listRecords, isAlive } from '../../../src/cluster/processes.ts';
import { run } from '../../../src/util/exec.ts';
import { getJson, isReady, l, nodeName, seconds, type Condition } from './helpers.ts';

const cli = (args: string[]) =>
  run(
    process.execPath,
    [join(import.meta.dirname, '../../../bin/stackanetes.js'), 'cluster', ...args],
    {
      timeoutMs: 600_000,
    },
  );

void test('cluster down cleans up everything; cluster up brings the cluster back', async () => {
  const fake = await getJson<{ items: unknown[] }>(['nodes', '-l', 'type=kwok']);
  const running = listRecords(l.pids);
  assert.ok(running.length >= 10, 'the cluster is up');

  const tDown = Date.now();
  await cli(['down']);
  console.log(`# cluster down in ${seconds(Date.now() - tDown)}`);
  for (const r of running) assert.equal(isAlive(r), false, `${r.name} (pid ${r.pid}) stopped`);
  assert.deepEqual(listRecords(l.pids), [], 'no process records left');
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(l.state) || p.startsWith('/run/netns'));
  assert.deepEqual(mounts, [], 'no mounts left');
  assert.equal(
    (await run('ip', ['link', 'show', net.bridge], { allowFailure: true })).code !== 0,
    true,
    'bridge removed',
  );
  const veths = (await run('ip', ['-o', 'link', 'show', 'type', 'veth'])).stdout.trim();
  assert.equal(veths, '', 'no veth interfaces left');
  if (existsSync('/run/netns'))
    assert.deepEqual(
      readdirSync('/run/netns').filter((f) => f.startsWith('cni-')),
      [],
    );
  const chains = (await run('iptables-save', [])).stdout
    .split('\n')
    .filter((x) => x.includes('KUBE-'));
  assert.deepEqual(chains, [], 'no KUBE-* iptables chains left');

  const tUp = Date.now();
  await cli(['up', '--fake-nodes', String(fake.items.length)]);
  console.log(
    `# warm cluster up (with ${fake.items.length} simulated nodes Ready) in ${seconds(Date.now() - tUp)}`,
  );
  for (const r of listRecords(l.pids)) assert.ok(isAlive(r), `${r.name} running`);
  const node = await getJson<{ status: { conditions?: Condition[] } }>(['node', nodeName]);
  assert.ok(isReady(node.status.conditions));
});
