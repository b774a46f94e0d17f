// New images made from built ones without building them again: the same layers plus one more,
// made the way every layer is (rootfs.ts runStep: an overlay with an empty upper directory,
// chroot, apt's caches mounted), on the image's whole root file system unpacked from its layers.
// fixImage's layer upgrades the packages a scan found to their fixed versions from the release's
// suite, -updates and -security; deriveImage's runs any script (tests make broken images with
// it). The layer is cached by the image's manifest digest and what it does; the new image has a
// tag of its own, its own record and SBOM, and is pushed to the local registry when it answers.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { releaseSource } from '../catalog/releases.ts';
import { openLog, run } from '../util/exec.ts';
import { exists } from '../util/fs.ts';
import { sha256 } from '../util/hash.ts';
import {
  aptCaches,
  buildScriptVersion,
  checkTag,
  dropNewLogs,
  buildError,
  pushToLocalRegistry,
  recordPaths,
  type BuildEvent,
  type ImageRecord,
  type LayerRecord,
} from './build.ts';
import { withLock } from './lock.ts';
import { OciLayout, type ImageConfig, type ImageManifest, type LayerBlob } from './oci.ts';
import { cachePaths, type CachePaths } from './paths.ts';
import { releaseRecipes } from './recipes.ts';
import {
  aptGetUpdate,
  aptSource,
  convertWhiteouts,
  dpkgKeepConfig,
  layerExcludes,
  runStep,
  sourcesFile,
} from './rootfs.ts';
import { unpackImage } from './runc.ts';
import type { Finding } from './scan.ts';
import { cycloneDx, parseDpkgQuery, sbomPythonPackages, type CycloneDx } from './sbom.ts';

export interface DeriveOptions {
  readonly cache?: CachePaths;
  /** Push the new image to the local cluster's registry when it answers (default true). */
  readonly push?: boolean;
  /** Debian mirror for the upgrade (default $STACKANETES_DEBIAN_MIRROR, else Debian's). */
  readonly mirror?: string;
  /** Ignore a cached layer and make it again. */
  readonly noCache?: boolean;
  readonly onEvent?: (e: BuildEvent) => void;
}

export interface DerivedImage {
  /** The new image's record (images/<release>/tags/<tag>/<name>.json). */
  readonly record: ImageRecord;
  readonly reference: string;
  readonly manifestDigest: string;
  /** The new image's CycloneDX SBOM. */
  readonly sbom: string;
  /** The layer came from the cache. */
  readonly cached: boolean;
  readonly seconds: number;
  /** What happened with the registry push. */
  readonly registry: string;
}

/** The `package=version` list a fix installs: each finding's package at its fixed version. */
export function fixPackages(findings: readonly Pick<Finding, 'package' | 'fixed'>[]): string[] {
  return [...new Set(findings.map((f) => `${f.package}=${f.fixed}`))].sort();
}

/** The fix layer's cache key: the image it goes on, what it installs, how layers are made. */
export function fixKey(manifestDigest: string, packages: readonly string[]): string {
  return sha256(
    JSON.stringify({ manifestDigest, packages: [...packages].sort(), buildScriptVersion }),
  );
}

/** A derived layer's cache key: the image it goes on, the script, how layers are made. */
export function deriveKey(manifestDigest: string, script: string): string {
  return sha256(JSON.stringify({ manifestDigest, script, buildScriptVersion }));
}

/** The tag of a reference (registry/name:tag). */
export function referenceTag(reference: string): string {
  return reference.slice(reference.lastIndexOf(':') + 1);
}

/**
 * The fixed image's tag: the old one (without the mark of an earlier fix) and `-fix-` and the
 * key's first 8 hex digits, e.g. 2025.1-fix-3f2a9c01.
 */
export function fixTag(tag: string, key: string): string {
  const base = tag.replace(/-fix-[0-9a-f]{8}$/, '').slice(0, 128 - 13);
  return `${base}-fix-${key.slice(0, 8)}`;
}

/** The script of a fix layer: the release's full apt sources, update, upgrade the packages. */
export function fixScript(sources: string, packages: readonly string[]): string {
  return [
    'rm -f /etc/apt/sources.list',
    `echo ${Buffer.from(sources).toString('base64')} | base64 -d > /etc/apt/sources.list.d/debian.sources`,
    'echo "@@ apt-get update"',
    aptGetUpdate,
    `echo "@@ apt-get install --only-upgrade ${packages.join(' ')}"`,
    `apt-get install --only-upgrade -y -q --no-install-recommends ${dpkgKeepConfig} ${packages.join(' ')}`,
  ].join('\n');
}

interface LayerStep {
  readonly key: string;
  readonly script: string;
  readonly tag: string;
  /** The layer's directory under layers/<release>/, e.g. fix-keystone. */
  readonly kind: 'fix' | 'derived';
  /** One line for progress and the image's history. */
  readonly description: string;
  readonly upgraded?: readonly string[];
}

