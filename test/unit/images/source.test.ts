// A `source` release (2026.1): the same images as 2025.1, their OpenStack code from PyPI in a
// virtualenv, each Python package at its pin; the pins in the layers' keys; the SBOM lists the
// virtualenv's packages beside Debian's, and scanning reads only Debian's.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { releaseSource } from '../../../src/catalog/releases.ts';
import { knownImages, layerKeys, runtimeConfig, venvScript } from '../../../src/images/build.ts';
import {
  constraintsFile,
  normalizeName,
  parsePythonListing,
  pypiPurl,
  unpinned,
  venvPath,
} from '../../../src/images/pypi.ts';
import { lineage, releaseRecipes, type ReleaseRecipes } from '../../../src/images/recipes.ts';
import { readSbom } from '../../../src/images/scan.ts';
import { cycloneDx, sbomPackages, sbomPythonPackages } from '../../../src/images/sbom.ts';

const epoxy = releaseRecipes('2025.1');
const gazpacho = releaseRecipes('2026.1');
const python = gazpacho.python!;

/** The images whose code is OpenStack's (built on openstack-base). */
const openstackImages = knownImages('2025.1').filter((n) =>
  lineage(epoxy, n).some((r) => r.name === 'openstack-base'),
);

test('2026.1 has an image for every image 2025.1 has, on the same Debian suite', () => {
  assert.equal(releaseSource('2026.1').install, 'source');
  assert.equal(releaseSource('2026.1').debianSuite, releaseSource('2025.1').debianSuite);
  assert.deepEqual(knownImages('2026.1'), knownImages('2025.1'));
  assert.deepEqual(
    gazpacho.recipes.map((r) => r.name),
    epoxy.recipes.map((r) => r.name),
    'the same layers, in the same order',
  );
  assert.equal(epoxy.python, undefined, '2025.1 is Debian packages only');
  assert.equal(python.venv, '/var/lib/kolla/venv');
});

test('OpenStack images get their code from the virtualenv, with the users and files of 2025.1', () => {
  assert.equal(openstackImages.length, 12, openstackImages.join(' '));
  for (const name of openstackImages) {
    const chain = lineage(gazpacho, name);
    assert.ok(
      chain.some((r) => r.venv?.packages.length),
      `${name}: something in its lineage pip-installs`,
    );
    const mine = chain.at(-1)!;
    const theirs = lineage(epoxy, name).at(-1)!;
    assert.ok(mine.versionPython, `${name} is labelled with a Python package's version`);
    assert.equal(mine.versionPackage, undefined, `${name}: no Debian package labels it`);
    assert.equal(mine.user, theirs.user, `${name}: same user`);
    assert.deepEqual(mine.files, theirs.files, `${name}: same kolla_extend_start`);
    assert.deepEqual(mine.exposedPorts, theirs.exposedPorts, `${name}: same ports`);
    assert.deepEqual(
      chain.map((r) => r.name),
      lineage(epoxy, name).map((r) => r.name),
      `${name}: same parents`,
    );
    // No Debian package of OpenStack's code: the Python comes from the virtualenv only (but for
    // libunbound's binding, which PyPI does not carry: neutron-base links Debian's in).
    for (const r of chain) {
      assert.ok(
        !r.packages.some((p) =>
          /^python3-(?!venv$|unbound$)|^(keystone|glance|nova|neutron|placement)-/.test(p),
        ),
        `${r.name} installs no Debian OpenStack/Python package: ${r.packages.join(' ')}`,
      );
    }
  }
  const keystone = gazpacho.recipes.find((r) => r.name === 'keystone')!;
  assert.deepEqual(keystone.venv?.packages, ['keystone', 'python-ldap', 'ldappool']);
  assert.ok(
    gazpacho.recipes
      .find((r) => r.name === 'openstack-base')!
      .packages.includes('uwsgi-plugin-python3'),
    "Debian's uWSGI and its python3 plugin serve the APIs",
  );
});

test('the images that are not OpenStack (infra, the operator) are 2025.1 recipes unchanged', () => {
  const infra = knownImages('2025.1').filter((n) => !openstackImages.includes(n));
  assert.ok(
    infra.includes('mariadb') && infra.includes('ovn-northd') && infra.includes('operator'),
  );
  for (const name of infra) {
    assert.deepEqual(lineage(gazpacho, name), lineage(epoxy, name), name);
    assert.ok(!lineage(gazpacho, name).some((r) => r.venv), `${name} has no virtualenv`);
  }
});

test("every Python package a recipe installs has a pin; 2026.1's services at Gazpacho's versions", () => {
  for (const r of gazpacho.recipes) {
    if (!r.venv) continue;
    assert.deepEqual(unpinned(r.venv.packages, python.pins), [], r.name);
    if (r.versionPython) assert.ok(python.pins[normalizeName(r.versionPython)], r.name);
  }
  const major = (n: string): number => Number(python.pins[n]!.split('.')[0]);
  assert.equal(major('keystone'), 29);
  assert.equal(major('glance'), 32);
  assert.equal(major('openstack-placement'), 15);
  assert.equal(major('nova'), 33);
  assert.equal(major('neutron'), 28);
  assert.equal(major('python-openstackclient'), 9);
  assert.match(python.pins.horizon!, /^25\.7\./);
  for (const name of Object.keys(python.pins))
    assert.equal(name, normalizeName(name), 'names are PEP 503-normalised');
  const c = constraintsFile({ 'oslo.config': '10.3.0', PyMySQL: '1.1.2' });
  assert.equal(c, 'oslo-config==10.3.0\npymysql==1.1.2\n');
});

