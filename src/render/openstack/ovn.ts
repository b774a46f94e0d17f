// OVN for Neutron's ML2/OVN driver: the northbound and southbound OVSDB databases
// (StatefulSets on volumes), ovn-northd between them, and on every compute and network node
// Open vSwitch (ovsdb-server + ovs-vswitchd) and ovn-controller, which programs it.
import { restrictedUid } from '../../catalog/images.ts';
import type { BackendDef } from '../../catalog/types.ts';
import { placement, selectorLabels, svcFqdn, svcHost, type Ctx } from '../context.ts';
import { memberHosts } from './endpoints.ts';
import { headlessName } from '../infra/backend.ts';
import { statefulSet } from '../statefulset.ts';
import { contentHash } from '../hash.ts';
import { kollaConfig, kollaConfigDir, type KollaConfig } from '../kolla.ts';
import type { Container, DaemonSet, EnvVar, KubeObject, VolumeMount } from '../kube.ts';
import {
  daemonSet,
  deployment,
  disruptionBudget,
  kollaContainer,
  podTemplate,
  processContainer,
  service,
  serviceAccount,
  hostPathVolume,
  type ContainerSecurity,
} from '../workload.ts';

const ovsRun = '/run/openvswitch';
const ovsSock = `unix:${ovsRun}/db.sock`;
const startScript = 'start.sh';
const startCommand = `bash ${kollaConfigDir}/${startScript}`;
/** The nodes that carry tenant traffic: compute nodes, and network (gateway) nodes. */
const dataPlaneRoles = ['compute', 'network'] as const;

export interface OvsdbDb {
  readonly part: 'nb-db' | 'sb-db';
  readonly def: BackendDef<'ovsdb'>;
  /** File name stem: ovnnb_db / ovnsb_db. */
  readonly stem: string;
  readonly schema: string;
  /** The database's name in its schema: OVN_Northbound / OVN_Southbound. */
  readonly dbName: string;
  /** The port the members of a clustered database talk Raft on (OVN's own: 6643, 6644). */
  readonly raftPort: number;
}

/**
 * How many members each OVN database has: a 3-member Raft cluster (it keeps serving with one
 * member gone) when Neutron runs 3 or more replicas; else one standalone server.
 */
export function ovnDbMembers(ctx: Ctx): number {
  return ctx.spec.services.neutron.replicas >= 3 ? 3 : 1;
}

/**
 * The members' host names, fully qualified: Open vSwitch's own resolver (unbound) does not use
 * the resolver's search list.
 */
function ovnMemberHosts(ctx: Ctx, def: BackendDef<'ovsdb'>): string[] {
  return memberHosts(ctx, def.service, headlessName(def), ovnDbMembers(ctx)).map(
    (h) => `${h}.${ctx.spec.clusterDomain}`,
  );
}

export function ovnNbConnection(ctx: Ctx): string {
  return connection(ctx, ctx.catalog.ovn.nb);
}

export function ovnSbConnection(ctx: Ctx): string {
  return connection(ctx, ctx.catalog.ovn.sb);
}

/**
 * Where clients find a database: its Service for one server; every member of a cluster, which
 * OVSDB clients try in turn (they look for the leader, and move on when a member is gone).
 */
function connection(ctx: Ctx, def: BackendDef<'ovsdb'>): string {
  if (ovnDbMembers(ctx) === 1) return `tcp:${svcFqdn(ctx, def.service)}:${def.ports.ovsdb}`;
  return ovnMemberHosts(ctx, def)
    .map((h) => `tcp:${h}:${def.ports.ovsdb}`)
    .join(',');
}

export function renderOvn(ctx: Ctx): KubeObject[] {
  const ovn = ctx.catalog.ovn;
  return [
    serviceAccount(ctx, 'ovn', 'ovn'),
    ...ovsdbServer(ctx, {
      part: 'nb-db',
      def: ovn.nb,
      stem: 'ovnnb_db',
      schema: '/usr/share/ovn/ovn-nb.ovsschema',
      dbName: 'OVN_Northbound',
      raftPort: 6643,
    }),
    ...ovsdbServer(ctx, {
      part: 'sb-db',
      def: ovn.sb,
      stem: 'ovnsb_db',
      schema: '/usr/share/ovn/ovn-sb.ovsschema',
      dbName: 'OVN_Southbound',
      raftPort: 6644,
    }),
    ...northd(ctx),
    ...openvswitch(ctx),
    ...controller(ctx),
  ];
}

