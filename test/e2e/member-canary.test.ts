// The canary of a StatefulSet on the HA cloud (three members): `stackanetes rollout` rolls its
// last member alone first, under a partition, and the others only once that member is Ready on
// the new image and the cloud's APIs pass their checks; a broken image stops at that member and
// the two others never restart.
// - Memcached rolled to the release's own image named by digest (the same content, a real roll):
//   at some moment memcached-2 runs the new reference and is Ready while memcached-0 and -1 still
//   run the old one; at the end all three run it and the partition is back to 0.
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
  (cloudName === 'minimal' ? 'a canary member needs two members or more (the HA cloud)' : false);

function image(p: KubeObject, repo: string): string | undefined {
  return (p.spec as { containers: { image: string }[] }).containers
    .map((c) => c.image)
    .find((i) => i.includes(`/${repo}`));
}

/** The pods' name label of each StatefulSet. */
const podName: Record<string, string> = {
  memcached: 'cache-memcached',
  rabbitmq: 'messaging-rabbitmq',
};

async function members(set: string): Promise<Map<string, KubeObject>> {
  const out = new Map<string, KubeObject>();
  for (const p of await pods(podName[set] ?? set)) {
    if (!p.metadata.deletionTimestamp) out.set(p.metadata.name, p);
  }
  return out;
}

async function partition(set: string): Promise<number | undefined> {
  const s = await (await client()).get('apps/v1', 'StatefulSet', set, namespace);
  return (s.spec as { updateStrategy?: { rollingUpdate?: { partition?: number } } }).updateStrategy
    ?.rollingUpdate?.partition;
}

/** Every member of `set` on `reference`, Ready. */
function allOn(set: string, repo: string, reference: string): Promise<unknown> {
  return until(
    async () => {
      const ms = [...(await members(set)).values()];
      return ms.length === 3 && ms.every((p) => image(p, repo) === reference && isReady(p));
    },
    `all three ${set} members Ready on ${reference}`,
    900_000,
    3000,
  );
}

describe('a StatefulSet rolls its last member first', { skip: haSkip }, () => {
  after(async () => {
    // The release's own images again, whatever a failed test left.
    await patchCloud({ spec: { images: { overrides: { memcached: null, rabbitmq: null } } } });
  });

  test('memcached by digest: memcached-2 Ready on the new reference while memcached-0 and -1 keep the old one, then all three; partition back to 0', async (t: TestContext) => {
    const before = await members('memcached');
    const old = image(before.get('memcached-0')!, 'memcached')!;
    const record = await findRecord(cachePaths(), old);
    assert.ok(record, `no build record of ${old} on this machine`);
    const to = byDigest(record);
    assert.notEqual(to, old, 'the pods name the image by tag, the roll by digest');
    const seen: string[] = [];
    let canarySeen = false;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const ms = await members('memcached').catch(() => new Map<string, KubeObject>());
        const m = (n: number) => ms.get(`memcached-${n}`);
        const on = (n: number) => (m(n) ? image(m(n)!, 'memcached') : undefined);
        const line = [0, 1, 2]
          .map(
            (n) =>
              `${n}:${on(n) === to ? 'new' : on(n) === old ? 'old' : '-'}${m(n) && isReady(m(n)!) ? '+' : ''}`,
          )
          .join(' ');
        if (seen.at(-1) !== line) seen.push(line);
        if (on(2) === to && isReady(m(2)!) && on(0) === old && on(1) === old) canarySeen = true;
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    const r = await cli(['rollout', cloudName, '-n', namespace, '--image', `memcached=${to}`]);
    sampling = false;
    await sampler;
    t.diagnostic(`members (0 1 2; + Ready) as seen: ${seen.join(' | ')}`);
    t.diagnostic(r.stderr.split('\n').slice(-8).join('\n'));
    assert.equal(r.code, 0, `the rollout succeeds\n${r.stderr.slice(-3000)}`);
    assert.ok(
      canarySeen,
      'memcached-2 was Ready on the new reference while 0 and 1 ran the old one',
    );
    await allOn('memcached', 'memcached', to);
    assert.equal(await partition('memcached'), 0, 'the partition is back to 0');
    const { items } = await (
      await client()
    ).list('v1', 'Event', {
      namespace,
      fieldSelector: `involvedObject.name=${cloudName},reason=RolloutStep`,
    });
    assert.ok(
      items.some((e) =>
        String((e as { message?: string }).message).includes('canary member memcached-2'),
      ),
      'an Event says the canary member passed',
    );
    await patchCloud({ spec: { images: { overrides: { memcached: null } } } });
    await allOn('memcached', 'memcached', old);
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
    await allOn('rabbitmq', 'rabbitmq', old);
    assert.equal(await partition('rabbitmq'), 0, 'the partition is back to 0');
    const rem = (
      (await liveCloud()).status as { remediation?: Record<string, unknown> } | undefined
    )?.remediation;
    assert.equal(rem?.state, 'RolledBack', JSON.stringify(rem));
    assert.equal(rem?.failedCheck, 'canary member');
  });
});