/** The image's layers as blobs (the manifest's digests, the config's diff IDs). */
function layerBlobs(
  record: ImageRecord,
  manifest: ImageManifest,
  config: ImageConfig,
): LayerBlob[] {
  return manifest.layers.map((l, i) => ({
    ...l,
    diffId: config.rootfs.diff_ids[i] ?? '',
    uncompressedSize: record.layers.find((r) => r.digest === l.digest)?.uncompressedSize ?? 0,
  }));
}

/** Runs the step on the image's root file system, or finds its layer in the cache. */
async function stepLayer(
  record: ImageRecord,
  step: LayerStep,
  cache: CachePaths,
  oci: OciLayout,
  o: DeriveOptions,
  emit: (e: BuildEvent) => void,
): Promise<{ layer: LayerRecord; packagesFile: string }> {
  const dir = join(
    cache.layers,
    record.release,
    `${step.kind}-${record.name}`,
    step.key.slice(0, 16),
  );
  const recordFile = join(dir, 'layer.json');
  const packagesFile = join(dir, 'packages.tsv');
  if (!o.noCache && (await exists(recordFile)) && (await exists(packagesFile))) {
    const layer = JSON.parse(await readFile(recordFile, 'utf8')) as LayerRecord;
    if (await oci.hasBlob(layer.blob.digest)) {
      emit({ image: record.name, kind: 'cached', message: `cached (${step.key.slice(0, 12)})` });
      return { layer: { ...layer, fromCache: true }, packagesFile };
    }
  }
  const started = Date.now();
  emit({ image: record.name, kind: 'progress', message: `unpacking ${record.reference}` });
  const lower = (await unpackImage(cache, record.manifestDigest)).rootfs;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await mkdir(cache.logs, { recursive: true });
  const logFile = join(cache.logs, `${record.release}-${step.kind}-${record.name}.log`);
  await rm(logFile, { force: true });
  const log = openLog(logFile);
  const upper = join(dir, 'upper');
  try {
    emit({ image: record.name, kind: 'progress', message: step.description });
    await runStep(
      {
        lower,
        upper,
        work: join(dir, 'work'),
        merged: join(dir, 'merged'),
        ...aptCaches(cache, record.debianSuite),
        packagesOut: packagesFile,
      },
      `${step.script}\n${dropNewLogs}`,
      log,
    );
    await convertWhiteouts(upper, lower, log);
    emit({ image: record.name, kind: 'progress', message: 'writing layer' });
    const blob = await oci.addLayerFromDir(upper, layerExcludes);
    const layer: LayerRecord = {
      recipe: step.kind,
      key: step.key,
      blob,
      createdAt: new Date().toISOString(),
      seconds: (Date.now() - started) / 1000,
    };
    await writeFile(recordFile, JSON.stringify(layer, null, 2) + '\n');
    emit({
      image: record.name,
      kind: 'done',
      message: `layer ${(blob.size / 1e6).toFixed(1)} MB compressed, ${(blob.uncompressedSize / 1e6).toFixed(1)} MB on disk, ${layer.seconds.toFixed(0)} s`,
    });
    return { layer, packagesFile };
  } catch (err) {
    throw buildError(err, record.name, logFile);
  } finally {
    log.end();
    await run('umount', ['-R', join(dir, 'merged')]).catch(() => undefined);
    for (const d of ['upper', 'work', 'merged'])
      await rm(join(dir, d), { recursive: true, force: true });
  }
}

