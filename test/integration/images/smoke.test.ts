// Every image starts through kolla_start with a Kolla config.json, as its Kolla user, and its
// service binary runs. On the local cluster's containerd when it is running (`ctr run`, the
// images pulled from the cluster's registry), otherwise with runc from the unpacked image. memcached, RabbitMQ and
// the OVN northbound database are also started for real and answer on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { imageReference, defaultImageRegistry } from '../../../src/catalog/images.ts';
import { releaseSource } from '../../../src/catalog/releases.ts';
import { detectContainerd, pullImage } from '../../../src/images/containerd.ts';
import { layout } from '../../../src/cluster/layout.ts';
import { run, CommandError } from '../../../src/util/exec.ts';
import { runToCompletion, startContainer } from '../../../src/images/runc.ts';
import { freePort, images, release, Scratch } from './helpers.ts';

interface Smoke {
  readonly command: string;
  readonly expect: RegExp;
  readonly uid: number;
}

const smokes: Record<string, Smoke> = {
  mariadb: { command: 'mariadbd --version', expect: /Ver 11\.\d+\.\d+-MariaDB/, uid: 42434 },
  rabbitmq: { command: 'rabbitmq-diagnostics --help', expect: /Usage/, uid: 42439 },
  memcached: { command: 'memcached --version', expect: /memcached 1\.6/, uid: 42457 },
  keystone: { command: 'keystone-manage --version', expect: /^27\./m, uid: 42425 },
  'glance-api': { command: 'glance-api --version', expect: /^30\./m, uid: 42415 },
  'placement-api': { command: 'placement-manage --version', expect: /^13\./m, uid: 42482 },
  'nova-api': { command: 'nova-manage --version', expect: /^31\./m, uid: 42436 },
  'nova-conductor': { command: 'nova-conductor --version', expect: /^31\./m, uid: 42436 },
  'nova-scheduler': { command: 'nova-scheduler --version', expect: /^31\./m, uid: 42436 },
  'nova-novncproxy': { command: 'nova-novncproxy --version', expect: /^31\./m, uid: 42436 },
  'nova-compute': { command: 'nova-compute --version', expect: /^31\./m, uid: 42436 },
  'neutron-server': { command: 'neutron-server --version', expect: /26\.0/, uid: 42435 },
  'neutron-ovn-metadata-agent': {
    command: 'neutron-ovn-metadata-agent --version',
    expect: /26\.0/,
    uid: 42435,
  },
  'ovn-northd': { command: 'ovn-northd --version', expect: /ovn-northd .*25\.03/, uid: 0 },
  'ovn-nb-db': { command: 'ovsdb-server --version', expect: /ovsdb-server .*3\.5/, uid: 0 },
  'ovn-sb-db': { command: 'ovsdb-server --version', expect: /ovsdb-server .*3\.5/, uid: 0 },
  'ovn-controller': {
    command: 'ovn-controller --version',
    expect: /ovn-controller .*25\.03/,
    uid: 0,
  },
  openvswitch: { command: 'ovs-vswitchd --version', expect: /ovs-vswitchd .*3\.5/, uid: 0 },
  horizon: {
    command: 'python3 /usr/share/openstack-dashboard/manage.py version',
    expect: /^\d+\.\d+/m,
    uid: 42420,
  },
  toolbox: { command: 'openstack --version', expect: /openstack 7\./, uid: 0 },
};

const tag = releaseSource(release).imageTag;
const hostsDir = join(layout().config, 'certs.d');

void test(
  'every image runs its service binary through kolla_start as its Kolla user',
  { timeout: 60 * 60_000 },
  async () => {
    const names = Object.keys(smokes);
    const detected = await detectContainerd();
    const found = 'reason' in detected ? undefined : detected;
    const s = await Scratch.create('smoke');
    try {
      const unpacked = found ? undefined : await images(names);
      if (!unpacked) {
        await images(names); // builds (cached) and tags; `images build` pushed them to the registry
        // containerd gets them from the cluster's registry, as a node's kubelet does.
        for (const name of names)
          await pullImage(found!, imageReference(defaultImageRegistry, name, tag), hostsDir);
      }
      const failures: string[] = [];
      for (const [name, smoke] of Object.entries(smokes)) {
        const config = await s.kollaConfig(name, { command: `id -u`, config_files: [] }, {});
        const versionConfig = await s.kollaConfig(
          `${name}-v`,
          { command: smoke.command, config_files: [] },
          {},
        );
        let idOut: string;
        let out: string;
        if (unpacked || !found) {
          const img = unpacked![name]!;
          const common = {
            image: img,
            workDir: s.dir,
            env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
          };
          idOut = (
            await runToCompletion({
              ...common,
              name: `stk-smoke-${name}`,
              mounts: [
                { source: config, destination: '/var/lib/kolla/config_files', readonly: true },
              ],
              logFile: join(s.dir, `${name}.id.log`),
            })
          ).output;
          out = (
            await runToCompletion({
              ...common,
              name: `stk-smoke-${name}-v`,
              mounts: [
                {
                  source: versionConfig,
                  destination: '/var/lib/kolla/config_files',
                  readonly: true,
                },
              ],
              logFile: join(s.dir, `${name}.log`),
            })
          ).output;
        } else {
          const ref = imageReference(defaultImageRegistry, name, tag);
          const ctr = async (id: string, dir: string): Promise<string> => {
            try {
              const { output } = await run(found.ctr, [
                '--address',
                found.address,
                '-n',
                'k8s.io',
                'run',
                '--rm',
                // What a pod gets unless allowPrivilegeEscalation is false: kolla_start needs sudo.
                '--allow-new-privs',
                '--env',
                'KOLLA_CONFIG_STRATEGY=COPY_ALWAYS',
                '--mount',
                `type=bind,src=${dir},dst=/var/lib/kolla/config_files,options=rbind:ro`,
                ref,
                id,
              ]);
              return output;
            } catch (err) {
              return err instanceof CommandError ? `${err.message}\n${err.output}` : String(err);
            }
          };
          idOut = await ctr(`stk-smoke-${name}-${process.pid}`, config);
          out = await ctr(`stk-smoke-${name}-v-${process.pid}`, versionConfig);
        }
        const uid = /^(\d+)\s*$/m.exec(idOut)?.[1];
        if (uid !== String(smoke.uid))
          failures.push(
            `${name}: ran as uid ${uid ?? '?'} (want ${smoke.uid}):\n${idOut.slice(-800)}`,
          );
        if (!smoke.expect.test(out))
          failures.push(`${name}: \`${smoke.command}\` printed:\n${out.slice(-800)}`);
      }
      assert.deepEqual(failures, [], failures.join('\n\n'));
    } finally {
      await s.cleanup();
    }
  },
);

