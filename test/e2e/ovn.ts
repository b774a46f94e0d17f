// OVN's clustered databases as the e2e tests see them: each member's own Raft status and its own
// copy of the data, asked in its ovsdb-server container.
import { kubectl, namespace } from './helpers.ts';

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
