// The Kolla image contract, exercised in a real container: kolla_start copies what
// /var/lib/kolla/config_files/config.json lists (owner, perm, directories, globs, optional
// files, permissions), honours COPY_ALWAYS / COPY_ONCE, then execs the command as the image's
// service user. Also: the SBOM names every package with the version dpkg reports.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runToCompletion } from '../../../src/images/runc.ts';
import type { UnpackedImage } from '../../../src/images/runc.ts';
import { images, release, Scratch } from './helpers.ts';

let keystone: UnpackedImage;
let s: Scratch;

before(
  async () => {
    keystone = (await images(['keystone'])).keystone!;
    s = await Scratch.create('kolla');
  },
  { timeout: 45 * 60_000 },
);

after(async () => {
  await s.cleanup();
});

const configFiles = [
  {
    source: '/var/lib/kolla/config_files/keystone.conf',
    dest: '/etc/keystone/keystone.conf',
    owner: 'keystone',
    perm: '0600',
  },
  {
    source: '/var/lib/kolla/config_files/policy/*.yaml',
    dest: '/etc/keystone/policy.d/',
    owner: 'keystone:kolla',
    perm: '0640',
  },
  {
    source: '/var/lib/kolla/config_files/keys',
    dest: '/etc/keystone/fernet-keys',
    owner: 'keystone:keystone',
    perm: '0600',
  },
  {
    source: '/var/lib/kolla/config_files/absent.conf',
    dest: '/etc/keystone/absent.conf',
    optional: true,
  },
];
const files = {
  'keystone.conf': '[DEFAULT]\ndebug = true\n',
  'policy/a.yaml': '"identity:get_user": ""\n',
  'policy/b.yaml': '"identity:list_users": ""\n',
  'keys/0': 'k0',
  'keys/1': 'k1',
};

void test('kolla_start copies config with owner and mode, then runs the command as the service user', async () => {
  const dir = await s.kollaConfig(
    'copy',
    {
      command:
        'stat -c %n:%U:%G:%a /etc/keystone/keystone.conf /etc/keystone/policy.d/a.yaml /etc/keystone/policy.d/b.yaml /etc/keystone/fernet-keys /etc/keystone/fernet-keys/1 /var/log/kolla/keystone',
      config_files: configFiles,
      permissions: [
        { path: '/var/log/kolla/keystone', owner: 'keystone:kolla', perm: '0770', recurse: true },
      ],
    },
    files,
  );
  const r = await runToCompletion({
    name: 'stk-test-kolla-copy',
    image: keystone,
    workDir: s.dir,
    env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
    mounts: [{ source: dir, destination: '/var/lib/kolla/config_files', readonly: true }],
    logFile: join(s.dir, 'copy.log'),
  });
  assert.equal(r.code, 0, r.output);
  for (const line of [
    '/etc/keystone/keystone.conf:keystone:keystone:600',
    '/etc/keystone/policy.d/a.yaml:keystone:kolla:640',
    '/etc/keystone/policy.d/b.yaml:keystone:kolla:640',
    '/etc/keystone/fernet-keys:keystone:keystone:700',
    '/etc/keystone/fernet-keys/1:keystone:keystone:600',
    '/var/log/kolla/keystone:keystone:kolla:770',
  ]) {
    assert.ok(r.output.includes(line), `expected ${line} in:\n${r.output}`);
  }
  assert.match(r.output, /skipping .*absent\.conf: optional and absent/);
});

void test('a missing file that is not optional stops the container with a clear message', async () => {
  const dir = await s.kollaConfig(
    'missing',
    {
      command: 'true',
      config_files: [
        {
          source: '/var/lib/kolla/config_files/nope.conf',
          dest: '/etc/keystone/nope.conf',
          owner: 'keystone',
          perm: '0600',
        },
      ],
    },
    {},
  );
  const r = await runToCompletion({
    name: 'stk-test-kolla-missing',
    image: keystone,
    workDir: s.dir,
    env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
    mounts: [{ source: dir, destination: '/var/lib/kolla/config_files', readonly: true }],
    logFile: join(s.dir, 'missing.log'),
  });
  assert.notEqual(r.code, 0);
  assert.match(r.output, /nope\.conf is missing and not optional/);
});

void test('COPY_ONCE keeps local changes on a second start; COPY_ALWAYS overwrites them; --check notices drift', async () => {
  const dir = await s.kollaConfig(
    'once',
    { command: 'true', config_files: configFiles.slice(0, 1) },
    files,
  );
  const script = [
    'KOLLA_CONFIG_STRATEGY=COPY_ONCE kolla_set_configs',
    'echo local > /etc/keystone/keystone.conf',
    'KOLLA_CONFIG_STRATEGY=COPY_ONCE kolla_set_configs',
    'echo "once: $(cat /etc/keystone/keystone.conf)"',
    'if kolla_set_configs --check; then echo "check: same"; else echo "check: drift"; fi',
    'KOLLA_CONFIG_STRATEGY=COPY_ALWAYS kolla_set_configs',
    'echo "always: $(head -1 /etc/keystone/keystone.conf)"',
    'if kolla_set_configs --check; then echo "check: same"; else echo "check: drift"; fi',
  ].join('\n');
  const r = await runToCompletion({
    name: 'stk-test-kolla-once',
    image: keystone,
    workDir: s.dir,
    user: 'root',
    args: ['bash', '-euc', script],
    mounts: [{ source: dir, destination: '/var/lib/kolla/config_files', readonly: true }],
    logFile: join(s.dir, 'once.log'),
  });
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /once: local/);
  assert.match(r.output, /always: \[DEFAULT\]/);
  const checks = [...r.output.matchAll(/check: (\w+)/g)].map((m) => m[1]);
  assert.deepEqual(checks, ['drift', 'same']);
});

void test('`images sbom keystone` lists python3-keystone with the exact version dpkg reports in the image', () => {
  const inImage = spawnSync(
    'chroot',
    [keystone.rootfs, 'dpkg-query', '-W', '-f=${Version}', 'python3-keystone'],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(inImage.status, 0, inImage.stderr);
  const version = inImage.stdout.trim();
  assert.match(version, /^\d+:\d+\.\d+/);
  const cli = spawnSync(
    process.execPath,
    ['bin/stackanetes.js', 'images', 'sbom', 'keystone', '--release', release],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(cli.status, 0, cli.stderr);
  const line = cli.stdout.split('\n').find((l) => l.startsWith('python3-keystone '));
  assert.ok(line, `python3-keystone not in:\n${cli.stdout.slice(0, 2000)}`);
  assert.equal(line.split(/\s+/)[1], version);
  const json = spawnSync(
    process.execPath,
    ['bin/stackanetes.js', 'images', 'sbom', 'keystone', '--json'],
    { encoding: 'utf8' },
  );
  const bom = JSON.parse(json.stdout) as {
    bomFormat: string;
    components: { name: string; version: string; purl: string }[];
  };
  assert.equal(bom.bomFormat, 'CycloneDX');
  const c = bom.components.find((x) => x.name === 'python3-keystone');
  assert.equal(c?.version, version);
  assert.ok(c?.purl.startsWith('pkg:deb/debian/python3-keystone@'));
});
