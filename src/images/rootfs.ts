// Root file systems for image layers: debootstrap for the base, then for every other layer an
// overlay mount (parent root file system below, an empty upper directory on top) in a private
// mount and PID namespace, chroot, apt-get. The upper directory is exactly the layer's change
// set; overlayfs whiteouts in it are turned into OCI whiteout files before it is tarred.
import { readdir, lstat, unlink, writeFile, rm, mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import type { WriteStream } from 'node:fs';
import { run, stdoutOf } from '../util/exec.ts';

export interface AptSource {
  readonly mirror: string;
  readonly securityMirror: string;
  readonly suite: string;
  readonly extraSuites: readonly {
    readonly uri: 'debian' | 'debian-security';
    readonly suite: string;
  }[];
}

/** The apt source of a suite: the mirror given, else $STACKANETES_DEBIAN_MIRROR, else Debian's. */
export function aptSource(
  suite: string,
  extraSuites: AptSource['extraSuites'],
  mirrorOpt?: string,
): AptSource {
  const mirror =
    mirrorOpt ?? process.env.STACKANETES_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
  return {
    mirror,
    securityMirror:
      process.env.STACKANETES_DEBIAN_SECURITY_MIRROR ??
      mirror.replace(/\/debian\/?$/, '/debian-security'),
    suite,
    extraSuites,
  };
}

export function sourcesFile(src: AptSource): string {
  const stanza = (uri: string, suites: string[]): string =>
    `Types: deb\nURIs: ${uri}\nSuites: ${suites.join(' ')}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`;
  const main = [
    src.suite,
    ...src.extraSuites.filter((s) => s.uri === 'debian').map((s) => s.suite),
  ];
  const sec = src.extraSuites.filter((s) => s.uri === 'debian-security').map((s) => s.suite);
  return [stanza(src.mirror, main), ...(sec.length ? [stanza(src.securityMirror, sec)] : [])].join(
    '\n',
  );
}

/** `apt-get update` as every step runs it: no translations, a failed index is an error. */
export const aptGetUpdate =
  'apt-get update -q -o Acquire::Languages=none -o APT::Update::Error-Mode=any';

/** dpkg keeps a configuration file that is there and takes the package's default otherwise. */
export const dpkgKeepConfig =
  '-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold';

/** Directories excluded from every layer tar: kernel file systems and apt's caches. */
export const layerExcludes = [
  './proc/*',
  './sys/*',
  './dev/*',
  './tmp/*',
  './run/*',
  './var/cache/apt/archives/*',
  './var/lib/apt/lists/*',
  './var/cache/apt/*.bin',
  './var/cache/pip/*',
];

/** Where a step with a pip cache finds the build host's CA certificates (a tmpfs). */
export const hostCaBundle = '/tmp/host-ca-certificates.crt';

export interface StepPaths {
  /** Parent's full root file system (overlay lower); undefined for the base step. */
  readonly lower?: string;
  /** Where the change set goes (overlay upper), or the root file system itself for the base. */
  readonly upper: string;
  readonly work: string;
  readonly merged: string;
  /** Shared apt caches for this suite. */
  readonly aptArchives: string;
  readonly aptLists: string;
  /** If set, a full copy of the resulting root file system is kept here (for child layers). */
  readonly materialize?: string;
  /** dpkg-query output of the resulting root file system goes here. */
  readonly packagesOut: string;
  /** pip's cache, shared by every build, mounted at /var/cache/pip (never in the layer). */
  readonly pipCache?: string;
  /**
   * A virtualenv to list: its interpreter runs `listing` (Python) after the script, output to
   * `out`; empty when the root file system has no such virtualenv.
   */
  readonly python?: { readonly venv: string; readonly listing: string; readonly out: string };
}

const dpkgFormat =
  '${Package}\\t${Version}\\t${Architecture}\\t${source:Package}\\t${source:Version}\\t${db:Status-Abbrev}\\t${Installed-Size}\\n';

function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs `chrootScript` (bash, as root) inside the layer's root file system, with apt caches,
 * /proc, /dev and the host's resolv.conf mounted, none of which end up in the layer.
 */
export async function runStep(
  paths: StepPaths,
  chrootScript: string,
  log: WriteStream,
): Promise<void> {
  await mkdir(paths.upper, { recursive: true });
  await mkdir(paths.work, { recursive: true });
  await mkdir(paths.merged, { recursive: true });
  await mkdir(paths.aptArchives, { recursive: true });
  await mkdir(paths.aptLists, { recursive: true });
  if (paths.pipCache) await mkdir(paths.pipCache, { recursive: true });
  const M = paths.merged;
  const py = paths.python;
  const outer = [
    'set -euo pipefail',
    paths.lower
      ? `mount -t overlay overlay -o ${q(`lowerdir=${paths.lower},upperdir=${paths.upper},workdir=${paths.work},redirect_dir=off,metacopy=off,index=off`)} ${q(M)}`
      : `mount --bind ${q(paths.upper)} ${q(M)}`,
    `mount -t proc proc ${q(M + '/proc')}`,
    `mount --rbind /dev ${q(M + '/dev')}`,
    `mount -t tmpfs tmpfs ${q(M + '/tmp')}`,
    `mount -t tmpfs tmpfs ${q(M + '/run')}`,
    `mkdir -p ${q(M + '/var/cache/apt/archives')} ${q(M + '/var/lib/apt/lists')}`,
    `mount --bind ${q(paths.aptArchives)} ${q(M + '/var/cache/apt/archives')}`,
    `mount --bind ${q(paths.aptLists)} ${q(M + '/var/lib/apt/lists')}`,
    ...(paths.pipCache
      ? [
          `mkdir -p ${q(M + '/var/cache/pip')}`,
          `mount --bind ${q(paths.pipCache)} ${q(M + '/var/cache/pip')}`,
          // pip downloads over HTTPS, through whatever the build host trusts (a proxy's CA too):
          // the host's CA bundle, on the step's /tmp (never in the layer).
          `[ ! -r /etc/ssl/certs/ca-certificates.crt ] || cat /etc/ssl/certs/ca-certificates.crt > ${q(M + hostCaBundle)}`,
        ]
      : []),
    // A private copy of the host's resolver configuration: nothing in the chroot can write
    // through to the host's file.
    `RESOLV="$(mktemp)"; cat /etc/resolv.conf > "$RESOLV"; chmod 0644 "$RESOLV"`,
    `[ -e ${q(M + '/etc/resolv.conf')} ] || : > ${q(M + '/etc/resolv.conf')}`,
    `mount --bind "$RESOLV" ${q(M + '/etc/resolv.conf')}`,
    `chroot ${q(M)} /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true /bin/bash -euo pipefail -c ${q(chrootScript)}`,
    `chroot ${q(M)} dpkg-query -W -f=${q(dpkgFormat)} > ${q(paths.packagesOut)}`,
    ...(py
      ? [
          `if [ -x ${q(M + py.venv + '/bin/python3')} ]; then chroot ${q(M)} /usr/bin/env -i LANG=C.UTF-8 ${q(py.venv + '/bin/python3')} -c ${q(py.listing)} > ${q(py.out)}; else : > ${q(py.out)}; fi`,
        ]
      : []),
    ...(paths.pipCache ? [`umount ${q(M + '/var/cache/pip')}`] : []),
    `umount ${q(M + '/etc/resolv.conf')} ${q(M + '/var/lib/apt/lists')} ${q(M + '/var/cache/apt/archives')} ${q(M + '/run')} ${q(M + '/tmp')} ${q(M + '/proc')}`,
    `umount -R ${q(M + '/dev')}`,
    `rm -f "$RESOLV"`,
    paths.materialize
      ? `rm -rf ${q(paths.materialize)} && mkdir -p ${q(paths.materialize)} && cp -a ${q(M + '/.')} ${q(paths.materialize + '/')}`
      : ':',
    `umount ${q(M)}`,
  ].join('\n');
  await run(
    'unshare',
    ['--mount', '--pid', '--fork', '--propagation', 'private', 'bash', '-c', outer],
    {
      log,
    },
  );
}

export interface DebootstrapOptions {
  readonly suite: string;
  readonly mirror: string;
  readonly target: string;
  readonly packages: readonly string[];
  readonly cacheDir: string;
}

export async function debootstrap(o: DebootstrapOptions, log: WriteStream): Promise<void> {
  await rm(o.target, { recursive: true, force: true });
  await mkdir(o.cacheDir, { recursive: true });
  await run(
    'debootstrap',
    [
      '--variant=minbase',
      `--include=${o.packages.join(',')}`,
      `--cache-dir=${o.cacheDir}`,
      o.suite,
      o.target,
      o.mirror,
    ],
    { log },
  );
}

/**
 * Turns overlayfs whiteouts in an upper directory into OCI whiteouts: a 0/0 character device
 * becomes an empty `.wh.<name>` file, an opaque directory gets a `.wh..wh..opq` file.
 */
export async function convertWhiteouts(
  upper: string,
  lower: string | undefined,
  log: WriteStream,
): Promise<number> {
  let count = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, entry.name);
      if (entry.isCharacterDevice()) {
        const st = await lstat(p);
        if (st.rdev === 0) {
          await unlink(p);
          await writeFile(join(dir, `.wh.${entry.name}`), '');
          count++;
        }
      } else if (entry.isDirectory()) {
        await walk(p);
      }
    }
  };
  await walk(upper);
  // Opaque directories carry the trusted.overlay.opaque xattr, which node cannot read.
  const out = await stdoutOf('getfattr', [
    '-R',
    '-h',
    '--absolute-names',
    '-n',
    'trusted.overlay.opaque',
    upper,
  ]);
  for (const m of out.matchAll(/^# file: (.*)$/gm)) {
    const dir = m[1];
    if (!dir) continue;
    // overlayfs also marks directories that are new in this layer opaque; with nothing below
    // them to hide, they need no OCI marker.
    if (lower && !(await lstat(join(lower, relative(upper, dir))).catch(() => undefined))) continue;
    await writeFile(join(dir, '.wh..wh..opq'), '');
    count++;
  }
  log.write(`whiteouts converted: ${count}\n`);
  return count;
}

/** Why an apt step failed, naming the package when apt or dpkg said which. */
export function explainAptFailure(output: string): string | undefined {
  const patterns: RegExp[] = [
    /E: Unable to locate package (\S+)/,
    /E: Package '([^']+)' has no installation candidate/,
    /E: Version '[^']+' for '([^']+)' was not found/,
    /dpkg: error processing package (\S+)/,
    /dpkg: error processing archive .*\/([^/_]+)_[^/]*\.deb/,
    /^ (\S+) : (?:Pre)?Depends: /m,
    /Errors were encountered while processing:\n\s*(\S+)/,
    /E: Failed to fetch .*\/([^/_]+)_[^/]*\.deb/,
  ];
  for (const re of patterns) {
    const m = re.exec(output);
    if (m?.[1]) {
      const line = output
        .split('\n')
        .find((l) => l.includes(m[1] as string) && /E:|error|Depends/.test(l));
      return `package ${m[1]}${line ? `: ${line.trim()}` : ''}`;
    }
  }
  return undefined;
}
