// `stackanetes remediate --watch` (src/cli/remediate.ts): when the build host acts on the
// operator's findings, and the durations it takes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { parse } from 'yaml';
import { parseDuration, watchDue } from '../../../src/cli/remediate.ts';
import type { KubeObject } from '../../../src/render/kube.ts';

const doc = parse(readFileSync('examples/minimal.yaml', 'utf8')) as KubeObject;
const hour = 3_600_000;

function cloud(policy: string, remediation?: Record<string, unknown>): KubeObject {
  return {
    ...doc,
    spec: { ...(doc.spec as object), remediation: { policy } },
    ...(remediation ? { status: { remediation } } : {}),
  };
}

const reported = {
  state: 'Reported',
  startedAt: '2026-12-04T03:00:00Z',
  finishedAt: '2026-12-04T03:01:00Z',
  message: '1 of 22 images with 3 fixable packages: keystone',
  findings: 3,
};

test('watch: runs on findings the operator reported and no run here handled, with policy automatic only', () => {
  assert.match(
    watchDue(cloud('automatic', reported), undefined, 0, 24 * hour) ?? '',
    /reports 3 fixable packages \(2026-12-04T03:01:00Z\): 1 of 22 images/,
  );
  // handled already: not again until a later scan, or the interval.
  assert.equal(
    watchDue(cloud('automatic', reported), '2026-12-04T03:01:00Z', hour, 24 * hour),
    undefined,
  );
  assert.equal(
    watchDue(
      cloud('automatic', { ...reported, finishedAt: '2026-12-04T09:01:00Z' }),
      '2026-12-04T03:01:00Z',
      hour,
      24 * hour,
    )?.startsWith('the cloud reports'),
    true,
  );
  // report or off: never (the operator records; nothing is rebuilt).
  assert.equal(watchDue(cloud('report', reported), undefined, 48 * hour, 24 * hour), undefined);
  assert.equal(watchDue(cloud('off', reported), undefined, 48 * hour, 24 * hour), undefined);
  // A rolled-back run is not run again until the interval.
  const back = { ...reported, state: 'RolledBack' };
  assert.equal(watchDue(cloud('automatic', back), undefined, hour, 24 * hour), undefined);
  assert.equal(
    watchDue(cloud('automatic', back), undefined, 24 * hour, 24 * hour),
    '1440 min since the last run',
  );
  assert.equal(watchDue(cloud('automatic'), undefined, 0, 24 * hour), undefined);
});

test('durations: s, m, h, at least a minute; anything else names the option', () => {
  assert.equal(parseDuration('30m', '--every'), 30 * 60_000);
  assert.equal(parseDuration('6h', '--every'), 6 * hour);
  assert.equal(parseDuration('90s', '--every'), 90_000);
  assert.throws(() => parseDuration('10s', '--every'), /--every 10s: expected a duration of 1m/);
  assert.throws(() => parseDuration('soon', '--every'), /--every soon/);
});
