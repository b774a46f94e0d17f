// The db-init Job's script, run by bash against a stand-in `mariadb` client: it waits while the
// database does not answer and fails at once, saying why, when the database refuses the login.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { cloudObjects } from '../../../src/cli/render.ts';
import { find, fixedSecrets, loadExample } from './fixtures.ts';

const objs = cloudObjects(loadExample('minimal'), fixedSecrets());
const job = objs.find((o) => o.kind === 'Job' && o.metadata.name.startsWith('keystone-db-init-'))!;
const script = find(objs, 'Secret', `${job.metadata.name}-config`).stringData['job.sh'] as string;

/** Runs the script with `mariadb` answering each call from `answers` (exit code, stderr). */
function run(answers: { code: number; stderr?: string }[]) {
  const dir = mkdtempSync(join(tmpdir(), 'db-init-'));
  const stub = (name: string, body: string) => {
    writeFileSync(join(dir, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  };
  writeFileSync(
    join(dir, 'answers'),
    answers.map((a) => `${a.code}\t${a.stderr ?? ''}`).join('\n') + '\n',
  );
  // Each call takes the next answer and logs its arguments; `sleep` returns at once.
  stub(
    'mariadb',
    `echo "$*" >> ${dir}/calls
line=$(head -1 ${dir}/answers); sed -i 1d ${dir}/answers
[ -n "\${line#*$'\\t'}" ] && echo "\${line#*$'\\t'}" >&2
exit "\${line%%$'\\t'*}"`,
  );
  stub('sleep', 'exit 0');
  const r = spawnSync('bash', ['-c', script], {
    encoding: 'utf8',
    timeout: 10_000, // the old script waited for ever on a refused login
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
  });
  return { ...r, lastLine: r.stdout.trim().split('\n').pop() ?? '' };
}

const denied =
  "ERROR 1045 (28000): Access denied for user 'root'@'10.244.0.9' (using password: YES)";

test('db-init fails at once when the database refuses the root login, and says so', () => {
  const r = run([{ code: 1, stderr: denied }]);
  assert.equal(r.status, 1, 'the Job fails');
  assert.equal(r.lastLine, `the database refused the root login: ${denied}`);
});

test('db-init waits while the database does not answer, then creates the database and user', () => {
  const unreachable = "ERROR 2002 (HY000): Can't connect to server on 'mariadb' (115)";
  const r = run([
    { code: 1, stderr: unreachable },
    { code: 1, stderr: unreachable },
    { code: 0 },
    { code: 0 },
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /waiting for the database: ERROR 2002/);
  assert.equal(r.lastLine, 'databases keystone and user keystone are ready');
});