/**
 * Shell that resolves an in-cluster Service name to its address. OVS resolves names itself only
 * when built with unbound, which ignores the resolver's search list; glibc's lookup does not.
 */
const resolveFn = `resolve() { local a; a="$(getent hosts "$1" | awk '{ print $1; exit }')" || true; echo "\${a:-$1}"; }`;

/**
 * Shell (after resolveFn) that sets `$<v>` to the OVSDB remote of a database for a C client (ovn-northd,
 * ovn-controller): one server by its Service's address (resolved here: Open vSwitch's own
 * resolver ignores the search list); a cluster by its members' full names, which the client
 * resolves again each time it reconnects, so a member that moved is found.
 */
function dbRemote(ctx: Ctx, v: string, def: BackendDef<'ovsdb'>): string {
  if (ovnDbMembers(ctx) > 1) return `${v}="${connection(ctx, def)}"`;
  return `${v}="tcp:$(resolve ${svcHost(ctx, def.service)}):${def.ports.ovsdb}"`;
}

/**
 * The same for a client on the node's network (ovn-controller): a cluster by its members'
 * addresses, looked up here (glibc) when the container starts. Open vSwitch's own resolver, in
 * ovn-controller on the host's network, failed once (the members did not exist yet) and then
 * never resolved them again (seen for 12 minutes, while a new process in the same container
 * resolved them at once). A member that moves takes its old address out of the list; the others
 * serve, and with none left the controller is not connected, fails its liveness probe, and is
 * restarted with the addresses of the day.
 */
function dbRemoteByAddress(ctx: Ctx, v: string, def: BackendDef<'ovsdb'>): string[] {
  const members = ovnDbMembers(ctx);
  if (members === 1) return [dbRemote(ctx, v, def)];
  const hosts = ovnMemberHosts(ctx, def).join(' ');
  const name = svcHost(ctx, def.service);
  // Every member, waited for: a member's name resolves only once its pod is Ready, and a list
  // made of the first to resolve stayed that one member for the life of the container (seen: all
  // three controllers of an HA cloud on ovn-sb-db-2 alone). After a minute, the members that
  // resolve (one down member must not keep the node's networking from starting).
  return [
    `${v}=""; tries=0`,
    `until [ -n "$${v}" ] && { [ "$n" -eq ${members} ] || [ "$tries" -ge 30 ]; }; do`,
    `  ${v}=""; n=0`,
    `  for h in ${hosts}; do`,
    `    a="$(getent hosts "$h" | awk '{ print $1; exit }')" || true`,
    `    [ -n "$a" ] && { ${v}="\${${v}:+$${v},}tcp:$a:${def.ports.ovsdb}"; n=$((n + 1)); }`,
    '  done',
    `  [ "$n" -eq ${members} ] || { echo "waiting for the members of ${name} to resolve ($n of ${members})"; tries=$((tries + 1)); sleep 2; }`,
    'done',
    `echo "members of ${name}: $${v}"`,
  ];
}

/** Creates the database on first start and converts it to a newer schema after an upgrade. */
function createOrConvert(db: string, schema: string): string {
  return [
    `if [ ! -s ${db} ]; then`,
    `  ovsdb-tool create ${db} ${schema}`,
    `elif [ "$(ovsdb-tool needs-conversion ${db} ${schema})" = yes ]; then`,
    `  ovsdb-tool convert ${db} ${schema}`,
    'fi',
  ].join('\n');
}

function script(lines: string[]): string {
  return ['#!/bin/bash', 'set -euo pipefail', ...lines, ''].join('\n');
}

/**
 * The port on which a clustered member that has no database file says so (`empty`) while it
 * waits to join or create the cluster: the same for both databases (each member is its own pod).
 */
export const emptyMemberPort = 6645;

/**
 * A clustered member's start: its own name must resolve first (the headless Service publishes
 * members before they are Ready), for Raft listens on it. With no database file it joins the
 * cluster when a member answers (`join_or_create`). A clustered database is converted to a newer
 * schema online, through the leader, once the server runs. (The member count is fixed when the
 * cloud is first deployed: a StatefulSet's Service name cannot change, and a standalone server has
 * none that names its members.)
 */
