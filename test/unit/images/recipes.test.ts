// The operator's image recipe (building it needs root and debootstrap: test/integration/images/).
// It starts from the same Debian base as the OpenStack images, runs the compiled operator with the
// Node from the `node` npm package as a non-root uid, and leaves the Kolla images' start-up as it was.
import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { build, nonTypeScript } from '../../../bin/build.ts';
import { imageNames } from '../../../src/catalog/images.ts';
import { buildableImages, knownImages, runtimeConfig } from '../../../src/images/build.ts';
import {
  lineage,
  operatorImage,
  operatorUid,
  operatorVersion,
  releaseRecipes,
} from '../../../src/images/recipes.ts';
import { buildScript, stagedNode } from '../../../src/images/stage.ts';

const recipes = releaseRecipes('2025.1');
const operator = recipes.recipes.find((r) => r.name === operatorImage)!;

test('the operator image is built on the Debian base the OpenStack images use', () => {
  assert.ok(operator, 'a recipe named operator');
  assert.deepEqual(
    lineage(recipes, operatorImage).map((r) => r.name),
    ['base', 'operator'],
  );
  assert.ok(knownImages('2025.1').includes(operatorImage), '`images build` builds it');
  for (const n of imageNames) assert.ok(knownImages('2025.1').includes(n), n);
  assert.ok(buildableImages.includes(operatorImage), '`images build --only operator` accepts it');
  assert.equal(operator.tag, operatorVersion, 'tagged with the operator version, not the release');
});

test('the operator runs the compiled JavaScript with the staged Node 24, as a non-root uid', () => {
  const c = runtimeConfig(operator, operatorImage);
  assert.equal(c.User, `${operatorUid}:${operatorUid}`, 'numeric, so runAsNonRoot can check it');
  assert.notEqual(operatorUid, 0);
  const root = operator.hostTree!.to;
  assert.deepEqual(operator.hostTree, { stage: 'operator-app', to: '/opt/stackanetes' });
  const [init, dash, node, ...rest] = c.Entrypoint!;
  assert.deepEqual([init, dash], ['dumb-init', '--'], 'dumb-init reaps and forwards signals');
  assert.equal(node, `${root}/${stagedNode}`);
  assert.ok(
    rest.includes('--no-experimental-strip-types'),
    'no TypeScript compiled at run time: a .ts module would fail at start',
  );
  // The entry point is where tsconfig.build.json puts src/cli/main.ts.
  const build = JSON.parse(readFileSync('tsconfig.build.json', 'utf8')) as {
    compilerOptions: { rootDir: string; outDir: string; rewriteRelativeImportExtensions: boolean };
  };
  assert.equal(build.compilerOptions.rewriteRelativeImportExtensions, true);
  const entry = rest[rest.length - 1]!;
  const source = entry
    .replace(`${root}/${build.compilerOptions.outDir}/`, `${build.compilerOptions.rootDir}/`)
    .replace(/\.js$/, '.ts');
  assert.equal(source, 'src/cli/main.ts');
  assert.ok(existsSync(source));
  assert.deepEqual(c.Cmd, ['operator']);
  assert.ok(c.Env!.includes('NODE_ENV=production'));
  assert.ok(!c.Env!.some((e) => e.startsWith('KOLLA_')), 'no Kolla contract in this image');
  assert.ok(operator.exposedPorts?.includes(8080) && operator.exposedPorts.includes(8081));
});

test('the OpenStack images keep the Kolla start-up (dumb-init, kolla_start, their service user)', () => {
  const keystone = recipes.recipes.find((r) => r.name === 'keystone')!;
  assert.deepEqual(runtimeConfig(keystone, 'keystone'), {
    User: 'keystone',
    Env: [
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      'LANG=C.UTF-8',
      'KOLLA_BASE_DISTRO=debian',
      'KOLLA_INSTALL_TYPE=binary',
      'KOLLA_SERVICE_NAME=keystone',
    ],
    Entrypoint: ['dumb-init', '--single-child', '--'],
    Cmd: ['kolla_start'],
  });
});

test('the staged tree comes from this checkout: the build config and the node package exist', () => {
  assert.ok(existsSync('tsconfig.build.json'));
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
    devDependencies: Record<string, string>;
    scripts: Record<string, string>;
  };
  assert.match(pkg.devDependencies.node!, /^\^?24\./, 'Node 24 from the node npm package');
  assert.equal(
    pkg.scripts.build,
    `node ${buildScript}`,
    'one build: the image stages what npm run build makes',
  );
  assert.ok(existsSync(buildScript));
  assert.ok(existsSync(join('node_modules', 'node', 'package.json')));
});

test('the build puts what src/ holds besides TypeScript beside the modules, then stamps .built', (t) => {
  // The dashboard's page and the image assets are read relative to import.meta.url: dist/ must have them.
  const files = nonTypeScript('src');
  for (const f of [
    'server/dashboard/index.html',
    'server/dashboard/app.js',
    'images/assets/kolla_start',
  ])
    assert.ok(files.includes(f), f);
  assert.ok(!files.some((f) => f.endsWith('.ts')));

  const dir = mkdtempSync(join(tmpdir(), 'stackanetes-build-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'dist');
  mkdirSync(out);
  writeFileSync(join(out, 'stale.js'), '');
  let compiledInto = '';
  build(
    out,
    (o) => {
      compiledInto = o;
      mkdirSync(join(o, 'cli'), { recursive: true });
      writeFileSync(join(o, 'cli', 'main.js'), '');
    },
    'src',
  );
  assert.equal(compiledInto, out);
  assert.ok(!existsSync(join(out, 'stale.js')), 'emptied first');
  for (const f of files)
    assert.deepEqual(readFileSync(join(out, f)), readFileSync(join('src', f)), f);
  const stamp = statSync(join(out, '.built')).mtimeMs;
  for (const f of [...files, 'cli/main.js'])
    assert.ok(statSync(join(out, f)).mtimeMs <= stamp, `${f} is not newer than .built`);
});
