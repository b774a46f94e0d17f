// The mariadb image is Galera-capable: bootstrapped the Kolla way, then started as the first
// node of a new cluster (--wsrep-new-cluster), it reports a ready one-node cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runToCompletion, startContainer } from '../../../src/images/runc.ts';
import { randomPassword } from '../../../src/secrets/cloud-secrets.ts';
import { freePort, images, Scratch, waitForGreeting } from './helpers.ts';

void test(
  'mariadb image: a one-node Galera cluster comes up ready',
  { timeout: 30 * 60_000 },
  async () => {
    const img = await images(['mariadb', 'toolbox']);
    const s = await Scratch.create('galera');
    try {
      const [port, gcomm, ist] = [await freePort(), await freePort(), await freePort()];
      const password = randomPassword();
      const data = join(s.dir, 'mysql');
      await mkdir(data);
      const cnf = [
        '[mysqld]',
        'bind-address = 127.0.0.1',
        `port = ${port}`,
        'datadir = /var/lib/mysql',
        'socket = /var/lib/mysql/mysql.sock',
        'pid-file = /var/lib/mysql/mariadb.pid',
        'skip-name-resolve',
        'innodb_buffer_pool_size = 64M',
        'binlog_format = ROW',
        'default_storage_engine = InnoDB',
        'innodb_autoinc_lock_mode = 2',
        '[galera]',
        'wsrep_on = ON',
        'wsrep_provider = /usr/lib/galera/libgalera_smm.so',
        'wsrep_cluster_name = stackanetes',
        'wsrep_cluster_address = gcomm://',
        'wsrep_node_address = 127.0.0.1',
        `wsrep_provider_options = "gmcast.listen_addr=tcp://127.0.0.1:${gcomm};ist.recv_addr=127.0.0.1:${ist}"`,
        'wsrep_sst_method = rsync',
        '',
      ].join('\n');
      const config = await s.kollaConfig(
        'mariadb',
        {
          command: 'mariadbd --wsrep-new-cluster',
          config_files: [
            {
              source: '/var/lib/kolla/config_files/galera.cnf',
              dest: '/etc/mysql/mariadb.conf.d/99-galera.cnf',
              owner: 'mysql',
              perm: '0600',
            },
          ],
          permissions: [{ path: '/var/lib/mysql', owner: 'mysql:mysql', recurse: true }],
        },
        { 'galera.cnf': cnf },
      );
      const mounts = [
        { source: config, destination: '/var/lib/kolla/config_files', readonly: true },
        { source: data, destination: '/var/lib/mysql' },
      ];
      const env = { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' };
      const boot = await runToCompletion({
        name: 'stk-test-galera-bootstrap',
        image: img.mariadb!,
        workDir: s.dir,
        env: { ...env, KOLLA_BOOTSTRAP: '', DB_ROOT_PASSWORD: password },
        mounts,
        logFile: join(s.dir, 'bootstrap.log'),
      });
      assert.equal(boot.code, 0, boot.output);
      const db = s.track(
        await startContainer({
          name: 'stk-test-galera',
          image: img.mariadb!,
          workDir: s.dir,
          env,
          mounts,
          logFile: join(s.dir, 'galera.log'),
        }),
      );
      await waitForGreeting(port, 120_000, () => db.log());
      const status = await runToCompletion({
        name: 'stk-test-galera-status',
        image: img.toolbox!,
        workDir: s.dir,
        args: [
          'mariadb',
          '-h127.0.0.1',
          `-P${port}`,
          '-uroot',
          `-p${password}`,
          '-N',
          '-e',
          "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_ready','wsrep_local_state_comment')",
        ],
        logFile: join(s.dir, 'status.log'),
      });
      assert.equal(status.code, 0, `${status.output}\n${await db.log()}`);
      assert.match(status.output, /wsrep_cluster_size\s+1/);
      assert.match(status.output, /wsrep_ready\s+ON/);
      assert.match(status.output, /wsrep_local_state_comment\s+Synced/);
    } finally {
      await s.cleanup();
    }
  },
);