function clusteredStart(ctx: Ctx, d: OvsdbDb, db: string): string[] {
  const hosts = ovnMemberHosts(ctx, d.def);
  const sock = `unix:/run/ovn/${d.stem}.sock`;
  const ctl = `/run/ovn/${d.stem}.ctl`;
  const suffix = `.${headlessName(d.def)}.${ctx.namespace}.svc.${ctx.spec.clusterDomain}`;
  return [
    'me="$(hostname)"',
    `self="$me${suffix}"`,
    `peers="${hosts.join(' ')}"`,
    'until getent hosts "$self" >/dev/null; do echo "waiting for $self to resolve"; sleep 1; done',
    ...joinOrCreate(d, db),
    `if [ ! -s ${db} ]; then`,
    // While it has no data it says so to the others: what lets the first member tell a cluster
    // not yet made from one whose members are down.
    `  python3 -c '${emptyResponder}' ${emptyMemberPort} &`,
    '  responder=$!',
    '  join_or_create',
    '  kill "$responder" 2>/dev/null || true',
    'fi',
    `( until ovsdb-client --timeout=5 list-dbs ${sock} >/dev/null 2>&1; do sleep 2; done`,
    `  if [ "$(ovsdb-client needs-conversion ${sock} ${d.schema} 2>/dev/null)" = yes ]; then`,
    `    ovsdb-client convert ${sock} ${d.schema} && echo "converted ${d.dbName} to $(ovsdb-tool schema-version ${d.schema})"`,
    '  fi',
    // Raft's election timer (1 s by default) on nodes whose CPU is saturated for minutes at a
    // time (a roll on a small cluster) changes leaders over and over: 5 s. Only the leader may
    // change it, by at most double each time; on the others this does nothing.
    `  for t in 2000 4000 5000; do ovs-appctl -t ${ctl} cluster/change-election-timer ${d.dbName} "$t" >/dev/null 2>&1 || break; done`,
    // A member rebuilt on another node with an empty volume joined under a new server id at its
    // old address; the id it had before still counts toward the majority, as a server that never
    // answers: remove it (any member may ask, the leader does it).
    ...staleServers(ctl, d.dbName, `tcp:$self:${d.raftPort}`),
    `  until ovs-appctl -t ${ctl} cluster/status ${d.dbName} 2>/dev/null | grep -q '^Status: cluster member'; do sleep 2; done`,
    '  for sid in $(stale_servers); do',
    `    echo "removing server $sid from ${d.dbName}: this member's id before its volume was given up"`,
    `    ovs-appctl -t ${ctl} cluster/kick ${d.dbName} "$sid" || true`,
    '  done',
    '  ) &',
  ];
}

/** Python that answers every connection on the port it is given with `empty`, until killed. */
const emptyResponder = [
  'import socket, sys',
  's = socket.create_server(("", int(sys.argv[1])))',
  'while True:',
  '    c = s.accept()[0]',
  '    c.sendall(b"empty")',
  '    c.close()',
].join('\n');

/**
 * `says_empty HOST` and `join_or_create`, shell functions for a member with no database file
 * (`$me`, `$self` and `$peers` set). It joins the cluster through the members that answer. When
 * none does, the first member (ordinal 0) creates the cluster, but only if every other member
 * says it has no data either (the cloud's first start, or every volume lost): a member that is
 * down or silent may hold the cluster, and a second cluster made beside it would take the
 * clients' writes and lose them. Any other member, and the first one then, waits.
 */
export function joinOrCreate(d: OvsdbDb, db: string): string[] {
  const first = `${d.def.service}-0`;
  return [
    'says_empty() {',
    `  [ "$(timeout 5 bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -c 5 <&3' "$1" ${emptyMemberPort} 2>/dev/null)" = empty ]`,
    '}',
    'join_or_create() {',
    '  local p remotes empty others',
    '  while :; do',
    '    remotes="" empty=0 others=0',
    '    for p in $peers; do',
    '      [ "$p" = "$self" ] && continue',
    '      others=$((others + 1))',
    // In braces with stderr dropped: bash reports a client its --timeout ended (SIGALRM) as an
    // "Alarm clock" line on every round otherwise.
    `      if { ovsdb-client --timeout=5 list-dbs "tcp:$p:${d.def.ports.ovsdb}" >/dev/null 2>&1; } 2>/dev/null; then remotes="$remotes tcp:$p:${d.raftPort}"`,
    '      elif says_empty "$p"; then empty=$((empty + 1)); fi',
    '    done',
    '    if [ -n "$remotes" ]; then',
    `      echo "joining the cluster of ${d.dbName} through$remotes"`,
    `      ovsdb-tool join-cluster ${db} ${d.dbName} "tcp:$self:${d.raftPort}" $remotes`,
    '      return',
    '    fi',
    `    if [ "$me" = "${first}" ] && [ "$empty" -eq "$others" ]; then`,
    `      echo "no member answers and the $others others have no data either: creating the cluster of ${d.dbName}"`,
    `      ovsdb-tool create-cluster ${db} ${d.schema} "tcp:$self:${d.raftPort}"`,
    '      return',
    '    fi',
    `    if [ "$me" = "${first}" ]; then`,
    `      echo "no member of ${d.dbName} answers and only $empty of the $others others say they have no data: the cluster may be on members that are down; waiting for one rather than creating a second cluster"`,
    '    else',
    `      echo "waiting for a member of ${d.dbName} to answer"`,
    '    fi',
    '    sleep 2',
    '  done',
    '}',
  ];
}

