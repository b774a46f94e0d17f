// Image tags and records: the release's tag, images built without updates (a tag of their own,
// layers with other keys, a base layer without the upgrade), records kept per tag and found again
// by reference or manifest digest. Building needs root: test/integration/images/fix.test.ts.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  baseSetupScript,
  buildTag,
  findRecord,
  layerKeys,
  listRecords,
  recordPaths,
} from '../../../src/images/build.ts';
import { cachePaths } from '../../../src/images/paths.ts';
import { aptSource, sourcesFile } from '../../../src/images/rootfs.ts';
import { releaseRecipes } from '../../../src/images/recipes.ts';
import { runCli } from '../helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'stackanetes-tags-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

const digest = (c: string): string => `sha256:${c.repeat(64)}`;

test('a build without updates gets a tag of its own and never the release tag', () => {
  assert.equal(buildTag('2025.1', {}), '2025.1');
  assert.equal(buildTag('2025.1', { tag: 'mine' }), 'mine');
  assert.equal(buildTag('2025.1', { withoutUpdates: true }), '2025.1-without-updates');
  assert.equal(buildTag('2025.1', { withoutUpdates: true, tag: 'old' }), 'old');
  assert.throws(
    () => buildTag('2025.1', { withoutUpdates: true, tag: '2025.1' }),
    /cannot take the tag 2025\.1: it would replace the release's images/,
  );
  assert.throws(() => buildTag('2025.1', { tag: '../x' }), /not a valid image tag/);
});

test("records of the release's tag stay where they were; other tags get a directory each", () => {
  const cache = cachePaths(join(work, 'paths'));
  const dir = join(cache.root, 'images', '2025.1');
  assert.deepEqual(recordPaths(cache, '2025.1', 'keystone'), {
    record: join(dir, 'keystone.json'),
    sbom: join(dir, 'keystone.cdx.json'),
  });
  assert.equal(
    recordPaths(cache, '2025.1', 'keystone', '2025.1').record,
    join(dir, 'keystone.json'),
  );
  assert.equal(
    recordPaths(cache, '2025.1', 'keystone', '2025.1-without-updates').record,
    join(dir, 'tags', '2025.1-without-updates', 'keystone.json'),
  );
  assert.throws(() => recordPaths(cache, '2025.1', 'keystone', '../../etc'), /not a valid/);
});

test('records are listed per tag and found by reference, by manifest digest, or both', async () => {
  const cache = cachePaths(join(work, 'records'));
  const write = (name: string, tag: string, d: string): void => {
    const file = recordPaths(cache, '2025.1', name, tag).record;
    mkdirSync(join(file, '..'), { recursive: true });
    const reference = `localhost:5001/stackanetes/${name}:${tag}`;
    writeFileSync(file, JSON.stringify({ name, reference, release: '2025.1', manifestDigest: d }));
  };
  write('keystone', '2025.1', digest('a'));
  write('mariadb', '2025.1', digest('b'));
  write('keystone', '2025.1-without-updates', digest('c'));
  write('keystone', '2025.1-without-updates-fix-0123abcd', digest('d'));
  const refs = (rs: { reference: string }[]): string[] => rs.map((r) => r.reference);

  assert.deepEqual(refs(await listRecords(cache)), [
    'localhost:5001/stackanetes/keystone:2025.1',
    'localhost:5001/stackanetes/mariadb:2025.1',
  ]);
  assert.deepEqual(refs(await listRecords(cache, { tag: '2025.1-without-updates' })), [
    'localhost:5001/stackanetes/keystone:2025.1-without-updates',
  ]);
  assert.equal((await listRecords(cache, { allTags: true })).length, 4);
  assert.deepEqual(await listRecords(cache, { tag: 'never-built' }), []);

  const by = async (x: string): Promise<string | undefined> =>
    (await findRecord(cache, x))?.reference;
  assert.equal(
    await by('localhost:5001/stackanetes/keystone:2025.1-without-updates'),
    'localhost:5001/stackanetes/keystone:2025.1-without-updates',
  );
  assert.equal(
    await by(digest('d')),
    'localhost:5001/stackanetes/keystone:2025.1-without-updates-fix-0123abcd',
  );
  assert.equal(
    await by(`localhost:5001/stackanetes/keystone@${digest('c')}`),
    'localhost:5001/stackanetes/keystone:2025.1-without-updates',
  );
  assert.equal(await by(`localhost:5001/stackanetes/mariadb@${digest('c')}`), undefined);
  assert.equal(await by('localhost:5001/stackanetes/keystone:2024.2'), undefined);
  assert.equal(await by(digest('e')), undefined);
});

test('without updates, every layer has another key (the apt sources are part of it)', async () => {
  const normal = await layerKeys({ release: '2025.1', only: ['keystone'] });
  const again = await layerKeys({ release: '2025.1', only: ['keystone'] });
  const old = await layerKeys({ release: '2025.1', only: ['keystone'], withoutUpdates: true });
  assert.deepEqual([...normal.keys()], ['base', 'openstack-base', 'keystone']);
  assert.deepEqual(normal, again);
  for (const [layer, key] of normal) assert.notEqual(old.get(layer), key, layer);
});

test('the base layer upgrades to -security and -updates after writing the sources, unless built without them', () => {
  const recipes = releaseRecipes('2025.1');
  const assets = { start: '#!/bin/bash\n', setConfigs: '#!/usr/bin/python3\n' };
  const full = aptSource('trixie', recipes.extraSuites, 'http://mirror/debian');
  const script = baseSetupScript(full, assets).split('\n');
  const sources = script.findIndex((l) => l.includes('/etc/apt/sources.list.d/debian.sources'));
  const update = script.findIndex((l) => l.startsWith('apt-get update'));
  const upgrade = script.findIndex((l) => /^apt-get -y .*\bupgrade$/.test(l));
  assert.ok(sources >= 0 && sources < update && update < upgrade, script.join('\n'));
  assert.match(script[upgrade]!, /--force-confold/);
  assert.match(sourcesFile(full), /Suites: trixie trixie-updates\n/);
  assert.match(sourcesFile(full), /debian-security\nSuites: trixie-security\n/);

  const bare = aptSource('trixie', [], 'http://mirror/debian');
  assert.equal(
    sourcesFile(bare),
    'Types: deb\nURIs: http://mirror/debian\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n',
  );
  assert.doesNotMatch(baseSetupScript(bare, assets), /apt-get (update|-y .*upgrade)/);
});

test('images build --without-updates refuses the release tag before building anything', async () => {
  const r = await runCli(['images', 'build', '--without-updates', '--tag', '2025.1'], undefined, {
    STACKANETES_CACHE: join(work, 'cli'),
  });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot take the tag 2025\.1: it would replace the release's images/);
  const help = await runCli(['images', 'build', '--help']);
  assert.match(help.stdout, /--without-updates/);
  assert.match(help.stdout, /images build --only keystone --without-updates/);
});
