// What the 2026.1 rendering differs in, and what a rendering for an upgrade step adds: uWSGI
// loads the APIs as modules from the virtualenv; Nova's compute RPC version is pinned while the
// step says so (on the computes too); the step's Job runs its command with the new image.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flatten, render } from '../../../src/render/index.ts';
import { enabledComponents } from '../../../src/plan/components.ts';
import type { UpgradeRender } from '../../../src/render/context.ts';
import { jobTaskLabel } from '../../../src/render/jobs.ts';
import { find, fixedSecrets, loadExample } from './fixtures.ts';

function objects(release: string, upgrade?: UpgradeRender) {
  const base = loadExample('minimal');
  const cloud = { ...base, spec: { ...base.spec, release } };
  return flatten(
    render(cloud, fixedSecrets(), enabledComponents(cloud), upgrade ? { upgrade } : {}),
  );
}

test('2026.1: uWSGI runs each API as a module from the virtualenv; 2025.1 keeps the scripts', () => {
  const ini = (objs: ReturnType<typeof objects>, secret: string, file: string) =>
    find(objs, 'Secret', secret).stringData[file] as string;
  const gazpacho = objects('2026.1');
  const k = ini(gazpacho, 'keystone-api-config', 'keystone-api-uwsgi.ini');
  assert.match(k, /^virtualenv = \/var\/lib\/kolla\/venv$/m);
  assert.match(k, /^module = keystone\.wsgi\.api:application$/m);
  assert.doesNotMatch(k, /wsgi-file/);
  assert.match(
    ini(gazpacho, 'nova-api-config', 'nova-api-uwsgi.ini'),
    /^module = nova\.wsgi\.osapi_compute:application$/m,
  );
  assert.match(
    find(gazpacho, 'Deployment', 'keystone-api').spec.template.spec.containers[0].image,
    /:2026\.1$/,
  );
  const epoxy = ini(objects('2025.1'), 'keystone-api-config', 'keystone-api-uwsgi.ini');
  assert.match(epoxy, /^wsgi-file = \/usr\/bin\/keystone-wsgi-public$/m);
  assert.doesNotMatch(epoxy, /virtualenv|module =/);
});

test("Nova's compute RPC version is pinned in every nova.conf while the step says so, and only then", () => {
  const conf = (objs: ReturnType<typeof objects>, secret: string) =>
    find(objs, 'Secret', secret).stringData['nova.conf'] as string;
  const pinned = objects('2026.1', { pinned: true });
  for (const s of [
    'nova-conductor-config',
    'nova-scheduler-config',
    'nova-api-config',
    'nova-compute-config',
  ]) {
    assert.match(conf(pinned, s), /\[upgrade_levels\]\ncompute = auto/, s);
  }
  assert.doesNotMatch(
    find(pinned, 'Secret', 'keystone-api-config').stringData['keystone.conf'] as string,
    /upgrade_levels/,
  );
  assert.doesNotMatch(
    conf(objects('2026.1', { pinned: false }), 'nova-conductor-config'),
    /upgrade_levels/,
  );
});

test('2026.1: nova-compute finishes its own graceful stop before its pod is killed', () => {
  const objs = objects('2026.1');
  const conf = find(objs, 'Secret', 'nova-compute-config').stringData['nova.conf'] as string;
  const opt = (name: string) => Number(new RegExp(`^${name} = (\\d+)$`, 'm').exec(conf)?.[1]);
  const manager = opt('manager_shutdown_timeout');
  const whole = opt('graceful_shutdown_timeout');
  const grace = find(objs, 'DaemonSet', 'nova-compute').spec.template.spec
    .terminationGracePeriodSeconds as number;
  // Nova's defaults (160 s, then 180 s in all) outlast the pod's grace: it was SIGKILLed mid-wait.
  assert.ok(manager > 0 && manager < whole, `manager ${manager} s within the whole ${whole} s`);
  assert.ok(whole < grace, `the whole stop ${whole} s within the pod's grace ${grace} s`);
});

test("an upgrade step's Job runs its command with the new release's image, and only that service's", () => {
  const objs = objects('2026.1', {
    pinned: false,
    job: {
      service: 'keystone',
      task: 'upgrade-expand',
      command: 'keystone-manage db_sync --expand',
    },
  });
  const jobs = objs.filter(
    (o) => o.metadata.labels?.[jobTaskLabel] === 'upgrade-expand' && o.kind === 'Job',
  );
  assert.equal(jobs.length, 1);
  const job = jobs[0]! as Record<string, any>;
  assert.match(job.metadata.name, /^keystone-upgrade-expand-[0-9a-f]+$/);
  assert.match(job.spec.template.spec.containers[0].image, /\/keystone:2026\.1$/);
  const script = find(objs, 'Secret', `${job.metadata.name}-config`).stringData['job.sh'] as string;
  assert.match(script, /keystone-manage db_sync --expand/);
  assert.equal(
    objects('2026.1').filter((o) => o.metadata.labels?.[jobTaskLabel]?.startsWith('upgrade'))
      .length,
    0,
  );
});

test("Horizon caches what it renders under its image's key, so that a roll's two images never read each other's fragments; sessions stay under the same keys", () => {
  const settings = (release: string) =>
    find(objects(release), 'Secret', 'horizon-server-config').stringData[
      'local_settings.py'
    ] as string;
  const prefix = (s: string) => /"KEY_PREFIX": "([^"]+)"/.exec(s)?.[1];
  const epoxy = settings('2025.1');
  const gazpacho = settings('2026.1');
  assert.match(prefix(epoxy) ?? '', /^horizon-[0-9a-f]{12}$/);
  assert.match(prefix(gazpacho) ?? '', /^horizon-[0-9a-f]{12}$/);
  assert.notEqual(prefix(epoxy), prefix(gazpacho));
  for (const s of [epoxy, gazpacho]) {
    assert.match(s, /^SESSION_CACHE_ALIAS = "sessions"$/m);
    // One KEY_PREFIX only: the default cache's; the sessions cache has none.
    assert.equal(s.match(/KEY_PREFIX/g)?.length, 1);
  }
});
