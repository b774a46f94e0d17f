// The order `cluster up` and `cluster down` work in, as their step lists say (nothing runs here):
// bench/cluster.ts times the builds and a warm start by these titles.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { downSteps, upSteps } from '../../../src/cluster/cluster.ts';
import { layout } from '../../../src/cluster/layout.ts';

const at = (titles: string[], re: RegExp) => {
  const i = titles.findIndex((t) => re.test(t));
  assert.ok(i >= 0, `no step matches ${re}`);
  return i;
};

test('cluster up: builds first, the node Ready before the provisioner and kwok, simulated nodes last when asked', () => {
  const root = mkdtempSync(join(tmpdir(), 'stackanetes-steps-'));
  try {
    const l = layout(root);
    const titles = upSteps({}, l).map((s) => s.title);
    const builds = titles.filter((t) => /^(Debian packages|build |pause image|test image)/.test(t));
    assert.deepEqual(titles.slice(0, builds.length), builds, 'every build before anything starts');
    assert.ok(builds.length > 10);
    assert.ok(at(titles, /^etcd /) < at(titles, /^kube-apiserver /));
    assert.ok(at(titles, /^kubelet /) < at(titles, /^node \S+ Ready$/));
    assert.ok(at(titles, /^node \S+ Ready$/) < at(titles, /^local-path-provisioner /));
    assert.deepEqual(
      titles.slice(-2).map((t) => t.split(' ')[0]),
      ['local-path-provisioner', 'kwok'],
    );
    assert.equal(new Set(titles).size, titles.length, 'titles are unique');
    const withFake = upSteps({ fakeNodes: 5 }, l).map((s) => s.title);
    assert.deepEqual(withFake.slice(0, -1), titles);
    assert.equal(withFake.at(-1), '5 simulated nodes');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('cluster down: the nodes before the control plane, etcd last of the processes; the state only with --purge', () => {
  const l = layout(join(tmpdir(), 'stackanetes-steps-none'));
  const titles = downSteps({}, l).map((s) => s.title);
  assert.equal(titles[0], 'node containers (power off)');
  assert.ok(at(titles, /^containerd /) < at(titles, /^kube-apiserver$/));
  assert.equal(titles[at(titles, /^stray processes$/) - 1], 'etcd');
  assert.ok(!titles.includes('cluster state'));
  assert.deepEqual(
    downSteps({ purge: true }, l).map((s) => s.title),
    [...titles, 'cluster state'],
  );
});
