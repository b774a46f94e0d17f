// Running built images without a container engine: unpack the OCI layers into a root file
// system (whiteouts applied), put a private overlay on top of it, and start it with runc.
// Used by the integration tests before the local cluster exists, and handy for debugging.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { capture, run } from '../util/exec.ts';
import { exists } from '../util/fs.ts';
import { OciLayout, type ImageConfig, type ImageManifest } from './oci.ts';
import type { CachePaths } from './paths.ts';

export interface UnpackedImage {
  readonly rootfs: string;
  readonly config: ImageConfig;
}

/**
 * Unpacks an image from the OCI layout (once per manifest digest) and returns its root. The
 * image is named by its reference or by its manifest digest (sha256:…).
 */
export async function unpackImage(cache: CachePaths, reference: string): Promise<UnpackedImage> {
  const oci = new OciLayout(cache.oci);
  const desc = /^sha256:[0-9a-f]{64}$/.test(reference)
    ? (await oci.hasBlob(reference))
      ? { digest: reference }
      : undefined
    : await oci.resolve(reference);
  if (!desc) throw new Error(`${reference} is not built (stackanetes images build)`);
  const manifest = await oci.readJsonBlob<ImageManifest>(desc.digest);
  const config = await oci.readJsonBlob<ImageConfig>(manifest.config.digest);
  const dir = join(cache.unpacked, desc.digest.replace(/^sha256:/, ''));
  const rootfs = join(dir, 'rootfs');
  if (await exists(join(dir, 'complete'))) return { rootfs, config };
  await rm(dir, { recursive: true, force: true });
  const staging = `${rootfs}.partial`;
  await mkdir(staging, { recursive: true });
  for (const layer of manifest.layers) {
    const blob = oci.blobPath(layer.digest);
    const listing = await capture('tar', ['-tzf', blob]);
    for (const entry of listing.split('\n')) {
      const path = entry.replace(/^\.\//, '');
      const base = path.slice(path.lastIndexOf('/') + 1);
      const parent = path.slice(0, Math.max(0, path.lastIndexOf('/')));
      if (base === '.wh..wh..opq') {
        await run('sh', [
          '-c',
          'rm -rf -- "$1"/* "$1"/.[!.]* 2>/dev/null || true',
          'sh',
          join(staging, parent),
        ]);
      } else if (base.startsWith('.wh.')) {
        await rm(join(staging, parent, base.slice(4)), { recursive: true, force: true });
      }
    }
    await run('tar', [
      '-xzf',
      blob,
      '-C',
      staging,
      '--numeric-owner',
      '--same-permissions',
      '--xattrs',
      '--xattrs-include=security.capability',
      '--exclude=.wh.*',
      '--exclude=*/.wh.*',
    ]);
  }
  await rename(staging, rootfs);
  await writeFile(join(dir, 'complete'), desc.digest);
  return { rootfs, config };
}

/** What Docker and containerd grant a container by default. */
export const defaultCapabilities = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export interface Mount {
  readonly source: string;
  readonly destination: string;
  readonly readonly?: boolean;
}

export interface ContainerOptions {
  /** Unique name (runc container id). */
  readonly name: string;
  readonly image: UnpackedImage;
  /** Scratch space for the bundle and the container's writable layer. */
  readonly workDir: string;
  /** Replaces the image's Entrypoint+Cmd. */
  readonly args?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** user name or uid; default the image's User. */
  readonly user?: string;
  readonly mounts?: readonly Mount[];
  /** Output of the container goes here. */
  readonly logFile: string;
}

interface Passwd {
  uid: number;
  gid: number;
  groups: number[];
}

async function resolveUser(rootfs: string, user: string): Promise<Passwd> {
  const passwd = await readFile(join(rootfs, 'etc', 'passwd'), 'utf8');
  const group = await readFile(join(rootfs, 'etc', 'group'), 'utf8');
  const [name, grp] = user.split(':');
  const entry = passwd
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f[0] === name || f[2] === name);
  if (!entry) {
    if (name && /^\d+$/.test(name))
      return { uid: Number(name), gid: Number(grp ?? name), groups: [] };
    throw new Error(`user ${user} is not in the image's /etc/passwd`);
  }
  const uid = Number(entry[2]);
  const gid = grp ? Number(grp) : Number(entry[3]);
  const groups = group
    .split('\n')
    .map((l) => l.split(':'))
    .filter((f) => (f[3] ?? '').split(',').includes(entry[0] ?? ''))
    .map((f) => Number(f[2]));
  return { uid, gid, groups };
}

const runcRoot = '/run/stackanetes-runc';

export class Container {
  readonly name: string;
  readonly bundle: string;
  readonly logFile: string;
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  constructor(name: string, bundle: string, logFile: string, child: ChildProcess) {
    this.name = name;
    this.bundle = bundle;
    this.logFile = logFile;
    this.process = child;
    this.exited = new Promise((resolve) => child.on('close', resolve));
  }

