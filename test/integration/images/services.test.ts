// Services beyond keystone start from their images with a Kolla config and answer on
// 127.0.0.1: RabbitMQ speaks AMQP 0-9-1, placement and horizon serve HTTP through uWSGI, which
// loads them as the release's catalog says (STACKANETES_TEST_RELEASE=2026.1: from the virtualenv).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runToCompletion, startContainer } from '../../../src/images/runc.ts';
import { freePort, images, Scratch, uwsgiApp, waitForHttp } from './helpers.ts';

const cfgMount = (dir: string) => [
  { source: dir, destination: '/var/lib/kolla/config_files', readonly: true },
];
const env = { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' };

/** Sends the AMQP 0-9-1 protocol header; a broker answers with a Connection.Start frame. */
async function amqpStart(port: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () =>
      s.write(Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1])),
    );
    s.once('data', (d: Buffer) => {
      s.destroy();
      resolve(d);
    });
    s.once('error', () => resolve(undefined));
    s.setTimeout(3000, () => {
      s.destroy();
      resolve(undefined);
    });
  });
}

void test(
  'rabbitmq image: the broker starts as rabbitmq and answers AMQP',
  { timeout: 30 * 60_000 },
  async () => {
    const img = await images(['rabbitmq']);
    const s = await Scratch.create('rabbitmq');
    try {
      const port = await freePort();
      const dist = await freePort();
      const epmd = await freePort();
      const dir = await s.kollaConfig(
        'rabbitmq',
        {
          command: 'rabbitmq-server',
          config_files: [
            {
              source: '/var/lib/kolla/config_files/rabbitmq.conf',
              dest: '/etc/rabbitmq/rabbitmq.conf',
              owner: 'rabbitmq',
              perm: '0600',
            },
            {
              source: '/var/lib/kolla/config_files/rabbitmq-env.conf',
              dest: '/etc/rabbitmq/rabbitmq-env.conf',
              owner: 'rabbitmq',
              perm: '0600',
            },
            {
              source: '/var/lib/kolla/config_files/erlang.cookie',
              dest: '/var/lib/rabbitmq/.erlang.cookie',
              owner: 'rabbitmq',
              perm: '0400',
            },
          ],
        },
        {
          'rabbitmq.conf': `listeners.tcp.default = 127.0.0.1:${port}\nloopback_users = none\n`,
          'rabbitmq-env.conf': `NODENAME=rabbit@localhost\nDIST_PORT=${dist}\n`,
          'erlang.cookie': 'STACKANETESTESTCOOKIE',
        },
      );
      const c = s.track(
        await startContainer({
          name: 'stk-test-rabbitmq',
          image: img.rabbitmq!,
          workDir: s.dir,
          env: { ...env, ERL_EPMD_ADDRESS: '127.0.0.1', ERL_EPMD_PORT: String(epmd) },
          mounts: cfgMount(dir),
          logFile: join(s.dir, 'rabbitmq.log'),
        }),
      );
      let frame: Buffer | undefined;
      for (let i = 0; i < 120 && !frame; i++) {
        frame = await amqpStart(port);
        if (!frame) await new Promise((r) => setTimeout(r, 1000));
      }
      assert.ok(frame, `no AMQP answer on ${port}:\n${await c.log()}`);
      // Method frame (type 1), channel 0, class 10 (connection) method 10 (start).
      assert.equal(frame[0], 1);
      assert.equal(frame.readUInt16BE(7), 10);
      assert.equal(frame.readUInt16BE(9), 10);
    } finally {
      await s.cleanup();
    }
  },
);

void test(
  'placement-api and horizon images serve HTTP through uWSGI as their users',
  { timeout: 30 * 60_000 },
  async () => {
    const img = await images(['placement-api', 'horizon']);
    const s = await Scratch.create('http');
    try {
      const pPort = await freePort();
      const pDir = await s.kollaConfig(
        'placement',
        {
          command: `uwsgi --plugin python3 --http-socket 127.0.0.1:${pPort} ${uwsgiApp('placement')} --master --processes 1 --need-app --die-on-term`,
          config_files: [
            {
              source: '/var/lib/kolla/config_files/placement.conf',
              dest: '/etc/placement/placement.conf',
              owner: 'placement',
              perm: '0600',
            },
          ],
          permissions: [
            { path: '/var/lib/placement', owner: 'placement:placement', recurse: true },
          ],
        },
        {
          'placement.conf':
            '[placement_database]\nconnection = sqlite:////var/lib/placement/placement.sqlite\n[api]\nauth_strategy = noauth2\n',
        },
      );
      const state = join(s.dir, 'placement-state');
      await mkdir(state);
      const stateMount = { source: state, destination: '/var/lib/placement' };
      const sync = await runToCompletion({
        name: 'stk-test-placement-db-sync',
        image: img['placement-api']!,
        workDir: s.dir,
        env: { ...env, KOLLA_BOOTSTRAP: '' },
        mounts: [...cfgMount(pDir), stateMount],
        logFile: join(s.dir, 'placement-db-sync.log'),
      });
      assert.equal(sync.code, 0, sync.output);
      const placement = s.track(
        await startContainer({
          name: 'stk-test-placement',
          image: img['placement-api']!,
          workDir: s.dir,
          env,
          mounts: [...cfgMount(pDir), stateMount],
          logFile: join(s.dir, 'placement.log'),
        }),
      );
      const root = await waitForHttp(`http://127.0.0.1:${pPort}/`, 120_000, () => placement.log());
      assert.equal(root.status, 200, await placement.log());
      const body = (await root.json()) as { versions?: { id: string }[] };
      assert.equal(body.versions?.[0]?.id, 'v1.0');

      const hPort = await freePort();
      const hDir = await s.kollaConfig(
        'horizon',
        {
          command: `uwsgi --plugin python3 --http-socket 127.0.0.1:${hPort} ${uwsgiApp('horizon')} --static-map /static=/var/lib/openstack-dashboard/static --master --processes 1 --need-app --die-on-term`,
          config_files: [
            {
              source: '/var/lib/kolla/config_files/local_settings.py',
              dest: '/etc/openstack-dashboard/local_settings.d/_90_stackanetes.py',
              owner: 'horizon',
              perm: '0640',
            },
          ],
        },
        {
          'local_settings.py': `ALLOWED_HOSTS = ['*']\nOPENSTACK_KEYSTONE_URL = 'http://127.0.0.1:5000/v3'\nCOMPRESS_OFFLINE = False\nDEBUG = False\n`,
        },
      );
      const horizon = s.track(
        await startContainer({
          name: 'stk-test-horizon',
          image: img.horizon!,
          workDir: s.dir,
          env,
          mounts: cfgMount(hDir),
          logFile: join(s.dir, 'horizon.log'),
        }),
      );
      const login = await waitForHttp(`http://127.0.0.1:${hPort}/auth/login/`, 180_000, () =>
        horizon.log(),
      );
      const html = await login.text();
      assert.equal(login.status, 200, `${html.slice(0, 2000)}\n${await horizon.log()}`);
      assert.match(html, /<form[^>]*login/i);
    } finally {
      await s.cleanup();
    }
  },
);
