// The guest image: what a server of the cloud boots, built here from Debian packages (nothing is
// downloaded as a prebuilt image). Debian's cloud kernel, and an initramfs that is the whole
// system — busybox (sh, udhcpc, wget, ip, ping, acpid), dropbear for SSH, and our init scripts
// (src/images/assets/guest/) — on a small raw disk that SeaBIOS boots through syslinux. Its init
// brings eth0 up by DHCP, reads the metadata service (hostname, SSH public key, user data), runs
// an SSH server and writes `stackanetes-guest: …` markers to the serial console.
//
// The packages come from the release's Debian suite through apt with a private state directory
// (no chroot, no debootstrap); the result is cached under ~/.cache/stackanetes/guest/<key>/,
// keyed by everything that goes in (package names, suite, mirror, the assets, this file's
// version): nothing changed → nothing rebuilt.
import { existsSync } from 'node:fs';
import {
  chmod,
  copyFile,
  mkdir,
  readFile,
  readdir,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { releaseSource } from '../catalog/releases.ts';
import { capture, openLog, run } from '../util/exec.ts';
import { ensureHostPrograms } from '../util/apt.ts';
import { withLock } from './lock.ts';
import { defaultCacheRoot } from './paths.ts';
import { releaseRecipes } from './recipes.ts';
import { aptSource, sourcesFile, type AptSource } from './rootfs.ts';
import { sha256 } from '../util/hash.ts';

/** Bump when the way the image is assembled changes. */
export const guestBuilderVersion = 2;

/** The image's name in Glance, and the user its SSH key is installed for. */
export const guestImageName = 'stackanetes-guest';
export const guestSshUser = 'root';

/** The Debian packages the image is made of (their library dependencies come along). */
export const guestPackages = ['linux-image-cloud-amd64', 'busybox-static', 'dropbear-bin'] as const;

/**
 * Kernel modules loaded at boot, dependencies first (the builder adds what each one names in
 * its `depends=`): the virtio NIC and disk, the entropy device, and the ACPI power button
 * (through evdev, for busybox acpid) so that Nova's graceful stop powers the guest off.
 */
export const guestModules = [
  'drivers/net/virtio_net',
  'drivers/block/virtio_blk',
  'drivers/char/hw_random/virtio-rng',
  'drivers/acpi/button',
  'drivers/input/evdev',
] as const;

/** Programs (besides busybox) copied in with the shared libraries they load. */
const guestPrograms = ['/usr/sbin/dropbear', '/usr/bin/dropbearkey'];

/** Markers the guest writes to its console; tests and benches wait for them. */
export const guestMarkers = {
  init: 'stackanetes-guest: init',
  dhcp: 'stackanetes-guest: dhcp bound',
  hostname: 'stackanetes-guest: metadata hostname',
  sshKey: 'stackanetes-guest: metadata ssh-key',
  ready: 'stackanetes-guest: ready',
} as const;

/** The kernel command line syslinux boots with. The last console is /dev/console. */
export const guestCommandLine = 'console=tty0 console=ttyS0,115200 panic=10';

const assetsDir = join(dirname(fileURLToPath(import.meta.url)), 'assets', 'guest');

/** Files of the image that come from this repository: path in the image → asset, mode. */
export const guestFiles: Readonly<Record<string, { asset: string; mode: number }>> = {
  '/init': { asset: 'init', mode: 0o755 },
  '/etc/rc.boot': { asset: 'rc.boot', mode: 0o755 },
  '/etc/rc.ready': { asset: 'rc.ready', mode: 0o755 },
  '/etc/inittab': { asset: 'inittab', mode: 0o644 },
  '/usr/share/udhcpc/default.script': { asset: 'udhcpc.script', mode: 0o755 },
  '/usr/bin/curl': { asset: 'curl', mode: 0o755 },
  '/usr/bin/sudo': { asset: 'sudo', mode: 0o755 },
  '/etc/acpi/PWRF/00000080': { asset: 'acpi-power', mode: 0o755 },
};

/** Small files written as they are. */
const guestEtc: Readonly<Record<string, string>> = {
  '/etc/passwd': 'root:x:0:0:root:/root:/bin/sh\n',
  // `*`: no password logs in; public keys do (dropbear refuses only locked `!` accounts).
  '/etc/shadow': 'root:*:20000:0:99999:7:::\n',
  '/etc/group': 'root:x:0:\n',
  '/etc/shells': '/bin/sh\n/bin/ash\n',
  '/etc/hostname': 'stackanetes-guest\n',
  '/etc/os-release':
    'PRETTY_NAME="Stackanetes guest (busybox, dropbear, Debian cloud kernel)"\nNAME="Stackanetes guest"\nID=stackanetes-guest\n',
  '/etc/resolv.conf': '',
};

export interface GuestImage {
  /** The raw disk image (MBR, one FAT partition with syslinux, the kernel and the initramfs). */
  readonly disk: string;
  /** The kernel and the initramfs on that disk, also kept beside it (to boot them directly). */
  readonly kernel: string;
  readonly initrd: string;
  readonly diskBytes: number;
  readonly diskSha256: string;
  readonly key: string;
  readonly kernelVersion: string;
  readonly release: string;
  readonly debianSuite: string;
  /** Every Debian package that went in, with its exact version. */
  readonly packages: readonly { name: string; version: string }[];
  readonly builtAt: string;
  readonly seconds: number;
  readonly fromCache?: boolean;
}

export interface GuestBuildOptions {
  readonly release?: string;
  /** Root of the guest cache (default ~/.cache/stackanetes/guest, or $STACKANETES_CACHE/guest). */
  readonly cacheRoot?: string;
  readonly mirror?: string;
  readonly noCache?: boolean;
  readonly onProgress?: (message: string) => void;
}

export function guestCacheRoot(): string {
  return join(dirname(defaultCacheRoot()), 'guest');
}

/** The cache key: everything the image is made from, not the time it was made. */
export async function guestInputKey(src: AptSource, release: string): Promise<string> {
  const assets: Record<string, string> = {};
  for (const [path, f] of Object.entries(guestFiles)) {
    assets[path] = await readFile(join(assetsDir, f.asset), 'utf8');
  }
  return sha256(
    JSON.stringify({
      guestBuilderVersion,
      release,
      src,
      packages: guestPackages,
      modules: guestModules,
      programs: guestPrograms,
      assets,
      etc: guestEtc,
      modes: Object.values(guestFiles).map((f) => f.mode),
      commandLine: guestCommandLine,
    }),
  );
}

/** syslinux's configuration: boot the kernel at once with the initramfs. */
export function syslinuxConfig(): string {
  return [
    'DEFAULT guest',
    'PROMPT 0',
    'TIMEOUT 1',
    'LABEL guest',
    '  KERNEL /vmlinuz',
    '  INITRD /initrd.img',
    `  APPEND ${guestCommandLine}`,
    '',
  ].join('\n');
}

/** `depends=a,b` from a kernel module's .modinfo section (the module file, uncompressed). */
export function moduleDepends(ko: Buffer): string[] {
  const m = /(?:^|\0)depends=([^\0]*)\0/.exec(ko.toString('latin1'));
  return m?.[1] ? m[1].split(',').filter(Boolean) : [];
}

/**
 * Shared libraries a program loads, from the dynamic loader of the unpacked tree (`ld.so
 * --list`): their paths inside the tree.
 */
export function parseLddList(output: string, root: string): string[] {
  const out: string[] = [];
  for (const line of output.split('\n')) {
    const m = /=>\s+(\S+)\s+\(0x/.exec(line) ?? /^\s*(\/\S+)\s+\(0x/.exec(line);
    if (!m?.[1]) continue;
    const p = m[1];
    out.push(p.startsWith(root) ? '/' + relative(root, p) : p);
  }
  return [...new Set(out)].sort();
}

/** Host programs the assembly uses (syslinux's MBR comes with syslinux-common). */
const hostTools: Readonly<Record<string, string>> = {
  'dpkg-deb': 'dpkg',
  cpio: 'cpio',
  zstd: 'zstd',
  xz: 'xz-utils',
  'mkfs.vfat': 'dosfstools',
  mcopy: 'mtools',
  syslinux: 'syslinux',
  sfdisk: 'fdisk',
  '/usr/lib/syslinux/mbr/mbr.bin': 'syslinux-common',
};

/** apt-get/apt-cache with a private state directory and the suite's sources. */
function aptArgs(dir: string): string[] {
  return [
    '-o',
    `Dir::Etc::SourceList=/dev/null`,
    '-o',
    `Dir::Etc::SourceParts=${join(dir, 'sources')}`,
    '-o',
    `Dir::State=${join(dir, 'state')}`,
    '-o',
    `Dir::Cache=${join(dir, 'cache')}`,
    '-o',
    'Dir::Etc::Preferences=/dev/null',
    '-o',
    'Dir::Etc::PreferencesParts=/dev/null',
    '-o',
    'APT::Architecture=amd64',
    '-o',
    'APT::Architectures::=amd64',
    '-o',
    'Acquire::Languages=none',
    '-o',
    'Acquire::Retries=3',
    '-o',
    'Debug::NoLocking=1',
    '-o',
    'APT::Sandbox::User=root',
  ];
}

/** Names apt-cache prints for a package's dependencies, recursively (real packages only). */
export function parseDependsRecurse(output: string): string[] {
  const names = new Set<string>();
  for (const line of output.split('\n')) {
    const m = /^([a-z0-9][a-z0-9+.-]+)$/.exec(line.trim());
    if (m?.[1] && !line.startsWith(' ')) names.add(m[1]);
  }
  return [...names].sort();
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name));
  }
  return out.sort();
}

