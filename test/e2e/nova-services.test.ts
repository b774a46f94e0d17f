// Nova service rows of pods that no longer exist are removed by the operator
// (src/controller/nova-healing.ts): nova-scheduler and nova-conductor run as Deployment pods whose
// names are their hosts, so each restart used to leave a `down` row in `openstack compute service
// list` for ever. Here the scheduler is restarted for real: its old row must be gone, its new one
// up, with the operator's Event naming the old host, and every scheduler and conductor row must
// belong to a pod that exists.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  client,
  cloudName,
  cloudReady,
  kubectl,
  namespace,
  osJson,
  pods,
  skip,
  until,
} from './helpers.ts';

interface Row {
  ID: string;
  Binary: string;
  Host: string;
  State: string;
  Status: string;
}

const rows = () => osJson<Row[]>('compute service list');

async function removedEvents(): Promise<string[]> {
  const c = await client();
  const { items } = await c.list('v1', 'Event', { namespace });
  const events = items as unknown as {
    reason?: string;
    message?: string;
    involvedObject?: { name?: string };
  }[];
  return events
    .filter((e) => e.reason === 'NovaServiceRemoved' && e.involvedObject?.name === cloudName)
    .map((e) => e.message ?? '');
}

void test('a restarted nova-scheduler pod leaves no service row behind', { skip }, async () => {
  const before = (await pods('nova-scheduler')).map((p) => p.metadata.name);
  assert.equal(before.length, 1, `one nova-scheduler pod (${before.join(', ')})`);
  const old = before[0]!;
  const first = await rows();
  assert.ok(
    first.some((r) => r.Binary === 'nova-scheduler' && r.Host === old && r.State === 'up'),
    `the running scheduler ${old} has an up row: ${JSON.stringify(first)}`,
  );
  await kubectl(['-n', namespace, 'rollout', 'restart', 'deployment/nova-scheduler']);
  await kubectl(
    ['-n', namespace, 'rollout', 'status', 'deployment/nova-scheduler', '--timeout=300s'],
    320_000,
  );
  // The old pod is gone from the API (not only replaced).
  await until(
    async () => !(await pods('nova-scheduler')).some((p) => p.metadata.name === old),
    'the old scheduler pod to be gone',
  );
  const now = (await pods('nova-scheduler')).map((p) => p.metadata.name);
  assert.equal(now.length, 1);
  const fresh = now[0]!;
  let sawDown = false;
  // Nova calls a service down 60 s (service_down_time) after its last report; the operator looks
  // every 10 s.
  const after = await until(
    async () => {
      const r = await rows();
      sawDown ||= r.some((x) => x.Host === old && x.State === 'down');
      const gone = !r.some((x) => x.Host === old);
      const up = r.some(
        (x) => x.Binary === 'nova-scheduler' && x.Host === fresh && x.State === 'up',
      );
      return gone && up ? r : undefined;
    },
    `the row of ${old} to be removed and ${fresh} to be up`,
    240_000,
    2000,
  );
  console.log(`# old row seen down before it was removed: ${sawDown}`);
  const events = await removedEvents();
  assert.ok(
    events.some((m) => m.startsWith(`nova-scheduler on ${old}:`)),
    `an Event NovaServiceRemoved names ${old}: ${JSON.stringify(events)}`,
  );
  const live = new Set(
    [...(await pods('nova-scheduler')), ...(await pods('nova-conductor'))].map(
      (p) => p.metadata.name,
    ),
  );
  const strays = after.filter(
    (r) => (r.Binary === 'nova-scheduler' || r.Binary === 'nova-conductor') && !live.has(r.Host),
  );
  assert.deepEqual(strays, [], 'every scheduler and conductor row is a pod that exists');
  // The restart disturbed Nova: the tests after this one require a Ready cloud throughout.
  await until(() => cloudReady(), 'the cloud to be Ready again after the restart', 600_000, 2000);
});
