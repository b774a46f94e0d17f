// The processes of a roll step move one at a time, also when an earlier step already moved them
// to the new release: Nova's unpin step changes every Nova process's nova.conf, and on the HA
// upgrade bench all six started new pods in the same 30 s (44 and 52 requests failed there). And
// what a roll creates is paced too: a new Deployment grows one pod at a time, a DaemonSet settles
// on each node before the next.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getCatalog, knownReleases } from '../../../src/catalog/index.ts';
import { planUpgrade } from '../../../src/plan/upgrade.ts';
import { enabledComponents } from '../../../src/plan/components.ts';
import { flatten, render } from '../../../src/render/index.ts';
import {
  growingReplicas,
  mixRendering,
  paceRoll,
  processRolled,
  rollingWorkloads,
  stepBefore,
  upgradeRender,
} from '../../../src/controller/upgrade.ts';
import { find, fixedSecrets, loadExample } from '../render/fixtures.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { settleSeconds } from '../../../src/render/probes.ts';

const all = ['keystone', 'glance', 'placement', 'nova', 'neutron', 'horizon'] as const;
const plan = planUpgrade(getCatalog('2025.1'), getCatalog('2026.1'), all, knownReleases());
const unpin = plan.steps.find((s) => s.id === 'nova/unpin')!;
const before = plan.steps.slice(0, plan.steps.indexOf(unpin)).map((s) => s.id);

test('in the unpin step, the Nova processes whose turn has not come are held; the first is not', () => {
  const rolled = (done: string[]) => (w: string) => done.includes(w);
  const held = (...args: Parameters<typeof rollingWorkloads>) => rollingWorkloads(...args).held;
  assert.deepEqual(
    [...held(plan, before, unpin, rolled([]))],
    ['nova-scheduler', 'nova-api', 'nova-metadata', 'nova-novncproxy', 'nova-compute'],
  );
  assert.deepEqual(
    [...held(plan, before, unpin, rolled(['nova-conductor', 'nova-scheduler']))],
    ['nova-metadata', 'nova-novncproxy', 'nova-compute'],
  );
  // Each still counts as on the new release (an earlier step moved it).
  assert.ok(rollingWorkloads(plan, before, unpin, rolled([])).moved.has('nova-compute'));
  // A roll step whose processes no earlier step moved holds nothing: they stay on the old release.
  const control = plan.steps.find((s) => s.id === 'nova/control-plane')!;
  const upTo = plan.steps.slice(0, plan.steps.indexOf(control)).map((s) => s.id);
  assert.equal(held(plan, upTo, control, rolled([])).size, 0);
});

test("a held process keeps the step before's nova.conf (pinned); the moving one gets the unpinned one", () => {
  const base = loadExample('minimal');
  const at = (release: string) => ({ ...base, spec: { ...base.spec, release } });
  const components = enabledComponents(at('2026.1'));
  const from = render(at('2025.1'), fixedSecrets(), components, {});
  const target = (step: typeof unpin | undefined) =>
    render(at('2026.1'), fixedSecrets(), components, { upgrade: upgradeRender(step) });
  const { moved, held } = rollingWorkloads(plan, before, unpin, () => false);
  const mixed = mixRendering(from, target(unpin), moved, undefined);
  const out = flatten(mixRendering(mixed, target(stepBefore(plan, unpin)), held, undefined));
  const conf = (secret: string) => find(out, 'Secret', secret).stringData['nova.conf'] as string;
  assert.doesNotMatch(conf('nova-conductor-config'), /upgrade_levels/);
  for (const s of ['nova-scheduler-config', 'nova-api-config', 'nova-compute-config'])
    assert.match(conf(s), /\[upgrade_levels\]\ncompute = auto/, s);
  assert.match(
    find(out, 'Deployment', 'nova-scheduler').spec.template.spec.containers[0].image,
    /:2026\.1$/,
  );
});

test('a Deployment the upgrade creates starts one pod and grows by one once all it has are available', () => {
  const live = (replicas: number, available: number, observed = 1) =>
    ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'neutron-periodic-workers', namespace: 'openstack', generation: 1 },
      spec: { replicas },
      status: {
        observedGeneration: observed,
        availableReplicas: available,
        updatedReplicas: replicas,
      },
    }) as KubeObject;
  assert.equal(growingReplicas(3, undefined), 1, 'not created yet');
  assert.equal(growingReplicas(3, live(1, 0)), 1, 'its pod not yet available');
  assert.equal(growingReplicas(3, live(1, 1)), 2);
  assert.equal(growingReplicas(3, live(2, 1)), 2);
  assert.equal(growingReplicas(3, live(2, 2, 0)), 2, 'its last change not observed yet');
  assert.equal(growingReplicas(3, live(2, 2)), 3);
  assert.equal(growingReplicas(3, live(3, 1)), 3, 'never shrunk once it has them');
  assert.equal(growingReplicas(1, undefined), 1);
});

test("the Neutron roll: the workers' new Deployments grow one pod at a time, the metadata agents' DaemonSet settles 20 s a node, and the step waits for every replica", () => {
  const base = loadExample('ha');
  const at = (release: string) => ({ ...base, spec: { ...base.spec, release } });
  const components = enabledComponents(at('2026.1'));
  const roll = plan.steps.find((s) => s.id === 'neutron/roll')!;
  const from = render(at('2025.1'), fixedSecrets(), components, {});
  const target = render(at('2026.1'), fixedSecrets(), components, { upgrade: upgradeRender(roll) });
  const all = new Set(roll.processes!.map((p) => `neutron-${p}`));
  const mixed = mixRendering(from, target, all, undefined);
  const paced = flatten(paceRoll(mixed, all, () => undefined));
  assert.equal(find(paced, 'Deployment', 'neutron-periodic-workers').spec.replicas, 1);
  assert.equal(find(paced, 'Deployment', 'neutron-ovn-maintenance-worker').spec.replicas, 1);
  assert.equal(
    find(paced, 'DaemonSet', 'neutron-ovn-metadata-agent').spec.minReadySeconds,
    settleSeconds,
  );
  // What was not moved is left as rendered (no settle on Nova's computes in this pass).
  assert.equal(find(paced, 'DaemonSet', 'nova-compute').spec.minReadySeconds, undefined);
  // Live as applied and Ready, but with 1 of its 3 replicas: not rolled.
  const workers = find(paced, 'Deployment', 'neutron-periodic-workers') as KubeObject & {
    spec: { replicas: number };
  };
  const ready = () => true;
  const get = (w: KubeObject) => (w.metadata.name === workers.metadata.name ? workers : undefined);
  assert.equal(processRolled(target, 'neutron-periodic-workers', get, ready), false);
  const full = { ...workers, spec: { ...workers.spec, replicas: 3 } };
  assert.equal(
    processRolled(target, 'neutron-periodic-workers', () => full, ready),
    true,
  );
});