/** Builds the guest image, or returns the cached one with the same inputs. */
export async function buildGuestImage(opts: GuestBuildOptions = {}): Promise<GuestImage> {
  const started = Date.now();
  const progress = opts.onProgress ?? ((): void => undefined);
  const release = opts.release ?? '2025.1';
  const source = releaseSource(release);
  const recipes = releaseRecipes(release);
  const src = aptSource(source.debianSuite, recipes.extraSuites, opts.mirror);
  const root = opts.cacheRoot ?? guestCacheRoot();
  const key = await guestInputKey(src, release);
  const dir = join(root, key.slice(0, 16));
  const recordFile = join(dir, 'guest.json');
  if (!opts.noCache && existsSync(recordFile)) {
    const rec = JSON.parse(await readFile(recordFile, 'utf8')) as GuestImage;
    if (existsSync(rec.disk)) return { ...rec, fromCache: true };
  }
  await mkdir(root, { recursive: true });
  return withLock(
    join(root, 'build.lock'),
    (pid) => progress(`waiting for the guest build in process ${pid}`),
    async () => {
      await rm(dir, { recursive: true, force: true });
      await mkdir(dir, { recursive: true });
      const log = openLog(join(dir, 'build.log'));
      try {
        return await assemble({ dir, root, src, release, key, started, progress, log });
      } finally {
        log.end();
      }
    },
  );
}

