// Real guests on the deployed cloud, for the end-to-end tests and bench/vm: servers booted from
// the project's guest image (`stackanetes up` uploaded it, with the flavor m1.guest, the network
// `private` behind router1 and the external network `public`), reached from the external
// network's namespace on the node with ping and SSH, and what they leave on the node (QEMU
// processes, taps, Open vSwitch ports). The node is this machine (examples/minimal.yaml).
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { guestMarkers } from '../../src/images/guest.ts';
import { guestSetup } from '../../src/openstack/guest-setup.ts';
import { layout } from '../../src/cluster/layout.ts';
import { nodeInitPid } from '../../src/cluster/nodecontainer.ts';
import { hostNodeName } from '../../src/cluster/nodes.ts';
import { ensureHostPrograms } from '../../src/util/apt.ts';
import {
  cloudName,
  containerStatuses,
  liveCloud,
  inClient,
  kubectl,
  namespace,
  dataPlaneNamespace,
  osJson,
  pods,
  until,
} from './helpers.ts';

const run = promisify(execFile);
export { guestMarkers, guestSetup };

let clientsInstalled: Promise<void> | undefined;
/** ping, ssh and ssh-keygen on this machine (installed once when missing): guests are reached with them. */
function hostClients(): Promise<void> {
  clientsInstalled ??= ensureHostPrograms(
    { ping: 'iputils-ping', ssh: 'openssh-client', 'ssh-keygen': 'openssh-client' },
    (p) => console.log(`# installing ${p.join(' ')} (the guests are reached with them)`),
  );
  return clientsInstalled;
}

/**
 * Where the external network is reached from: the network namespace that holds the gateway
 * address of `spec.services.neutron.provider.hostNamespace`. Every node's chassis has one of its
 * own (a network that exists only on the node), and a floating IP answers only on the node whose
 * chassis holds the router's gateway (OVN's chassisredirect port). On this machine's node that
 * is the namespace's name (`ip netns exec`); on a node container it is the namespace's file seen
 * through that node's root (`nsenter --net=`), as the node's own `ip netns` made it.
 */
export async function externalNamespace(): Promise<string> {
  const cloud = await liveCloud();
  const ns = (
    cloud.spec as { services?: { neutron?: { provider?: { hostNamespace?: { name?: string } } } } }
  ).services?.neutron?.provider?.hostNamespace?.name;
  if (!ns) throw new Error(`${cloudName}: spec.services.neutron.provider.hostNamespace is not set`);
  const nodes = (await kubectl(['get', 'nodes', '-o', 'name'])).trim().split('\n');
  if (nodes.length < 2) return ns;
  const node = await gatewayNode();
  if (node === hostNodeName) return ns;
  const pid = await nodeInitPid(layout(), node);
  if (!pid) throw new Error(`the gateway's node ${node} is not running here`);
  return `/proc/${pid}/root/run/netns/${ns}`;
}

/** The node whose chassis holds the routers' gateway: OVN's chassisredirect port's chassis. */
export async function gatewayNode(): Promise<string> {
  const sb = (args: string[]) =>
    kubectl(
      [
        ...['-n', namespace, 'exec', 'ovn-sb-db-0', '-c', 'ovsdb-server', '--'],
        ...['ovn-sbctl', '--db=unix:/run/ovn/ovnsb_db.sock', '--no-leader-only', '--timeout=10'],
        ...['--bare', ...args],
      ],
      30_000,
    );
  const bound = (await sb(['--columns=chassis', 'find', 'Port_Binding', 'type=chassisredirect']))
    .split(/\s+/)
    .filter(Boolean);
  if (!bound.length) throw new Error('no router gateway is bound to a chassis');
  const hosts = new Set<string>();
  for (const c of new Set(bound))
    hosts.add((await sb(['--columns=hostname', 'list', 'Chassis', c])).trim());
  if (hosts.size > 1) throw new Error(`router gateways on several nodes: ${[...hosts].join(', ')}`);
  return [...hosts][0]!;
}