/**
 * `stale_servers`, a shell function: the ids of the servers `cluster/status` lists at this
 * member's own address other than itself (its lines read `  <name> (<id> at <address>)`, and
 * its own ends with `(self)`).
 */
export function staleServers(ctl: string, dbName: string, address: string): string[] {
  return [
    '  stale_servers() {',
    `    ovs-appctl -t ${ctl} cluster/status ${dbName} 2>/dev/null |`,
    `      awk -v a="${address})" '$3 == "at" && $4 == a && $0 !~ /[(]self[)]/ { sub(/^[(]/, "", $2); print $2 }'`,
    '  }',
  ];
}

function ovsdbServer(ctx: Ctx, d: OvsdbDb): KubeObject[] {
  const name = d.def.service;
  const p = d.def.ports.ovsdb;
  const db = `/var/lib/ovn/${d.stem}.db`;
  const members = ovnDbMembers(ctx);
  const clustered = members > 1;
  const start = script([
    'mkdir -p /run/ovn',
    ...(clustered ? clusteredStart(ctx, d, db) : [createOrConvert(db, d.schema)]),
    `exec ovsdb-server ${db} --remote=ptcp:${p}:0.0.0.0 --remote=punix:/run/ovn/${d.stem}.sock ` +
      `--pidfile=/run/ovn/${d.stem}.pid --unixctl=/run/ovn/${d.stem}.ctl -vconsole:info -vfile:off`,
  ]);
  const config = kollaConfig(ctx, 'ovn', d.part, startCommand, [], {
    extra: { [startScript]: start },
  });
  const ports = [
    { name: 'ovsdb', port: p },
    ...(clustered ? [{ name: 'raft', port: d.raftPort }] : []),
  ];
  const container = kollaContainer(ctx, {
    name: 'ovsdb-server',
    image: d.def.image,
    config,
    // Ready (and started) while it accepts connections; alive while it answers a request (a TCP
    // connect alone is answered by the kernel for a hung server).
    probe: {
      ready: { kind: 'tcp', port: p },
      live: { kind: 'exec', command: ['ovsdb-client', 'list-dbs', `unix:/run/ovn/${d.stem}.sock`] },
    },
    ports,
    resources: ctx.spec.services.neutron.resources,
    memory: d.def.memory,
    mounts: [{ name: 'data', mountPath: '/var/lib/ovn' }],
  });
  const template = podTemplate(ctx, {
    component: 'ovn',
    part: d.part,
    role: 'controlPlane',
    containers: [container],
    volumes: [config.volume],
    configHash: config.hash,
    serviceAccountName: 'ovn',
    user: restrictedUid(d.def.image),
    spread: clustered,
  });
  const sts = statefulSet(ctx, {
    component: 'ovn',
    name,
    part: d.part,
    serviceName: clustered ? headlessName(d.def) : name,
    replicas: members,
    // A cluster's members find each other at once after a full outage.
    parallel: clustered,
    template,
    revisionHistoryLimit: 3,
    ...(clustered
      ? {
          rebuild:
            'it joins the running members with an empty database, the leader sends it theirs (Raft snapshot), and it removes the server id it had before from the cluster',
        }
      : {}),
    // As first applied (a StatefulSet's claim templates cannot change): labelled, untyped.
    claim: {
      metadata: { name: 'data', labels: selectorLabels(ctx, 'ovn', d.part) },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Gi' } },
        ...(ctx.spec.storageClassName ? { storageClassName: ctx.spec.storageClassName } : {}),
      },
    },
  });
  return [
    config.secret,
    service(ctx, name, 'ovn', d.part, [{ name: 'ovsdb', port: p }]),
    ...(clustered
      ? [
          service(ctx, headlessName(d.def), 'ovn', d.part, ports, {
            headless: true,
            publishNotReady: true,
          }),
        ]
      : []),
    sts,
    ...(clustered ? [disruptionBudget(ctx, name, 'ovn', d.part)] : []),
  ];
}

