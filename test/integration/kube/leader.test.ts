// Leader election on a real Lease: two electors (each with its own client, as two replicas would
// have) never both lead; a leader that stops renewing is replaced once the lease expires; a
// leader that stops gracefully hands over at once. Hand-over times are printed, not asserted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeClient } from '../../../src/kube/client.ts';
import { LeaderElector, type Lease } from '../../../src/kube/leader.ts';
import { client, deleteNamespace, makeNamespace, seconds, skip, until } from './helpers.ts';

let admin: KubeClient;
let ns = '';
const clients: KubeClient[] = [];

before(async () => {
  if (skip) return;
  admin = await client();
  ns = await makeNamespace(admin, 'stk-leader');
});

after(async () => {
  if (skip) return;
  await deleteNamespace(admin, ns);
  admin.close();
  for (const c of clients) c.close();
});

const timing = { leaseDurationMs: 5000, renewDeadlineMs: 3000, retryPeriodMs: 500 };

interface Candidate {
  e: LeaderElector;
  leading: boolean;
  startedAt: number;
  stoppedAt: number;
}

async function candidate(
  lease: string,
  identity: string,
  overlap: { both: number },
  all: Candidate[],
): Promise<Candidate> {
  const c = await client();
  clients.push(c);
  const cand: Candidate = {
    e: undefined as unknown as LeaderElector,
    leading: false,
    startedAt: 0,
    stoppedAt: 0,
  };
  cand.e = new LeaderElector(c, {
    namespace: ns,
    name: lease,
    identity,
    ...timing,
    onStartedLeading: () => {
      cand.leading = true;
      cand.startedAt = Date.now();
      if (all.filter((x) => x.leading).length > 1) overlap.both++;
    },
    onStoppedLeading: () => {
      cand.leading = false;
      cand.stoppedAt = Date.now();
    },
  });
  all.push(cand);
  return cand;
}

void test('two electors: exactly one leads, and the Lease names it', { skip }, async () => {
  const overlap = { both: 0 };
  const all: Candidate[] = [];
  const a = await candidate('two', 'replica-a', overlap, all);
  const b = await candidate('two', 'replica-b', overlap, all);
  a.e.start();
  b.e.start();
  await until(() => a.leading || b.leading, 'a leader');
  // Watch a few renewal periods: the leadership does not flap and never doubles.
  for (let i = 0; i < 20; i++) {
    assert.equal([a, b].filter((x) => x.leading).length, 1);
    await sleep(150);
  }
  const leader = a.leading ? a : b;
  const lease = await admin.get<Lease>('coordination.k8s.io/v1', 'Lease', 'two', ns);
  assert.equal(lease.spec?.holderIdentity, leader.e.identity);
  assert.equal(lease.spec?.leaseDurationSeconds, 5);
  assert.match(lease.spec?.renewTime ?? '', /\.\d{6}Z$/);
  assert.equal(overlap.both, 0);
  await a.e.stop();
  await b.e.stop();
});

void test(
  'a leader that stops renewing is replaced within the lease duration',
  { skip },
  async () => {
    const overlap = { both: 0 };
    const all: Candidate[] = [];
    const a = await candidate('crash', 'replica-a', overlap, all);
    a.e.start();
    await until(() => a.leading, 'a leads');
    const b = await candidate('crash', 'replica-b', overlap, all);
    b.e.start();
    await sleep(1000);
    assert.equal(b.leading, false);
    // As if the process were killed: no more renewals, and the Lease is not released.
    const stoppedAt = Date.now();
    await a.e.stop({ release: false });
    await until(() => b.leading, 'b leads', 20_000);
    const handOver = b.startedAt - stoppedAt;
    console.log(
      `# hand-over after the leader stopped renewing: ${seconds(handOver)} (lease duration ${seconds(timing.leaseDurationMs)}, retry period ${seconds(timing.retryPeriodMs)})`,
    );
    const lease = await admin.get<Lease>('coordination.k8s.io/v1', 'Lease', 'crash', ns);
    assert.equal(lease.spec?.holderIdentity, 'replica-b');
    assert.equal(lease.spec?.leaseTransitions, 1);
    assert.equal(overlap.both, 0);
    await b.e.stop();
  },
);

void test(
  'a graceful stop releases the Lease and the other elector takes over at once',
  { skip },
  async () => {
    const overlap = { both: 0 };
    const all: Candidate[] = [];
    const a = await candidate('graceful', 'replica-a', overlap, all);
    a.e.start();
    await until(() => a.leading, 'a leads');
    const b = await candidate('graceful', 'replica-b', overlap, all);
    b.e.start();
    await sleep(1000);
    const stoppedAt = Date.now();
    await a.e.stop();
    const released = await admin.get<Lease>('coordination.k8s.io/v1', 'Lease', 'graceful', ns);
    assert.ok(
      released.spec?.holderIdentity === '' ||
        released.spec?.holderIdentity === 'replica-b' ||
        released.spec?.holderIdentity === undefined,
      `released lease names ${released.spec?.holderIdentity}`,
    );
    await until(() => b.leading, 'b leads', 20_000);
    const handOver = b.startedAt - stoppedAt;
    console.log(
      `# hand-over after a graceful release: ${seconds(handOver)} (lease duration ${seconds(timing.leaseDurationMs)}, retry period ${seconds(timing.retryPeriodMs)})`,
    );
    assert.equal(overlap.both, 0);
    await b.e.stop();
  },
);