export interface Keypair {
  readonly name: string;
  /** The private key's file on this machine. */
  readonly file: string;
}

/** An SSH key made here, its public half given to Nova as a keypair. */
export async function keypair(name: string): Promise<Keypair> {
  await hostClients();
  const dir = mkdtempSync(join(tmpdir(), 'stackanetes-e2e-key-'));
  const file = join(dir, 'id_ed25519');
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr?.toString()}`);
  const pub = readFileSync(`${file}.pub`, 'utf8').trim();
  await inClient(
    `openstack keypair delete ${name} >/dev/null 2>&1 || true; printf '%s\\n' '${pub}' > /tmp/${name}.pub && openstack keypair create --public-key /tmp/${name}.pub ${name} >/dev/null && rm -f /tmp/${name}.pub`,
  );
  return { name, file };
}

export interface ServerInfo {
  id: string;
  name: string;
  status: string;
  fault?: { message?: string; details?: string; code?: number };
  created?: string;
  'OS-EXT-SRV-ATTR:host'?: string;
  'OS-EXT-SRV-ATTR:instance_name'?: string;
  'OS-EXT-STS:task_state'?: string | null;
  'OS-EXT-STS:vm_state'?: string;
  addresses?: Record<string, string[]> | string;
}

export function serverShow(name: string): Promise<ServerInfo> {
  return osJson<ServerInfo>(`server show ${name}`);
}

/** Creates a server without waiting; resolves to its id. */
export async function createServer(
  name: string,
  opts: {
    flavor?: string;
    image?: string;
    network?: string;
    key?: string;
    securityGroup?: string;
    userData?: string;
    /** `nova:<host>` pins the server to a compute host (admin only). */
    availabilityZone?: string;
  } = {},
): Promise<string> {
  const args = [
    `--flavor ${opts.flavor ?? guestSetup.flavor}`,
    `--image ${opts.image ?? guestSetup.image}`,
    opts.network === 'none' ? '--nic none' : `--network ${opts.network ?? guestSetup.network}`,
    opts.key ? `--key-name ${opts.key}` : '',
    opts.securityGroup ? `--security-group ${opts.securityGroup}` : '',
    opts.availabilityZone ? `--availability-zone ${opts.availabilityZone}` : '',
  ].join(' ');
  const script = opts.userData
    ? `printf '%s' '${opts.userData.replace(/'/g, `'\\''`)}' > /tmp/${name}.ud && openstack server create ${args} --user-data /tmp/${name}.ud ${name} -f value -c id`
    : `openstack server create ${args} ${name} -f value -c id`;
  return (await inClient(script)).trim().split('\n').pop()!;
}

/**
 * Why a server is in ERROR: its fault, shown by ID when shown by name it has none (a server
 * never scheduled lives in cell0, whose faults the name lookup's list leaves out); the computes'
 * pods with their age and restarts (a nova-compute restarted while a server builds puts it in
 * ERROR without a fault), first, as CI's summary keeps an error's first lines; then the lines
 * of Nova's scheduler, conductor and computes that name it, for a fault that says too little.
 */
