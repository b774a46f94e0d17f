// After a cloud with the libvirt driver is Ready: what a new user needs to boot a server that
// answers at once — the project's guest image in Glance, a small flavor, a tenant network behind
// a router on the external network, and the default security group opened to ping and SSH.
// Everything is done with the `openstack` client in the cloud's openstack-client pod (admin
// credentials), idempotently: a second run changes nothing.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
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

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * The bash script run in the openstack-client pod (after the image file was copied to `file`
 * there). Each step checks before it creates.
 */
export function setupScript(
  spec: OpenStackCloudSpec,
  image: Pick<GuestImage, 'diskSha256' | 'kernelVersion'>,
  file: string,
): string {
  const s = guestSetup;
  const ext = externalRange(spec);
  const physnet = spec.services.neutron.provider.physicalNetwork;
  const lines = [
    'set -euo pipefail',
    'say() { echo "$*"; }',
    'os() { openstack "$@"; }',
    // The image: replaced when the project's build changed (another sha256).
    `have="$(os image list --name ${s.image} --property stackanetes_guest_sha256=${image.diskSha256} --status active -f value -c ID | head -n 1)"`,
    'if [ -z "$have" ]; then',
    `  for old in $(os image list --name ${s.image} -f value -c ID); do os image set --name ${s.image}-old-$old $old; done`,
    `  os image create ${s.image} --disk-format raw --container-format bare --public --file ${q(file)} \\`,
    `    --property stackanetes_guest_sha256=${image.diskSha256} --property os_distro=stackanetes-guest \\`,
    `    --property os_type=linux --property kernel_version=${q(image.kernelVersion)} \\`,
    // Nova waits this long for the ACPI power button before it stops a guest hard.
    '    --property os_shutdown_timeout=30 -f value -c id > /dev/null',
    `  say "image ${s.image}: uploaded"`,
    'else',
    `  say "image ${s.image}: already there ($have)"`,
    'fi',
    `rm -f ${q(file)}`,
    `os flavor show ${s.flavor} > /dev/null 2>&1 || { os flavor create ${s.flavor} --public --vcpus ${s.flavorSpec.vcpus} --ram ${s.flavorSpec.ramMb} --disk ${s.flavorSpec.diskGb} > /dev/null; say "flavor ${s.flavor}: created"; }`,
  ];
  if (ext) {
    lines.push(
      `os network show ${s.externalNetwork} > /dev/null 2>&1 || { os network create ${s.externalNetwork} --external --share --provider-network-type flat --provider-physical-network ${physnet} > /dev/null; say "network ${s.externalNetwork}: created (flat, ${physnet})"; }`,
      `os subnet show ${s.externalSubnet} > /dev/null 2>&1 || { os subnet create ${s.externalSubnet} --network ${s.externalNetwork} --subnet-range ${ext.cidr} --gateway ${ext.gateway} --allocation-pool start=${ext.poolStart},end=${ext.poolEnd} --no-dhcp > /dev/null; say "subnet ${s.externalSubnet}: ${ext.cidr}, floating IPs ${ext.poolStart}-${ext.poolEnd}"; }`,
    );
  }
  lines.push(
    `os network show ${s.network} > /dev/null 2>&1 || { os network create ${s.network} > /dev/null; say "network ${s.network}: created"; }`,
    `os subnet show ${s.subnet} > /dev/null 2>&1 || { os subnet create ${s.subnet} --network ${s.network} --subnet-range ${s.subnetRange} > /dev/null; say "subnet ${s.subnet}: ${s.subnetRange}"; }`,
    `os router show ${s.router} > /dev/null 2>&1 || { os router create ${s.router} > /dev/null; say "router ${s.router}: created"; }`,
  );
  if (ext) {
    lines.push(
      `[ -n "$(os router show ${s.router} -f value -c external_gateway_info | grep -v '^None$' || true)" ] || { os router set ${s.router} --external-gateway ${s.externalNetwork} > /dev/null; say "router ${s.router}: gateway on ${s.externalNetwork}"; }`,
    );
  }
  lines.push(
    `os router show ${s.router} -f json -c interfaces_info | grep -q "$(os subnet show ${s.subnet} -f value -c id)" || { os router add subnet ${s.router} ${s.subnet}; say "router ${s.router}: interface on ${s.subnet}"; }`,
    // The admin project's default security group: ping and SSH from anywhere.
    'project="$(os project show admin -f value -c id)"',
    'sg="$(os security group list --project "$project" -f value -c ID -c Name | awk \'$2 == "default" { print $1; exit }\')"',
    'rules="$(os security group rule list "$sg" -f value -c "IP Protocol" -c "Port Range" -c Direction)"',
    `echo "$rules" | grep -q '^icmp .*ingress' || { os security group rule create "$sg" --ingress --protocol icmp > /dev/null; say 'security group default: ICMP in'; }`,
    `echo "$rules" | grep -q '^tcp 22:22 ingress' || { os security group rule create "$sg" --ingress --protocol tcp --dst-port 22 > /dev/null; say 'security group default: SSH in'; }`,
  );
  return lines.join('\n') + '\n';
}

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
    child.on('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(
            new Error(`kubectl ${args.slice(0, 6).join(' ')} …: ${err.trim() || `exit ${code}`}`),
          ),
    );
    if (stdinFile && child.stdin) createReadStream(stdinFile).pipe(child.stdin);
  });
}

/**
 * Uploads the guest image and creates the flavor, networks, router and security group rules in
 * the cloud of `namespace`; `onLine` hears what was done.
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
  // Copied only when Glance does not have this build already.
  const have = await kubectl(
    [
      ...exec,
      'openstack',
      'image',
      'list',
      '--name',
      guestImageName,
      '--property',
      `stackanetes_guest_sha256=${image.diskSha256}`,
      '--status',
      'active',
      '-f',
      'value',
      '-c',
      'ID',
    ],
    env,
  );
  if (!have.trim()) {
    onLine(
      `copying the guest image (${(image.diskBytes / 1e6).toFixed(0)} MB) into the client pod`,
    );
    await kubectl([...exec, 'sh', '-c', `cat > ${file}`], env, image.disk);
  }
  await kubectl([...exec, 'bash', '-c', setupScript(spec, image, file)], env, undefined, onLine);
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
