// OVN's clustered databases as the e2e tests see them: each member's own Raft status and its own
// copy of the data, asked in its ovsdb-server container.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { getPod, kubectl, namespace, procInfo } from './helpers.ts';

export interface Db {
  readonly set: string;
  readonly name: string;
  readonly stem: string;
}
export const dbs: readonly Db[] = [
  { set: 'ovn-nb-db', name: 'OVN_Northbound', stem: 'ovnnb_db' },
  { set: 'ovn-sb-db', name: 'OVN_Southbound', stem: 'ovnsb_db' },
];
export const members = (db: Db) => [0, 1, 2].map((i) => `${db.set}-${i}`);

export interface RaftStatus {
  role: string;
  status: string;
  leader: string;
  servers: number;
  cluster: string;
}

/** `cluster/status` of one member, as its own server says it. */
export async function raftStatus(db: Db, member: string): Promise<RaftStatus> {
  const out = await kubectl(
    [
      ...['-n', namespace, 'exec', member, '-c', 'ovsdb-server', '--'],
      ...['ovs-appctl', '-t', `/run/ovn/${db.stem}.ctl`, 'cluster/status', db.name],
    ],
    20_000,
  );
  const field = (k: string) => new RegExp(`^${k}: (.*)$`, 'm').exec(out)?.[1]?.trim() ?? '';
  const serverLines = out.slice(out.indexOf('Servers:')).split('\n').slice(1);
  return {
    role: field('Role'),
    status: field('Status'),
    leader: field('Leader'),
    cluster: field('Cluster ID'),
    servers: serverLines.filter((l) => /^\s+\S{4} \(\S{4} at /.test(l)).length,
  };
}

/** A Neutron network's logical switch, as a member's own copy of the database lists it. */
export async function hasSwitch(db: Db, member: string, networkId: string): Promise<boolean> {
  const [tool, table, column] =
    db.set === 'ovn-nb-db'
      ? ['ovn-nbctl', 'Logical_Switch', 'name']
      : ['ovn-sbctl', 'Datapath_Binding', 'external_ids'];
  const out = await kubectl(
    [
      ...['-n', namespace, 'exec', member, '-c', 'ovsdb-server', '--'],
      ...[tool, `--db=unix:/run/ovn/${db.stem}.sock`, '--no-leader-only', '--timeout=10'],
      ...['--bare', `--columns=${column}`, 'list', table],
    ],
    30_000,
  );
  return out.includes(networkId);
}

/**
 * The host PID of the ovsdb-server of a member, on whichever node it runs: the node containers'
 * processes are this host's, and the pod's UID is in each of its processes' cgroup path.
 */
export async function serverPid(member: string): Promise<number> {
  const pod = await getPod(member);
  assert.ok(pod?.metadata.uid, member);
  const uid = pod.metadata.uid;
  const mine = (pid: number) => {
    try {
      const cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
      return cg.includes(uid) || cg.includes(uid.replaceAll('-', '_'));
    } catch {
      return false;
    }
  };
  const pids = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => procInfo(pid)?.comm === 'ovsdb-server' && mine(pid));
  assert.equal(pids.length, 1, `one ovsdb-server in ${member}: ${pids.join(', ')}`);
  return pids[0]!;
}
