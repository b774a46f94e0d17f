// OVN's databases (src/render/openstack/ovn.ts): one standalone server each when Neutron runs
// fewer than 3 replicas; a 3-member Raft cluster each from 3, whose members find each other by
// name and whose clients are given every member.
import { spawnSync } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
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

/** The member's start functions as rendered (for the northbound database), run by bash with the OVS tools stubbed. */
function runJoinOrCreate(o: {
  me: string;
  /** Members that answer as OVSDB servers. */
  answering?: string[];
  /** Members that say they have no data. */
  empty?: string[];
}): { stdout: string; status: number | null } {
  const start = file(renderExample('ha'), 'ovn-nb-db-config', 'start.sh');
  const fns = start.slice(start.indexOf('says_empty() {'), start.indexOf('\nif [ ! -s '));
  const host = (m: string) => `${m}.ovn-nb-db-headless.openstack.svc.cluster.local`;
  const stubs = [
    // list-dbs answers for the members given; the rest are silent.
    'ovsdb-client() { case " $ANSWERING " in *" ${3#tcp:} "*) return 0;; esac; return 1; }',
    'ovsdb-tool() { echo "ovsdb-tool $*"; }',
    // `timeout 5 bash -c SCRIPT HOST PORT`: "empty" from the members given.
    'timeout() { case " $EMPTY " in *" $5:$6 "*) printf empty;; esac; }',
    // The loop's third wait ends the run (exit 3: still waiting).
    'n=0; sleep() { n=$((n + 1)); [ "$n" -lt 3 ] || exit 3; }',
  ].join('\n');
  const peers = [0, 1, 2].map((i) => host(`ovn-nb-db-${i}`)).join(' ');
  const r = spawnSync(
    'bash',
    ['-c', `${stubs}\nme=${o.me}\nself=${host(o.me)}\npeers="${peers}"\n${fns}\njoin_or_create`],
    {
      encoding: 'utf8',
      env: {
        ...process.env,
        ANSWERING: (o.answering ?? []).map((m) => `${host(m)}:6641`).join(' '),
        EMPTY: (o.empty ?? []).map((m) => `${host(m)}:6645`).join(' '),
      },
    },
  );
  return { stdout: r.stdout, status: r.status };
}

test('a clustered OVN member with no data: the first creates the cluster only when every other member says it has no data; else it waits', () => {
  // The cloud's first start: every member empty.
  const created = runJoinOrCreate({ me: 'ovn-nb-db-0', empty: ['ovn-nb-db-1', 'ovn-nb-db-2'] });
  assert.equal(created.status, 0, created.stdout);
  assert.match(created.stdout, /the 2 others have no data either: creating the cluster/);
  assert.match(created.stdout, /^ovsdb-tool create-cluster \/var\/lib\/ovn\/ovnnb_db\.db /m);

  // Its volume lost while the two others are down (one silent, one empty): no second cluster.
  for (const empty of [['ovn-nb-db-2'], []]) {
    const waits = runJoinOrCreate({ me: 'ovn-nb-db-0', empty });
    assert.equal(waits.status, 3, `still waiting: ${waits.stdout}`);
    assert.doesNotMatch(waits.stdout, /create-cluster/);
    assert.match(
      waits.stdout,
      new RegExp(
        `only ${empty.length} of the 2 others say they have no data: the cluster may be on members that are down`,
      ),
    );
  }

  // A member answers: it joins through it, whichever member it is.
  for (const me of ['ovn-nb-db-0', 'ovn-nb-db-1']) {
    const joined = runJoinOrCreate({ me, answering: ['ovn-nb-db-2'], empty: ['ovn-nb-db-1'] });
    assert.equal(joined.status, 0, joined.stdout);
    assert.match(
      joined.stdout,
      /^ovsdb-tool join-cluster \S+ OVN_Northbound tcp:ovn-nb-db-\d\.\S+:6643 tcp:ovn-nb-db-2\.\S+:6643$/m,
    );
  }

  // Any other member never creates.
  const other = runJoinOrCreate({ me: 'ovn-nb-db-1', empty: ['ovn-nb-db-0', 'ovn-nb-db-2'] });
  assert.equal(other.status, 3);
  assert.doesNotMatch(other.stdout, /create-cluster/);
  assert.match(other.stdout, /waiting for a member of OVN_Northbound to answer/);
});

test("an empty OVN member's responder, as rendered, answers `empty` and says_empty hears it (real python3 and bash)", async () => {
  const start = file(renderExample('ha'), 'ovn-nb-db-config', 'start.sh');
  const responder = /python3 -c '([^']*)' 6645 &/.exec(start);
  assert.ok(responder, 'start.sh runs the responder on 6645');
  const says = start.slice(start.indexOf('says_empty() {'), start.indexOf('join_or_create() {'));
  // A free port for this run instead of 6645.
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
  const r = spawnSync(
    'bash',
    [
      '-c',
      [
        `python3 -c "$RESPONDER" ${port} & pid=$!`,
        says.replace(' 6645 ', ` ${port} `),
        'for i in $(seq 50); do says_empty 127.0.0.1 && { echo heard; break; }; sleep 0.1; done',
        'kill $pid',
        // Nothing listens now: silent.
        'says_empty 127.0.0.1 || echo silent',
      ].join('\n'),
    ],
    { encoding: 'utf8', env: { ...process.env, RESPONDER: responder[1] }, timeout: 30_000 },
  );
  assert.equal(r.stdout, 'heard\nsilent\n', r.stderr);
});
