// The cloud's one-shot work on the real cluster: the Fernet key rotation CronJob run by hand
// (`kubectl create job --from=cronjob/…`), and Jobs that fail — a schema migration that cannot
// run and a database login that is refused — as the operator reports them: the component's
// condition False with a reason and a message naming the Job, the cloud not Ready, and Ready again
// once the cause is fixed. Runs before heal.test.ts; it changes the cloud and puts it back.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import {
  client,
  cloudConditions,
  cloudName,
  cloudReady,
  getPod,
  keystoneAdmin,
  kubectl,
  mariadbSql,
  newToken,
  namespace,
  pods,
  isReady,
  skip,
  until,
  type CloudCondition,
} from './helpers.ts';
import type { KubeObject } from '../../src/render/kube.ts';

const stamp = Date.now().toString(36);
/** Tries of a failing Job here (spec.jobs.retries, patched for this test; 6 by default, ~10 min). */
const retries = 1;
/** A failed Job is reported after its retries: 2 tries, 10 s of back-off between them. */
const jobFailsWithinMs = 8 * 60_000;

/** SQL as MariaDB's root, inside mariadb-0. */
const sql = (query: string) => mariadbSql('mariadb-0', query, 120_000);

function patchCloud(patch: object): Promise<string> {
  return kubectl([
    ...['-n', namespace, 'patch', 'openstackcloud', cloudName, '--type', 'merge'],
    ...['-p', JSON.stringify({ spec: patch })],
  ]);
}

/** The cloud's Jobs for a component's task (one per set of inputs), newest first, not being deleted. */
async function jobsOf(component: string, task: string): Promise<KubeObject[]> {
  const c = await client();
  const { items } = await c.list<KubeObject>('batch/v1', 'Job', {
    namespace,
    labelSelector: `stackanetes.io/component=${component},stackanetes.io/job-task=${task}`,
  });
  return items
    .filter((j) => !j.metadata.deletionTimestamp)
    .sort((a, b) =>
      String(b.metadata.creationTimestamp).localeCompare(String(a.metadata.creationTimestamp)),
    );
}