async function errorCause(s: ServerInfo): Promise<string> {
  const fault =
    s.fault?.message ??
    (await serverShow(s.id).then(
      (byId) => byId.fault?.message,
      () => undefined,
    ));
  const lines: string[] = [];
  // The computes' pods, when each was created (a replaced pod is new) and their containers'
  // restarts with why the last one ended.
  for (const name of ['nova-compute', 'nova-libvirt']) {
    for (const p of await pods(name).catch(() => [])) {
      const restarts = containerStatuses(p)
        .filter((c) => c.restartCount > 0)
        .map((c) => {
          const t = c.lastState?.terminated;
          return `${c.name} restarted ${c.restartCount}×, last ended ${t?.finishedAt ?? '?'} (${t?.reason ?? '?'}, exit ${t?.exitCode ?? '?'})`;
        });
      lines.push(
        `pod ${p.metadata.name} created ${p.metadata.creationTimestamp ?? '?'}; ${restarts.join('; ') || 'no restarts'}`,
      );
    }
  }
  const logs: [string, string[]][] = [
    ['nova-scheduler', ['-n', namespace, 'logs', 'deploy/nova-scheduler']],
    ['nova-conductor', ['-n', namespace, 'logs', 'deploy/nova-conductor']],
    // Every compute's: a nova-compute that restarts while a server builds sets it to ERROR
    // with no fault (its start-up finds the server in a transitional state).
    [
      'nova-compute',
      ['-n', dataPlaneNamespace, 'logs', '-l', 'app.kubernetes.io/name=nova-compute', '--prefix'],
    ],
  ];
  for (const [d, args] of logs) {
    const log = await kubectl([...args, '--since=15m', '--tail=-1']).catch(
      (e: unknown) => `(${d} logs: ${String(e)})`,
    );
    lines.push(
      ...log
        .split('\n')
        .filter((l) => l.includes(s.id) && /ERROR|WARNING|NoValidHost|not mapped|state/.test(l))
        .slice(-5)
        .map((l) => `${d}: ${l.slice(0, 400)}`),
    );
  }
  return [
    `${fault ?? 'no fault, by name or by ID'} (server created ${s.created ?? '?'})`,
    ...lines,
  ].join('\n  ');
}

