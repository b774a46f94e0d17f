// The canary of a StatefulSet and of a DaemonSet on the HA cloud (three members, three nodes):
// `stackanetes rollout` holds the roll at one pod (a StatefulSet's last member, by its partition;
// a DaemonSet's first node, by minReadySeconds) and lets the rest go only once that pod is Ready
// on the new image and the cloud's APIs pass their checks; a broken image stops at that pod and
// the others never restart.
// - Memcached (StatefulSet) and OVN's controller (DaemonSet) rolled to the release's own image
//   named by digest (the same content, a real roll): at some moment one pod (memcached-2; one
//   node's ovn-controller) runs the new reference and is Ready while the two others still run
//   the old one; at the end all three run it and nothing is held any more.
// - RabbitMQ rolled to an image whose broker cannot start (broken on purpose): the rollout exits
//   1 with the canary member's failure, rabbitmq-0 and -1 keep their pod, image and restart
//   count, rabbitmq-2 comes back on the old image and Ready, status.remediation says RolledBack.
// Needs root (the broken image is built on this machine), like remediate.test.ts.
import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import {
  client,
  cloudName,
  containerStatus,
  isReady,
  liveCloud,
  namespace,
  namespaceOf,
  pods,
  skip,
  until,
} from './helpers.ts';
import { byDigest, patchCloud, stackanetes as cli } from './remediation.ts';
import { findRecord } from '../../src/images/build.ts';
import { deriveImage } from '../../src/images/fix.ts';
import { cachePaths } from '../../src/images/paths.ts';
import type { KubeObject } from '../../src/render/kube.ts';

const haSkip =
  skip ||
  (cloudName === 'minimal'
    ? 'a held canary needs two members or nodes or more (the HA cloud)'
    : false);

function image(p: KubeObject, repo: string): string | undefined {
  return (p.spec as { containers: { image: string }[] }).containers
    .map((c) => c.image)
    .find((i) => i.includes(`/${repo}`));
}

/** Each workload rolled here: its kind, its pods' name label, its image. */
const parts = {
  memcached: { kind: 'StatefulSet', pods: 'cache-memcached', image: 'memcached' },
  rabbitmq: { kind: 'StatefulSet', pods: 'messaging-rabbitmq', image: 'rabbitmq' },
  'ovn-controller': { kind: 'DaemonSet', pods: 'ovn-controller', image: 'ovn-controller' },
} as const;
type Part = keyof typeof parts;

async function members(part: Part): Promise<Map<string, KubeObject>> {
  const out = new Map<string, KubeObject>();
  for (const p of await pods(parts[part].pods)) {
    if (!p.metadata.deletionTimestamp) out.set(p.metadata.name, p);
  }
  return out;
}

/** Whether the workload's roll is still held (a partition above 0, minReadySeconds above 0). */
async function held(part: Part): Promise<boolean> {
  const { kind, pods: label } = parts[part];
  const w = await (await client()).get('apps/v1', kind, part, namespaceOf(label));
  const spec = w.spec as {
    minReadySeconds?: number;
    updateStrategy?: { rollingUpdate?: { partition?: number } };
  };
  return (
    (spec.minReadySeconds ?? 0) > 0 || (spec.updateStrategy?.rollingUpdate?.partition ?? 0) > 0
  );
}

/** Every pod of `part` on `reference`, Ready (three: one per member or node). */
function allOn(part: Part, reference: string): Promise<unknown> {
  return until(
    async () => {
      const ms = [...(await members(part)).values()];
      return (
        ms.length === 3 && ms.every((p) => image(p, parts[part].image) === reference && isReady(p))
      );
    },
    `all three ${part} pods Ready on ${reference}`,
    900_000,
    3000,
  );
}

async function rolloutSteps(): Promise<string[]> {
  const { items } = await (
    await client()
  ).list('v1', 'Event', {
    namespace,
    fieldSelector: `involvedObject.name=${cloudName},reason=RolloutStep`,
  });
  return items.map((e) => String((e as { message?: string }).message));
}

/**
 * Rolls `part` to its own image by digest while sampling its pods every second; whether one pod
 * (`canary`, when named) was seen Ready on the new reference while the two others ran the old.
 */