async function memcachedVersion(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write('version\r\n'));
    sock.once('data', (d: Buffer) => {
      sock.destroy();
      resolve(d.toString('utf8'));
    });
    sock.once('error', reject);
  });
}

void test(
  'memcached and the OVN northbound database serve on 127.0.0.1',
  { timeout: 30 * 60_000 },
  async () => {
    const img = await images(['memcached', 'ovn-nb-db']);
    const s = await Scratch.create('serve');
    try {
      const mcPort = await freePort();
      const mcConfig = await s.kollaConfig(
        'memcached',
        { command: `memcached -l 127.0.0.1 -p ${mcPort} -U 0 -m 64`, config_files: [] },
        {},
      );
      const mc = s.track(
        await startContainer({
          name: 'stk-serve-memcached',
          image: img.memcached!,
          workDir: s.dir,
          env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
          mounts: [
            { source: mcConfig, destination: '/var/lib/kolla/config_files', readonly: true },
          ],
          logFile: join(s.dir, 'memcached.log'),
        }),
      );
      let version = '';
      for (let i = 0; i < 30 && !version; i++) {
        version = await memcachedVersion(mcPort).catch(() => '');
        if (!version) await new Promise((r) => setTimeout(r, 1000));
      }
      assert.match(version, /^VERSION 1\.6/, await mc.log());

      const nbPort = await freePort();
      // What a renderer would run: create the database from the schema once, then serve it.
      const nbCommand = `ovsdb-server --remote=ptcp:${nbPort}:127.0.0.1 --pidfile=/var/lib/ovn/ovnnb.pid --unixctl=/var/lib/ovn/ovnnb.ctl /var/lib/ovn/ovnnb_db.db`;
      const nbConfig = await s.kollaConfig(
        'ovn-nb-db',
        { command: nbCommand, config_files: [] },
        {},
      );
      const dbDir = join(s.dir, 'ovn');
      await run('mkdir', ['-p', dbDir]);
      const create = await runToCompletion({
        name: 'stk-serve-ovn-create',
        image: img['ovn-nb-db']!,
        workDir: s.dir,
        args: [
          'ovsdb-tool',
          'create',
          '/var/lib/ovn/ovnnb_db.db',
          '/usr/share/ovn/ovn-nb.ovsschema',
        ],
        mounts: [{ source: dbDir, destination: '/var/lib/ovn' }],
        logFile: join(s.dir, 'ovn-create.log'),
      });
      assert.equal(create.code, 0, create.output);
      const nb = s.track(
        await startContainer({
          name: 'stk-serve-ovn-nb',
          image: img['ovn-nb-db']!,
          workDir: s.dir,
          env: { KOLLA_CONFIG_STRATEGY: 'COPY_ALWAYS' },
          mounts: [
            { source: nbConfig, destination: '/var/lib/kolla/config_files', readonly: true },
            { source: dbDir, destination: '/var/lib/ovn' },
          ],
          logFile: join(s.dir, 'ovn-nb.log'),
        }),
      );
      let shown = '';
      for (let i = 0; i < 30; i++) {
        const r = await runToCompletion({
          name: 'stk-serve-ovn-nbctl',
          image: img['ovn-nb-db']!,
          workDir: s.dir,
          args: ['ovn-nbctl', `--db=tcp:127.0.0.1:${nbPort}`, 'ls-add', 'stk-test-switch'],
          logFile: join(s.dir, `nbctl-${i}.log`),
        });
        if (r.code === 0) {
          shown = (
            await runToCompletion({
              name: 'stk-serve-ovn-nbctl',
              image: img['ovn-nb-db']!,
              workDir: s.dir,
              args: ['ovn-nbctl', `--db=tcp:127.0.0.1:${nbPort}`, 'ls-list'],
              logFile: join(s.dir, 'nbctl-list.log'),
            })
          ).output;
          break;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
      assert.match(shown, /stk-test-switch/, await nb.log());
    } finally {
      await s.cleanup();
    }
  },
);