/** Waits for one of `statuses`; fails at once on ERROR unless ERROR is awaited. */
export async function waitStatus(
  name: string,
  statuses: string[],
  timeoutMs = 10 * 60_000,
): Promise<ServerInfo> {
  let fault: string | undefined;
  let seen: ServerInfo | undefined;
  const s = await until(
    async () => {
      const s = (seen = await serverShow(name));
      if (statuses.includes(s.status)) return s;
      if (s.status === 'ERROR') {
        fault = await errorCause(s);
        return s;
      }
      return undefined;
    },
    `server ${name} to be ${statuses.join(' or ')}`,
    timeoutMs,
    2000,
  ).catch(async (err: unknown) => {
    // Where it stuck, and whether the computes were up meanwhile: a timeout alone says neither.
    const computes = await inClient(
      'openstack compute service list --service nova-compute -f value -c Host -c Status -c State',
    ).catch((e: unknown) => `(compute service list failed: ${String(e)})`);
    const at = seen
      ? `status ${seen.status}, task ${seen['OS-EXT-STS:task_state'] ?? 'none'}, vm ${seen['OS-EXT-STS:vm_state'] ?? '?'}, host ${seen['OS-EXT-SRV-ATTR:host'] ?? 'none'}`
      : 'never shown';
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}; last seen: ${at}; nova-compute services: ${computes.trim().replace(/\n/g, '; ')}`,
    );
  });
  if (fault !== undefined) throw new Error(`${name} is in ERROR: ${fault}`);
  return s;
}

export interface PortInfo {
  id: string;
  fixedIp: string;
  mac: string;
}

/** The server's Neutron port on `network`. */
export async function serverPort(serverId: string): Promise<PortInfo> {
  const ports = await osJson<
    { ID: string; 'MAC Address': string; 'Fixed IP Addresses': { ip_address: string }[] | string }[]
  >(`port list --device-id ${serverId}`);
  const p = ports[0];
  if (!p) throw new Error(`server ${serverId} has no port`);
  const ips = p['Fixed IP Addresses'];
  const fixedIp =
    typeof ips === 'string'
      ? (/ip_address='([^']+)'/.exec(ips)?.[1] ?? '')
      : (ips[0]?.ip_address ?? '');
  return { id: p.ID, fixedIp, mac: p['MAC Address'] };
}

export function consoleLog(name: string): Promise<string> {
  return inClient(`openstack console log show ${name}`);
}

/** Waits until the guest says it is ready (SSH listening) on its console. */
export function waitGuestReady(name: string, timeoutMs = 10 * 60_000): Promise<string> {
  return until(
    async () => {
      const log = await consoleLog(name);
      return log.includes(guestMarkers.ready) ? log : undefined;
    },
    `${name} to write "${guestMarkers.ready}" on its console`,
    timeoutMs,
    3000,
  );
}

/** A floating IP from the external network, attached to the server; resolves to the address. */
export async function floatingIp(server: string): Promise<string> {
  const ip = (
    await inClient(
      `ip=$(openstack floating ip create ${guestSetup.externalNetwork} -f value -c floating_ip_address) && openstack server add floating ip ${server} "$ip" && echo "$ip"`,
    )
  )
    .trim()
    .split('\n')
    .pop()!;
  return ip;
}

/** A command in the external network's namespace (`externalNamespace`: a name, or a file on a node container). */
export async function inNamespace(
  ns: string,
  argv: string[],
  timeoutMs = 60_000,
): Promise<{ code: number; out: string }> {
  await hostClients();
  try {
    const enter = ns.startsWith('/') ? ['nsenter', `--net=${ns}`] : ['ip', 'netns', 'exec', ns];
    const { stdout, stderr } = await run(enter[0]!, [...enter.slice(1), ...argv], {
      timeout: timeoutMs,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : 1,
      out: `${e.stdout ?? ''}${e.stderr ?? ''}`,
    };
  }
}

/** One ping from the namespace, two seconds to answer. */
export async function pings(ns: string, ip: string): Promise<boolean> {
  return (await inNamespace(ns, ['ping', '-c', '1', '-W', '2', ip], 10_000)).code === 0;
}

/** `ssh root@ip cmd` from the namespace with the keypair's private key. */
export function ssh(ns: string, ip: string, key: Keypair, cmd: string, timeoutMs = 60_000) {
  return inNamespace(
    ns,
    [
      'ssh',
      '-i',
      key.file,
      '-o',
      'StrictHostKeyChecking=no',
      '-o',
      'UserKnownHostsFile=/dev/null',
      '-o',
      'BatchMode=yes',
      '-o',
      'ConnectTimeout=10',
      '-o',
      'LogLevel=ERROR',
      `${guestSetup.sshUser}@${ip}`,
      cmd,
    ],
    timeoutMs,
  );
}

/** QEMU processes of a Nova instance on this machine (hostPID: libvirt's guests are visible). */
export function qemuPids(instanceName: string): number[] {
  const r = spawnSync('pgrep', ['-f', `guest=${instanceName}(,|\\s)`], { encoding: 'utf8' });
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

/** Whether the tap Nova names after the port exists on this machine. */
export function tapExists(portId: string): boolean {
  return spawnSync('ip', ['link', 'show', `tap${portId.slice(0, 11)}`]).status === 0;
}

/** The ports on br-int, from the node's Open vSwitch (in the data plane's namespace). */
export async function brIntPorts(): Promise<string[]> {
  const ovs = (await pods('ovn-openvswitch'))[0];
  if (!ovs) throw new Error(`no ovn-openvswitch pod in namespace ${dataPlaneNamespace}`);
  const out = await kubectl([
    '-n',
    dataPlaneNamespace,
    'exec',
    ovs.metadata.name,
    '-c',
    'ovs-vswitchd',
    '--',
    'ovs-vsctl',
    'list-ports',
    'br-int',
  ]);
  return out.split('\n').filter(Boolean);
}

/** Kibibytes of memory a process uses, shared pages divided among their users (PSS). */
export function pssKiB(pid: number): number {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^Pss:\s+(\d+) kB/m.exec(text)?.[1] ?? 0);
}

export async function deleteServers(names: string[]): Promise<void> {
  if (names.length)
    await inClient(`openstack server delete --wait ${names.join(' ')}; true`, 600_000);
}
