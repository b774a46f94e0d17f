// An image with known fixes missing, found and fixed: keystone built from the release's Debian
// suite alone (--without-updates) has older packages than -security (krb5's libraries, libzstd1,
// …; python3-keystone too while the suite's own version is behind); the scan names them with
// their CVEs; fixImage adds one layer that upgrades what the scan found, and the result
// scans clean, carries the -security version in its SBOM and runs. A deliberately broken image
// (keystone-wsgi-public removed) is derived from it the same way. Real builds, real mirror.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildImages, findRecord, readRecord } from '../../../src/images/build.ts';
import { deriveImage, fixImage } from '../../../src/images/fix.ts';
import { cachePaths } from '../../../src/images/paths.ts';
import { releaseRecipes } from '../../../src/images/recipes.ts';
import { aptSource } from '../../../src/images/rootfs.ts';
import { runToCompletion, unpackImage } from '../../../src/images/runc.ts';
import { readSbom, scanImages } from '../../../src/images/scan.ts';
import { releaseSource } from '../../../src/catalog/releases.ts';
import { release, Scratch } from './helpers.ts';

const progress = (e: { image: string; kind: string; message: string }): void => {
  if (e.kind === 'progress' || e.kind === 'done' || e.kind === 'cached')
    process.stderr.write(`  ${e.image}: ${e.message}\n`);
};

void test(
  'keystone without updates: the scan finds packages with CVE fixes, fixImage makes an image that scans clean and runs, a broken one derives from it',
  { timeout: 60 * 60_000 },
  async () => {
    const cache = cachePaths();
    const { debianSuite, imageTag } = releaseSource(release);
    const source = aptSource(debianSuite, releaseRecipes(release).extraSuites);
    const normalBefore = await readRecord(cache, release, 'keystone');

    const built = await buildImages({
      release,
      only: ['keystone'],
      withoutUpdates: true,
      push: false,
      onEvent: progress,
    });
    const old = built.images[0]!;
    assert.equal(old.reference, `localhost:5001/stackanetes/keystone:${imageTag}-without-updates`);
    assert.deepEqual(
      await readRecord(cache, release, 'keystone'),
      normalBefore,
      "the release's keystone record is not touched",
    );
    assert.equal(
      (await readRecord(cache, release, 'keystone', `${imageTag}-without-updates`))?.manifestDigest,
      old.manifestDigest,
    );

    const before = await scanImages({
      images: [{ name: 'keystone', reference: old.reference, sbom: old.sbom }],
      source,
    });
    const findings = before.images[0]!.findings;
    // python3-keystone, when the suite's own version is behind -security's (it was until
    // trixie's 13.8 point release took +deb13u6 in); else what debootstrap put in (krb5, …)
    const found =
      findings.find((f) => f.package === 'python3-keystone') ??
      findings.find((f) => f.cves.length > 0);
    assert.ok(found, `a finding with CVEs: ${findings.map((f) => f.package).join(' ') || 'none'}`);
    assert.match(found.suite, new RegExp(`^${debianSuite}-(security|updates)$`));
    assert.ok(found.cves.length > 0, `${found.package}: its fix names CVEs`);

    const fixed = await fixImage(old, findings, { push: false, onEvent: progress });
    assert.match(fixed.reference, new RegExp(`:${imageTag}-without-updates-fix-[0-9a-f]{8}$`));
    assert.notEqual(fixed.manifestDigest, old.manifestDigest);
    assert.deepEqual(
      fixed.record.layers.slice(0, -1).map((l) => l.digest),
      old.layers.map((l) => l.digest),
      'the same layers, plus one',
    );
    assert.equal((await findRecord(cache, fixed.reference))?.manifestDigest, fixed.manifestDigest);
    assert.equal((await findRecord(cache, fixed.manifestDigest))?.reference, fixed.reference);

    const after = await scanImages({
      images: [{ name: 'keystone', reference: fixed.reference, sbom: fixed.sbom }],
      source,
    });
    assert.deepEqual(
      after.images[0]!.findings.map((f) => `${f.package} ${f.installed} → ${f.fixed}`),
      [],
      'nothing left to fix',
    );
    const sbom = await readSbom(fixed.sbom);
    for (const f of findings)
      assert.equal(sbom.find((p) => p.name === f.package)?.version, f.fixed, f.package);

    const again = await fixImage(old, findings, { push: false });
    assert.equal(again.cached, true, 'the fix layer comes from the cache the second time');
    assert.equal(again.manifestDigest, fixed.manifestDigest);

    const s = await Scratch.create('fix');
    try {
      const image = await unpackImage(cache, fixed.reference);
      const ran = await runToCompletion({
        name: 'stk-test-fixed-keystone',
        image,
        workDir: s.dir,
        args: [
          'python3',
          '-c',
          'import keystone.server.flask, importlib.metadata as m; print("keystone", m.version("keystone"))',
        ],
        logFile: join(s.dir, 'fixed.log'),
      });
      assert.equal(ran.code, 0, ran.output);
      assert.match(ran.output, /^keystone 27\./m);
      const manage = await runToCompletion({
        name: 'stk-test-fixed-keystone-manage',
        image,
        workDir: s.dir,
        args: ['keystone-manage', '--version'],
        logFile: join(s.dir, 'manage.log'),
      });
      assert.equal(manage.code, 0, manage.output);
      assert.match(manage.output, /^27\./m);

      const broken = await deriveImage(
        fixed.record,
        {
          script: 'rm /usr/bin/keystone-wsgi-public',
          tag: `${imageTag}-test-broken-wsgi`,
          description: 'keystone without keystone-wsgi-public (a broken image, for tests)',
        },
        { push: false, onEvent: progress },
      );
      assert.equal(
        broken.reference,
        `localhost:5001/stackanetes/keystone:${imageTag}-test-broken-wsgi`,
      );
      assert.equal(broken.record.derivedFrom?.manifestDigest, fixed.manifestDigest);
      const gone = await runToCompletion({
        name: 'stk-test-broken-keystone',
        image: await unpackImage(cache, broken.reference),
        workDir: s.dir,
        args: ['sh', '-c', 'test -e /usr/bin/keystone-wsgi-public; echo "exists=$?"'],
        logFile: join(s.dir, 'broken.log'),
      });
      assert.match(gone.output, /exists=1/, 'the file is gone in the derived image');
      const still = await runToCompletion({
        name: 'stk-test-fixed-keystone-wsgi',
        image,
        workDir: s.dir,
        args: ['test', '-e', '/usr/bin/keystone-wsgi-public'],
        logFile: join(s.dir, 'fixed-wsgi.log'),
      });
      assert.equal(still.code, 0, 'and still there in the image it came from');
    } finally {
      await s.cleanup();
    }
  },
);
