// Building the images of one OpenStack release: a layer per recipe (base → openstack-base →
// service), cached by a hash of everything that goes into it, assembled into OCI images in
// one shared image layout, each with a CycloneDX SBOM beside it.
import { createHash } from 'node:crypto';
import type { WriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  imageNames,
  imageReference,
  defaultImageRegistry,
  localRegistry,
} from '../catalog/images.ts';
import { releaseSource, releaseSources } from '../catalog/releases.ts';
import { CommandError, openLog, run } from '../util/exec.ts';
import { ensureHostPrograms } from '../util/apt.ts';
import { exists } from '../util/fs.ts';
import { OciLayout, type ImageConfig, type LayerBlob } from './oci.ts';
import { cachePaths, type CachePaths } from './paths.ts';
import {
  kollaUsers,
  lineage,
  operatorImage,
  releaseRecipes,
  type ImageFile,
  type ImageRecipe,
  type PythonSource,
  type ReleaseRecipes,
} from './recipes.ts';
import { stageInputs, stageTree } from './stage.ts';
import {
  convertWhiteouts,
  debootstrap,
  explainAptFailure,
  layerExcludes,
  aptGetUpdate,
  aptSource,
  dpkgKeepConfig,
  hostCaBundle,
  runStep,
  sourcesFile,
  type AptSource,
} from './rootfs.ts';
import { cycloneDx, parseDpkgQuery } from './sbom.ts';
import {
  constraintsFile,
  normalizeName,
  parsePythonListing,
  venvCheck,
  venvListing,
  type PythonPackage,
} from './pypi.ts';
import { withLock } from './lock.ts';
import { pushImages, registryAnswers, splitReference } from './registry.ts';
import { pushSbom } from './sbom-artifact.ts';
import { sha256 } from '../util/hash.ts';

/** Bump when the build procedure changes in a way that changes image content. */
export const buildScriptVersion = 5;

const assetsDir = join(dirname(fileURLToPath(import.meta.url)), 'assets');

export interface BuildEvent {
  readonly image: string;
  readonly kind: 'start' | 'cached' | 'progress' | 'done' | 'info' | 'warn';
  readonly message: string;
}

export interface BuildOptions {
  readonly release: string;
  /** Images to build (their parent layers come along); all when absent. */
  readonly only?: readonly string[];
  readonly registry?: string;
  readonly tag?: string;
  /** Ignore cached layers and build everything again. */
  readonly noCache?: boolean;
  /** Push to the local cluster's registry when it answers (default true). */
  readonly push?: boolean;
  readonly cache?: CachePaths;
  readonly mirror?: string;
  readonly onEvent?: (e: BuildEvent) => void;
  /** Replaces the release's recipes (tests use it to build a deliberately broken image). */
  readonly recipes?: ReleaseRecipes;
  /**
   * Build from the release's Debian suite alone, as it was released: no -updates or -security
   * sources, no upgrade. Such images have known fixes missing (tests scan and fix them); they get
   * their own tag, `<release>-without-updates` unless `tag` names another.
   */
  readonly withoutUpdates?: boolean;
}

export interface LayerRecord {
  readonly recipe: string;
  readonly key: string;
  readonly blob: LayerBlob;
  readonly createdAt: string;
  readonly seconds: number;
  /** Set when this run found the layer in the cache instead of building it. */
  readonly fromCache?: boolean;
}

export interface ImageRecord {
  readonly name: string;
  readonly reference: string;
  readonly release: string;
  readonly debianSuite: string;
  readonly manifestDigest: string;
  readonly configDigest: string;
  readonly layers: readonly {
    recipe: string;
    digest: string;
    size: number;
    uncompressedSize: number;
  }[];
  /** Sum of compressed layer sizes (what a registry stores). */
  readonly compressedSize: number;
  /** Sum of uncompressed layer sizes (what a node's disk holds). */
  readonly uncompressedSize: number;
  readonly packageCount: number;
  /** Python packages in the image's virtualenv (source releases; absent otherwise). */
  readonly pythonPackageCount?: number;
  readonly version: string;
  readonly user: string;
  readonly uid: number | undefined;
  readonly builtAt: string;
  readonly inputHash: string;
  readonly sbom: string;
  /** Set on images `images fix` (or deriveImage) made: the image they add a layer to. */
  readonly derivedFrom?: { readonly reference: string; readonly manifestDigest: string };
  /** `package=version` that layer upgraded (images fix). */
  readonly upgraded?: readonly string[];
}

export interface BuildResult {
  readonly images: ImageRecord[];
  readonly built: string[];
  readonly cached: string[];
  readonly seconds: number;
  /** What happened with the registry push. */
  readonly registry: string;
}

export class ImageBuildError extends Error {
  readonly image: string;
  readonly logFile: string;
  constructor(image: string, message: string, logFile: string) {
    super(`image ${image}: ${message}\n(full log: ${logFile})`);
    this.name = 'ImageBuildError';
    this.image = image;
    this.logFile = logFile;
  }
}

