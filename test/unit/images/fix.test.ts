// Fixed and derived images: which packages a fix installs, the layer's cache key, the new tag,
// the script. Making them needs root: test/integration/images/fix.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  deriveKey,
  fixKey,
  fixPackages,
  fixScript,
  fixTag,
  referenceTag,
} from '../../../src/images/fix.ts';
import { aptSource, sourcesFile } from '../../../src/images/rootfs.ts';
import { releaseRecipes } from '../../../src/images/recipes.ts';

const digest = (c: string): string => `sha256:${c.repeat(64)}`;

test('a fix installs each finding at its fixed version; its key and tag follow from the image and that list', () => {
  const findings = [
    { package: 'python3-keystone', fixed: '2:27.0.0-3+deb13u6' },
    { package: 'libzstd1', fixed: '1.5.7+dfsg-1+deb13u1' },
    { package: 'libzstd1', fixed: '1.5.7+dfsg-1+deb13u1' },
  ];
  const packages = fixPackages(findings);
  assert.deepEqual(packages, [
    'libzstd1=1.5.7+dfsg-1+deb13u1',
    'python3-keystone=2:27.0.0-3+deb13u6',
  ]);

  const key = fixKey(digest('a'), packages);
  assert.match(key, /^[0-9a-f]{64}$/);
  assert.equal(fixKey(digest('a'), [...packages].reverse()), key, 'order does not matter');
  assert.notEqual(fixKey(digest('b'), packages), key, 'another image');
  assert.notEqual(fixKey(digest('a'), packages.slice(1)), key, 'other packages');
  assert.notEqual(deriveKey(digest('a'), 'rm /usr/bin/keystone-wsgi-public'), key);

  assert.equal(referenceTag('localhost:5001/stackanetes/keystone:2025.1'), '2025.1');
  assert.equal(fixTag('2025.1', key), `2025.1-fix-${key.slice(0, 8)}`);
  assert.equal(
    fixTag(`2025.1-fix-0123abcd`, key),
    `2025.1-fix-${key.slice(0, 8)}`,
    'fixing a fixed image does not pile up suffixes',
  );
  assert.ok(fixTag('t'.repeat(128), key).length <= 128);

  const sources = sourcesFile(aptSource('trixie', releaseRecipes('2025.1').extraSuites));
  const script = fixScript(sources, packages);
  assert.ok(script.includes(Buffer.from(sources).toString('base64')));
  assert.match(
    script,
    /\napt-get install --only-upgrade -y .* libzstd1=1\.5\.7\+dfsg-1\+deb13u1 python3-keystone=2:27\.0\.0-3\+deb13u6$/,
  );
  assert.ok(script.indexOf('apt-get update') < script.indexOf('apt-get install'));
});
