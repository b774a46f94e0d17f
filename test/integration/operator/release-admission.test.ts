// Release changes at the real API server: the CRD's CEL rules refuse a downgrade, a skip upstream
// does not allow and any change while an upgrade runs, and accept 2025.1 → 2026.1; `stackanetes
// apply` refuses the same before applying anything. No operator runs: this is admission alone.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { ApiError } from '../../../src/kube/errors.ts';
import type { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { ensureCrd } from '../../../src/controller/install.ts';
import { apiVersion, kind } from '../../../src/api/v1alpha1/spec.ts';
import { client, deleteNamespace, makeNamespace, skip } from './helpers.ts';

describe('release changes at admission', { skip }, () => {
  let c: KubeClient;
  let ns = '';

  before(async () => {
    c = await client();
    await ensureCrd(c);
    ns = await makeNamespace(c, 'release');
  });
  after(async () => {
    await deleteNamespace(c, ns);
    c.close();
  });

  const spec = (release: string, name: string): KubeObject => {
    const doc = parse(readFileSync('examples/minimal.yaml', 'utf8')) as KubeObject;
    return {
      ...doc,
      metadata: { name, namespace: ns },
      spec: { ...(doc.spec as object), release },
    };
  };
  const setRelease = (name: string, release: string) =>
    c.mergePatch(apiVersion, kind, name, ns, { spec: { release } });
  async function refused(p: Promise<unknown>): Promise<string> {
    try {
      await p;
    } catch (err) {
      assert.ok(err instanceof ApiError, String(err));
      assert.equal(err.code, 422, err.message);
      return err.message;
    }
    assert.fail('the API server accepted it');
  }

  test('2025.1 → 2026.2 (skips a SLURP) is refused, naming the allowed path; 2025.1 → 2026.1 is accepted', async () => {
    await c.apply(spec('2025.1', 'skip'));
    const message = await refused(setRelease('skip', '2026.2'));
    assert.match(message, /spec\.release may change only along an upgrade path/);
    assert.match(message, /2025\.1 → 2026\.1/);
    await setRelease('skip', '2026.1');
    const live = await c.get<KubeObject>(apiVersion, kind, 'skip', ns);
    assert.equal((live.spec as { release: string }).release, '2026.1');
  });

  test('a downgrade 2026.1 → 2025.1 is refused', async () => {
    await c.apply(spec('2026.1', 'down'));
    assert.match(await refused(setRelease('down', '2025.1')), /downgrades are refused/);
  });

  test('no release change while status.upgrade has not finished; allowed once it has', async () => {
    await c.apply(spec('2025.1', 'busy'));
    const upgrade = {
      from: '2025.1',
      to: '2026.1',
      startedAt: '2026-12-02T10:00:00Z',
      completed: [],
      step: 'preflight/keystone',
    };
    await c.applyStatus({
      apiVersion,
      kind,
      metadata: { name: 'busy', namespace: ns },
      status: { release: '2025.1', upgrade },
    });
    assert.match(
      await refused(setRelease('busy', '2026.1')),
      /cannot change while an upgrade is running/,
    );
    await c.applyStatus({
      apiVersion,
      kind,
      metadata: { name: 'busy', namespace: ns },
      status: { release: '2025.1', upgrade: { ...upgrade, finishedAt: '2026-12-02T11:00:00Z' } },
    });
    await setRelease('busy', '2026.1');
  });

  test('stackanetes apply refuses a downgrade of a cloud that runs 2026.1, and applies nothing', async () => {
    await c.apply(spec('2026.1', 'cli'));
    await c.applyStatus({
      apiVersion,
      kind,
      metadata: { name: 'cli', namespace: ns },
      status: { release: '2026.1' },
    });
    const before = await c.get<KubeObject>(apiVersion, kind, 'cli', ns);
    const file = join(mkdtempSync(join(tmpdir(), 'release-')), 'cloud.yaml');
    writeFileSync(file, stringify(spec('2025.1', 'cli')));
    const r = spawnSync(
      'node_modules/.bin/node',
      ['bin/stackanetes.js', 'apply', '-f', file, '-n', ns, '--no-wait'],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /spec\.release: 2026\.1 → 2025\.1 is a downgrade/);
    assert.match(r.stderr, /nothing was applied/);
    const after = await c.get<KubeObject>(apiVersion, kind, 'cli', ns);
    assert.equal(after.metadata.generation, before.metadata.generation);
  });
});