/** What an image tag may be (the OCI distribution spec's rule); it also names a directory. */
export function checkTag(tag: string): void {
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/.test(tag))
    throw new Error(
      `tag ${JSON.stringify(tag)} is not a valid image tag (letters, digits, _ . -; at most 128, not starting with . or -)`,
    );
}

/** The tag a build gives its images: the one asked for, else the release's (…-without-updates). */
export function buildTag(release: string, o: { tag?: string; withoutUpdates?: boolean }): string {
  const normal = releaseSource(release).imageTag;
  const tag = o.tag ?? (o.withoutUpdates ? `${normal}-without-updates` : normal);
  checkTag(tag);
  if (o.withoutUpdates && tag === normal)
    throw new Error(
      `images built without updates cannot take the tag ${normal}: it would replace the release's images`,
    );
  return tag;
}

/**
 * Where the records of a tag's images are: the release's own tag (or none) keeps the
 * directory records always had, images/<release>/; every other tag its own,
 * images/<release>/tags/<tag>/.
 */
export function recordDir(cache: CachePaths, release: string, tag?: string): string {
  const dir = join(cache.root, 'images', release);
  if (tag === undefined || tag === releaseSources[release]?.imageTag) return dir;
  checkTag(tag);
  return join(dir, 'tags', tag);
}

/** A failed step as an ImageBuildError naming the image (and the package, when apt said which). */
export function buildError(err: unknown, image: string, logFile: string): unknown {
  if (!(err instanceof CommandError)) return err;
  const apt = explainAptFailure(err.output);
  return new ImageBuildError(image, apt ? `installing ${apt}` : err.message, logFile);
}

/** Records are kept per release, tag and image name. */
export function recordPaths(
  cache: CachePaths,
  release: string,
  name: string,
  tag?: string,
): { record: string; sbom: string } {
  const dir = recordDir(cache, release, tag);
  return { record: join(dir, `${name}.json`), sbom: join(dir, `${name}.cdx.json`) };
}

export async function readRecord(
  cache: CachePaths,
  release: string,
  name: string,
  tag?: string,
): Promise<ImageRecord | undefined> {
  try {
    return JSON.parse(
      await readFile(recordPaths(cache, release, name, tag).record, 'utf8'),
    ) as ImageRecord;
  } catch {
    return undefined;
  }
}

async function readRecordsIn(dir: string): Promise<ImageRecord[]> {
  const out: ImageRecord[] = [];
  for (const f of (await readdir(dir).catch(() => [] as string[])).sort()) {
    if (!f.endsWith('.json') || f.endsWith('.cdx.json')) continue;
    try {
      out.push(JSON.parse(await readFile(join(dir, f), 'utf8')) as ImageRecord);
    } catch {
      // a half-written record is skipped; the next build rewrites it
    }
  }
  return out;
}

/**
 * The records of every release: those of the release's own tag, or of `tag`, or (`allTags`)
 * all of them, the release's own tag first.
 */
export async function listRecords(
  cache: CachePaths,
  o: { tag?: string; allTags?: boolean } = {},
): Promise<ImageRecord[]> {
  const out: ImageRecord[] = [];
  const root = join(cache.root, 'images');
  const releases = await readdir(root).catch(() => [] as string[]);
  for (const rel of releases.sort()) {
    if (!o.allTags) {
      out.push(...(await readRecordsIn(recordDir(cache, rel, o.tag))));
      continue;
    }
    out.push(...(await readRecordsIn(join(root, rel))));
    const tags = await readdir(join(root, rel, 'tags')).catch(() => [] as string[]);
    for (const t of tags.sort()) out.push(...(await readRecordsIn(join(root, rel, 'tags', t))));
  }
  return out;
}

/**
 * The record of an image named by its reference (registry/name:tag), by its manifest digest
 * (sha256:…), or by both (registry/name@sha256:…), over every release and tag.
 */
export async function findRecord(
  cache: CachePaths,
  referenceOrDigest: string,
): Promise<ImageRecord | undefined> {
  const want = referenceOrDigest.trim();
  const at = want.lastIndexOf('@');
  const byDigest = (r: ImageRecord): boolean =>
    at > 0
      ? r.manifestDigest === want.slice(at + 1) && r.reference.startsWith(`${want.slice(0, at)}:`)
      : r.manifestDigest === want;
  const records = await listRecords(cache, { allTags: true });
  return records.find((r) => r.reference === want) ?? records.find(byDigest);
}

/** Which recipes an image list needs, parents first. */
export function planRecipes(recipes: ReleaseRecipes, images: readonly string[]): ImageRecipe[] {
  const seen = new Set<string>();
  const out: ImageRecipe[] = [];
  for (const name of images) {
    for (const r of lineage(recipes, name)) {
      if (!seen.has(r.name)) {
        seen.add(r.name);
        out.push(r);
      }
    }
  }
  // Parents before children, siblings in the order asked.
  const depth = (r: ImageRecipe): number => lineage(recipes, r.name).length;
  return out.sort((a, b) => depth(a) - depth(b));
}

async function assetHash(): Promise<string> {
  const h = createHash('sha256');
  for (const f of ['kolla_start', 'kolla_set_configs'])
    h.update(await readFile(join(assetsDir, f)));
  return h.digest('hex');
}

