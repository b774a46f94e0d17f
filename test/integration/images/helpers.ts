// Shared pieces of the image integration tests: build (cached) the images a test needs, pick
// free ports on 127.0.0.1, wait for a server, and keep track of containers to clean up.
import { mkdtemp, rm, mkdir, writeFile, chmod } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImages } from '../../../src/images/build.ts';
import { cachePaths } from '../../../src/images/paths.ts';
import { unpackImage, type Container, type UnpackedImage } from '../../../src/images/runc.ts';
import { imageReference, defaultImageRegistry } from '../../../src/catalog/images.ts';
import { releaseSource } from '../../../src/catalog/releases.ts';
import { getCatalog } from '../../../src/catalog/index.ts';
import type { CatalogService } from '../../../src/catalog/types.ts';

export const release = process.env.STACKANETES_TEST_RELEASE ?? '2025.1';

/** Builds (or finds cached) images of a release (the tests' by default) and unpacks them for runc. */
export async function images(
  names: string[],
  rel: string = release,
): Promise<Record<string, UnpackedImage>> {
  await buildImages({
    release: rel,
    only: names,
    push: false,
    onEvent: (e) => {
      if (e.kind === 'progress' || e.kind === 'done')
        process.stderr.write(`  build ${e.image}: ${e.message}\n`);
    },
  });
  const cache = cachePaths();
  const out: Record<string, UnpackedImage> = {};
  for (const n of names) {
    out[n] = await unpackImage(
      cache,
      imageReference(defaultImageRegistry, n, releaseSource(rel).imageTag),
    );
  }
  return out;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something on 127.0.0.1:port accepts a connection and speaks first (MariaDB does). */
export async function waitForGreeting(
  port: number,
  timeoutMs: number,
  what: () => Promise<string>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      const done = (v: boolean): void => {
        s.destroy();
        resolve(v);
      };
      s.once('data', () => done(true));
      s.once('error', () => done(false));
      s.setTimeout(2000, () => done(false));
    });
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`nothing answered on 127.0.0.1:${port}\n${await what()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function waitForHttp(
  url: string,
  timeoutMs: number,
  what: () => Promise<string>,
): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      if (res.status < 500) return res;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer\n${await what()}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A scratch directory and the containers started in it, removed together. */
export class Scratch {
  readonly dir: string;
  readonly containers: Container[] = [];
  private constructor(dir: string) {
    this.dir = dir;
  }
  static async create(prefix: string): Promise<Scratch> {
    return new Scratch(await mkdtemp(join(tmpdir(), `stackanetes-${prefix}-`)));
  }
  track(c: Container): Container {
    this.containers.push(c);
    return c;
  }
  /** Writes a Kolla config directory: config.json plus the files it names. */
  async kollaConfig(name: string, config: unknown, files: Record<string, string>): Promise<string> {
    const dir = join(this.dir, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
    for (const [rel, content] of Object.entries(files)) {
      const p = join(dir, rel);
      await mkdir(join(p, '..'), { recursive: true });
      await writeFile(p, content);
    }
    // As a Kubernetes Secret volume would be: readable, owned by root.
    await chmod(dir, 0o755);
    return dir;
  }
  async cleanup(): Promise<void> {
    for (const c of this.containers.reverse()) await c.remove().catch(() => undefined);
    if (!process.env.STACKANETES_KEEP_SCRATCH) await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * uWSGI's options that load a service's WSGI application as the release's catalog has the
 * renderer load it: Debian's WSGI script (2025.1), or the module from the virtualenv (2026.1).
 */
export function uwsgiApp(service: CatalogService, rel: string = release): string {
  const catalog = getCatalog(rel);
  const app = catalog.services[service].processes.find((p) => p.wsgi)?.wsgi;
  if (!app) throw new Error(`${rel}: ${service} has no WSGI process`);
  return [
    ...(catalog.uwsgiVirtualenv ? [`--virtualenv ${catalog.uwsgiVirtualenv}`] : []),
    'file' in app ? `--wsgi-file ${app.file}` : `--module ${app.module}`,
  ].join(' ');
}
