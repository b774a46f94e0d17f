// Security remediation on the real cloud, as its operator sees it:
// - Keystone built without Debian's security and stable updates (the suite as released, a real
//   older state of the archive: today krb5's libraries, libzstd1, passwd and login.defs, with
//   their CVEs; python3-keystone's fix went into trixie itself with 13.8) is rolled onto the
//   cloud; the operator's own scan (from its pod: the SBOM in the registry, the mirror) reports
//   them; `stackanetes remediate --dry-run` names those packages and CVEs; with policy automatic,
//   `stackanetes remediate --watch` acts on the operator's report: it rebuilds the image with the
//   fixed packages, rolls it to every Keystone pod through a canary and a health gate, and the
//   scan of what the cloud runs is then clean.
// - Two deliberately broken Keystone images — one whose service cannot start, one that starts and
//   answers its probes but cannot issue a token — are each stopped at the canary and never reach
//   the cloud: the Keystone pods keep their image, tokens keep being issued, the cloud stays Ready
//   throughout, and the failed check is in `stackanetes status`, status.remediation and an Event.
// At the end the cloud is put back on the release's own Keystone image. Runs after the steady
// checks (it rolls Keystone); needs root (image builds) like heal.test.ts.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import {
  client,
  cloudName,
  liveCloud,
  isReady,
  issueToken,
  keystoneAdmin,
  namespace,
  pods,
  skip,
  until,
  watchCloudReady,
} from './helpers.ts';
import {
  backToRelease,
  brokenKeystone,
  byDigest,
  keystoneImages,
  patchCloud,
  stackanetes as cli,
} from './remediation.ts';
import { findRecord, type ImageRecord } from '../../src/images/build.ts';
import { deriveImage } from '../../src/images/fix.ts';
import { cachePaths } from '../../src/images/paths.ts';
import { readSbom } from '../../src/images/scan.ts';
import type { KubeObject } from '../../src/render/kube.ts';

function remediation(c: KubeObject): Record<string, any> {
  return (c.status as { remediation?: Record<string, any> } | undefined)?.remediation ?? {};
}

async function events(reason: string): Promise<string[]> {
  const { items } = await (
    await client()
  ).list('v1', 'Event', {
    namespace,
    fieldSelector: `involvedObject.name=${cloudName},reason=${reason}`,
  });
  return items.map((e) => String((e as { message?: string }).message));
}

