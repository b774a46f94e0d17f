// After a cloud with the libvirt driver is Ready: what a new user needs to boot a server that
// answers at once — the project's guest image in Glance, a small flavor, a tenant network behind
// a router on the external network, and the default security group opened to ping and SSH.
// Everything is done in the cloud's openstack-client pod (admin credentials) by one Python process
// with openstacksdk, the library under the `openstack` command line (src/openstack/guest-setup.py),
// idempotently: a second run changes nothing.
import { spawn } from 'node:child_process';
import { createReadStream, readFileSync } from 'node:fs';
import type { OpenStackCloudSpec } from '../api/v1alpha1/spec.ts';
import { buildGuestImage, guestImageName, guestSshUser, type GuestImage } from '../images/guest.ts';

/** What the setup creates; the end-to-end tests and benches use the same names. */
export const guestSetup = {
  image: guestImageName,
  flavor: 'm1.guest',
  flavorSpec: { vcpus: 1, ramMb: 128, diskGb: 1 },
  externalNetwork: 'public',
  externalSubnet: 'public-subnet',
  network: 'private',
  subnet: 'private-subnet',
  subnetRange: '192.168.100.0/24',
  router: 'router1',
  sshUser: guestSshUser,
} as const;

export interface ExternalRange {
  readonly cidr: string;
  readonly gateway: string;
  readonly poolStart: string;
  readonly poolEnd: string;
  /** Where it is reached from: the node's network namespace, when the spec makes one. */
  readonly namespace?: string;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

/**
 * The external subnet from the namespace's gateway address (`172.24.4.1/24` → 172.24.4.0/24,
 * gateway .1, floating IPs from .10 to the last address but one); undefined without a namespace
 * (a physical external network: its addresses are the operator's to give).
 */
export function externalRange(spec: OpenStackCloudSpec): ExternalRange | undefined {
  const ns = spec.services.neutron.provider.hostNamespace;
  if (!ns) return undefined;
  const [addr, bits] = ns.address.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  const base = ipToInt(addr) - (ipToInt(addr) % size);
  if (size < 16) throw new Error(`${ns.address}: the external network needs at least a /28`);
  return {
    cidr: `${intToIp(base)}/${bits}`,
    gateway: addr,
    poolStart: intToIp(base + 10),
    poolEnd: intToIp(base + size - 2),
    namespace: ns.name,
  };
}

/** The settings src/openstack/guest-setup.py is run with (its one argument, as JSON). */
export interface SetupSettings {
  readonly image: { name: string; sha256: string; kernelVersion: string; file: string };
  readonly flavor: { name: string; vcpus: number; ramMb: number; diskGb: number };
  readonly external?: {
    network: string;
    subnet: string;
    physnet: string;
    cidr: string;
    gateway: string;
    poolStart: string;
    poolEnd: string;
  };
  readonly tenant: { network: string; subnet: string; cidr: string; router: string };
}

export function setupSettings(
  spec: OpenStackCloudSpec,
  image: Pick<GuestImage, 'diskSha256' | 'kernelVersion'>,
  file: string,
): SetupSettings {
  const s = guestSetup;
  const ext = externalRange(spec);
  return {
    image: { name: s.image, sha256: image.diskSha256, kernelVersion: image.kernelVersion, file },
    flavor: { name: s.flavor, ...s.flavorSpec },
    ...(ext && {
      external: {
        network: s.externalNetwork,
        subnet: s.externalSubnet,
        physnet: spec.services.neutron.provider.physicalNetwork,
        cidr: ext.cidr,
        gateway: ext.gateway,
        poolStart: ext.poolStart,
        poolEnd: ext.poolEnd,
      },
    }),
    tenant: { network: s.network, subnet: s.subnet, cidr: s.subnetRange, router: s.router },
  };
}

/** The set-up script (Python, openstacksdk), run in the openstack-client pod. */
export const setupScript = readFileSync(new URL('./guest-setup.py', import.meta.url), 'utf8');

/** The script's exit code when the image file must be copied into the pod first. */
export const needsImageFile = 3;

/** What to tell a user who wants a server now. */
export function bootHint(spec: OpenStackCloudSpec, namespace: string): string[] {
  const s = guestSetup;
  const ext = externalRange(spec);
  const client = `kubectl -n ${namespace} exec deploy/openstack-client -- openstack`;
  return [
    'Boot a server (the guest image answers SSH as root with the key you give):',
    `  ${client} keypair create --public-key /path/in/pod/key.pub mykey   # or create one there`,
    `  ${client} server create --flavor ${s.flavor} --image ${s.image} --network ${s.network} --key-name mykey --wait demo`,
    ...(ext
      ? [
          `  ${client} floating ip create ${s.externalNetwork}            # an address from ${ext.poolStart}-${ext.poolEnd}`,
          `  ${client} server add floating ip demo <that address>`,
          `  sudo ip netns exec ${ext.namespace} ssh ${s.sshUser}@<that address>     # the external network is in namespace ${ext.namespace}`,
        ]
      : []),
    `  ${client} console log show demo | grep stackanetes-guest       # DHCP, metadata, SSH markers`,
  ];
}

/** kubectl with the cluster's environment; resolves to stdout. */
function kubectl(
  args: string[],
  env: NodeJS.ProcessEnv,
  stdinFile?: string,
  onLine?: (l: string) => void,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('kubectl', args, {
      env,
      stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (onLine) for (const l of d.toString().split('\n')) if (l.trim()) onLine(l);
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolve(out);
      const what = args.slice(0, args.indexOf('--') + 2).join(' ');
      reject(
        Object.assign(new Error(`kubectl ${what} …: ${err.trim() || `exit ${code}`}`), {
          exitCode: code,
        }),
      );
    });
    if (stdinFile && child.stdin) createReadStream(stdinFile).pipe(child.stdin);
  });
}