export function baseSetupScript(
  src: AptSource,
  assets: { start: string; setConfigs: string },
): string {
  const groups = kollaUsers.map(
    (u) => `getent group ${u.name} >/dev/null || groupadd -g ${u.uid} ${u.name}`,
  );
  const users = kollaUsers.map((u) => {
    const extra = ['kolla', ...(u.groups ?? [])].filter((g) => g !== u.name).join(',');
    return `getent passwd ${u.name} >/dev/null || useradd -l -M -d ${u.home ?? `/var/lib/${u.name}`} -s /usr/sbin/nologin -u ${u.uid} -g ${u.uid}${extra ? ` -G ${extra}` : ''} ${u.name}`;
  });
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  return [
    `rm -f /etc/apt/sources.list`,
    `echo ${b64(sourcesFile(src))} | base64 -d > /etc/apt/sources.list.d/debian.sources`,
    `printf '%s\\n' 'APT::Install-Recommends "false";' 'APT::Install-Suggests "false";' 'Acquire::Retries "3";' > /etc/apt/apt.conf.d/90stackanetes`,
    `printf '%s\\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' 'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' > /etc/dpkg/dpkg.cfg.d/90stackanetes-nodoc`,
    `printf '#!/bin/sh\\n# Services are started by kolla_start, never by package scripts.\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d`,
    // debootstrap installs the suite as released: its packages get the -security and -updates
    // versions here (lists and .debs live in the shared apt caches mounted over /var, not here).
    ...(src.extraSuites.length
      ? [
          'echo "@@ apt-get update"',
          aptGetUpdate,
          'echo "@@ apt-get upgrade"',
          `apt-get -y -q ${dpkgKeepConfig} upgrade`,
        ]
      : []),
    ...groups,
    ...users,
    `echo ${b64(assets.start)} | base64 -d > /usr/local/bin/kolla_start && chmod 0755 /usr/local/bin/kolla_start`,
    `echo ${b64(assets.setConfigs)} | base64 -d > /usr/local/bin/kolla_set_configs && chmod 0755 /usr/local/bin/kolla_set_configs`,
    `printf '%s\\n' 'Defaults !requiretty' 'Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"' 'Defaults env_keep += "KOLLA_CONFIG_STRATEGY KOLLA_CONFIG_FILE KOLLA_BOOTSTRAP KOLLA_SERVICE_NAME"' '%kolla ALL=(root) NOPASSWD: SETENV: /usr/local/bin/kolla_set_configs' > /etc/sudoers.d/kolla && chmod 0440 /etc/sudoers.d/kolla`,
    `install -d -m 0755 /var/lib/kolla /var/lib/kolla/config_files`,
    `install -d -m 0755 -g kolla /var/log/kolla`,
    `echo localhost > /etc/hostname`,
    // /var/lib/apt/lists is the shared lists cache mounted here (never tarred): left alone.
    `rm -rf /var/cache/apt/*.bin /var/log/*.log /var/log/apt/*`,
    `visudo -c >/dev/null`,
  ].join('\n');
}

/** Log files written by package scripts (after the base layer) belong to no image. */
export const dropNewLogs =
  'find /var/log -type f -newer /usr/local/bin/kolla_start \\( -name "*.log" -o -path "/var/log/apt/*" \\) -delete 2>/dev/null || true';

async function fileContent(f: ImageFile): Promise<string> {
  return 'asset' in f ? readFile(join(assetsDir, f.asset), 'utf8') : f.content;
}

/**
 * The shell that pip-installs a recipe's Python packages into the virtualenv (made first if the
 * parent has none), each at its pin; a package with no wheel is built with the recipe's
 * `buildPackages`, which are purged afterwards, leaving installed the packages of the shared
 * libraries the built extensions link against. It fails when anything in the virtualenv is not
 * at its pin (a pin missing from the release's list, or a package that pip took from elsewhere).
 */
