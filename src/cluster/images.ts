// The two images the cluster needs without a registry: the pause image (pause.c from the
// Kubernetes module, compiled statically) and a small Debian test image (debootstrap minbase).
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildOciArchive } from '../images/oci.ts';
import { run } from '../util/exec.ts';
import { downloadModule } from './gobuild.ts';
import type { Layout } from './layout.ts';
import { pauseImage, testImage, versions } from './versions.ts';

export function imageArchives(l: Layout) {
  return {
    pause: join(l.images, `pause-${versions.pause}-k8s-${versions.kubernetes}.tar`),
    test: join(l.images, `test-debian-${versions.testImageSuite}.tar`),
  };
}

export async function buildPauseImage(l: Layout, logFile: string): Promise<void> {
  const out = imageArchives(l).pause;
  if (existsSync(out)) return;
  const mod = await downloadModule(l, 'k8s.io/kubernetes', versions.kubernetes);
  const source = join(mod.Dir, 'build', 'pause', 'linux', 'pause.c');
  const rootfs = join(l.images, 'pause-rootfs');
  rmSync(rootfs, { recursive: true, force: true });
  mkdirSync(rootfs, { recursive: true });
  await run(
    'gcc',
    [
      '-Os',
      '-Wall',
      '-Werror',
      '-static',
      `-DVERSION=v${versions.pause}-stackanetes`,
      '-o',
      join(rootfs, 'pause'),
      source,
    ],
    { logFile },
  );
  await run('strip', [join(rootfs, 'pause')], { logFile, allowFailure: true });
  await buildOciArchive({ name: pauseImage, rootfs, entrypoint: ['/pause'], out });
  rmSync(rootfs, { recursive: true, force: true });
}

/** The Debian mirror the machine's own apt uses, so debootstrap reaches what apt reaches. */
export function debianMirror(): string {
  const files = ['/etc/apt/sources.list'];
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) files.push(...readdirSync(dir).map((f) => join(dir, f)));
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const m of text.matchAll(/^(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)/gm)) {
      const uri = m[1] ?? '';
      if (/\/debian\/?$/.test(uri)) return uri.replace(/\/$/, '');
    }
  }
  throw new Error(
    'no Debian mirror found in /etc/apt/sources.list(.d): debootstrap needs the one apt uses',
  );
}

/**
 * A minimal Debian (debootstrap's minbase with `include`) at `target` from the machine's mirror,
 * left unmounted and without apt's caches, docs, man pages and locales.
 */
export async function debootstrapMinbase(
  target: string,
  suite: string,
  include: readonly string[],
  logFile: string,
): Promise<void> {
  await run(
    'debootstrap',
    ['--variant=minbase', `--include=${include.join(',')}`, suite, target, debianMirror()],
    { logFile },
  );
  await unmountUnder(target);
  for (const junk of [
    'var/cache/apt/archives',
    'var/lib/apt/lists',
    'usr/share/doc',
    'usr/share/man',
    'usr/share/locale',
    'usr/share/info',
  ]) {
    rmSync(join(target, junk), { recursive: true, force: true });
  }
}

export async function buildTestImage(l: Layout, logFile: string): Promise<void> {
  const out = imageArchives(l).test;
  if (existsSync(out)) return;
  const rootfs = join(l.images, 'test-rootfs');
  await unmountUnder(rootfs);
  rmSync(rootfs, { recursive: true, force: true });
  mkdirSync(l.images, { recursive: true });
  await debootstrapMinbase(rootfs, versions.testImageSuite, ['busybox'], logFile);
  await buildOciArchive({ name: testImage, rootfs, cmd: ['/bin/bash'], out });
  rmSync(rootfs, { recursive: true, force: true });
}

/** Unmounts (deepest first) every mount at or below `dir`. */
export async function unmountUnder(dir: string): Promise<number> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) =>
      line
        .split(' ')[4]
        ?.replace(/\\040/g, ' ')
        .replace(/\\011/g, '\t')
        .replace(/\\012/g, '\n')
        .replace(/\\134/g, '\\'),
    )
    .filter((p): p is string => !!p && (p === dir || p.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    const r = await run('umount', [m], { allowFailure: true });
    if (r.code !== 0) await run('umount', ['-l', m], { allowFailure: true });
  }
  return mounts.length;
}
