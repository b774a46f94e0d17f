// A node container loses power: everything on it dies at once, the node goes NotReady, and the
// pods of a Deployment that ran there are replaced on the surviving nodes. Booted again, its
// kubelet re-registers and the node is Ready. A clean stop gives its pods their SIGTERM.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { cgroupPids } from '../../../src/cluster/cgroups.ts';
import { run } from '../../../src/util/exec.ts';
import { nodeCgroup, nodeDirs, nodeNetns, planNodes } from '../../../src/cluster/nodes.ts';
import {
  apply,
  container,
  deleteNamespace,
  getJson,
  isReady,
  l,
  makeNamespace,
  seconds,
  waitFor,
  type Condition,
} from '../cluster/helpers.ts';
import { realNodes } from './helpers.ts';

const cli = (args: string[]) =>
  run(
    process.execPath,
    [join(import.meta.dirname, '../../../bin/stackanetes.js'), 'cluster', ...args],
    {
      timeoutMs: 600_000,
    },
  );

let ns = '';
let victim = '';
before(async () => {
  const nodes = await realNodes();
  victim = nodes.at(-1) ?? '';
  assert.match(
    victim,
    /^stackanetes-node-\d+$/,
    `a node container to kill among ${nodes.join(', ')}`,
  );
  ns = await makeNamespace('stk-fail');
});
after(async () => {
  // Leave the cluster whole for what runs next.
  await cli(['node', 'start', victim]).catch(() => undefined);
  await deleteNamespace(ns);
});

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: { nodeName?: string };
  status: { phase?: string; conditions?: Condition[] };
}

const nodeReady = async (name: string) =>
  isReady(
    (await getJson<{ status: { conditions?: Condition[] } }>(['node', name])).status.conditions,
  );

void test('a killed node goes NotReady and its Deployment pods are replaced on the other nodes', async () => {
  const nodes = await realNodes();
  await apply({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'spread', namespace: ns },
    spec: {
      replicas: nodes.length,
      selector: { matchLabels: { app: 'spread' } },
      template: {
        metadata: { labels: { app: 'spread' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'DoNotSchedule',
              labelSelector: { matchLabels: { app: 'spread' } },
              nodeAffinityPolicy: 'Honor',
              // A dead node is tainted: it must not count as a place the spread wants pods on.
              nodeTaintsPolicy: 'Honor',
            },
          ],
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchExpressions: [{ key: 'type', operator: 'NotIn', values: ['kwok'] }] },
                ],
              },
            },
          },
          containers: [container('spread', ['sleep', 'infinity'])],
        },
      },
    },
  });
  const before = await waitFor(
    `one spread pod Running on each of ${nodes.join(', ')}`,
    async () => {
      const pods = (await getJson<{ items: Pod[] }>(['pods', '-n', ns, '-l', 'app=spread'])).items;
      const ready = pods.filter((p) => isReady(p.status.conditions));
      return new Set(ready.map((p) => p.spec.nodeName)).size === nodes.length ? ready : undefined;
    },
    180_000,
    1000,
  );
  const onVictim = before.filter((p) => p.spec.nodeName === victim).map((p) => p.metadata.uid);
  assert.equal(onVictim.length, 1);

  const t0 = Date.now();
  await cli(['node', 'kill', victim]);
  assert.deepEqual(cgroupPids(nodeCgroup(victim)), [], 'no process of the node is left');
  const link = await run(
    'ip',
    ['link', 'show', nodeNetns(planNodes(nodes.length).find((n) => n.name === victim)!).hostVeth],
    {
      allowFailure: true,
    },
  );
  assert.notEqual(link.code, 0, "the node's network interface is gone");

  await waitFor(`${victim} to go NotReady`, async () => !(await nodeReady(victim)), 120_000, 1000);
  console.log(`# ${victim} NotReady ${seconds(Date.now() - t0)} after the power cut`);
  const replaced = await waitFor(
    `a replacement for the pod on ${victim} Ready on another node`,
    async () => {
      const pods = (await getJson<{ items: Pod[] }>(['pods', '-n', ns, '-l', 'app=spread'])).items;
      const fresh = pods.filter(
        (p) =>
          !before.some((b) => b.metadata.uid === p.metadata.uid) &&
          p.spec.nodeName !== victim &&
          isReady(p.status.conditions),
      );
      return fresh.length >= 1 ? fresh : undefined;
    },
    240_000,
    1000,
  );
  console.log(
    `# replacement ${replaced[0]?.metadata.name} Ready on ${replaced[0]?.spec.nodeName} ${seconds(Date.now() - t0)} after the power cut`,
  );
  assert.ok(replaced.every((p) => p.spec.nodeName !== victim));
});

void test('a started node re-registers and is Ready again', async () => {
  assert.equal(await nodeReady(victim), false, `${victim} is down before the start`);
  const t0 = Date.now();
  await cli(['node', 'start', victim]);
  assert.ok(await nodeReady(victim), `${victim} Ready`);
  console.log(`# ${victim} Ready ${seconds(Date.now() - t0)} after \`node start\``);
});

void test('a cleanly stopped node gives its pods their SIGTERM before it goes off', async () => {
  await apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'goodbye', namespace: ns },
    spec: {
      nodeName: victim,
      terminationGracePeriodSeconds: 10,
      containers: [
        container(
          'goodbye',
          [
            'bash',
            '-c',
            // The pod writes to its node's volume directory when it gets SIGTERM.
            'trap "echo got-sigterm > /out/said; exit 0" TERM; while :; do sleep 0.2; done',
          ],
          { volumeMounts: [{ name: 'out', mountPath: '/out' }] },
        ),
      ],
      volumes: [
        {
          name: 'out',
          hostPath: {
            path: '/var/lib/stackanetes/volumes/goodbye-test',
            type: 'DirectoryOrCreate',
          },
        },
      ],
    },
  });
  await waitFor(
    'pod goodbye Ready',
    async () => isReady((await getJson<Pod>(['pod', '-n', ns, 'goodbye'])).status.conditions),
    120_000,
    1000,
  );
  await cli(['node', 'stop', victim]);
  const said = readFileSync(join(nodeDirs(l, victim).volumes, 'goodbye-test', 'said'), 'utf8');
  assert.equal(said.trim(), 'got-sigterm');
  await cli(['node', 'start', victim]);
});