describe('security remediation on the real cloud', { skip }, () => {
  let keystone = '';
  let body = '';
  let release: ImageRecord | undefined;
  let unpatched: ImageRecord | undefined;

  before(async () => {
    ({ url: keystone, body } = await keystoneAdmin());
    const running = (await keystoneImages()).images;
    assert.equal(running.length, 1, `one Keystone image runs: ${running.join(', ')}`);
    release = await findRecord(cachePaths(), running[0]!);
    assert.ok(release, `the running Keystone image ${running[0]} was built here`);
  });

  after(async () => {
    // The cloud back on the release's own image (no override), whatever happened above.
    if (release) await backToRelease(release);
    else await patchCloud({ spec: { remediation: { policy: 'report' } } });
  });

  test('a scan that cannot be made (no SBOM on this machine, the mirror unreachable) exits 2 and changes nothing, even with policy automatic', async () => {
    await patchCloud({ spec: { remediation: { policy: 'automatic' } } });
    const generation = (await liveCloud()).metadata.generation;
    const images = await keystoneImages();
    const empty = mkdtempSync(join(tmpdir(), 'stackanetes-no-builds-'));
    try {
      const noSbom = await cli(['remediate', cloudName, '-n', namespace], {
        STACKANETES_CACHE: empty,
      });
      assert.equal(noSbom.code, 2, noSbom.stderr);
      assert.match(noSbom.stderr, /no SBOM for .*\/keystone@sha256:.*nothing was changed/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    const noMirror = await cli(['remediate', cloudName, '-n', namespace], {
      STACKANETES_DEBIAN_MIRROR: 'http://127.0.0.1:9/debian',
    });
    assert.equal(noMirror.code, 2, noMirror.stderr);
    assert.match(noMirror.stderr, /could not scan: .*127\.0\.0\.1:9.*nothing was changed/);
    assert.equal((await liveCloud()).metadata.generation, generation, 'the spec was not changed');
    assert.deepEqual(await keystoneImages(), images, 'the pods were not touched');
    await patchCloud({ spec: { remediation: { policy: 'report' } } });
  });

  test('keystone without security updates: the operator reports its fixable packages and CVEs by itself, remediate --watch rolls the fix to every pod, and the scan is clean', async (t: TestContext) => {
    const build = await cli(['images', 'build', '--only', 'keystone', '--without-updates']);
    assert.equal(build.code, 0, build.stderr.slice(-2000));
    unpatched = await findRecord(
      cachePaths(),
      'localhost:5001/stackanetes/keystone:2025.1-without-updates',
    );
    assert.ok(unpatched, 'the build without updates has a record');
    const onto = await cli([
      'rollout',
      cloudName,
      '-n',
      namespace,
      '--image',
      `keystone=${byDigest(unpatched)}`,
    ]);
    assert.equal(onto.code, 0, onto.stderr.slice(-3000));
    assert.deepEqual((await keystoneImages()).images, [byDigest(unpatched)]);

    // The operator scans by itself once the cloud is Ready on its new spec (policy report): from
    // the SBOM pushed beside the image and the mirror's -security suite, read from its pod.
    const digest = unpatched.manifestDigest;
    const found = await until(
      async () => {
        const { items } = await (
          await client()
        ).list('v1', 'Event', {
          namespace,
          fieldSelector: `involvedObject.name=${cloudName},reason=RemediationFinding`,
        });
        return items.find(
          (e) =>
            (e as { source?: { component?: string } }).source?.component ===
              'stackanetes-operator' &&
            String((e as { message?: string }).message).includes(`/keystone@${digest}`),
        );
      },
      `the operator's own scan to report keystone@${digest}`,
      10 * 60_000,
      5000,
    );
    const said = String((found as { message?: string }).message);
    t.diagnostic(`operator: ${said.slice(0, 400)}`);
    assert.match(said, /CVE-\d{4}-\d+/);
    const scanned = await liveCloud();
    const cond = (
      (scanned.status as { conditions?: { type: string; reason: string; message: string }[] })
        .conditions ?? []
    ).find((c) => c.type === 'Remediation');
    assert.equal(cond?.reason, 'VulnerableImages', JSON.stringify(cond));
    assert.match(cond.message, /keystone/);
    assert.equal(remediation(scanned).state, 'Reported');

    const dry = await cli(['remediate', cloudName, '-n', namespace, '--dry-run']);
    assert.equal(dry.code, 1, `findings: exit 1\n${dry.stderr.slice(-3000)}`);
    assert.match(dry.stderr, /keystone \(.*without-updates.*\): .+ → .+; CVEs: .*CVE-\d{4}-\d+/);

    // Policy automatic, and the build host watching: `remediate --watch` acts on what the
    // operator reports (it scans again once the cloud is Ready on the changed policy).
    await patchCloud({ spec: { remediation: { policy: 'automatic' } } });
    const watch = spawn(
      process.execPath,
      ['bin/stackanetes.js', 'remediate', cloudName, '-n', namespace, '--watch'],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let watched = '';
    watch.stderr.on('data', (d: Buffer) => (watched += d.toString()));
    try {
      await until(
        () => /remediate ended with exit status \d/.test(watched),
        'remediate --watch to run once on the findings and end that run',
        30 * 60_000,
        2000,
      );
    } finally {
      watch.kill('SIGTERM');
    }
    t.diagnostic(
      watched
        .split('\n')
        .filter((l) => /✔|✖|rolled|rebuil|scan|remediat/.test(l))
        .join('\n'),
    );
    assert.match(watched, /remediating: the cloud reports \d+ fixable packages/);
    assert.match(watched, /remediate ended with exit status 0/, watched.slice(-4000));
    const now = await keystoneImages();
    assert.equal(
      now.images.length,
      1,
      `every Keystone pod runs one image: ${now.images.join(', ')}`,
    );
    assert.notEqual(now.images[0], byDigest(unpatched));
    const fixed = await findRecord(cachePaths(), now.images[0]!);
    assert.ok(fixed, `the image the pods run (${now.images[0]}) is the fix built here`);
    assert.ok(now.imageIds.length > 0, 'the pods report the digest they started from');
    assert.ok(
      now.imageIds.every((id) => id.endsWith(fixed.manifestDigest)),
      `the pods started from ${fixed.manifestDigest}: ${now.imageIds.join(', ')}`,
    );
    // Every package the fix upgraded is at its fixed version in the SBOM of what the pods run.
    assert.ok(fixed.upgraded?.length, 'the fix upgraded packages');
    const installed = new Map((await readSbom(fixed.sbom)).map((p) => [p.name, p.version]));
    const before = new Map((await readSbom(unpatched.sbom)).map((p) => [p.name, p.version]));
    for (const pv of fixed.upgraded) {
      const [name, version] = pv.split('=') as [string, string];
      assert.equal(installed.get(name), version, `${name} in the running image`);
      assert.notEqual(before.get(name), version, `${name} was older before`);
    }
    const after = await cli(['remediate', cloudName, '-n', namespace, '--dry-run']);
    assert.equal(after.code, 0, `clean: exit 0\n${after.stderr.slice(-3000)}`);
    const r = remediation(await liveCloud());
    assert.equal(r.state, 'Succeeded', JSON.stringify(r));
    assert.equal(await issueToken(keystone, body), 201);
  });

  for (const broken of [
    { what: 'whose service cannot start', step: brokenKeystone.start, failed: /canary pod/ },
    {
      what: 'that starts and answers its probes but cannot issue a token',
      step: brokenKeystone.token,
      failed: /identity|:5000/,
    },
  ]) {
    test(`a keystone image ${broken.what} is stopped at the canary: pods keep their image, tokens keep working, the cloud stays Ready`, async (t: TestContext) => {
      const base = await findRecord(cachePaths(), (await keystoneImages()).images[0]!);
      assert.ok(base);
      const derived = await deriveImage(base, broken.step);
      // Ready to begin with, as of the spec now (the roll before this one may have made the
      // scheduler preempt pods for its surge pod on the full node; they are back first).
      await until(
        async () => {
          const c = await liveCloud();
          const r = (
            c.status as {
              conditions?: { type: string; status: string; observedGeneration?: number }[];
            }
          ).conditions?.find((x) => x.type === 'Ready');
          return r?.status === 'True' && r.observedGeneration === c.metadata.generation;
        },
        'the cloud Ready at its current generation',
        600_000,
        2000,
      );
      const before = await keystoneImages();
      const ready = await watchCloudReady();
      let tokens = 0;
      let tokenFailures = 0;
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const s = await issueToken(keystone, body);
          tokens++;
          if (s !== 201) tokenFailures++;
          await new Promise((r) => setTimeout(r, 500));
        }
      })();
      const r = await cli([
        'rollout',
        cloudName,
        '-n',
        namespace,
        '--image',
        `keystone=${byDigest(derived)}`,
      ]);
      polling = false;
      await poller;
      await ready.stop();
      t.diagnostic(r.stderr.split('\n').slice(-6).join('\n'));
      assert.equal(r.code, 1, `a failed gate exits 1\n${r.stderr.slice(-3000)}`);
      assert.deepEqual((await keystoneImages()).images, before.images, 'the pods keep their image');
      assert.deepEqual(ready.notReady, [], 'the cloud stayed Ready');
      assert.ok(tokens > 0);
      assert.equal(
        tokenFailures,
        0,
        `${tokenFailures} of ${tokens} token requests failed during the roll-out`,
      );
      const rem = remediation(await liveCloud());
      assert.equal(rem.state, 'RolledBack');
      assert.match(String(rem.failedCheck), broken.failed);
      const status = await cli(['status', cloudName, '-n', namespace]);
      assert.match(status.stdout, /Remediation: RolledBack \(failed: /);
      assert.ok((await events('CanaryFailed')).some((m) => m.includes(derived.manifestDigest)));
      const canaries = await (
        await client()
      ).list('apps/v1', 'Deployment', {
        namespace,
        labelSelector: 'stackanetes.io/canary-of',
      });
      assert.deepEqual(
        canaries.items.map((d) => d.metadata.name),
        [],
        'no canary is left behind',
      );
      assert.ok((await pods('keystone-api')).some(isReady));
    });
  }

  test('a rollout killed once its canary passed and it changed the spec is finished by the next run: no second canary, every Keystone pod on the new image', async (t: TestContext) => {
    const rel = release;
    assert.ok(rel);
    const to = byDigest(rel);
    assert.notDeepEqual((await keystoneImages()).images, [to], 'the pods run another image');
    const args = ['rollout', cloudName, '-n', namespace, '--image', `keystone=${to}`];
    const passedOf = async () =>
      (await events('RolloutStep')).filter((m) => m.includes(`canary of ${to} passed`)).length;
    const passedBefore = await passedOf();
    const resumedBefore = (await events('RolloutResumed')).length;
    const first = spawn(process.execPath, ['bin/stackanetes.js', ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let firstLog = '';
    first.stderr.on('data', (d: Buffer) => (firstLog += d.toString()));
    const exited = new Promise<number | null>((r) => first.on('exit', (code) => r(code)));
    try {
      await until(
        async () => {
          const c = await liveCloud();
          const digest = (
            c.spec as { images?: { overrides?: Record<string, { digest?: string }> } }
          ).images?.overrides?.keystone?.digest;
          return remediation(c).step === 'roll' && digest === rel.manifestDigest;
        },
        'the first run past its canary, the override changed',
        600_000,
        250,
      );
    } finally {
      first.kill('SIGKILL');
    }
    assert.equal(await exited, null, 'the first run was killed, it did not finish');
    t.diagnostic(`first run, killed: ${firstLog.split('\n').slice(-4).join(' | ')}`);
    assert.equal(remediation(await liveCloud()).state, 'RollingOut');

    const second = await cli(args);
    t.diagnostic(second.stderr.split('\n').slice(0, 8).join('\n'));
    assert.equal(second.code, 0, second.stderr.slice(-3000));
    assert.match(second.stderr, /resuming the roll to .* that a killed run left after its canary/);
    assert.doesNotMatch(second.stderr, /canary keystone-api-canary: 1 pod/, 'no second canary');
    assert.equal((await passedOf()) - passedBefore, 1, 'one canary passed its gate over both runs');
    assert.equal((await events('RolloutResumed')).length - resumedBefore, 1, 'one resumed roll');
    assert.deepEqual((await keystoneImages()).images, [to]);
    const left = (await pods('keystone-api')).filter((p) => !p.metadata.deletionTimestamp);
    assert.ok(left.length > 0 && left.every(isReady), 'every Keystone pod Ready');
    assert.equal(remediation(await liveCloud()).state, 'Succeeded');
  });
});
