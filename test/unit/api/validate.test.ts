// Every malformed spec in the corpus is rejected by the library, by `validate` and by `render`,
// with the field path in the message, a non-zero exit, no stack trace and nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateText } from '../../../src/api/v1alpha1/validate.ts';
import { runCli } from '../helpers.ts';

const dir = 'test/fixtures/bad';
const corpus = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .sort()
  .map((f) => {
    const text = readFileSync(join(dir, f), 'utf8');
    return {
      file: join(dir, f),
      text,
      expect: /^# expect: (.*)$/m.exec(text)?.[1] ?? '(document)',
    };
  });

test('the corpus holds at least 30 malformed specs', () => {
  assert.ok(corpus.length >= 30, `only ${corpus.length}`);
});

for (const c of corpus) {
  test(`rejects ${c.file} at ${c.expect}`, () => {
    const r = validateText(c.text);
    assert.equal(r.ok, false);
    if (r.ok) return;
    const shown = r.problems.map((p) => `${p.path || '(document)'}: ${p.message}`);
    assert.ok(
      shown.some((s) => s.startsWith(c.expect)),
      `expected a problem at ${c.expect}, got:\n${shown.join('\n')}`,
    );
  });
}

test('validate and render refuse every bad spec with the field path, no stack, nothing written', async () => {
  const out = mkdtempSync(join(tmpdir(), 'stackanetes-bad-'));
  const runs = corpus.flatMap((c) =>
    [
      ['validate', '-f', c.file],
      ['render', '-f', c.file, '-o', join(out, 'objects')],
    ].map((args) => ({ c, args })),
  );
  // A few CLI processes at a time: each one is a real `stackanetes` start-up.
  const failures: string[] = [];
  const pool = Array.from({ length: 4 }, async () => {
    for (let run = runs.shift(); run; run = runs.shift()) {
      const { c, args } = run;
      const r = await runCli(args);
      const cmd = args.join(' ');
      if (r.code === 0) failures.push(`${cmd} exited 0`);
      if (!r.stderr.includes(c.expect))
        failures.push(`${cmd}: stderr lacks ${c.expect}:\n${r.stderr}`);
      if (/\n\s+at .+:\d+:\d+/.test(r.stderr)) failures.push(`${cmd} printed a stack trace`);
      if (r.stdout !== '') failures.push(`${cmd} printed to stdout`);
      if (existsSync(join(out, 'objects'))) failures.push(`${cmd} wrote output`);
    }
  });
  await Promise.all(pool);
  assert.deepEqual(failures, []);
});

test('the examples are valid and defaults are filled in from the schema', () => {
  for (const f of ['examples/minimal.yaml', 'examples/ha.yaml', 'examples/production.yaml']) {
    const r = validateText(readFileSync(f, 'utf8'));
    assert.ok(r.ok, f);
    if (!r.ok) continue;
    // The local examples pull on every start: a rebuilt image keeps its tag.
    assert.equal(
      r.cloud.spec.images.pullPolicy,
      f.includes('production') ? 'IfNotPresent' : 'Always',
    );
    assert.equal(r.cloud.spec.services.keystone.enabled, true);
    if (f.includes('minimal')) {
      // minimal.yaml names no node roles: all three come from the schema's defaults.
      assert.deepEqual(r.cloud.spec.nodeRoles.network, {
        matchLabels: { 'stackanetes.io/network': 'true' },
      });
    }
  }
});

test('a spec that sets one node role keeps the defaults of the others', () => {
  const r = validateText(`apiVersion: stackanetes.io/v1alpha1
kind: OpenStackCloud
metadata: {name: c}
spec:
  release: '2025.1'
  nodeRoles: {compute: {matchLabels: {hw: kvm}}}
`);
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.deepEqual(r.cloud.spec.nodeRoles.compute, { matchLabels: { hw: 'kvm' } });
  assert.deepEqual(r.cloud.spec.nodeRoles.controlPlane, {
    matchLabels: { 'stackanetes.io/control-plane': 'true' },
  });
});

test('healing: unset, nothing is fenced (method none) and the thresholds have their defaults; redfish settings get theirs', () => {
  const doc = (healing: string) => `apiVersion: stackanetes.io/v1alpha1
kind: OpenStackCloud
metadata: {name: c}
spec:
  release: '2025.1'
${healing}`;
  const plain = validateText(doc(''));
  assert.ok(plain.ok);
  if (!plain.ok) return;
  assert.deepEqual(plain.cloud.spec.healing, {
    nodeDeadSeconds: 30,
    maxDeadFraction: 0.5,
    fencing: { method: 'none' },
  });
  const redfish = validateText(
    doc(
      `  healing: {fencing: {method: redfish, redfish: {url: 'http://10.244.0.1:8000', secretName: bmc}}}`,
    ),
  );
  assert.ok(redfish.ok);
  if (!redfish.ok) return;
  assert.deepEqual(redfish.cloud.spec.healing.fencing.redfish, {
    url: 'http://10.244.0.1:8000',
    secretName: 'bmc',
    systemId: '{node}',
    timeoutSeconds: 30,
  });
  // Settings for a method not chosen are refused, with the field's path.
  const stray = validateText(
    doc(`  healing: {fencing: {redfish: {url: 'http://10.244.0.1:8000', secretName: bmc}}}`),
  );
  assert.ok(!stray.ok);
  if (stray.ok) return;
  assert.deepEqual(
    stray.problems.map((p) => p.path),
    ['spec.healing.fencing.redfish'],
  );
});