async function rollByDigest(t: TestContext, part: Part, canary?: string): Promise<string> {
  const repo = parts[part].image;
  const before = [...(await members(part)).values()];
  assert.equal(before.length, 3);
  const old = image(before[0]!, repo)!;
  const record = await findRecord(cachePaths(), old);
  assert.ok(record, `no build record of ${old} on this machine`);
  const to = byDigest(record);
  assert.notEqual(to, old, 'the pods name the image by tag, the roll by digest');
  const seen: string[] = [];
  let canarySeen: string | undefined;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const ms = [...(await members(part).catch(() => new Map<string, KubeObject>())).values()];
      const line = ms
        .map((p) => {
          const on = image(p, repo);
          return `${p.metadata.name}:${on === to ? 'new' : on === old ? 'old' : '?'}${isReady(p) ? '+' : ''}`;
        })
        .sort()
        .join(' ');
      if (seen.at(-1) !== line) seen.push(line);
      const fresh = ms.filter((p) => image(p, repo) === to && isReady(p));
      const stale = ms.filter((p) => image(p, repo) === old);
      if (
        fresh.length === 1 &&
        stale.length === 2 &&
        (!canary || fresh[0]!.metadata.name === canary)
      )
        canarySeen ??= fresh[0]!.metadata.name;
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  const r = await cli(['rollout', cloudName, '-n', namespace, '--image', `${repo}=${to}`]);
  sampling = false;
  await sampler;
  t.diagnostic(`pods (+ Ready) as seen: ${seen.join(' | ')}`);
  t.diagnostic(r.stderr.split('\n').slice(-8).join('\n'));
  assert.equal(r.code, 0, `the rollout succeeds\n${r.stderr.slice(-3000)}`);
  assert.ok(canarySeen, 'one pod was Ready on the new reference while the two others ran the old');
  await allOn(part, to);
  assert.equal(await held(part), false, 'the roll is no longer held');
  await patchCloud({ spec: { images: { overrides: { [repo]: null } } } });
  await allOn(part, old);
  return canarySeen;
}

describe('a StatefulSet and a DaemonSet roll one pod first', { skip: haSkip }, () => {
  after(async () => {
    // The release's own images again, whatever a failed test left.
    await patchCloud({
      spec: { images: { overrides: { memcached: null, rabbitmq: null, 'ovn-controller': null } } },
    });
  });

  test('memcached by digest: memcached-2 Ready on the new reference while memcached-0 and -1 keep the old one, then all three; nothing held after', async (t: TestContext) => {
    await rollByDigest(t, 'memcached', 'memcached-2');
    assert.ok(
      (await rolloutSteps()).some((m) => m.includes('canary member memcached-2 Ready')),
      'an Event says the canary member passed',
    );
  });

  test('ovn-controller by digest: one node’s pod Ready on the new reference while the two others keep the old one, then all three; nothing held after', async (t: TestContext) => {
    const canary = await rollByDigest(t, 'ovn-controller');
    t.diagnostic(`the canary was ${canary}`);
    assert.ok(
      (await rolloutSteps()).some((m) =>
        m.includes('canary the first node of DaemonSet ovn-controller Ready'),
      ),
      'an Event says the first node passed',
    );
  });

  test('a RabbitMQ image whose broker cannot start stops at rabbitmq-2: rabbitmq-0 and -1 never restart, rabbitmq-2 comes back on the old image, RolledBack', async (t: TestContext) => {
    const before = await members('rabbitmq');
    assert.equal(before.size, 3);
    const old = image(before.get('rabbitmq-0')!, 'rabbitmq')!;
    const record = await findRecord(cachePaths(), old);
    assert.ok(record, `no build record of ${old} on this machine`);
    const broken = await deriveImage(record, {
      tag: '2025.1-broken-start',
      script: 'rm -f /usr/lib/rabbitmq/bin/rabbitmq-server',
      description: 'rabbitmq whose broker cannot start (broken on purpose)',
    });
    const to = byDigest(broken);
    const kept = [0, 1].map((n) => {
      const p = before.get(`rabbitmq-${n}`)!;
      return {
        name: p.metadata.name,
        uid: p.metadata.uid,
        restarts: containerStatus(p)?.restartCount,
      };
    });
    const r = await cli(['rollout', cloudName, '-n', namespace, '--image', `rabbitmq=${to}`]);
    t.diagnostic(r.stderr.split('\n').slice(-8).join('\n'));
    assert.equal(r.code, 1, `a failed canary member exits 1\n${r.stderr.slice(-3000)}`);
    assert.match(r.stderr, /canary member rabbitmq-2/);
    const now = await members('rabbitmq');
    for (const k of kept) {
      const p = now.get(k.name);
      assert.ok(p, `${k.name} exists`);
      assert.equal(p.metadata.uid, k.uid, `${k.name} is the same pod`);
      assert.equal(containerStatus(p)?.restartCount, k.restarts, `${k.name} did not restart`);
      assert.equal(image(p, 'rabbitmq'), old, `${k.name} kept its image`);
    }
    await allOn('rabbitmq', old);
    assert.equal(await held('rabbitmq'), false, 'the roll is no longer held');
    const rem = (
      (await liveCloud()).status as { remediation?: Record<string, unknown> } | undefined
    )?.remediation;
    assert.equal(rem?.state, 'RolledBack', JSON.stringify(rem));
    assert.equal(rem?.failedCheck, 'canary member');
  });
});