export function venvScript(recipe: ImageRecipe, python: PythonSource): string {
  const venv = recipe.venv;
  if (!venv) return ':';
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const build = venv.buildPackages ?? [];
  const pip = `${python.venv}/bin/pip`;
  const py = `${python.venv}/bin/python3`;
  return [
    `echo "@@ pip install ${venv.packages.join(' ')}"`,
    'export PIP_CACHE_DIR=/var/cache/pip PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_PROGRESS_BAR=off PIP_ROOT_USER_ACTION=ignore',
    `[ ! -s ${hostCaBundle} ] || export PIP_CERT=${hostCaBundle}`,
    `echo ${b64(constraintsFile(python.pins))} | base64 -d > /tmp/constraints.txt`,
    `[ -x ${py} ] || python3 -m venv ${python.venv}`,
    ...(build.length
      ? [
          `echo "@@ build packages ${build.join(' ')}"`,
          `apt-get install -y -q --no-install-recommends ${dpkgKeepConfig} ${build.join(' ')}`,
          'touch /tmp/before-pip',
        ]
      : []),
    `${pip} install -c /tmp/constraints.txt ${venv.packages.join(' ')}`,
    ...(build.length
      ? [
          // Keep what the built extensions need at run time; purge the compilers and headers.
          `find ${python.venv} -name '*.so' -newer /tmp/before-pip -print0 | { xargs -0 -r ldd 2>/dev/null || true; } | awk '$2 == "=>" && $3 ~ /^\\// { print $3 }' | sort -u | while read -r lib; do dpkg -S "$lib" 2>/dev/null || dpkg -S "$(realpath "$lib")" 2>/dev/null || true; done | { grep -v '^diversion ' || true; } | sed -n 's|: /.*||p' | tr ',' '\\n' | tr -d ' ' | sort -u | xargs -r apt-mark manual`,
          `echo "@@ purge ${build.join(' ')}"`,
          `apt-get purge -y -q --auto-remove ${build.join(' ')}`,
        ]
      : []),
    `echo "@@ check the pins"`,
    `${py} -c ${shellQuote(venvCheck)} /tmp/constraints.txt`,
  ].join('\n');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

async function serviceScript(recipe: ImageRecipe, python?: PythonSource): Promise<string> {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const files: string[] = [];
  for (const [path, f] of Object.entries(recipe.files ?? {})) {
    files.push(
      `install -d ${dirname(path)} && echo ${b64(await fileContent(f))} | base64 -d > ${path} && chmod ${f.mode.toString(8)} ${path}`,
    );
  }
  return [
    'echo "@@ apt-get update"',
    aptGetUpdate,
    `echo "@@ apt-get install ${recipe.packages.join(' ')}"`,
    recipe.packages.length
      ? `apt-get install -y -q --no-install-recommends ${dpkgKeepConfig} ${recipe.packages.join(' ')}`
      : ':',
    ...(recipe.venv && python ? [venvScript(recipe, python)] : []),
    'echo "@@ setup"',
    ...files,
    recipe.setup ?? ':',
    dropNewLogs,
  ].join('\n');
}

interface Context {
  readonly opts: BuildOptions;
  readonly cache: CachePaths;
  readonly recipes: ReleaseRecipes;
  readonly suite: string;
  readonly src: AptSource;
  readonly oci: OciLayout;
  readonly keys: Map<string, string>;
  readonly hasChildren: Set<string>;
  readonly emit: (e: BuildEvent) => void;
}

function layerDir(ctx: Context, recipe: ImageRecipe): string {
  return join(
    ctx.cache.layers,
    ctx.recipes.release,
    recipe.name,
    (ctx.keys.get(recipe.name) ?? '').slice(0, 16),
  );
}

async function computeKeys(
  ctx: Pick<Context, 'recipes' | 'suite' | 'src'>,
  plan: readonly ImageRecipe[],
): Promise<Map<string, string>> {
  const keys = new Map<string, string>();
  const assets = await assetHash();
  for (const r of plan) {
    const parentKey = r.parent ? keys.get(r.parent) : undefined;
    const input = {
      buildScriptVersion,
      release: ctx.recipes.release,
      suite: ctx.suite,
      src: ctx.src,
      recipe: r,
      files: await Promise.all(Object.values(r.files ?? {}).map((f) => fileContent(f))),
      parentKey: parentKey ?? null,
      ...(r.parent ? {} : { basePackages: ctx.recipes.basePackages, users: kollaUsers, assets }),
      ...(r.hostTree ? { hostTree: await stageInputs(r.hostTree.stage) } : {}),
      // Every pin, not only this recipe's packages': a changed pin rebuilds what pip-installs.
      ...(r.venv && ctx.recipes.python
        ? {
            venv: ctx.recipes.python.venv,
            pins: constraintsFile(ctx.recipes.python.pins),
            venvScript: venvScript(r, ctx.recipes.python),
          }
        : {}),
    };
    keys.set(r.name, sha256(JSON.stringify(input)));
  }
  return keys;
}

/** Prepares the recipe's host tree and puts it into the layer at its place. */
async function copyHostTree(
  ctx: Context,
  recipe: ImageRecipe,
  dir: string,
  upper: string,
  log: ReturnType<typeof openLog>,
): Promise<void> {
  const tree = recipe.hostTree!;
  const staged = join(dir, 'stage');
  ctx.emit({
    image: recipe.name,
    kind: 'progress',
    message: `${tree.stage}: compile, production node_modules, Node → ${tree.to}`,
  });
  await stageTree(tree.stage, staged, log);
  const target = join(upper, tree.to);
  await rm(target, { recursive: true, force: true });
  await mkdir(target, { recursive: true });
  // Owned by root, readable by all: the non-root user runs it and cannot change it.
  await run('cp', ['-a', '--no-preserve=ownership', `${staged}/.`, `${target}/`], { log });
  await rm(staged, { recursive: true, force: true });
}

/**
 * How a container of the image starts: Kolla's contract (dumb-init, kolla_start, the service
 * user) unless the recipe says otherwise.
 */
export function runtimeConfig(
  recipe: ImageRecipe,
  name: string,
  venv?: string,
): ImageConfig['config'] {
  return {
    User: recipe.uid !== undefined ? `${recipe.uid}:${recipe.uid}` : recipe.user,
    Env: [
      // A source image's virtualenv first: its programs keep Debian's names (keystone-manage).
      `PATH=${venv ? `${venv}/bin:` : ''}/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      'LANG=C.UTF-8',
      ...(recipe.entrypoint
        ? []
        : [
            'KOLLA_BASE_DISTRO=debian',
            `KOLLA_INSTALL_TYPE=${venv ? 'source' : 'binary'}`,
            `KOLLA_SERVICE_NAME=${name}`,
          ]),
      ...(recipe.env ?? []),
    ],
    Entrypoint: [...(recipe.entrypoint ?? ['dumb-init', '--single-child', '--'])],
    Cmd: [...(recipe.cmd ?? ['kolla_start'])],
    ...(recipe.workingDir ? { WorkingDir: recipe.workingDir } : {}),
  };
}

interface LayerWork {
  /** The layer's own directory. */
  dir: string;
  log: WriteStream;
  /** Where the step writes dpkg-query's list of the installed packages. */
  packagesOut: string;
  /** apt's archives and lists for the suite, shared by every build. */
  apt: AptCaches;
}

export interface AptCaches {
  readonly aptArchives: string;
  readonly aptLists: string;
}

/**
 * apt's caches for a suite, shared by every build: one directory of .debs, and lists for the
 * suite with its -updates and -security (or, `withoutUpdates`, for the suite alone: an update
 * there would drop the others' lists).
 */
export function aptCaches(cache: CachePaths, suite: string, withoutUpdates = false): AptCaches {
  const dir = join(cache.apt, suite);
  return {
    aptArchives: join(dir, 'archives'),
    aptLists: join(dir, withoutUpdates ? 'lists-without-updates' : 'lists'),
  };
}

/**
 * The base layer: debootstrap, then kolla_start, the service users and apt's configuration.
 * Returns the tree to write as the layer.
 */
async function buildBaseTree(ctx: Context, recipe: ImageRecipe, w: LayerWork): Promise<string> {
  const { dir, log, packagesOut, apt } = w;
  ctx.emit({
    image: recipe.name,
    kind: 'progress',
    message: `debootstrap ${ctx.suite} (minbase)`,
  });
  const rootfs = join(dir, 'rootfs');
  await debootstrap(
    {
      suite: ctx.suite,
      mirror: ctx.src.mirror,
      target: rootfs,
      packages: ctx.recipes.basePackages,
      cacheDir: apt.aptArchives,
    },
    log,
  );
  ctx.emit({
    image: recipe.name,
    kind: 'progress',
    message: ctx.src.extraSuites.length
      ? 'kolla_start, service users, apt configuration, apt-get upgrade (-security, -updates)'
      : `kolla_start, service users, apt configuration (${ctx.suite} alone: no upgrade)`,
  });
  const script = baseSetupScript(ctx.src, {
    start: await readFile(join(assetsDir, 'kolla_start'), 'utf8'),
    setConfigs: await readFile(join(assetsDir, 'kolla_set_configs'), 'utf8'),
  });
  await runStep(
    {
      upper: rootfs,
      work: join(dir, 'work'),
      merged: join(dir, 'merged'),
      ...apt,
      packagesOut,
    },
    script,
    log,
  );
  // debootstrap copied the host's resolver configuration; runtimes mount their own.
  await writeFile(join(rootfs, 'etc', 'resolv.conf'), '');
  return rootfs;
}

/**
 * A layer on its parent: the recipe's packages installed in an overlay on the parent's tree.
 * Returns the overlay's upper directory (whiteouts converted), the layer's contents.
 */
async function buildChildTree(
  ctx: Context,
  recipe: ImageRecipe,
  w: LayerWork,
  o: { resume: boolean; needRootfs: boolean; stepDone: string },
): Promise<string> {
  const { dir, log, packagesOut, apt } = w;
  const { resume, needRootfs, stepDone } = o;
  const parentDir = recipe.parent
    ? layerDir(ctx, ctx.recipes.recipes.find((r) => r.name === recipe.parent) as ImageRecipe)
    : undefined;
  if (!parentDir) throw new Error(`no parent layer for ${recipe.name}`);
  const python = ctx.recipes.python;
  ctx.emit({
    image: recipe.name,
    kind: 'progress',
    message: `apt-get install ${recipe.packages.length} packages${recipe.venv ? `, pip install ${recipe.venv.packages.length}` : ''} on ${recipe.parent}`,
  });
  const upper = join(dir, 'upper');
  if (!resume)
    await runStep(
      {
        lower: join(parentDir, 'rootfs'),
        upper,
        work: join(dir, 'work'),
        merged: join(dir, 'merged'),
        ...apt,
        packagesOut,
        ...(needRootfs ? { materialize: join(dir, 'rootfs') } : {}),
        ...(python
          ? {
              python: { venv: python.venv, listing: venvListing, out: join(dir, 'python.tsv') },
              ...(recipe.venv ? { pipCache: join(ctx.cache.root, 'pip') } : {}),
            }
          : {}),
      },
      await serviceScript(recipe, python),
      log,
    );
  await writeFile(stepDone, '');
  await convertWhiteouts(upper, join(parentDir, 'rootfs'), log);
  if (recipe.hostTree) await copyHostTree(ctx, recipe, dir, upper, log);
  return upper;
}

async function buildLayer(ctx: Context, recipe: ImageRecipe): Promise<LayerRecord> {
  const dir = layerDir(ctx, recipe);
  const recordFile = join(dir, 'layer.json');
  const needRootfs = ctx.hasChildren.has(recipe.name);
  if (
    !ctx.opts.noCache &&
    (await exists(recordFile)) &&
    (!needRootfs || (await exists(join(dir, 'rootfs', 'usr'))))
  ) {
    const rec = JSON.parse(await readFile(recordFile, 'utf8')) as LayerRecord;
    if (await ctx.oci.hasBlob(rec.blob.digest)) {
      ctx.emit({ image: recipe.name, kind: 'cached', message: `cached (${rec.key.slice(0, 12)})` });
      return { ...rec, fromCache: true };
    }
  }
  const started = Date.now();
  // A layer whose packages went in but whose tar did not get written resumes from there.
  const stepDone = join(dir, 'step.done');
  const resume =
    !ctx.opts.noCache &&
    !!recipe.parent &&
    (await exists(stepDone)) &&
    (!needRootfs || (await exists(join(dir, 'rootfs', 'usr'))));
  if (!resume) await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await mkdir(ctx.cache.logs, { recursive: true });
  const variant = ctx.src.extraSuites.length ? '' : '-without-updates';
  const logFile = join(ctx.cache.logs, `${ctx.recipes.release}${variant}-${recipe.name}.log`);
  await rm(logFile, { force: true });
  const log = openLog(logFile);
  const apt = aptCaches(ctx.cache, ctx.suite, !ctx.src.extraSuites.length);
  const packagesOut = join(dir, 'packages.tsv');
  try {
    const w: LayerWork = { dir, log, packagesOut, apt };
    const tarRoot = recipe.parent
      ? await buildChildTree(ctx, recipe, w, { resume, needRootfs, stepDone })
      : await buildBaseTree(ctx, recipe, w);
    ctx.emit({ image: recipe.name, kind: 'progress', message: 'writing layer' });
    const blob = await ctx.oci.addLayerFromDir(tarRoot, layerExcludes);
    await rm(join(dir, 'work'), { recursive: true, force: true });
    await rm(join(dir, 'merged'), { recursive: true, force: true });
    if (recipe.parent) await rm(join(dir, 'upper'), { recursive: true, force: true });
    if (!needRootfs && !recipe.parent)
      await rm(join(dir, 'rootfs'), { recursive: true, force: true });
    const rec: LayerRecord = {
      recipe: recipe.name,
      key: ctx.keys.get(recipe.name) ?? '',
      blob,
      createdAt: new Date().toISOString(),
      seconds: (Date.now() - started) / 1000,
    };
    await writeFile(recordFile, JSON.stringify(rec, null, 2) + '\n');
    return rec;
  } catch (err) {
    log.end();
    throw buildError(err, recipe.name, logFile);
  } finally {
    log.end();
    // Never leave a half-mounted tree behind (the namespace is gone, but be sure).
    await run('umount', ['-R', join(dir, 'merged')]).catch(() => undefined);
  }
}

async function assembleImage(
  ctx: Context,
  name: string,
  layers: readonly LayerRecord[],
  registry: string,
  tag: string,
): Promise<ImageRecord> {
  const recipe = ctx.recipes.recipes.find((r) => r.name === name) as ImageRecipe;
  const top = layers[layers.length - 1] as LayerRecord;
  const packages = parseDpkgQuery(
    await readFile(join(layerDir(ctx, recipe), 'packages.tsv'), 'utf8'),
  );
  const python = await readPythonListing(join(layerDir(ctx, recipe), 'python.tsv'));
  const venv = ctx.recipes.python && python.length ? ctx.recipes.python.venv : undefined;
  const version = recipe.versionPython
    ? (python.find((p) => normalizeName(p.name) === normalizeName(recipe.versionPython!))
        ?.version ?? '')
    : recipe.versionPackage
      ? (packages.find((p) => p.name === recipe.versionPackage)?.version ?? '')
      : (recipe.tag ?? '');
  // A recipe's own tag (the operator's version) names the release's images; any other build tag
  // names all of that build's images, so that they never replace the release's.
  const reference = imageReference(
    registry,
    name,
    recipe.tag && tag === releaseSource(ctx.recipes.release).imageTag ? recipe.tag : tag,
  );
  const user = kollaUsers.find((u) => u.name === recipe.user);
  const labels: Record<string, string> = {
    'org.opencontainers.image.title': name,
    'org.opencontainers.image.description': recipe.description,
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.vendor': 'Stackanetes',
    'org.opencontainers.image.base.name': `debian:${ctx.suite}`,
    'io.stackanetes.openstack-release': ctx.recipes.release,
    'io.stackanetes.debian-suite': ctx.suite,
    'io.stackanetes.input-hash': top.key,
    'io.stackanetes.runtime-user': recipe.user,
    kolla_version: `stackanetes-${buildScriptVersion}`,
  };
  const config: Omit<ImageConfig, 'rootfs'> = {
    created: top.createdAt,
    architecture: 'amd64',
    os: 'linux',
    config: {
      ...runtimeConfig(recipe, name, venv),
      Labels: labels,
      StopSignal: 'SIGTERM',
      ...(recipe.exposedPorts?.length
        ? { ExposedPorts: Object.fromEntries(recipe.exposedPorts.map((p) => [`${p}/tcp`, {}])) }
        : {}),
    },
    history: layers.map((l) => ({
      created: l.createdAt,
      created_by: `stackanetes images build: ${l.recipe}`,
      comment:
        l.recipe === 'base'
          ? `debootstrap --variant=minbase ${ctx.suite}${ctx.src.extraSuites.length ? ', apt-get upgrade' : ''}`
          : `apt-get install${ctx.recipes.recipes.find((r) => r.name === l.recipe)?.venv ? ', pip install' : ''} (${l.recipe})`,
    })),
  };
  const stored = await ctx.oci.addImage(
    reference,
    config,
    layers.map((l) => l.blob),
    {
      'org.opencontainers.image.title': name,
      'org.opencontainers.image.version': version,
      'org.opencontainers.image.created': top.createdAt,
    },
  );
  const paths = recordPaths(ctx.cache, ctx.recipes.release, name, tag);
  await mkdir(dirname(paths.record), { recursive: true });
  const sbom = cycloneDx(
    {
      reference,
      manifestDigest: stored.manifest.digest,
      release: ctx.recipes.release,
      debianSuite: ctx.suite,
      created: top.createdAt,
    },
    packages,
    python,
  );
  await writeFile(paths.sbom, JSON.stringify(sbom, null, 2) + '\n');
  const record: ImageRecord = {
    name,
    reference,
    release: ctx.recipes.release,
    debianSuite: ctx.suite,
    manifestDigest: stored.manifest.digest,
    configDigest: stored.config.digest,
    layers: layers.map((l) => ({
      recipe: l.recipe,
      digest: l.blob.digest,
      size: l.blob.size,
      uncompressedSize: l.blob.uncompressedSize,
    })),
    compressedSize: layers.reduce((a, l) => a + l.blob.size, 0),
    uncompressedSize: layers.reduce((a, l) => a + l.blob.uncompressedSize, 0),
    packageCount: packages.length,
    ...(venv ? { pythonPackageCount: python.length } : {}),
    version,
    user: recipe.user,
    uid: recipe.uid ?? (recipe.user === 'root' ? 0 : user?.uid),
    builtAt: top.createdAt,
    inputHash: top.key,
    sbom: paths.sbom,
  };
  await writeFile(paths.record, JSON.stringify(record, null, 2) + '\n');
  return record;
}

/** The virtualenv's packages a step listed (none when the file is missing: a Debian image). */
async function readPythonListing(file: string): Promise<PythonPackage[]> {
  return parsePythonListing(await readFile(file, 'utf8').catch(() => ''));
}

/** Host programs the build needs, installed with apt-get when missing. */
export async function ensureHostTools(emit: (e: BuildEvent) => void): Promise<void> {
  await ensureHostPrograms(
    {
      debootstrap: 'debootstrap',
      getfattr: 'attr',
      unshare: 'util-linux',
      tar: 'tar',
      runc: 'runc',
    },
    (pkgs) => emit({ image: 'host', kind: 'info', message: `apt-get install ${pkgs.join(' ')}` }),
  );
}

/** Every image `images build` can make: the OpenStack images and the operator's. */
export const buildableImages: readonly string[] = [...imageNames, operatorImage];

export function knownImages(release: string): string[] {
  const recipes = releaseRecipes(release);
  return buildableImages.filter((n) => recipes.recipes.some((r) => r.name === n));
}

/** Builds (or finds in the cache) every layer of the plan, parents first. */
async function buildLayers(
  ctx: Context,
  plan: readonly ImageRecipe[],
): Promise<{ layers: Map<string, LayerRecord>; built: string[]; cached: string[] }> {
  const layers = new Map<string, LayerRecord>();
  const built: string[] = [];
  const cached: string[] = [];
  for (const recipe of plan) {
    ctx.emit({ image: recipe.name, kind: 'start', message: recipe.description });
    const t0 = Date.now();
    const rec = await buildLayer(ctx, recipe);
    layers.set(recipe.name, rec);
    if (!rec.fromCache) {
      built.push(recipe.name);
      ctx.emit({
        image: recipe.name,
        kind: 'done',
        message: `layer ${(rec.blob.size / 1e6).toFixed(0)} MB compressed, ${(rec.blob.uncompressedSize / 1e6).toFixed(0)} MB on disk, ${((Date.now() - t0) / 1000).toFixed(0)} s`,
      });
    } else cached.push(recipe.name);
  }
  return { layers, built, cached };
}

/**
 * Pushes the images to the local cluster's registry when they are named after it and it answers;
 * says what happened either way.
 */
export async function pushToLocalRegistry(
  oci: OciLayout,
  images: readonly ImageRecord[],
  registry: string,
  emit: (e: BuildEvent) => void,
): Promise<string> {
  if (!registry.startsWith(`${localRegistry.name}/`))
    return `not pushed: the images are named ${registry}/…, not after the local registry ${localRegistry.name}`;
  if (!(await registryAnswers(localRegistry.url))) {
    const pushed = `not pushed: the local registry (${localRegistry.url}) does not answer; \`stackanetes cluster up\` starts it`;
    emit({ image: 'registry', kind: 'warn', message: pushed });
    return pushed;
  }
  const t = Date.now();
  let uploaded = 0;
  let mounted = 0;
  let bytes = 0;
  await pushImages(
    oci,
    images.map((i) => i.reference),
    localRegistry,
    (r) => {
      uploaded += r.uploaded;
      mounted += r.mounted;
      bytes += r.bytes;
      emit({
        image: r.reference.split('/').pop()?.split(':')[0] ?? r.reference,
        kind: 'progress',
        message: `pushed to ${localRegistry.name}: ${r.uploaded} blobs uploaded, ${r.mounted} mounted, ${r.skipped} already there`,
      });
    },
  );
  // Each image's SBOM beside it (./sbom-artifact.ts): what runs the image can scan it.
  for (const img of images) {
    const desc = await oci.resolve(img.reference);
    if (!desc) throw new Error(`${img.reference} is not in the image store`);
    const { repository } = splitReference(img.reference, localRegistry.name);
    await pushSbom(localRegistry.url, repository, desc, await readFile(img.sbom));
  }
  const pushed = `pushed ${images.length} images and their SBOMs to ${localRegistry.name} in ${((Date.now() - t) / 1000).toFixed(1)} s (${uploaded} blobs uploaded, ${(bytes / 1e6).toFixed(0)} MB; ${mounted} mounted across repositories)`;
  emit({ image: 'registry', kind: 'done', message: pushed });
  return pushed;
}

/** What a build of `opts` works from: its recipes, images, apt source and tag. */
function buildInputs(opts: BuildOptions): {
  suite: string;
  recipes: ReleaseRecipes;
  targets: string[];
  src: AptSource;
  tag: string;
} {
  const source = releaseSource(opts.release);
  const recipes = opts.recipes ?? releaseRecipes(opts.release);
  const targets = opts.only?.length ? [...opts.only] : knownImages(opts.release);
  for (const t of targets) {
    if (!buildableImages.includes(t)) {
      throw new Error(`unknown image ${JSON.stringify(t)}; images: ${buildableImages.join(', ')}`);
    }
  }
  const src = aptSource(
    source.debianSuite,
    opts.withoutUpdates ? [] : recipes.extraSuites,
    opts.mirror,
  );
  return { suite: source.debianSuite, recipes, targets, src, tag: buildTag(opts.release, opts) };
}

/** The cache key of every layer a build of `opts` needs (nothing is built; no root needed). */
export async function layerKeys(opts: BuildOptions): Promise<Map<string, string>> {
  const { suite, recipes, targets, src } = buildInputs(opts);
  return computeKeys({ recipes, suite, src }, planRecipes(recipes, targets));
}

export async function buildImages(opts: BuildOptions): Promise<BuildResult> {
  const started = Date.now();
  const emit = opts.onEvent ?? ((): void => undefined);
  if (process.getuid?.() !== 0) {
    throw new Error('images build needs root: it runs debootstrap, chroot and overlay mounts');
  }
  const { suite, recipes, targets, src, tag } = buildInputs(opts);
  const cache = opts.cache ?? cachePaths();
  return withLock(
    join(cache.root, 'build.lock'),
    (pid) =>
      emit({
        image: 'cache',
        kind: 'info',
        message: `waiting for the build in process ${pid} (${cache.root})`,
      }),
    async () => {
      await ensureHostTools(emit);
      const oci = new OciLayout(cache.oci);
      await oci.init();
      const plan = planRecipes(recipes, targets);
      const hasChildren = new Set(
        plan.map((r) => r.parent).filter((p): p is NonNullable<typeof p> => !!p),
      );
      const partial = { opts, cache, recipes, suite, src, oci, hasChildren, emit };
      const keys = await computeKeys(partial, plan);
      const ctx: Context = { ...partial, keys };
      const { layers, built, cached } = await buildLayers(ctx, plan);
      const registry = opts.registry ?? defaultImageRegistry;
      const images: ImageRecord[] = [];
      for (const name of targets) {
        const chain = lineage(recipes, name).map((r) => layers.get(r.name) as LayerRecord);
        images.push(await assembleImage(ctx, name, chain, registry, tag));
      }
      const pushed =
        opts.push !== false
          ? await pushToLocalRegistry(oci, images, registry, emit)
          : 'not asked to push';
      return { images, built, cached, seconds: (Date.now() - started) / 1000, registry: pushed };
    },
  );
}
