// `npm run build` [OUT]: the JavaScript the operator runs, compiled ahead of time into OUT (dist/
// by default; the operator image stages it the same way, src/images/stage.ts). tsc with
// tsconfig.build.json (the .ts imports rewritten to .js), the files under src/ that are not
// TypeScript (image assets, the dashboard's page) copied beside the modules so that paths relative
// to import.meta.url hold, and last the stamp OUT/.built: bin/stackanetes.js runs dist/ only when
// no source file is newer than it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));

/** The files under `dir` that are not TypeScript, relative paths, sorted. */
export function nonTypeScript(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && !e.name.endsWith('.ts'))
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort();
}

/** tsc -p tsconfig.build.json --outDir `out`, with the Node that runs this script. */
function tsc(out: string): void {
  execFileSync(
    process.execPath,
    [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(root, 'tsconfig.build.json'),
      '--outDir',
      out,
    ],
    { stdio: 'inherit', cwd: root },
  );
}

/** Empties `out`, compiles into it, copies src/'s other files, then stamps it. */
export function build(out: string, compile: (out: string) => void = tsc, src = join(root, 'src')) {
  rmSync(out, { recursive: true, force: true });
  compile(out);
  for (const f of nonTypeScript(src)) {
    mkdirSync(dirname(join(out, f)), { recursive: true });
    copyFileSync(join(src, f), join(out, f));
  }
  writeFileSync(join(out, '.built'), '');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  build(resolve(process.argv[2] ?? join(root, 'dist')));
}
