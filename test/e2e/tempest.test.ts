// Tempest, OpenStack's own test suite, against the deployed cloud, as one test of the e2e tier:
// test/e2e/tempest.sh (what it runs, and how it reaches the cloud from the external network's
// namespace) prints every skipped test with its reason and `tempest: N passed, N failed,
// N skipped`; this test passes when that line says none failed and some passed. Being a test
// file of the tier (test/ci/tiers.ts), its result is in CI's summary like every other test, and
// it is counted as skipped when the tier does not run. STACKANETES_E2E_TEMPEST=0 skips it.
// Needs root (network namespaces) and KUBECONFIG, as the rest of the tier.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { skip } from './helpers.ts';

const left =
  process.env.STACKANETES_E2E_TEMPEST === '0'
    ? 'STACKANETES_E2E_TEMPEST=0 leaves Tempest out'
    : false;

/** tempest.sh's output, passed through to this test's stderr as it comes, and its exit code. */
function runTempest(): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['test/e2e/tempest.sh'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      process.stderr.write(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), out }));
  });
}

test(
  'Tempest: the smoke tests of identity, image, compute and network and the server and network scenarios pass, none fails',
  { skip: skip || left, timeout: 2 * 3600_000 },
  async (t) => {
    const { code, out } = await runTempest();
    const totals = /^tempest: (\d+) passed, (\d+) failed, (\d+) skipped$/m.exec(out);
    assert.ok(
      totals,
      `tempest.sh exited ${code} before printing its totals (see its output above)`,
    );
    t.diagnostic(totals[0]);
    const [passed, failed] = [Number(totals[1]), Number(totals[2])];
    assert.equal(failed, 0, `${failed} Tempest tests failed (listed above)`);
    assert.ok(passed > 0, 'Tempest ran no test');
    assert.equal(code, 0, `tempest.sh exited ${code}`);
  },
);