  async log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** Stops the container (TERM, then KILL) and removes its bundle. */
  async remove(): Promise<void> {
    await run('runc', ['--root', runcRoot, 'kill', this.name, 'TERM']).catch(() => undefined);
    // Ten seconds to stop (the timer does not hold this process up once the container is gone).
    const stopped = await Promise.race([
      this.exited.then(() => true),
      sleep(10_000, false, { ref: false }),
    ]);
    if (!stopped) {
      await run('runc', ['--root', runcRoot, 'kill', '--all', this.name, 'KILL']).catch(
        () => undefined,
      );
      await this.exited;
    }
    await run('runc', ['--root', runcRoot, 'delete', '--force', this.name]).catch(() => undefined);
    await run('umount', [join(this.bundle, 'rootfs')]).catch(() => undefined);
    await rm(this.bundle, { recursive: true, force: true });
  }
}

/**
 * Starts a container in the host's network namespace (services must bind 127.0.0.1) with
 * fresh PID, IPC, UTS and mount namespaces, the default container capabilities, and a private
 * writable overlay over the unpacked image.
 */
export async function startContainer(o: ContainerOptions): Promise<Container> {
  const bundle = join(o.workDir, o.name);
  await run('runc', ['--root', runcRoot, 'delete', '--force', o.name]).catch(() => undefined);
  await run('umount', [join(bundle, 'rootfs')]).catch(() => undefined);
  await rm(bundle, { recursive: true, force: true });
  for (const d of ['rootfs', 'upper', 'work']) await mkdir(join(bundle, d), { recursive: true });
  await run('mount', [
    '-t',
    'overlay',
    'overlay',
    '-o',
    `lowerdir=${o.image.rootfs},upperdir=${join(bundle, 'upper')},workdir=${join(bundle, 'work')}`,
    join(bundle, 'rootfs'),
  ]);
  const cfg = o.image.config.config;
  const user = await resolveUser(o.image.rootfs, o.user ?? cfg.User ?? 'root');
  const env = new Map<string, string>();
  for (const e of cfg.Env ?? []) {
    const i = e.indexOf('=');
    env.set(e.slice(0, i), e.slice(i + 1));
  }
  for (const [k, v] of Object.entries(o.env ?? {})) env.set(k, v);
  env.set('HOSTNAME', o.name);
  const resolv = join(bundle, 'resolv.conf');
  await writeFile(resolv, await readFile('/etc/resolv.conf', 'utf8').catch(() => ''));
  const spec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid, additionalGids: user.groups },
      args: o.args ?? [...(cfg.Entrypoint ?? []), ...(cfg.Cmd ?? [])],
      env: [...env].map(([k, v]) => `${k}=${v}`),
      cwd: cfg.WorkingDir || '/',
      capabilities: {
        bounding: defaultCapabilities,
        effective: defaultCapabilities,
        permitted: defaultCapabilities,
      },
      noNewPrivileges: false,
    },
    root: { path: 'rootfs', readonly: false },
    hostname: o.name,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      {
        destination: '/dev',
        type: 'tmpfs',
        source: 'tmpfs',
        options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
      },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
      },
      {
        destination: '/dev/shm',
        type: 'tmpfs',
        source: 'shm',
        options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
      },
      {
        destination: '/dev/mqueue',
        type: 'mqueue',
        source: 'mqueue',
        options: ['nosuid', 'noexec', 'nodev'],
      },
      {
        destination: '/sys',
        type: 'sysfs',
        source: 'sysfs',
        options: ['nosuid', 'noexec', 'nodev', 'ro'],
      },
      { destination: '/etc/resolv.conf', type: 'bind', source: resolv, options: ['rbind', 'ro'] },
      ...(o.mounts ?? []).map((m) => ({
        destination: m.destination,
        type: 'bind',
        source: m.source,
        options: ['rbind', m.readonly ? 'ro' : 'rw'],
      })),
    ],
    linux: {
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      maskedPaths: ['/proc/kcore', '/proc/keys', '/proc/timer_list', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
  await writeFile(join(bundle, 'config.json'), JSON.stringify(spec, null, 2));
  await mkdir(runcRoot, { recursive: true });
  const out = createWriteStream(o.logFile, { flags: 'a' });
  const child = spawn('runc', ['--root', runcRoot, 'run', '--bundle', bundle, o.name], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(out, { end: false });
  child.stderr.pipe(out, { end: false });
  return new Container(o.name, bundle, o.logFile, child);
}

/** Runs a container to completion; resolves with its exit code and output. */
export async function runToCompletion(
  o: ContainerOptions,
): Promise<{ code: number | null; output: string }> {
  const c = await startContainer(o);
  const code = await c.exited;
  const output = await c.log();
  await c.remove();
  return { code, output };
}
