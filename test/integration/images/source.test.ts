// The 2026.1 images, a source release: OpenStack's code from PyPI in /var/lib/kolla/venv, on the
// same Debian trixie base. Each image runs, as its Kolla user, its service's programs from the
// virtualenv under their usual names, and they report 2026.1's versions (src/images/pins/2026.1.ts);
// the SBOM lists the virtualenv's packages as pypi components beside the Debian ones.
// (STACKANETES_TEST_RELEASE=2026.1 runs keystone.test.ts on these images too: db_sync, bootstrap,
// a token from Debian's uWSGI loading keystone from the virtualenv.)
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readRecord } from '../../../src/images/build.ts';
import { cachePaths } from '../../../src/images/paths.ts';
import { pins } from '../../../src/images/pins/2026.1.ts';
import { venvPath } from '../../../src/images/pypi.ts';
import { runToCompletion, type UnpackedImage } from '../../../src/images/runc.ts';
import type { CycloneDx } from '../../../src/images/sbom.ts';
import { images, Scratch } from './helpers.ts';

const release = '2026.1';
const run = promisify(execFile);

/** Per image: a program of the virtualenv, how to make it print its version, and which version. */
const programs: Record<string, { program: string; args: string; version: string }> = {
  keystone: { program: 'keystone-manage', args: '--version', version: pins.keystone! },
  'glance-api': { program: 'glance-manage', args: '--version', version: pins.glance! },
  'placement-api': {
    program: 'placement-manage',
    args: '--version',
    version: pins['openstack-placement']!,
  },
  'nova-api': { program: 'nova-manage', args: '--version', version: pins.nova! },
  'nova-conductor': { program: 'nova-conductor', args: '--version', version: pins.nova! },
  'nova-scheduler': { program: 'nova-scheduler', args: '--version', version: pins.nova! },
  'nova-novncproxy': { program: 'nova-novncproxy', args: '--version', version: pins.nova! },
  'nova-compute': { program: 'nova-compute', args: '--version', version: pins.nova! },
  'neutron-server': { program: 'neutron-rpc-server', args: '--version', version: pins.neutron! },
  'neutron-ovn-metadata-agent': {
    program: 'neutron-ovn-metadata-agent',
    args: '--version',
    version: pins.neutron!,
  },
  horizon: {
    program: 'python3',
    args: `-c 'import importlib.metadata as m, openstack_dashboard; print(m.version("horizon"))'`,
    version: pins.horizon!,
  },
  toolbox: {
    program: 'openstack',
    args: '--version',
    version: pins['python-openstackclient']!,
  },
};

/** Runs `sh -c script` in the image as its user; exit code and output. */
async function sh(
  s: Scratch,
  image: UnpackedImage | undefined,
  name: string,
  script: string,
): Promise<{ code: number | null; output: string }> {
  return runToCompletion({
    name: `stk-test-source-${name}-${Date.now()}`,
    image: image ?? assert.fail(`no image for ${name}`),
    workDir: s.dir,
    args: ['sh', '-c', script],
    logFile: join(s.dir, `${name}.log`),
  });
}