/**
 * Uploads the guest image and creates the flavor, networks, router and security group rules in
 * the cloud of `namespace`; `onLine` hears what was done. One Python process does it all
 * (src/openstack/guest-setup.py); the image file is copied into the pod only when the script
 * says Glance lacks this build, and the script is then run again.
 */
export async function setUpForGuests(
  spec: OpenStackCloudSpec,
  namespace: string,
  image: GuestImage,
  env: NodeJS.ProcessEnv,
  onLine: (l: string) => void = () => undefined,
): Promise<void> {
  const exec = ['-n', namespace, 'exec', '-i', 'deploy/openstack-client', '--'];
  const file = `/tmp/${guestImageName}-${image.diskSha256.slice(0, 12)}.raw`;
  const run = () =>
    kubectl(
      [...exec, 'python3', '-c', setupScript, JSON.stringify(setupSettings(spec, image, file))],
      env,
      undefined,
      onLine,
    );
  try {
    await run();
  } catch (e) {
    if ((e as { exitCode?: number }).exitCode !== needsImageFile) throw e;
    onLine(
      `copying the guest image (${(image.diskBytes / 1e6).toFixed(0)} MB) into the client pod`,
    );
    await kubectl([...exec, 'sh', '-c', `cat > ${file}`], env, image.disk);
    await run();
  }
}

/**
 * `stackanetes up`'s last step for a cloud with the libvirt driver: build (or find cached) the
 * guest image and set the cloud up for guests. Resolves to what to print, or undefined when the
 * cloud runs the fake driver.
 */
export async function prepareForGuests(
  spec: OpenStackCloudSpec,
  namespace: string,
  env: NodeJS.ProcessEnv,
  log: (line: string) => void,
): Promise<string | undefined> {
  if (spec.services.nova.computeDriver !== 'libvirt') return undefined;
  const image = await buildGuestImage({ release: spec.release, onProgress: log });
  log(
    `guest image ${image.fromCache ? 'cached' : 'built'}: ${image.disk} (kernel ${image.kernelVersion})`,
  );
  await setUpForGuests(spec, namespace, image, env, log);
  return bootHint(spec, namespace).join('\n');
}