function northd(ctx: Ctx): KubeObject[] {
  const { northd: def, nb, sb } = ctx.catalog.ovn;
  const start = script([
    resolveFn,
    dbRemote(ctx, 'nb', nb),
    dbRemote(ctx, 'sb', sb),
    'mkdir -p /run/ovn',
    `exec ${def.command} --ovnnb-db="$nb" --ovnsb-db="$sb"`,
  ]);
  const config = kollaConfig(ctx, 'ovn', def.name, startCommand, [], {
    extra: { [startScript]: start },
  });
  const replicas = ctx.spec.services.neutron.replicas;
  // northd instances share the work through a lock in the southbound database: one is active.
  const d = deployment(ctx, `ovn-${def.name}`, replicas, {
    component: 'ovn',
    part: def.name,
    role: def.role,
    containers: [
      processContainer(ctx, def, config, { resources: ctx.spec.services.neutron.resources }),
    ],
    volumes: [config.volume],
    configHash: config.hash,
    serviceAccountName: 'ovn',
    user: restrictedUid(def.image),
  });
  const out: KubeObject[] = [config.secret, d];
  if (replicas > 1) out.push(disruptionBudget(ctx, `ovn-${def.name}`, 'ovn', def.name));
  return out;
}

/** A second (third, …) Kolla config in one pod needs its own volume name. */
function renamed(config: KollaConfig, volumeName: string): KollaConfig {
  return {
    ...config,
    volume: { ...config.volume, name: volumeName },
    mount: { ...config.mount, name: volumeName },
  };
}

const hostPath = hostPathVolume;

