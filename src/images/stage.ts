// Trees prepared on the build host for images that carry more than Debian packages. The operator's
// image gets, under one directory: Node 24 — the binary of the `node` npm package this checkout
// installed (no download from nodejs.org) —, dist/ as `npm run build` makes it (bin/build.ts,
// run with the staged tree's dist/ as its output, so the checkout's dist/ is not touched: the
// compiled modules, src/'s other files, the .built stamp; no src/), package.json and the
// production node_modules (`npm ci --omit=dev` from package-lock.json).
import { createHash } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { copyFile, cp, mkdir, readFile, readdir, realpath, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { capture, run } from '../util/exec.ts';

export type StageName = 'operator-app';

/** The checkout this code runs from (src/images/ → the repository root). */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** `npm run build`'s script (package.json), relative to the checkout. */
export const buildScript = 'bin/build.ts';

/** Where the staged Node binary goes, relative to the tree's root. */
export const stagedNode = 'bin/node';

/** Every file below `dir`, relative paths, sorted. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  }
  return out.sort();
}

/** The Node binary of the `node` npm package (a dev dependency), checked to be Node 24. */
export async function nodeBinary(): Promise<{ path: string; version: string }> {
  const pkg = createRequire(join(repoRoot, 'package.json')).resolve('node/package.json');
  const path = await realpath(join(dirname(pkg), 'bin', 'node'));
  const version = (await capture(path, ['--version'])).trim();
  if (!/^v24\./.test(version))
    throw new Error(
      `${path} is Node ${version}; the operator image needs Node 24 (devDependency node@24)`,
    );
  return { path, version };
}

/**
 * A hash of everything a staged tree is made from, cheap enough for every build: the sources,
 * the lock file, the tsc settings and the Node binary's version and size. Same hash, same tree.
 */
export async function stageInputs(name: StageName): Promise<string> {
  const h = createHash('sha256').update(name);
  for (const f of [
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    buildScript,
  ]) {
    h.update(f).update(await readFile(join(repoRoot, f)));
  }
  for (const f of await walk(join(repoRoot, 'src'))) {
    h.update(f).update(await readFile(join(repoRoot, 'src', f)));
  }
  const node = await nodeBinary();
  h.update(node.version).update(String((await stat(node.path)).size));
  return h.digest('hex');
}

/** Builds the tree into `dest` (emptied first). */
export async function stageTree(name: StageName, dest: string, log: WriteStream): Promise<void> {
  if (name !== 'operator-app') throw new Error(`no stage named ${String(name)}`);
  await rm(dest, { recursive: true, force: true });
  await mkdir(dest, { recursive: true });
  const node = await nodeBinary();
  log.write(`@@ node ${buildScript} ${dest}/dist\n`);
  await run(node.path, [join(repoRoot, buildScript), join(dest, 'dist')], { log, cwd: repoRoot });
  for (const f of ['package.json', 'package-lock.json']) {
    await copyFile(join(repoRoot, f), join(dest, f));
  }
  log.write('@@ npm ci --omit=dev\n');
  await run(
    'npm',
    ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
    { log, cwd: dest, env: { ...process.env, NODE_ENV: 'production' } },
  );
  await mkdir(join(dest, dirname(stagedNode)), { recursive: true });
  await cp(node.path, join(dest, stagedNode));
  log.write(`@@ ${node.version} from ${node.path}\n`);
}
