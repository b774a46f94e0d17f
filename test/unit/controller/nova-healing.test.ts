// Nova's side of healing (src/controller/nova-healing.ts): the pure decision table. The calls
// themselves run against the real Nova of the e2e tier (test/e2e/nova-services.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decideNova,
  reasonPrefix,
  rewriteHost,
  toEvacuate,
  type NovaFacts,
} from '../../../src/controller/nova-healing.ts';
import type { ComputeService, ServerSummary } from '../../../src/openstack/api.ts';

let ids = 0;
function service(binary: string, host: string, o: Partial<ComputeService> = {}): ComputeService {
  return {
    id: `id-${++ids}`,
    binary,
    host,
    state: 'up',
    status: 'enabled',
    forced_down: false,
    disabled_reason: null,
    updated_at: '2026-12-02T07:00:00.000000',
    ...o,
  };
}

const nodes = [
  { name: 'node-1', fenced: false },
  { name: 'node-2', fenced: false },
  { name: 'node-3', fenced: false },
];
const facts = (services: ComputeService[], o: Partial<NovaFacts> = {}): NovaFacts => ({
  services,
  pods: new Set(['nova-scheduler-abc', 'nova-conductor-def']),
  nodes,
  maxDeadFraction: 0.5,
  ...o,
});
const kinds = (f: NovaFacts) =>
  decideNova(f).map((s) => `${s.kind} ${'service' in s ? s.service.host : ''}`.trim());

test('a scheduler or conductor row whose pod is gone is removed once Nova reports it down', () => {
  const f = facts([
    service('nova-scheduler', 'nova-scheduler-abc'),
    service('nova-scheduler', 'nova-scheduler-old', { state: 'down' }),
    service('nova-conductor', 'nova-conductor-gone', { state: 'up' }),
    service('nova-conductor', 'nova-conductor-def', { state: 'down' }),
  ]);
  // The live pod's row stays (even down); a gone pod's row still reported up stays until down.
  assert.deepEqual(kinds(f), ['remove nova-scheduler-old']);
});

test('a compute row stays while its node exists, and goes when the node is gone and it is down', () => {
  const f = facts([
    service('nova-compute', 'node-1', { state: 'down' }),
    service('nova-compute', 'node-9', { state: 'down' }),
    service('nova-compute', 'node-8', { state: 'up' }),
  ]);
  assert.deepEqual(kinds(f), ['remove node-9']);
});

test('a fenced node: its compute is forced down with our reason first, evacuated after', () => {
  const fenced = nodes.map((n) => (n.name === 'node-3' ? { ...n, fenced: true } : n));
  const up = [service('nova-compute', 'node-1'), service('nova-compute', 'node-2')];
  const first = decideNova(
    facts([...up, service('nova-compute', 'node-3', { state: 'down' })], { nodes: fenced }),
  );
  assert.equal(first.length, 1);
  assert.equal(first[0]!.kind, 'forceDown');
  assert.ok(first[0]!.kind === 'forceDown' && first[0]!.reason.startsWith(reasonPrefix));
  const forced = service('nova-compute', 'node-3', {
    state: 'down',
    forced_down: true,
    status: 'disabled',
    disabled_reason: `${reasonPrefix} node node-3 fenced`,
  });
  assert.deepEqual(kinds(facts([...up, forced], { nodes: fenced })), ['evacuateFrom node-3']);
  // Disabled by an administrator (a reason not ours): ours is written over it before evacuating.
  const admin = { ...forced, disabled_reason: 'maintenance' };
  assert.deepEqual(kinds(facts([...up, admin], { nodes: fenced })), ['forceDown node-3']);
});

test('more than maxDeadFraction of the computes down: nothing is evacuated', () => {
  const fenced = nodes.map((n) => (n.name === 'node-1' ? n : { ...n, fenced: true }));
  const forced = (host: string) =>
    service('nova-compute', host, {
      state: 'down',
      forced_down: true,
      status: 'disabled',
      disabled_reason: `${reasonPrefix} node ${host} fenced`,
    });
  const steps = decideNova(
    facts([service('nova-compute', 'node-1'), forced('node-2'), forced('node-3')], {
      nodes: fenced,
    }),
  );
  assert.deepEqual(steps, [{ kind: 'holdMass', down: 2, total: 3 }]);
});

test('a node back: forced_down cleared first, enabled only once it reports up, never an admin-disabled one', () => {
  const ours = {
    status: 'disabled' as const,
    disabled_reason: `${reasonPrefix} node node-3 fenced`,
  };
  assert.deepEqual(
    kinds(
      facts([service('nova-compute', 'node-3', { ...ours, state: 'down', forced_down: true })]),
    ),
    ['unforce node-3'],
  );
  assert.deepEqual(
    kinds(facts([service('nova-compute', 'node-3', { ...ours, state: 'down' })])),
    [],
  );
  assert.deepEqual(kinds(facts([service('nova-compute', 'node-3', { ...ours, state: 'up' })])), [
    'enable node-3',
  ]);
  const admin = { status: 'disabled' as const, disabled_reason: 'maintenance' };
  assert.deepEqual(
    kinds(facts([service('nova-compute', 'node-3', { ...admin, state: 'up' })])),
    [],
  );
});

test('evacuated: only servers still on the host, idle, in a state Nova evacuates from', () => {
  const s = (id: string, o: Partial<ServerSummary>): ServerSummary => ({
    id,
    name: id,
    status: 'ACTIVE',
    'OS-EXT-SRV-ATTR:host': 'node-3',
    'OS-EXT-STS:task_state': null,
    'OS-EXT-STS:vm_state': 'active',
    ...o,
  });
  const got = toEvacuate(
    [
      s('a', {}),
      s('stopped', { 'OS-EXT-STS:vm_state': 'stopped' }),
      s('error', { 'OS-EXT-STS:vm_state': 'error' }),
      s('rebuilding', { 'OS-EXT-STS:task_state': 'rebuilding' }),
      s('moved', { 'OS-EXT-SRV-ATTR:host': 'node-2' }),
      s('shelved', { 'OS-EXT-STS:vm_state': 'shelved_offloaded' }),
    ],
    'node-3',
  );
  assert.deepEqual(
    got.map((x) => x.id),
    ['a', 'stopped', 'error'],
  );
});

test('rewriteHost puts a cluster IP in place of an in-cluster name, keeping port and path', () => {
  const ips = new Map([['keystone-api.openstack.svc', '10.96.0.12']]);
  assert.equal(
    rewriteHost('http://keystone-api.openstack.svc:5000/v3/auth/tokens', ips),
    'http://10.96.0.12:5000/v3/auth/tokens',
  );
  assert.equal(
    rewriteHost('http://keystone-api.openstack.svc:5000', ips),
    'http://10.96.0.12:5000',
  );
  assert.equal(rewriteHost('http://other.svc:1/x', ips), 'http://other.svc:1/x');
});
