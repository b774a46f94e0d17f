#!/usr/bin/env node
// Entry point. Runs the JavaScript compiled ahead of time into dist/ (`npm run build`) when it
// is there and no source file is newer than it; otherwise Node 24 runs the TypeScript sources
// directly (type stripping), as during development. An image may ship dist/ without src/.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { URL } from 'node:url';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
const stamp = new URL('../dist/.built', import.meta.url);
const sources = new URL('../src/', import.meta.url);

/** The newest modification time of the TypeScript files under `dir`. */
function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts'))
      t = Math.max(t, statSync(`${e.parentPath}/${e.name}`).mtimeMs);
  }
  return t;
}

const useCompiled =
  existsSync(compiled) &&
  existsSync(stamp) &&
  (!existsSync(sources) || newest(sources) <= statSync(stamp).mtimeMs);
await import(useCompiled ? compiled.href : '../src/cli/main.ts');