const nodeEnv: EnvVar[] = [
  { name: 'NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
];

function dataPlane(ds: DaemonSet & KubeObject, ctx: Ctx): KubeObject {
  const pod = ds.spec!.template.spec!;
  pod.affinity = placement(ctx, dataPlaneRoles);
  return ds;
}

/** Open vSwitch on each compute and network node: its database and the switch daemon. */
/** The node-local TCP port of the node's Open vSwitch database (127.0.0.1 only). */
export const ovsdbLocalPort = 6640;

function openvswitch(ctx: Ctx): KubeObject[] {
  const def = ctx.catalog.ovn.openvswitch;
  const db = '/var/lib/openvswitch/conf.db';
  const waitForDb = `until ovs-vsctl --db=${ovsSock} --timeout=5 --no-wait show >/dev/null 2>&1; do echo 'waiting for ovsdb-server'; sleep 2; done`;
  const dbStart = script([
    `mkdir -p ${ovsRun}`,
    createOrConvert(db, '/usr/share/openvswitch/vswitch.ovsschema'),
    // Also on the node's loopback (hostNetwork): nova-compute runs as nova and cannot open the
    // root-only unix socket; Kolla gives it the same TCP endpoint.
    `exec ovsdb-server ${db} --remote=punix:${ovsRun}/db.sock --remote=ptcp:${ovsdbLocalPort}:127.0.0.1 --remote=db:Open_vSwitch,Open_vSwitch,manager_options ` +
      `--pidfile=${ovsRun}/ovsdb-server.pid --unixctl=${ovsRun}/ovsdb-server.ctl -vconsole:info -vfile:off`,
  ]);
  const switchStart = script([
    waitForDb,
    `ovs-vsctl --db=${ovsSock} --no-wait init`,
    // Without the kernel datapath (no module, e.g. a VM kernel without one) OVN programs a
    // userspace (netdev) bridge instead: slower, but the same flows.
    'if [ -d /sys/module/openvswitch ] || modprobe openvswitch 2>/dev/null; then',
    `  ovs-vsctl --db=${ovsSock} --no-wait remove open_vswitch . external_ids ovn-bridge-datapath-type`,
    `  ovs-vsctl --db=${ovsSock} --no-wait remove open_vswitch . other_config userspace-tso-enable`,
    'else',
    "  echo 'no openvswitch kernel module: using the userspace (netdev) datapath'",
    `  ovs-vsctl --db=${ovsSock} --no-wait set open_vswitch . external_ids:ovn-bridge-datapath-type=netdev`,
    // Kernel devices on a netdev bridge (guests' taps, veths) are read and written through
    // packet sockets. With TSO on, those sockets carry the virtio-net header: packets whose
    // checksum the sender left to offload (TCP from a guest or a namespace) and segments larger
    // than the MTU are handled, instead of being forwarded with a bad checksum or dropped
    // ("Dropped packet: Too big"). Read once, when ovs-vswitchd starts.
    `  ovs-vsctl --db=${ovsSock} --no-wait set open_vswitch . other_config:userspace-tso-enable=true`,
    'fi',
    `exec ovs-vswitchd ${ovsSock} --pidfile=${ovsRun}/ovs-vswitchd.pid --unixctl=${ovsRun}/ovs-vswitchd.ctl -vconsole:info -vfile:off`,
  ]);
  const dbConfig = renamed(
    kollaConfig(ctx, 'ovn', 'openvswitch-db', startCommand, [], {
      extra: { [startScript]: dbStart },
    }),
    'kolla-config-db',
  );
  const switchConfig = renamed(
    kollaConfig(ctx, 'ovn', 'openvswitch-vswitchd', startCommand, [], {
      extra: { [startScript]: switchStart },
    }),
    'kolla-config-vswitchd',
  );
  const run: VolumeMount = { name: 'openvswitch-run', mountPath: ovsRun };
  // Both answer from their main loops over their local sockets (small C clients, no shell).
  const listDbs = { kind: 'exec', command: ['ovsdb-client', 'list-dbs', ovsSock] } as const;
  const vswitchdVersion = {
    kind: 'exec',
    command: ['ovs-appctl', '-t', `${ovsRun}/ovs-vswitchd.ctl`, 'version'],
  } as const;
  const containers: Container[] = [
    kollaContainer(ctx, {
      name: 'ovsdb-server',
      image: def.image,
      config: dbConfig,
      probe: { live: listDbs },
      resources: ctx.spec.services.neutron.resources,
      memory: def.memory,
      mounts: [run, { name: 'openvswitch-db', mountPath: '/var/lib/openvswitch' }],
      // root, for the host's root-owned directories it shares with the node; nothing more.
      security: { kind: 'root' },
    }),
    kollaContainer(ctx, {
      name: 'ovs-vswitchd',
      image: def.image,
      config: switchConfig,
      probe: { live: vswitchdVersion },
      resources: ctx.spec.services.neutron.resources,
      memory: ctx.catalog.memory.vswitchd,
      mounts: [run, { name: 'modules', mountPath: '/lib/modules', readOnly: true }],
      // The datapath: loads the kernel module, creates ports and tap devices (/dev/net/tun for the
      // userspace datapath), sets interfaces' addresses and queues.
      security: { kind: 'privileged' },
    }),
  ];
  const ds = daemonSet(ctx, 'ovn-openvswitch', {
    component: 'ovn',
    part: 'openvswitch',
    role: 'compute',
    containers,
    volumes: [
      dbConfig.volume,
      switchConfig.volume,
      hostPath('openvswitch-run', ovsRun),
      hostPath('openvswitch-db', '/var/lib/openvswitch'),
      hostPath('modules', '/lib/modules'),
    ],
    configHash: contentHash([dbConfig.hash, switchConfig.hash], 16),
    serviceAccountName: 'ovn',
    hostNetwork: true,
  });
  return [dbConfig.secret, switchConfig.secret, dataPlane(ds, ctx)];
}

/**
 * ovn-controller on each compute and network node. Before it starts, the node's Open vSwitch is
 * told where the southbound database is and which address tunnels (Geneve) end on: the node's
 * IP, from the downward API, or with `tunnelInterface` that interface's address, moved onto
 * br-phy (tunnelSetup). The chassis is named after the node, so it is stable.
 */
function controller(ctx: Ctx): KubeObject[] {
  const { controller: def, sb } = ctx.catalog.ovn;
  const tunnels = ctx.spec.services.neutron.tunnelInterface !== undefined;
  const start = script([
    resolveFn,
    `until ovs-vsctl --db=${ovsSock} --timeout=5 --no-wait show >/dev/null 2>&1; do echo 'waiting for Open vSwitch'; sleep 2; done`,
    ...dbRemoteByAddress(ctx, 'sb', sb),
    `ovs-vsctl --db=${ovsSock} --no-wait set open_vswitch . \\`,
    `  external_ids:ovn-remote="$sb" \\`,
    '  external_ids:ovn-encap-type=geneve \\',
    ...(tunnels ? [] : ['  external_ids:ovn-encap-ip="$NODE_IP" \\']),
    '  external_ids:system-id="$NODE_NAME" \\',
    // Neutron binds ports to the chassis whose hostname is Nova's host: the node name.
    '  external_ids:hostname="$NODE_NAME"',
    ...providerSetup(ctx),
    ...tunnelSetup(ctx),
    // ovn-controller 25.03 dereferences the southbound SB_Global row without checking that it
    // exists: started against a new database before ovn-northd has written the row, it dies of
    // SIGSEGV (seen twice on a fresh deploy). Wait for the row.
    // Any member answers (--no-leader-only): a follower holds the row as well as the leader.
    `until [ -n "$(ovn-sbctl --db="$sb" --no-leader-only --timeout=5 --bare --columns=_uuid list SB_Global 2>/dev/null)" ]; do echo 'waiting for ovn-northd to initialise the southbound database'; sleep 2; done`,
    'mkdir -p /run/ovn',
    `exec ${def.command}`,
  ]);
  const config = kollaConfig(ctx, 'ovn', def.name, startCommand, [], {
    extra: { [startScript]: start },
  });
  const hostNs = ctx.spec.services.neutron.provider.hostNamespace !== undefined;
  const container = processContainer(ctx, def, config, {
    resources: ctx.spec.services.neutron.resources,
    env: nodeEnv,
    mounts: [
      { name: 'openvswitch-run', mountPath: ovsRun },
      // The external network's namespace must be the node's, and outlive the container.
      ...(hostNs
        ? [{ name: 'netns', mountPath: '/run/netns', mountPropagation: 'Bidirectional' as const }]
        : []),
    ],
    security: controllerSecurity(ctx),
  });
  const ds = daemonSet(ctx, `ovn-${def.name}`, {
    component: 'ovn',
    part: def.name,
    role: def.role,
    containers: [container],
    volumes: [
      config.volume,
      hostPath('openvswitch-run', ovsRun),
      ...(hostNs ? [hostPath('netns', '/run/netns')] : []),
    ],
    configHash: config.hash,
    serviceAccountName: 'ovn',
    hostNetwork: def.host ?? true,
  });
  return [config.secret, dataPlane(ds, ctx)];
}

/**
 * How ovn-controller runs: root, for Open vSwitch's root-owned sockets (OVSDB and OpenFlow),
 * through which it does its work, with no capabilities; NET_ADMIN too when it brings the external
 * network's node interface up, or moves the tunnel interface's address onto br-phy; privileged when it makes the external network's namespace on the
 * node (a network namespace, a veth pair, and the namespace shared with the host through
 * Bidirectional mount propagation, which Kubernetes allows privileged containers only).
 */
function controllerSecurity(ctx: Ctx): ContainerSecurity {
  const { provider: p, tunnelInterface } = ctx.spec.services.neutron;
  if (p.hostNamespace) return { kind: 'privileged' };
  return p.interface || tunnelInterface
    ? { kind: 'root', capabilities: ['NET_ADMIN'] }
    : { kind: 'root' };
}

/** The veth end on the external bridge when the external network is a namespace on the node. */
export const externalVeth = 'stkext0';
/** Its peer inside that namespace. */
export const externalNsInterface = 'ext0';

/**
 * The external (provider) network on this chassis: its bridge, with the same datapath as br-int;
 * OVN's bridge mapping from the physical network to it; the chassis offered as a gateway for
 * routers. Its uplink is a node interface (spec `interface`) or, for a network that exists only
 * on the node, a veth pair into a network namespace holding the gateway address (`hostNamespace`),
 * which forwards nothing: guests reach its address and no further.
 */
export function providerSetup(ctx: Ctx): string[] {
  const p = ctx.spec.services.neutron.provider;
  const vsctl = `ovs-vsctl --db=${ovsSock} --no-wait`;
  const lines = [
    // ovs-vswitchd starts once its container has chosen the datapath: read it after that (into
    // $dp, which tunnelSetup uses too).
    `until ovs-appctl -t ${ovsRun}/ovs-vswitchd.ctl version >/dev/null 2>&1; do echo 'waiting for ovs-vswitchd'; sleep 2; done`,
    `dp="$(ovs-vsctl --db=${ovsSock} --if-exists get open_vswitch . external_ids:ovn-bridge-datapath-type | tr -d '"')"`,
    `${vsctl} --may-exist add-br ${p.bridge} -- set bridge ${p.bridge} datapath_type="\${dp:-system}"`,
    `${vsctl} set open_vswitch . external_ids:ovn-bridge-mappings=${p.physicalNetwork}:${p.bridge} external_ids:ovn-cms-options=enable-chassis-as-gw`,
  ];
  if (p.interface) {
    lines.push(
      `ip link set ${p.interface} up`,
      `${vsctl} --may-exist add-port ${p.bridge} ${p.interface}`,
    );
  }
  if (p.hostNamespace) {
    const ns = p.hostNamespace.name;
    const inNs = `ip netns exec ${ns}`;
    lines.push(
      // A file left in /run/netns whose namespace is gone (the mount under it was removed)
      // is not a namespace: replaced, or every `ip … netns` below fails with "Invalid argument".
      `ip netns exec ${ns} true 2>/dev/null || { ip netns delete ${ns} 2>/dev/null || rm -f /run/netns/${ns}; ip netns add ${ns}; }`,
      `ip link show ${externalVeth} >/dev/null 2>&1 || ip link add ${externalVeth} type veth peer name ${externalNsInterface} netns ${ns}`,
      `ip link set ${externalVeth} up`,
      `${inNs} ip link set lo up`,
      `${inNs} ip link set ${externalNsInterface} up`,
      `${inNs} ip addr replace ${p.hostNamespace.address} dev ${externalNsInterface}`,
      `${inNs} sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward'`,
      `${vsctl} --may-exist add-port ${p.bridge} ${externalVeth}`,
      `echo "external network: namespace ${ns} (${p.hostNamespace.address}) on ${p.bridge}"`,
    );
  }
  return lines;
}

/** The Open vSwitch bridge that holds the tunnel interface and the tunnel endpoint's address. */
export const tunnelBridge = 'br-phy';

/**
 * Geneve between chassis through a node interface of their own (spec `tunnelInterface`), laid out
 * as Open vSwitch's userspace tunnelling guide does (Documentation/howto/userspace-tunneling.rst):
 * the userspace datapath sends tunnel packets by its own routing table, which knows only routes
 * through OVS bridges, so the endpoint's address must be on the internal port of a bridge holding
 * the interface. br-phy gets the node's datapath type ($dp, read by providerSetup above), the
 * interface's MAC address (fixed, whatever ports come and go) and the interface as its port; then
 * the interface's first IPv4 address moves onto br-phy (the kernel's route to its subnet goes with
 * it) and becomes ovn-encap-ip. On a later start the address is already on br-phy, and is read
 * from there: br-phy outlives ovs-vswitchd's restarts (a persistent tap with the userspace
 * datapath, a kernel port with the kernel one). ovs-vsctl waits here (no --no-wait) until
 * ovs-vswitchd has made br-phy's port, which the address goes on.
 */
export function tunnelSetup(ctx: Ctx): string[] {
  const dev = ctx.spec.services.neutron.tunnelInterface;
  if (dev === undefined) return [];
  const br = tunnelBridge;
  const firstAddress = (d: string) =>
    `ip -4 -o addr show dev ${d} scope global | awk '{ print $4; exit }'`;
  return [
    `ip link set ${dev} up`,
    `mac="$(cat /sys/class/net/${dev}/address)"`,
    `ovs-vsctl --db=${ovsSock} --timeout=60 --may-exist add-br ${br} -- set bridge ${br} datapath_type="\${dp:-system}" fail-mode=standalone other_config:hwaddr="\\"$mac\\"" -- --may-exist add-port ${br} ${dev}`,
    `tunnel_cidr="$(${firstAddress(dev)})"`,
    'if [ -n "$tunnel_cidr" ]; then',
    `  ip addr del "$tunnel_cidr" dev ${dev}`,
    `  ip addr replace "$tunnel_cidr" dev ${br}`,
    'else',
    `  tunnel_cidr="$(${firstAddress(br)})"`,
    'fi',
    `[ -n "$tunnel_cidr" ] || { echo "no IPv4 address on ${dev} or ${br}: nothing for tunnels to end on" >&2; exit 1; }`,
    `ip link set ${br} up`,
    `ovs-vsctl --db=${ovsSock} --no-wait set open_vswitch . external_ids:ovn-encap-ip="\${tunnel_cidr%/*}"`,
    `echo "tunnels: $tunnel_cidr on ${br}, through ${dev}"`,
  ];
}