void test(
  "2026.1 keystone image: keystone-manage from the virtualenv reports 2026.1's keystone; the SBOM lists it as a pypi component",
  { timeout: 45 * 60_000 },
  async () => {
    const img = await images(['keystone'], release);
    const s = await Scratch.create('source-keystone');
    try {
      const v = await sh(s, img.keystone, 'keystone-version', 'keystone-manage --version');
      assert.equal(v.code, 0, v.output);
      assert.equal(v.output.trim(), pins.keystone, v.output);
      assert.match(pins.keystone!, /^29\./, "2026.1's keystone is 29.x");

      // The program is the virtualenv's, on Debian's Python 3.13; keystone's LDAP backend is built.
      const where = await sh(
        s,
        img.keystone,
        'keystone-where',
        `id -u; command -v keystone-manage; python3 -c 'import sys, ldap, keystone; print(sys.prefix, sys.base_prefix, "%d.%d" % sys.version_info[:2])'; ls /usr/lib/python3/dist-packages | grep -c keystone || true; command -v gcc || echo no-gcc`,
      );
      assert.equal(where.code, 0, where.output);
      const [uid, program, py, debianKeystone, gcc] = where.output.trim().split('\n');
      assert.equal(uid, '42425', 'runs as Kolla keystone');
      assert.equal(program, `${venvPath}/bin/keystone-manage`);
      assert.equal(py, `${venvPath} /usr 3.13`);
      assert.equal(debianKeystone, '0', "no Debian keystone in the image's Python");
      assert.equal(gcc, 'no-gcc', 'the compiler that built python-ldap is gone');

      const record = await readRecord(cachePaths(), release, 'keystone');
      assert.ok(record, 'an image record');
      assert.equal(record.version, pins.keystone, "labelled with keystone's version");
      const bom = JSON.parse(await readFile(record.sbom, 'utf8')) as CycloneDx;
      const keystone = bom.components.find((c) => c.purl === `pkg:pypi/keystone@${pins.keystone}`);
      assert.ok(keystone, 'keystone is a pypi component');
      assert.equal(keystone.name, 'keystone');
      assert.equal(keystone.version, pins.keystone);
      const pypi = bom.components.filter((c) => c.purl?.startsWith('pkg:pypi/'));
      assert.equal(pypi.length, record.pythonPackageCount);
      assert.ok(pypi.length > 80, `${pypi.length} Python packages`);
      for (const c of pypi) {
        const pinned = pins[c.purl!.slice('pkg:pypi/'.length).split('@')[0]!];
        assert.equal(c.version, pinned, `${c.name} is at its pin`);
      }
      assert.ok(
        bom.components.some((c) => c.purl?.startsWith('pkg:deb/debian/uwsgi-plugin-python3@')),
        "Debian's packages are listed too",
      );
      assert.ok(
        !bom.components.some((c) => c.purl?.startsWith('pkg:deb/debian/python3-keystone@')),
        'no Debian keystone',
      );
      // What `images sbom` tells a person: each kind counted apart, and both listed.
      const { stdout } = await run(process.execPath, [
        'bin/stackanetes.js',
        ...['images', 'sbom', 'keystone', '--release', release],
      ]);
      const debian = bom.components.length - pypi.length;
      assert.match(
        stdout,
        new RegExp(
          `^# ${debian} Debian packages \\(trixie\\), ${pypi.length} Python packages`,
          'm',
        ),
      );
      const lines = stdout.split('\n').filter((l) => l && !l.startsWith('#'));
      assert.equal(lines.length, bom.components.length, 'one line a component');
      assert.ok(
        lines.some((l) =>
          new RegExp(`^keystone\\s+${pins.keystone!.replaceAll('.', '\\.')}\\s+pypi$`).test(l),
        ),
        'keystone listed as pypi',
      );
    } finally {
      await s.cleanup();
    }
  },
);

void test(
  "2026.1 OpenStack images: each runs its service's programs from the virtualenv, at 2026.1's versions",
  { timeout: 90 * 60_000 },
  async () => {
    const names = Object.keys(programs);
    const img = await images(names, release);
    const s = await Scratch.create('source-all');
    try {
      for (const name of names) {
        const p = programs[name]!;
        const r = await sh(s, img[name], name, `command -v ${p.program} && ${p.program} ${p.args}`);
        assert.equal(r.code, 0, `${name}: ${r.output}`);
        const [where, ...out] = r.output.trim().split('\n');
        assert.equal(where, `${venvPath}/bin/${p.program}`, `${name}: ${r.output}`);
        assert.ok(
          out.some((l) => l.trim().split(' ').pop() === p.version),
          `${name}: ${p.program} reports ${p.version}: ${r.output}`,
        );
      }
      // Neutron's ovs library resolves the OVN databases' host names with libunbound's binding
      // (Debian's, linked into the virtualenv: PyPI has none).
      const unbound = await sh(
        s,
        img['neutron-server'],
        'unbound',
        `python3 -c 'import ovs.dns_resolve as d; print(d.unbound.__name__)'`,
      );
      assert.equal(unbound.code, 0, unbound.output);
      assert.equal(unbound.output.trim().split('\n').pop(), 'unbound', unbound.output);
      // nova-compute's libvirt binding was built against Debian's libvirt, which stays.
      const libvirt = await sh(
        s,
        img['nova-compute'],
        'libvirt',
        `python3 -c 'import libvirt; print(libvirt.getVersion() > 0)'; command -v gcc || echo no-gcc`,
      );
      assert.equal(libvirt.code, 0, libvirt.output);
      assert.deepEqual(libvirt.output.trim().split('\n'), ['True', 'no-gcc']);
    } finally {
      await s.cleanup();
    }
  },
);