test('a changed pin changes the key of every layer that pip-installs and of its children only', async () => {
  const before = await layerKeys({ release: '2026.1' });
  const bumped: ReleaseRecipes = {
    ...gazpacho,
    python: { ...python, pins: { ...python.pins, 'oslo-config': '99.0.0' } },
  };
  const after = await layerKeys({ release: '2026.1', recipes: bumped });
  const changed = [...before.keys()].filter((k) => before.get(k) !== after.get(k)).sort();
  const pipLineage = (n: string): boolean => lineage(gazpacho, n).some((r) => r.venv);
  const expected = [...before.keys()].filter(pipLineage).sort();
  assert.deepEqual(changed, expected);
  assert.ok(changed.includes('keystone') && changed.includes('nova-conductor'));
  assert.ok(!changed.includes('mariadb') && !changed.includes('base'));
  // And the release's keys are not 2025.1's (a layer is never shared across releases).
  const epoxyKeys = await layerKeys({ release: '2025.1' });
  assert.notEqual(before.get('keystone'), epoxyKeys.get('keystone'));
});

test('the pip step: constraints from the pins, build packages purged, every package checked', () => {
  const nova = gazpacho.recipes.find((r) => r.name === 'nova-compute')!;
  const s = venvScript(nova, python);
  assert.match(s, /python3 -m venv \/var\/lib\/kolla\/venv/);
  assert.match(
    s,
    /\/var\/lib\/kolla\/venv\/bin\/pip install -c \/tmp\/constraints\.txt libvirt-python/,
  );
  assert.match(s, /apt-get install [^\n]*libvirt-dev/);
  assert.match(s, /apt-get purge -y -q --auto-remove [^\n]*libvirt-dev/);
  assert.match(s, /xargs -r apt-mark manual/, "the built extension's libraries stay");
  const pins = Buffer.from(
    /echo (\S+) \| base64 -d > \/tmp\/constraints\.txt/.exec(s)![1]!,
    'base64',
  );
  assert.equal(pins.toString(), constraintsFile(python.pins));
  assert.match(s, /bin\/python3 -c '[^]*not at their pins[^]*' \/tmp\/constraints\.txt/);
  const conductor = gazpacho.recipes.find((r) => r.name === 'nova-conductor')!;
  assert.equal(venvScript(conductor, python), ':', 'nothing to pip-install');
  const glance = gazpacho.recipes.find((r) => r.name === 'glance-api')!;
  assert.doesNotMatch(venvScript(glance, python), /apt-get (install|purge)/, 'wheels only');
});

test('a source image runs from its virtualenv: PATH starts there, Kolla says source', () => {
  const keystone = gazpacho.recipes.find((r) => r.name === 'keystone')!;
  const c = runtimeConfig(keystone, 'keystone', venvPath);
  assert.deepEqual(c.Env, [
    'PATH=/var/lib/kolla/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'LANG=C.UTF-8',
    'KOLLA_BASE_DISTRO=debian',
    'KOLLA_INSTALL_TYPE=source',
    'KOLLA_SERVICE_NAME=keystone',
  ]);
  assert.deepEqual(c.Cmd, ['kolla_start']);
  assert.equal(c.User, 'keystone');
});

test('the SBOM lists the virtualenv as pypi components; scanning reads the Debian ones only', async (t) => {
  const deb = [
    {
      name: 'libc6',
      version: '2.41-12',
      arch: 'amd64',
      source: 'glibc',
      sourceVersion: '2.41-12',
      installedKiB: 12000,
    },
  ];
  const listed = parsePythonListing('oslo.config\t10.3.0\nkeystone\t29.1.0\nPyMySQL\t1.1.2\n\n');
  assert.deepEqual(
    listed.map((p) => p.name),
    ['keystone', 'oslo.config', 'PyMySQL'],
  );
  const subject = {
    reference: 'localhost:5001/stackanetes/keystone:2026.1',
    release: '2026.1',
    debianSuite: 'trixie',
    created: '2026-12-02T00:00:00Z',
  };
  const bom = cycloneDx(subject, deb, listed);
  const keystone = bom.components.find((c) => c.name === 'keystone')!;
  assert.equal(keystone.purl, 'pkg:pypi/keystone@29.1.0');
  assert.equal(keystone['bom-ref'], keystone.purl);
  assert.equal(keystone.type, 'library');
  assert.equal(
    bom.components.find((c) => c.name === 'oslo.config')!.purl,
    'pkg:pypi/oslo-config@10.3.0',
  );
  assert.equal(pypiPurl({ name: 'PyMySQL', version: '1.1.2' }), 'pkg:pypi/pymysql@1.1.2');
  assert.deepEqual(
    sbomPackages(bom).map((p) => p.name),
    ['libc6'],
  );
  assert.deepEqual(sbomPythonPackages(bom), listed);

  const dir = mkdtempSync(join(tmpdir(), 'stackanetes-sbom-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'keystone.cdx.json');
  writeFileSync(file, JSON.stringify(bom));
  assert.deepEqual(
    (await readSbom(file)).map((p) => p.name),
    ['libc6'],
    'images scan checks the Debian packages and ignores the pypi ones',
  );
  // A Debian image's SBOM is what it was: no Python packages, the same components.
  const plain = cycloneDx({ ...subject, release: '2025.1' }, deb);
  assert.deepEqual(
    plain.components.map((c) => c.purl),
    [bom.components[0]!.purl],
  );
});
