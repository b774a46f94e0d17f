// OVN's databases (src/render/openstack/ovn.ts): one standalone server each when Neutron runs
// fewer than 3 replicas; a 3-member Raft cluster each from 3, whose members find each other by
// name and whose clients are given every member.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KubeObject } from '../../../src/render/kube.ts';
import { cloudOf, find, renderExample } from './fixtures.ts';
import { cloudObjects } from '../../../src/cli/render.ts';
import { redactedSecrets } from '../../../src/render/secrets.ts';

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