function jobFinished(job: KubeObject): 'Complete' | 'Failed' | undefined {
  const conds = (job.status as { conditions?: { type: string; status: string }[] } | undefined)
    ?.conditions;
  return conds?.find((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True')
    ?.type as 'Complete' | 'Failed' | undefined;
}

async function condition(type: string): Promise<CloudCondition | undefined> {
  return (await cloudConditions()).find((c) => c.type === type);
}

/** Waits until the component's condition is False with `reason`; returns it. */
function conditionBecomes(type: string, reason: string): Promise<CloudCondition> {
  return until(
    async () => {
      const c = await condition(type);
      return c?.status === 'False' && c.reason === reason ? c : undefined;
    },
    `${type} to be False with reason ${reason}`,
    jobFailsWithinMs,
    5000,
  );
}

async function configHash(deployment: string): Promise<string | undefined> {
  const c = await client();
  const d = await c.get<KubeObject>('apps/v1', 'Deployment', deployment, namespace);
  return (d.spec as { template: { metadata: { annotations?: Record<string, string> } } }).template
    .metadata.annotations?.['stackanetes.io/config-hash'];
}

describe('Fernet key rotation', { skip }, () => {
  let keystone = '';
  let body = '';
  const job = `keystone-fernet-rotate-e2e-${stamp}`;

  before(async () => {
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
    ({ url: keystone, body } = await keystoneAdmin());
  });

  after(async () => {
    await kubectl(['-n', namespace, 'delete', 'job', job, '--ignore-not-found']).catch(() => '');
  });

  const token = () => newToken(keystone, body);

  /** GET /v3/auth/tokens: does Keystone accept `subject` as a valid token? */
  async function validates(subject: string): Promise<number> {
    const r = await fetch(`${keystone}/v3/auth/tokens`, {
      headers: { 'x-auth-token': await token(), 'x-subject-token': subject },
    });
    await r.arrayBuffer();
    return r.status;
  }

  async function keys(): Promise<Record<string, string>> {
    const c = await client();
    const s = await c.get('v1', 'Secret', 'keystone-fernet-keys', namespace);
    return (s.data ?? {}) as Record<string, string>;
  }

  test('a run of the CronJob rotates the keys and tokens issued before still validate', async (t) => {
    const old = await token();
    const before = await keys();
    const highest = (k: Record<string, string>) => Math.max(...Object.keys(k).map(Number));
    await kubectl(['-n', namespace, 'create', 'job', job, '--from=cronjob/keystone-fernet-rotate']);
    const c = await client();
    const done = await until(
      async () => {
        const j = await c.get<KubeObject>('batch/v1', 'Job', job, namespace).catch(() => undefined);
        if (!j) throw new Error(`Job ${job} is gone before it finished`);
        return jobFinished(j);
      },
      `Job ${job} to finish`,
      5 * 60_000,
      2000,
    );
    assert.equal(done, 'Complete', `the rotation Job completed`);

    const after = await keys();
    t.diagnostic(
      `keys before: ${Object.keys(before).join(',')}; after: ${Object.keys(after).join(',')}`,
    );
    const primary = String(highest(after));
    assert.equal(highest(after), highest(before) + 1, 'a new primary key (the highest index)');
    assert.equal(after[primary], before['0'], 'the staged key 0 became the primary');
    assert.notEqual(after['0'], before['0'], 'a new staged key 0');

    // The kubelet refreshes the mounted Secret in the running Keystone within a minute or so.
    await until(
      async () => {
        const pod = (await pods('keystone-api')).find(isReady);
        if (!pod) return false;
        const ls = await kubectl([
          '-n',
          namespace,
          'exec',
          pod.metadata.name,
          '-c',
          'api',
          '--',
          'ls',
          '/etc/keystone/fernet-keys',
        ]);
        return ls.split(/\s+/).includes(primary);
      },
      `Keystone to see key ${primary}`,
      5 * 60_000,
      3000,
    );
    assert.equal(await validates(old), 200, 'a token issued before the rotation still validates');
    assert.equal(await validates(await token()), 200, 'a token issued after it validates');
  });
});

describe('Jobs that fail', { skip, concurrency: 1 }, () => {
  // placement: its database says it is at a schema revision this release does not know (as after
  // a downgrade), and a config change makes a new db-sync Job run the migration.
  // glance: MariaDB refuses root logins from the pod network (a root@'<pod net>' account with
  // another password: the database's own probes log in over 127.0.0.1 and keep working), and
  // glance's db-init Job is deleted, so the operator runs it again.
  // spec.jobs.retries is 1 meanwhile, so each fails after two tries instead of ten minutes.
  let placementRevisions: string[] = [];
  let podNet = '';
  let placementHash: string | undefined;
  let glanceHash: string | undefined;
  let injected = false;

  async function restore(): Promise<void> {
    if (placementRevisions.length > 0) {
      const values = placementRevisions.map((r) => `('${r}')`).join(',');
      await sql(
        `DELETE FROM placement.alembic_version; INSERT INTO placement.alembic_version VALUES ${values}`,
      );
    }
    await patchCloud({
      services: { placement: { config: { stackanetes_e2e: null } } },
      jobs: { retries: null },
    });
    if (podNet) await sql(`DROP USER IF EXISTS 'root'@'${podNet}'`);
    // The operator never runs a failed Job again with the same inputs: deleting it is the retry.
    for (const j of await jobsOf('glance', 'db-init'))
      if (jobFinished(j) === 'Failed')
        await kubectl(['-n', namespace, 'delete', 'job', j.metadata.name, '--wait=false']);
  }

  before(async () => {
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
    placementHash = await configHash('placement-api');
    glanceHash = await configHash('glance-api');

    placementRevisions = (await sql('SELECT version_num FROM placement.alembic_version'))
      .trim()
      .split('\n')
      .filter(Boolean);
    assert.ok(placementRevisions.length > 0, 'placement has a schema revision');
    const mariadb = await getPod('mariadb-0');
    const ip = (mariadb?.status as { podIP?: string } | undefined)?.podIP ?? '';
    podNet = `${ip.split('.').slice(0, 2).join('.')}.%`;
    assert.match(podNet, /^\d+\.\d+\.%$/, `the pod network from mariadb-0's address ${ip}`);

    injected = true;
    await patchCloud({ jobs: { retries } });
    await sql("UPDATE placement.alembic_version SET version_num = 'e2e0000missing'");
    await patchCloud({
      services: { placement: { config: { stackanetes_e2e: { marker: stamp } } } },
    });
    const wrong = randomBytes(12).toString('base64url');
    await sql(`CREATE USER 'root'@'${podNet}' IDENTIFIED BY '${wrong}'`);
    const init = (await jobsOf('glance', 'db-init'))[0];
    assert.ok(init, 'glance has a db-init Job');
    await kubectl(['-n', namespace, 'delete', 'job', init.metadata.name, '--wait=true']);
  });

  after(async () => {
    if (injected) await restore().catch((err: unknown) => console.log(`# restore: ${String(err)}`));
  });

  /** The component's condition once its Job has failed, asserted to name that Job. */
  async function reported(
    component: string,
    task: string,
    type: string,
    reason: string,
    t: TestContext,
  ) {
    const c = await conditionBecomes(type, reason);
    t.diagnostic(`${type}: ${c.reason}: ${c.message}`);
    const failed = (await jobsOf(component, task)).find((j) => jobFinished(j) === 'Failed');
    assert.ok(failed, `a ${component} ${task} Job failed`);
    const spec = failed.spec as { backoffLimit?: number };
    assert.equal(spec.backoffLimit, retries, 'after the retries spec.jobs.retries asks for');
    assert.ok(
      c.message.includes(`job ${failed.metadata.name} failed`),
      `the message names it: ${c.message}`,
    );
    const ready = await condition('Ready');
    assert.equal(ready?.status, 'False', 'the cloud is not Ready');
    assert.match(ready?.reason ?? '', /Failed$/, `Ready says a step failed (${ready?.reason})`);
    return c;
  }

  test('a db-sync whose migration fails: placement is not Ready, the condition names the Job, nothing rolled', async (t) => {
    await reported('placement', 'db-sync', 'PlacementReady', 'DbSyncFailed', t);
    assert.equal(await configHash('placement-api'), placementHash, 'placement-api kept its config');
  });

  test('a db-init whose database login is refused: glance is not Ready, the condition names the Job and why', async (t) => {
    const c = await reported('glance', 'db-init', 'GlanceReady', 'DbInitFailed', t);
    assert.match(c.message, /refused the root login.*Access denied/, 'and says why');
    assert.equal(await configHash('glance-api'), glanceHash, 'glance-api kept its config');
  });

  test('with the causes fixed (schema revision, spec, database account; the failed Job deleted) the cloud is Ready again', async () => {
    await restore();
    injected = false;
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready again', 15 * 60_000, 5000);
    for (const [component, task] of [
      ['placement', 'db-sync'],
      ['glance', 'db-init'],
    ] as const) {
      const states = (await jobsOf(component, task)).map((j) => jobFinished(j));
      assert.ok(
        !states.includes('Failed') && states.includes('Complete'),
        `${component} ${task}: a completed Job and no failed one left (${states.join(', ')})`,
      );
    }
  });
});