interface AssembleCtx {
  readonly dir: string;
  readonly root: string;
  readonly src: AptSource;
  readonly release: string;
  readonly key: string;
  readonly started: number;
  readonly progress: (m: string) => void;
  readonly log: ReturnType<typeof openLog>;
}

async function assemble(c: AssembleCtx): Promise<GuestImage> {
  const { dir, log, progress } = c;
  await ensureHostPrograms(hostTools, (pkgs) => c.progress(`apt-get install ${pkgs.join(' ')}`));

  // 1. The packages, with apt's own resolver for the libraries dropbear needs.
  const apt = join(c.root, 'apt', c.src.suite);
  await mkdir(join(apt, 'sources'), { recursive: true });
  await mkdir(join(apt, 'state', 'lists', 'partial'), { recursive: true });
  await mkdir(join(apt, 'cache', 'archives', 'partial'), { recursive: true });
  await writeFile(join(apt, 'sources', 'debian.sources'), sourcesFile(c.src));
  const args = aptArgs(apt);
  progress(`apt-get update (${c.src.suite})`);
  await run('apt-get', [...args, 'update', '-q'], { log });
  const kernelDeps = await capture('apt-cache', [...args, 'depends', 'linux-image-cloud-amd64']);
  const kernel = /Depends: (linux-image-[0-9][^\s]*)/.exec(kernelDeps)?.[1];
  if (!kernel) throw new Error(`linux-image-cloud-amd64: no linux-image-<version> dependency`);
  const libs = parseDependsRecurse(
    await capture('apt-cache', [
      ...args,
      'depends',
      '--recurse',
      '--no-recommends',
      '--no-suggests',
      '--no-conflicts',
      '--no-breaks',
      '--no-replaces',
      '--no-enhances',
      'dropbear-bin',
    ]),
  );
  const names = [...new Set([...guestPackages, kernel, ...libs])].sort();
  const debs = join(dir, 'debs');
  await mkdir(debs, { recursive: true });
  progress(`apt-get download ${names.length} packages`);
  await run('apt-get', [...args, 'download', ...names], { log, cwd: debs });

  // 2. Unpack them side by side (never installed: no maintainer scripts run).
  const tree = join(dir, 'unpacked');
  await mkdir(tree, { recursive: true });
  const packages: { name: string; version: string }[] = [];
  for (const f of (await readdir(debs)).filter((n) => n.endsWith('.deb')).sort()) {
    const deb = join(debs, f);
    const [name, version] = (await capture('dpkg-deb', ['-f', deb, 'Package', 'Version']))
      .trim()
      .split('\n')
      .map((l) => l.replace(/^[A-Za-z]+: /, ''));
    packages.push({ name: name!, version: version! });
    await run('dpkg-deb', ['-x', deb, tree], { log });
  }
  const kernelVersion = kernel.replace(/^linux-image-/, '');
  const vmlinuz = join(tree, 'boot', `vmlinuz-${kernelVersion}`);
  if (!existsSync(vmlinuz)) throw new Error(`${kernel}: no /boot/vmlinuz-${kernelVersion}`);

  // 3. The initramfs tree.
  progress('initramfs: busybox, dropbear and its libraries, modules, init scripts');
  const fs = join(dir, 'initramfs');
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'proc', 'sys', 'dev']) {
    await mkdir(join(fs, d), { recursive: true });
  }
  for (const d of ['run', 'tmp', 'lib/modules', 'var/log', 'mnt']) {
    await mkdir(join(fs, d), { recursive: true });
  }
  await symlink('../run', join(fs, 'var', 'run'));
  await copyFile(join(tree, 'usr/bin/busybox'), join(fs, 'bin/busybox'));
  await chmod(join(fs, 'bin/busybox'), 0o755);
  for (const applet of (await capture(join(fs, 'bin/busybox'), ['--list-full'])).split('\n')) {
    const a = applet.trim();
    if (!a || a === 'bin/busybox' || existsSync(join(fs, a))) continue;
    await mkdir(dirname(join(fs, a)), { recursive: true });
    await symlink(relative(dirname(join(fs, a)), join(fs, 'bin/busybox')), join(fs, a));
  }
  const loader = join(tree, 'usr/lib64/ld-linux-x86-64.so.2');
  const libPath = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu']
    .map((d) => join(tree, d))
    .join(':');
  const needed = new Set<string>(['/usr/lib64/ld-linux-x86-64.so.2']);
  for (const p of guestPrograms) {
    await copyFile(join(tree, p), join(fs, p));
    await chmod(join(fs, p), 0o755);
    const out = await capture(loader, ['--library-path', libPath, '--list', join(tree, p)]);
    for (const l of parseLddList(out, tree)) needed.add(l);
  }
  for (const l of needed) {
    if (l.startsWith('/usr/lib64') || l.startsWith('/usr/lib/') || l.startsWith('/lib')) {
      const from = join(tree, l);
      if (!existsSync(from)) throw new Error(`library ${l} is not in the unpacked packages`);
      await mkdir(dirname(join(fs, l)), { recursive: true });
      await copyFile(from, join(fs, l));
    }
  }
  // Debian's merged /usr: /lib64 and /lib point into /usr.
  await symlink('usr/lib64', join(fs, 'lib64'));
  await mkdir(join(fs, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
  await symlink('../usr/lib/x86_64-linux-gnu', join(fs, 'lib/x86_64-linux-gnu'));

  // Modules, uncompressed (busybox insmod), with their dependencies, in load order.
  const modDir = join(tree, 'usr/lib/modules', kernelVersion, 'kernel');
  const all = new Map<string, string>();
  for (const f of await walkFiles(modDir)) {
    all.set(f.replace(/^.*\//, '').replace(/\.ko(\.xz|\.zst)?$/, ''), f);
  }
  const order: string[] = [];
  const visit = async (name: string): Promise<void> => {
    if (order.includes(name)) return;
    const file = all.get(name) ?? all.get(name.replace(/_/g, '-'));
    if (!file) throw new Error(`kernel ${kernelVersion}: no module ${name}`);
    const dest = join(fs, 'lib/modules', `${name}.ko`);
    if (/\.(xz|zst)$/.test(file)) {
      const tool = file.endsWith('.xz') ? 'xz' : 'zstd';
      await run('sh', ['-c', `${tool} -dc '${file}' > '${dest}'`], { log });
    } else await copyFile(file, dest);
    const ko = await readFile(dest);
    for (const dep of moduleDepends(ko)) await visit(dep);
    order.push(name);
  };
  for (const m of guestModules) await visit(m.replace(/^.*\//, ''));
  await writeFile(
    join(fs, 'lib/modules/load-order'),
    order.map((n) => `${n}.ko`).join('\n') + '\n',
  );

  for (const [path, f] of Object.entries(guestFiles)) {
    await mkdir(dirname(join(fs, path)), { recursive: true });
    await copyFile(join(assetsDir, f.asset), join(fs, path));
    await chmod(join(fs, path), f.mode);
  }
  for (const [path, content] of Object.entries(guestEtc)) {
    await writeFile(join(fs, path), content);
  }
  await chmod(join(fs, 'etc/shadow'), 0o600);
  await chmod(join(fs, 'root'), 0o700);

  const initrd = join(dir, 'initrd.img');
  await run(
    'sh',
    [
      '-c',
      `cd '${fs}' && find . -print0 | LC_ALL=C sort -z | cpio --null --create --format=newc --owner=0:0 --reproducible --quiet | zstd -q -19 -T0 -o '${initrd}'`,
    ],
    { log },
  );

  // 4. The disk: an MBR (syslinux's), one bootable FAT partition at 1 MiB holding syslinux,
  // the kernel and the initramfs. No mount, no loop device: mtools writes into the file.
  progress('disk: FAT partition, syslinux, MBR');
  const fat = join(dir, 'boot.fat');
  const payload = (await stat(vmlinuz)).size + (await stat(initrd)).size;
  const fatKiB = Math.ceil(payload / 1024 / 1024 + 4) * 1024;
  await run('mkfs.vfat', ['-C', '-n', 'GUESTBOOT', '-i', c.key.slice(0, 8), fat, String(fatKiB)], {
    log,
  });
  await writeFile(join(dir, 'syslinux.cfg'), syslinuxConfig());
  const mcopy = (from: string, to: string) => run('mcopy', ['-i', fat, from, `::${to}`], { log });
  await mcopy(vmlinuz, '/vmlinuz');
  await mcopy(initrd, '/initrd.img');
  await mcopy(join(dir, 'syslinux.cfg'), '/syslinux.cfg');
  await run('syslinux', ['--install', fat], { log });
  const disk = join(dir, `${guestImageName}.raw`);
  const offset = 1024 * 1024;
  await run('truncate', ['-s', String(offset + fatKiB * 1024), disk], { log });
  await run('sfdisk', ['--quiet', '--no-reread', disk], {
    log,
    input: 'label: dos\nlabel-id: 0x5354474b\nstart=2048, type=c, bootable\n',
  });
  await run(
    'dd',
    [`if=/usr/lib/syslinux/mbr/mbr.bin`, `of=${disk}`, 'conv=notrunc', 'bs=440', 'count=1'],
    {
      log,
    },
  );
  await run('dd', [`if=${fat}`, `of=${disk}`, 'conv=notrunc', 'bs=1M', 'seek=1'], { log });
  const kernelCopy = join(dir, 'vmlinuz');
  await copyFile(vmlinuz, kernelCopy);
  for (const d of ['debs', 'unpacked', 'initramfs']) {
    await rm(join(dir, d), { recursive: true, force: true });
  }
  await rm(fat, { force: true });

  const bytes = await readFile(disk);
  const image: GuestImage = {
    disk,
    kernel: kernelCopy,
    initrd,
    diskBytes: bytes.length,
    diskSha256: sha256(bytes),
    key: c.key,
    kernelVersion,
    release: c.release,
    debianSuite: c.src.suite,
    packages: packages.sort((a, b) => a.name.localeCompare(b.name)),
    builtAt: new Date().toISOString(),
    seconds: (Date.now() - c.started) / 1000,
  };
  await writeFile(join(dir, 'guest.json'), JSON.stringify(image, null, 2) + '\n');
  return image;
}
