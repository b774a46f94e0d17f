// health.sh, the script the cheap probes run, against real processes of this machine: a process
// with a connection to a port, an idle one and a busy one stand in for the service (named by
// HEALTH_ROOT_PID; in a container it is the container's first process and its descendants).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { healthSh } from '../../../src/render/probes.ts';

const dir = mkdtempSync(join(tmpdir(), 'health-'));
const script = join(dir, 'health.sh');
let server: Server;
let port = 0;
const children: ChildProcess[] = [];
const sockets: Socket[] = [];

function health(args: string[], env: Record<string, string>): { code: number | null; out: string } {
  const r = spawnSync('sh', [script, ...args], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: dir, ...env },
    encoding: 'utf8',
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}`.trim() };
}

function start(cmd: string, args: string[]): ChildProcess {
  // A clean environment: a Node child of the test runner would otherwise report to it.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  // Its own process group, so that `after` ends its children too.
  const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'ignore'], env, detached: true });
  children.push(c);
  return c;
}

before(async () => {
  writeFileSync(script, healthSh);
  server = createServer((s) => {
    s.on('error', () => undefined);
    sockets.push(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

after(() => {
  for (const c of children) process.kill(-c.pid!, 'SIGKILL');
  for (const s of sockets) s.destroy();
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('connected: passes while a process of the service holds a connection to the port', async () => {
  // A child of the "service" holds the connection, as oslo.messaging's workers do.
  const svc = start('sh', [
    '-c',
    `${process.execPath} -e "require('net').connect(${port}, '127.0.0.1', () => console.log('up')); setTimeout(() => {}, 60000)"`,
  ]);
  await once(svc.stdout!, 'data');
  const env = { HEALTH_ROOT_PID: String(svc.pid) };
  assert.deepEqual(health(['connected', String(port)], env), { code: 0, out: '' });
  const other = health(['connected', '5672'], env);
  assert.equal(other.code, 1);
  assert.match(other.out, /no ESTABLISHED connection to port 5672/);
});

test('connected: a connection held by a process outside the service does not count', () => {
  const idle = start('sleep', ['60']);
  const r = health(['connected', String(port)], { HEALTH_ROOT_PID: String(idle.pid) });
  assert.equal(r.code, 1);
});

test('alive: an idle (stopped, deadlocked) service fails from its second verdict on', () => {
  const idle = start('sleep', ['60']);
  const env = { HEALTH_ROOT_PID: String(idle.pid), HEALTH_MIN_INTERVAL: '0' };
  assert.equal(health(['alive'], env).code, 0, 'the first check has nothing to compare with');
  const second = health(['alive'], env);
  assert.equal(second.code, 1);
  assert.match(second.out, /the service has not run/);
});

test('alive: a service that uses CPU passes', async () => {
  rmSync(join(dir, '.stackanetes-alive'), { force: true });
  const busy = start('sh', ['-c', 'while :; do :; done']);
  const env = { HEALTH_ROOT_PID: String(busy.pid), HEALTH_MIN_INTERVAL: '0' };
  assert.equal(health(['alive'], env).code, 0);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(health(['alive'], env).code, 0);
});

test('alive: a busy service that is stopped (SIGSTOP, as if hung) fails once it has stopped', () => {
  rmSync(join(dir, '.stackanetes-alive'), { force: true });
  const busy = start('sh', ['-c', 'while :; do :; done']);
  const env = { HEALTH_ROOT_PID: String(busy.pid), HEALTH_MIN_INTERVAL: '0' };
  assert.equal(health(['alive'], env).code, 0);
  process.kill(busy.pid!, 'SIGSTOP');
  // The signal is delivered when the kernel next schedules it: wait until it is stopped (state T)
  // — on a busy machine the verdict that absorbs its last run could otherwise come first.
  const state = () => readFileSync(`/proc/${busy.pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
  for (let i = 0; i < 1000 && state() !== 'T'; i++) spawnSync('sleep', ['0.01']);
  assert.equal(state(), 'T', 'the service stopped');
  health(['alive'], env); // it may have run between the first verdict and the stop
  const r = health(['alive'], env);
  process.kill(busy.pid!, 'SIGCONT');
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /the service has not run/);
});

test('alive: no verdict sooner than the minimum interval after the previous one', () => {
  const idle = start('sleep', ['60']);
  const env = { HEALTH_ROOT_PID: String(idle.pid), HEALTH_MIN_INTERVAL: '0' };
  health(['alive'], env);
  assert.equal(health(['alive'], { ...env, HEALTH_MIN_INTERVAL: '600' }).code, 0);
});

test('a container whose service process is gone fails every check', () => {
  const env = { HEALTH_ROOT_PID: '999999999' };
  for (const args of [['alive'], ['connected', String(port)]]) {
    const r = health(args, env);
    assert.equal(r.code, 1);
    assert.match(r.out, /no service process/);
  }
  assert.equal(health(['bogus'], env).code, 2);
});
