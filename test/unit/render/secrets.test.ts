// Secret values from a user's --secrets file are checked (characters, length) before they reach
// SQL, a shell, a URL or YAML; errors name the field and what would be accepted, never the value.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { cloudObjects } from '../../../src/cli/render.ts';
import { generateSecrets } from '../../../src/secrets/cloud-secrets.ts';
import { runCli } from '../helpers.ts';
import { cloudOf, find, fixedSecrets } from './fixtures.ts';

function secretsFile(edit: (s: Record<string, any>) => void): string {
  const s = structuredClone(generateSecrets()) as Record<string, any>;
  edit(s);
  const file = join(mkdtempSync(join(tmpdir(), 'stackanetes-secrets-')), 'cloud.secrets.yaml');
  writeFileSync(file, stringify(s), { mode: 0o600 });
  return file;
}

test('render --secrets refuses values that would break SQL, a shell or a URL, naming the field', async () => {
  const injected = "x'; DROP DATABASE nova; -- $(reboot)";
  const file = secretsFile((s) => {
    s.databaseUsers.nova = injected;
    s.keystoneAdmin = 'short';
    s.fernetKeys['1'] = 'not-a-fernet-key';
  });
  const r = await runCli(['render', '-f', 'examples/minimal.yaml', '--secrets', file]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '', 'nothing rendered');
  assert.match(
    r.stderr,
    /databaseUsers\.nova: .*accepted: 16 to 128 characters from A-Z a-z 0-9 \. _ ~ -/,
  );
  assert.match(r.stderr, /keystoneAdmin: .*accepted: 16 to 128 characters/);
  assert.match(r.stderr, /fernetKeys\.1: .*Fernet key/);
  assert.ok(!r.stderr.includes('DROP') && !r.stderr.includes('short'), 'values are never printed');
});

test('render --secrets accepts a file it generated itself', async () => {
  const file = secretsFile(() => undefined);
  const r = await runCli(['render', '-f', 'examples/minimal.yaml', '--secrets', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /kind: Secret/);
});

test('clouds.yaml keeps the region and password strings for a YAML 1.1 reader (openstacksdk)', () => {
  for (const region of ['yes', '2025', '1_000', 'null']) {
    const objs = cloudObjects(cloudOf({ region }), fixedSecrets());
    const admin = find(objs, 'Secret', 'keystone-admin');
    const clouds = parse(admin.stringData['clouds.yaml'] as string, { version: '1.1' });
    assert.equal(clouds.clouds.admin.region_name, region);
    assert.equal(clouds.clouds.admin.auth.password, admin.stringData.OS_PASSWORD);
    assert.equal(clouds.clouds.admin.auth.auth_url, `${admin.stringData.OS_AUTH_URL}`);
  }
});
