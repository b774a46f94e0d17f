// The keystone image, configured the Kolla way (config.json + keystone.conf mounted at
// /var/lib/kolla/config_files), against the mariadb image: db-sync, bootstrap, then a token
// issued over HTTP. Real containers run with runc on 127.0.0.1; nothing is mocked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runToCompletion, startContainer } from '../../../src/images/runc.ts';
import { randomPassword } from '../../../src/secrets/cloud-secrets.ts';
import { freePort, images, Scratch, uwsgiApp, waitForGreeting, waitForHttp } from './helpers.ts';

// The generator a real cloud's secrets come from.
const secret = (): string => randomPassword();

void test(
  'keystone image: db_sync and bootstrap against the mariadb image, then a token over HTTP',
  { timeout: 45 * 60_000 },
  async () => {
    const img = await images(['mariadb', 'keystone', 'toolbox']);
    const mariadb = img.mariadb!;
    const keystone = img.keystone!;
    const toolbox = img.toolbox!;
    const s = await Scratch.create('keystone');
    try {
      const dbPort = await freePort();
      const ksPort = await freePort();
      const rootPassword = secret();
      // URL-safe on purpose: a %-escape in [database] connection breaks keystone's alembic
      // migrations (configparser interpolation), so generated DB passwords must avoid it.
      const keystoneDbPassword = secret();
      const adminPassword = secret();
      const logs = join(s.dir, 'logs');
      await mkdir(logs);

      // --- MariaDB: bootstrap the data directory (KOLLA_BOOTSTRAP), then serve.
      const data = join(s.dir, 'mysql');
      await mkdir(data);
      const mariadbConfig = await s.kollaConfig(
        'mariadb-config',
        {
          command: 'mariadbd',
          config_files: [
            {
              source: '/var/lib/kolla/config_files/galera.cnf',
              dest: '/etc/mysql/mariadb.conf.d/99-stackanetes.cnf',
              owner: 'mysql',
              perm: '0600',
            },
          ],
          permissions: [{ path: '/var/lib/mysql', owner: 'mysql:mysql', recurse: true }],
        },
        {
          'galera.cnf': [
            '[mysqld]',
            'bind-address = 127.0.0.1',
            `port = ${dbPort}`,
            'datadir = /var/lib/mysql',
            'socket = /var/lib/mysql/mysql.sock',
            'pid-file = /var/lib/mysql/mariadb.pid',
            'skip-name-resolve',
            'innodb_buffer_pool_size = 64M',
            'character-set-server = utf8mb4',
            '[client]',
            'socket = /var/lib/mysql/mysql.sock',
            '',
          ].join('\n'),
        },
      );
      const dbMounts = [
        { source: mariadbConfig, destination: '/var/lib/kolla/config_files', readonly: true },
        { source: data, destination: '/var/lib/mysql' },
      ];
      const boot = await runToCompletion({
        name: 'stk-test-mariadb-bootstrap',
        image: mariadb,
        workDir: s.dir,
        env: {
          KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS',
          KOLLA_BOOTSTRAP: '',
          DB_ROOT_PASSWORD: rootPassword,
        },
        mounts: dbMounts,
        logFile: join(logs, 'mariadb-bootstrap.log'),
      });
      assert.equal(boot.code, 0, `mariadb bootstrap failed:\n${boot.output}`);
      const db = s.track(
        await startContainer({
          name: 'stk-test-mariadb',
          image: mariadb,
          workDir: s.dir,
          env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
          mounts: dbMounts,
          logFile: join(logs, 'mariadb.log'),
        }),
      );
      await waitForGreeting(dbPort, 120_000, () => db.log());

      // --- The keystone database and user, created with the toolbox image's client.
      const sql = [
        'CREATE DATABASE keystone;',
        `CREATE USER 'keystone'@'%' IDENTIFIED BY '${keystoneDbPassword}';`,
        "GRANT ALL PRIVILEGES ON keystone.* TO 'keystone'@'%';",
      ].join(' ');
      const created = await runToCompletion({
        name: 'stk-test-toolbox-createdb',
        image: toolbox,
        workDir: s.dir,
        args: ['mariadb', '-h127.0.0.1', `-P${dbPort}`, '-uroot', `-p${rootPassword}`, '-e', sql],
        logFile: join(logs, 'createdb.log'),
      });
      assert.equal(created.code, 0, `creating the keystone database failed:\n${created.output}`);

      // --- Keystone: the configuration a renderer would produce.
      const fernet = {
        '0': randomBytes(32).toString('base64url') + '=',
        '1': randomBytes(32).toString('base64url') + '=',
      };
      const keystoneConf = [
        '[DEFAULT]',
        'use_stderr = true',
        '[database]',
        `connection = mysql+pymysql://keystone:${encodeURIComponent(keystoneDbPassword)}@127.0.0.1:${dbPort}/keystone`,
        '[token]',
        'provider = fernet',
        '[fernet_tokens]',
        'key_repository = /etc/keystone/fernet-keys',
        'max_active_keys = 3',
        '[cache]',
        'enabled = false',
        '',
      ].join('\n');
      const configFiles = [
        {
          source: '/var/lib/kolla/config_files/keystone.conf',
          dest: '/etc/keystone/keystone.conf',
          owner: 'keystone',
          perm: '0600',
        },
        {
          source: '/var/lib/kolla/config_files/fernet-keys',
          dest: '/etc/keystone/fernet-keys',
          owner: 'keystone:keystone',
          perm: '0600',
        },
        {
          source: '/var/lib/kolla/config_files/does-not-exist.conf',
          dest: '/etc/keystone/extra.conf',
          owner: 'keystone',
          perm: '0600',
          optional: true,
        },
      ];
      const files = {
        'keystone.conf': keystoneConf,
        'fernet-keys/0': fernet['0'],
        'fernet-keys/1': fernet['1'],
      };
      // The application as the release's catalog has the renderer load it: Debian's WSGI script
      // (2025.1), or the module from the virtualenv (2026.1, uWSGI's `virtualenv`).
      const apiCommand = [
        'uwsgi --plugin python3',
        `--http-socket 127.0.0.1:${ksPort}`,
        uwsgiApp('keystone'),
        '--master --processes 2 --threads 1 --need-app --die-on-term --lazy-apps --buffer-size 65535',
      ].join(' ');
      const apiConfig = await s.kollaConfig(
        'keystone-api',
        { command: apiCommand, config_files: configFiles },
        files,
      );
      const url = `http://127.0.0.1:${ksPort}/v3`;
      const bootstrapConfig = await s.kollaConfig(
        'keystone-bootstrap',
        {
          command: `keystone-manage bootstrap --bootstrap-password=${adminPassword} --bootstrap-admin-url ${url} --bootstrap-internal-url ${url} --bootstrap-public-url ${url} --bootstrap-region-id RegionOne`,
          config_files: configFiles,
        },
        files,
      );
      const cfgMount = (dir: string) => [
        { source: dir, destination: '/var/lib/kolla/config_files', readonly: true },
      ];

      // db-sync the Kolla way: the service's own config.json, KOLLA_BOOTSTRAP set.
      const sync = await runToCompletion({
        name: 'stk-test-keystone-db-sync',
        image: keystone,
        workDir: s.dir,
        env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS', KOLLA_BOOTSTRAP: '' },
        mounts: cfgMount(apiConfig),
        logFile: join(logs, 'keystone-db-sync.log'),
      });
      assert.equal(sync.code, 0, `keystone db_sync failed:\n${sync.output}`);
      const bootstrap = await runToCompletion({
        name: 'stk-test-keystone-bootstrap',
        image: keystone,
        workDir: s.dir,
        env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
        mounts: cfgMount(bootstrapConfig),
        logFile: join(logs, 'keystone-bootstrap.log'),
      });
      assert.equal(bootstrap.code, 0, `keystone-manage bootstrap failed:\n${bootstrap.output}`);

      const api = s.track(
        await startContainer({
          name: 'stk-test-keystone-api',
          image: keystone,
          workDir: s.dir,
          env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
          mounts: cfgMount(apiConfig),
          logFile: join(logs, 'keystone-api.log'),
        }),
      );
      const version = await waitForHttp(url, 180_000, () => api.log());
      assert.equal(version.status, 200, await version.text());

      const res = await fetch(`${url}/auth/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          auth: {
            identity: {
              methods: ['password'],
              password: {
                user: { name: 'admin', domain: { id: 'default' }, password: adminPassword },
              },
            },
            scope: { project: { name: 'admin', domain: { id: 'default' } } },
          },
        }),
      });
      const body = (await res.json()) as {
        token?: { catalog?: { type: string }[]; roles?: { name: string }[] };
      };
      assert.equal(res.status, 201, JSON.stringify(body));
      assert.ok(res.headers.get('x-subject-token'), 'no X-Subject-Token header');
      assert.ok(
        body.token?.roles?.some((r) => r.name === 'admin'),
        'token lacks the admin role',
      );
      assert.ok(
        body.token?.catalog?.some((e) => e.type === 'identity'),
        'catalog lacks the identity endpoint',
      );

      // The service ran as Kolla's keystone user (uid 42425), not as root.
      const who = await runToCompletion({
        name: 'stk-test-keystone-id',
        image: keystone,
        workDir: s.dir,
        args: ['id', '-u'],
        logFile: join(logs, 'keystone-id.log'),
      });
      assert.equal(who.output.trim(), '42425');
    } finally {
      await s.cleanup();
    }
  },
);
