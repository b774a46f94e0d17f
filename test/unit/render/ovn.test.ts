// OVN's databases (src/render/openstack/ovn.ts): one standalone server each when Neutron runs
// fewer than 3 replicas; a 3-member Raft cluster each from 3, whose members find each other by
// name and whose clients are given every member.
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../../src/render/kube.ts';
import { cloudOf, find, renderExample } from './fixtures.ts';
import { cloudObjects } from '../../../src/cli/render.ts';
import { redactedSecrets } from '../../../src/render/secrets.ts';
import { staleServers } from '../../../src/render/openstack/ovn.ts';
import { memberRebuildAnnotation } from '../../../src/render/statefulset.ts';

/** A Kolla config Secret's file, by the Secret's name and the file's. */
function file(objs: KubeObject[], secret: string, name: string): string {
  const s = find(objs, 'Secret', secret) as { stringData: Record<string, string> };
  const text = s.stringData[name];
  assert.ok(text !== undefined, `${secret} has ${name}: ${Object.keys(s.stringData).join(', ')}`);
  return text;
}

const members = (db: string, n: number) =>
  Array.from(
    { length: n },
    (_, i) =>
      `tcp:${db}-${i}.${db}-headless.openstack.svc.cluster.local:${db === 'ovn-nb-db' ? 6641 : 6642}`,
  ).join(',');

test('with 3 Neutron replicas each OVN database is a 3-member Raft cluster: named by a headless Service, spread, with a budget', () => {
  const objs = renderExample('ha');
  for (const [db, raft] of [
    ['ovn-nb-db', 6643],
    ['ovn-sb-db', 6644],
  ] as const) {
    const sts = find(objs, 'StatefulSet', db);
    assert.equal(sts.spec.replicas, 3, db);
    assert.equal(sts.spec.serviceName, `${db}-headless`);
    assert.equal(sts.spec.podManagementPolicy, 'Parallel');
    const headless = find(objs, 'Service', `${db}-headless`);
    assert.equal(headless.spec.clusterIP, 'None');
    assert.equal(headless.spec.publishNotReadyAddresses, true, 'members resolve before Ready');
    assert.ok(
      headless.spec.ports.some((p: { port: number }) => p.port === raft),
      'the Raft port',
    );
    const anti = sts.spec.template.spec.affinity?.podAntiAffinity;
    assert.ok(anti, `${db}: members spread over nodes`);
    find(objs, 'PodDisruptionBudget', db);
    const start = file(objs, `${db}-config`, 'start.sh');
    const dbName = db === 'ovn-nb-db' ? 'OVN_Northbound' : 'OVN_Southbound';
    assert.match(start, new RegExp(`ovsdb-tool join-cluster \\S+ ${dbName} "tcp:\\$self:${raft}"`));
    assert.match(start, new RegExp(`ovsdb-tool create-cluster \\S+ \\S+ "tcp:\\$self:${raft}"`));
    assert.match(
      start,
      new RegExp(`if \\[ "\\$me" = "${db}-0" \\]`),
      'only the first member creates',
    );
  }
});

test('clients of a clustered OVN database are given every member (by its full name, or on the node’s network by its address); of a standalone one, its Service', () => {
  const ha = renderExample('ha');
  const ml2 = file(ha, 'neutron-server-config', 'ml2_conf.ini');
  assert.ok(ml2.includes(`ovn_nb_connection = ${members('ovn-nb-db', 3)}`), ml2);
  assert.ok(ml2.includes(`ovn_sb_connection = ${members('ovn-sb-db', 3)}`), ml2);
  const northd = file(ha, 'ovn-northd-config', 'start.sh');
  assert.ok(northd.includes(`nb="${members('ovn-nb-db', 3)}"`), northd);
  // ovn-controller, on the node's network, is given the members' addresses (looked up by glibc).
  const controller = file(ha, 'ovn-controller-config', 'start.sh');
  for (let i = 0; i < 3; i++) {
    assert.ok(
      controller.includes(`ovn-sb-db-${i}.ovn-sb-db-headless.openstack.svc.cluster.local`),
      controller,
    );
  }
  assert.match(controller, /getent hosts "\$h"/);
  assert.match(controller, /ovn-remote="\$sb"/);

  const minimal = renderExample('minimal');
  const sts = find(minimal, 'StatefulSet', 'ovn-nb-db');
  assert.equal(sts.spec.replicas, 1);
  assert.equal(sts.spec.serviceName, 'ovn-nb-db', 'a standalone server keeps its Service name');
  assert.ok(!minimal.some((o) => o.metadata.name === 'ovn-nb-db-headless'));
  const one = file(minimal, 'neutron-server-config', 'ml2_conf.ini');
  assert.ok(
    one.includes('ovn_nb_connection = tcp:ovn-nb-db.openstack.svc.cluster.local:6641'),
    one,
  );
  assert.doesNotMatch(file(minimal, 'ovn-nb-db-config', 'start.sh'), /cluster/);
});

test('two Neutron replicas keep one OVN server each: a 2-member Raft cluster stops when either member does', () => {
  const objs = cloudObjects(cloudOf({ services: { neutron: { replicas: 2 } } }), redactedSecrets());
  assert.equal(find(objs, 'StatefulSet', 'ovn-sb-db').spec.replicas, 1);
});

test('a clustered OVN member may be rebuilt: it then removes the server id it had at its own address, never itself or another member', () => {
  const ha = renderExample('ha');
  for (const db of ['ovn-nb-db', 'ovn-sb-db']) {
    const sts = find(ha, 'StatefulSet', db);
    assert.match(sts.metadata.annotations?.[memberRebuildAnnotation] ?? '', /empty database/);
    const start = file(ha, `${db}-config`, 'start.sh');
    assert.match(start, /for sid in \$\(stale_servers\); do/);
    assert.match(start, /cluster\/kick OVN_\w+ "\$sid"/);
  }
  const standalone = find(renderExample('minimal'), 'StatefulSet', 'ovn-nb-db');
  assert.equal(standalone.metadata.annotations?.[memberRebuildAnnotation], undefined);

  // The function as rendered, run by bash (start.sh's shell) against what cluster/status prints (ovs-appctl stubbed).
  const self = 'ovn-nb-db-2.ovn-nb-db-headless.openstack.svc.cluster.local';
  const status = [
    'Name: OVN_Northbound',
    'Status: cluster member',
    'Servers:',
    '    0b1c (0b1c at tcp:ovn-nb-db-0.ovn-nb-db-headless.openstack.svc.cluster.local:6643) next_index=9 match_index=8',
    `    77ee (77ee at tcp:${self}:6643) (self) next_index=9 match_index=8`,
    '    c3d4 (c3d4 at tcp:ovn-nb-db-1.ovn-nb-db-headless.openstack.svc.cluster.local:6643) last msg 10 ms ago',
    `    9f00 (9f00 at tcp:${self}:6643) next_index=2 match_index=0 last msg 402113 ms ago`,
    `    5a5a (5a5a at tcp:${self}:66430) next_index=2`,
  ].join('\n');
  const fn = staleServers('/run/ovn/ovnnb_db.ctl', 'OVN_Northbound', 'tcp:$self:6643').join('\n');
  const r = spawnSync(
    'bash',
    ['-c', `ovs-appctl() { printf '%s\\n' "$STATUS"; }\nself=${self}\n${fn}\nstale_servers`],
    { encoding: 'utf8', env: { ...process.env, STATUS: status } },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '9f00\n');
});