/** The image with the step's layer on top: stored, recorded with its SBOM, pushed. */
async function addLayer(
  record: ImageRecord,
  step: LayerStep,
  o: DeriveOptions,
): Promise<DerivedImage> {
  const started = Date.now();
  const emit = o.onEvent ?? ((): void => undefined);
  const cache = o.cache ?? cachePaths();
  checkTag(step.tag);
  if (process.getuid?.() !== 0)
    throw new Error('making an image needs root: it runs chroot and overlay mounts');
  const oci = new OciLayout(cache.oci);
  if (!(await oci.hasBlob(record.manifestDigest)))
    throw new Error(
      `${record.reference} (${record.manifestDigest}) is not in the image store ${cache.oci}; build it again`,
    );
  emit({ image: record.name, kind: 'start', message: `${record.reference} + ${step.description}` });
  return withLock(
    join(cache.root, 'build.lock'),
    (pid) =>
      emit({ image: 'cache', kind: 'info', message: `waiting for the build in process ${pid}` }),
    async () => {
      const { layer, packagesFile } = await stepLayer(record, step, cache, oci, o, emit);
      const manifest = await oci.readJsonBlob<ImageManifest>(record.manifestDigest);
      const config = await oci.readJsonBlob<ImageConfig>(manifest.config.digest);
      const colon = record.reference.lastIndexOf(':');
      const repository = record.reference.slice(0, colon);
      const reference = `${repository}:${step.tag}`;
      const packages = parseDpkgQuery(await readFile(packagesFile, 'utf8'));
      const { rootfs: _rootfs, history, ...head } = config;
      const recipe = releaseRecipes(record.release).recipes.find((r) => r.name === record.name);
      const version = recipe?.versionPackage
        ? (packages.find((p) => p.name === recipe.versionPackage)?.version ?? record.version)
        : record.version;
      const stored = await oci.addImage(
        reference,
        {
          ...head,
          created: layer.createdAt,
          config: {
            ...config.config,
            Labels: {
              ...config.config.Labels,
              'org.opencontainers.image.version': version,
              'io.stackanetes.input-hash': layer.key,
              'io.stackanetes.derived-from': `${record.reference}@${record.manifestDigest}`,
            },
          },
          history: [
            ...(history ?? []),
            {
              created: layer.createdAt,
              created_by: `stackanetes images ${step.kind === 'fix' ? 'fix' : 'derive'}`,
              comment: step.description,
            },
          ],
        },
        [...layerBlobs(record, manifest, config), layer.blob],
        {
          ...manifest.annotations,
          'org.opencontainers.image.version': version,
          'org.opencontainers.image.created': layer.createdAt,
        },
      );
      const paths = recordPaths(cache, record.release, record.name, step.tag);
      await mkdir(dirname(paths.record), { recursive: true });
      // The virtualenv's packages (source images) are the original's: the step changes Debian's.
      const python = await readFile(record.sbom, 'utf8')
        .then((t) => sbomPythonPackages(JSON.parse(t) as CycloneDx))
        .catch(() => []);
      const bom = cycloneDx(
        {
          reference,
          manifestDigest: stored.manifest.digest,
          release: record.release,
          debianSuite: record.debianSuite,
          created: layer.createdAt,
        },
        packages,
        python,
      );
      await writeFile(paths.sbom, JSON.stringify(bom, null, 2) + '\n');
      const layers = [
        ...record.layers,
        {
          recipe: step.kind,
          digest: layer.blob.digest,
          size: layer.blob.size,
          uncompressedSize: layer.blob.uncompressedSize,
        },
      ];
      const { upgraded: _upgraded, ...from } = record;
      const next: ImageRecord = {
        ...from,
        reference,
        manifestDigest: stored.manifest.digest,
        configDigest: stored.config.digest,
        layers,
        compressedSize: layers.reduce((a, l) => a + l.size, 0),
        uncompressedSize: layers.reduce((a, l) => a + l.uncompressedSize, 0),
        packageCount: packages.length,
        version,
        builtAt: layer.createdAt,
        inputHash: layer.key,
        sbom: paths.sbom,
        derivedFrom: { reference: record.reference, manifestDigest: record.manifestDigest },
        ...(step.upgraded ? { upgraded: step.upgraded } : {}),
      };
      await writeFile(paths.record, JSON.stringify(next, null, 2) + '\n');
      const registry =
        o.push !== false
          ? await pushToLocalRegistry(
              oci,
              [next],
              repository.slice(0, repository.lastIndexOf('/')),
              emit,
            )
          : 'not asked to push';
      return {
        record: next,
        reference,
        manifestDigest: stored.manifest.digest,
        sbom: paths.sbom,
        cached: !!layer.fromCache,
        seconds: (Date.now() - started) / 1000,
        registry,
      };
    },
  );
}

/**
 * A new image that is `record`'s plus one layer in which `apt-get install --only-upgrade` put
 * every finding's package at its fixed version (from the release's suite, -updates and
 * -security). Tagged `<tag>-fix-<8 hex of the key>`; record and SBOM under
 * images/<release>/tags/<that tag>/.
 */
export async function fixImage(
  record: ImageRecord,
  findings: readonly Pick<Finding, 'package' | 'fixed'>[],
  o: DeriveOptions = {},
): Promise<DerivedImage> {
  const packages = fixPackages(findings);
  if (!packages.length) throw new Error(`${record.reference}: no findings, nothing to fix`);
  const source = releaseSource(record.release);
  const src = aptSource(source.debianSuite, releaseRecipes(record.release).extraSuites, o.mirror);
  const key = fixKey(record.manifestDigest, packages);
  return addLayer(
    record,
    {
      key,
      script: fixScript(sourcesFile(src), packages),
      tag: fixTag(referenceTag(record.reference), key),
      kind: 'fix',
      description: `apt-get install --only-upgrade ${packages.length} packages (${packages.slice(0, 3).join(' ')}${packages.length > 3 ? ' …' : ''})`,
      upgraded: packages,
    },
    o,
  );
}

export interface DeriveStep {
  /** bash, run as root in the image's root file system (apt's caches and lists mounted). */
  readonly script: string;
  /** The new image's tag (same repository). */
  readonly tag: string;
  /** What the layer does, for progress and the image's history. */
  readonly description: string;
}

/** A new image that is `record`'s plus one layer in which `step.script` ran. */
export async function deriveImage(
  record: ImageRecord,
  step: DeriveStep,
  o: DeriveOptions = {},
): Promise<DerivedImage> {
  return addLayer(
    record,
    {
      key: deriveKey(record.manifestDigest, step.script),
      script: step.script,
      tag: step.tag,
      kind: 'derived',
      description: step.description,
    },
    o,
  );
}
