// `stackanetes images …`: build Kolla-compatible images from Debian packages, list them, show
// their SBOMs, scan them for packages with security fixes, export them as an OCI archive.
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { defaultImageRegistry } from '../catalog/images.ts';
import { releaseSource, releaseSources } from '../catalog/releases.ts';
import { CliError } from './errors.ts';
import {
  buildableImages,
  buildImages,
  buildTag,
  checkTag,
  findRecord,
  ImageBuildError,
  listRecords,
  readRecord,
  recordPaths,
  type BuildEvent,
  type ImageRecord,
} from '../images/build.ts';
import { fixImage, type DerivedImage } from '../images/fix.ts';
import { cachePaths } from '../images/paths.ts';
import { OciLayout } from '../images/oci.ts';
import { sbomPackages, sbomPythonPackages, type CycloneDx } from '../images/sbom.ts';
import { prune } from '../images/prune.ts';
import { buildGuestImage } from '../images/guest.ts';
import { releaseRecipes } from '../images/recipes.ts';
import { aptSource } from '../images/rootfs.ts';
import { scanImages, type ScanImage, type ScanReport } from '../images/scan.ts';
import { progressLines, type LineKind } from '../util/progress.ts';

const defaultRelease = '2025.1';

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(0)} MB`;
}

function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function checkRelease(release: string, exitCode = 1): void {
  if (!releaseSources[release]) {
    throw new CliError(
      `--release ${JSON.stringify(release)} is not known; known releases: ${Object.keys(releaseSources).join(', ')}`,
      exitCode,
    );
  }
}

function checkImages(names: readonly string[], flag: string, exitCode = 1): void {
  const unknown = names.filter((n) => !buildableImages.includes(n));
  if (unknown.length) {
    throw new CliError(
      `${flag}: unknown image ${unknown.join(', ')}; images: ${buildableImages.join(', ')}`,
      exitCode,
    );
  }
}

function notBuilt(image: string, release: string, tag: string, exitCode = 1): CliError {
  const normal = releaseSources[release]?.imageTag;
  return new CliError(
    `${image} (${release}${tag === normal ? '' : `, tag ${tag}`}) has not been built; run \`stackanetes images build --only ${image}${tag === normal ? '' : tag === `${normal}-without-updates` ? ' --without-updates' : ` --tag ${tag}`}\``,
    exitCode,
  );
}

/** --tag, checked; the release's own tag when absent. */
function tagFlag(release: string, tag: string | undefined, exitCode = 1): string {
  if (tag === undefined) return releaseSource(release).imageTag;
  try {
    checkTag(tag);
  } catch (err) {
    throw new CliError(`--tag: ${(err as Error).message}`, exitCode);
  }
  return tag;
}

/** An argument that names an image by reference or manifest digest rather than by name. */
function isReference(arg: string): boolean {
  return arg.includes(':') || arg.includes('@');
}

interface Target {
  readonly record: ImageRecord;
  readonly sbom: string;
}

/**
 * The images a command works on: each argument an image name (of the release and tag), a
 * reference or a manifest digest; none → every built image of the release and tag.
 */
async function imageTargets(
  args: readonly string[],
  release: string,
  tag: string,
  exitCode: number,
): Promise<Target[]> {
  const cache = cachePaths();
  const sbomOf = (r: ImageRecord): string => recordPaths(cache, release, r.name, tag).sbom;
  if (!args.length) {
    const records = (await listRecords(cache, { tag })).filter((r) => r.release === release);
    if (!records.length) {
      const normal = releaseSource(release).imageTag;
      throw new CliError(
        `no image of ${release}${tag === normal ? '' : ` tagged ${tag}`} has been built (${cache.root}); run \`stackanetes images build\``,
        exitCode,
      );
    }
    return records.map((record) => ({ record, sbom: sbomOf(record) }));
  }
  checkImages(
    args.filter((a) => !isReference(a)),
    'image',
    exitCode,
  );
  const out: Target[] = [];
  for (const arg of new Set(args)) {
    if (isReference(arg)) {
      const record = await findRecord(cache, arg);
      if (!record)
        throw new CliError(
          `no built image has the reference or manifest digest ${arg} (\`stackanetes images list --all-tags\` lists them)`,
          exitCode,
        );
      out.push({ record, sbom: record.sbom });
      continue;
    }
    const record = await readRecord(cache, release, arg, tag);
    if (!record) throw notBuilt(arg, release, tag, exitCode);
    out.push({ record, sbom: sbomOf(record) });
  }
  return out;
}

const scanTarget = (t: Target): ScanImage => ({
  name: t.record.name,
  reference: t.record.reference,
  sbom: t.sbom,
});

/** Scans the images against the release's -updates and -security; any failure is a CliError 2. */
export async function scanOrExit(
  release: string,
  targets: readonly ScanImage[],
  onProgress: (m: string) => void,
): Promise<ScanReport> {
  const recipes = releaseRecipes(release);
  if (!recipes.extraSuites.length) {
    throw new CliError(`${release} has no -security or -updates suite to compare with`, 2);
  }
  try {
    return await scanImages({
      images: targets,
      source: aptSource(releaseSource(release).debianSuite, recipes.extraSuites),
      onProgress,
    });
  } catch (err) {
    // whatever stopped it (a ScanError, or e.g. a cache that cannot be written): 2, not 1
    throw new CliError(err instanceof Error ? err.message : String(err), 2);
  }
}

function scanSummary(report: ScanReport): string {
  const packages = report.images.reduce((n, i) => n + i.packages, 0);
  const suites = report.indexes
    .map((i) => `${i.suite} of ${i.date}${i.cached ? ' (cached)' : ''}`)
    .join(', ');
  return `${report.images.length} images, ${packages} packages against ${suites}: ${report.findings} findings, ${report.cves} CVEs (${report.seconds.toFixed(1)} s)`;
}

function printScan(report: ScanReport): void {
  for (const img of report.images) {
    process.stdout.write(
      `${img.name} (${img.reference}): ${img.findings.length} packages with fixes, ${img.cves.length} CVEs\n`,
    );
    const width = Math.max(0, ...img.findings.map((f) => f.package.length));
    const from = Math.max(0, ...img.findings.map((f) => f.installed.length));
    const to = Math.max(0, ...img.findings.map((f) => f.fixed.length));
    for (const f of img.findings) {
      process.stdout.write(
        `  ${f.package.padEnd(width)}  ${f.installed.padEnd(from)} → ${f.fixed.padEnd(to)}  ${f.suite}  ${f.cves.join(' ') || (f.note ?? 'no CVE named')}\n`,
      );
    }
  }
}

/** `images build`'s events as progress lines: `✔ [ 312s] keystone   layer 45 MB compressed, …`. */
function progressPrinter(): (e: BuildEvent) => void {
  const line = progressLines();
  const kinds: Record<BuildEvent['kind'], LineKind> = {
    start: 'start',
    progress: 'note',
    info: 'note',
    done: 'done',
    cached: 'skip',
    warn: 'warn',
  };
  return (e) => line(kinds[e.kind], `${e.image.padEnd(27)} ${e.message}`);
}

interface BuildFlags {
  release: string;
  only?: string[];
  registry: string;
  tag?: string;
  cache: boolean;
  push: boolean;
  withoutUpdates?: boolean;
}

interface ListFlags {
  json?: boolean;
  tag?: string;
  allTags?: boolean;
}

interface SbomFlags {
  release: string;
  tag?: string;
  json?: boolean;
}

interface ScanFlags {
  release: string;
  tag?: string;
  json?: boolean;
}

interface FixFlags {
  release: string;
  tag?: string;
  json?: boolean;
  push: boolean;
}

interface ExportFlags {
  release: string;
  only?: string[];
  output: string;
}

export function register(program: Command): void {
  const images = program
    .command('images')
    .description('Kolla-compatible OpenStack images built from Debian packages, with SBOMs');

  images
    .command('build')
    .description(
      'build the images of a release (base → openstack-base → service layers), cached by input hash, and push them to the local cluster registry when it answers',
    )
    .option('--release <release>', 'OpenStack release', defaultRelease)
    .option(
      '--only <images>',
      'comma-separated images to build (their parent layers come along)',
      parseList,
    )
    .option('--registry <prefix>', 'image name prefix', defaultImageRegistry)
    .option('--tag <tag>', "image tag (default: the release's tag)")
    .option('--no-cache', 'build every layer again')
    .option('--no-push', "do not push to the local cluster's registry")
    .option(
      '--without-updates',
      "build from the release's Debian suite as released: no -updates or -security sources, no upgrade (images with known fixes missing, for tests); tag <release>-without-updates unless --tag says otherwise",
    )
    .addHelpText(
      'after',
      `
Examples:
  $ sudo npx stackanetes images build
  $ sudo npx stackanetes images build --release 2025.1 --only keystone,mariadb
  $ sudo npx stackanetes images build --only keystone --without-updates   # keystone:2025.1-without-updates
The base layer gets the -security and -updates versions of what debootstrap installed.
Cache: ~/.cache/stackanetes/images ($STACKANETES_CACHE/images); logs under logs/.
Records: images/<release>/ for the release's tag, images/<release>/tags/<tag>/ for any other.
Mirror: $STACKANETES_DEBIAN_MIRROR (default http://deb.debian.org/debian).`,
    )
    .action(async (flags: BuildFlags) => {
      checkRelease(flags.release);
      if (flags.only) checkImages(flags.only, '--only');
      let tag: string;
      try {
        tag = buildTag(flags.release, flags);
      } catch (err) {
        throw new CliError(`--tag: ${(err as Error).message}`);
      }
      try {
        const result = await buildImages({
          release: flags.release,
          ...(flags.only ? { only: flags.only } : {}),
          registry: flags.registry,
          tag,
          noCache: !flags.cache,
          push: flags.push,
          ...(flags.withoutUpdates ? { withoutUpdates: true } : {}),
          onEvent: progressPrinter(),
        });
        for (const i of result.images) {
          process.stdout.write(
            `${i.reference.padEnd(55)} ${i.manifestDigest.slice(0, 19)}  ${mb(i.uncompressedSize).padStart(7)}  ${i.packageCount} packages\n`,
          );
        }
        process.stderr.write(
          `${result.images.length} images in ${result.seconds.toFixed(1)} s (${result.built.length} layers built, ${result.cached.length} cached); ${result.registry}\n`,
        );
      } catch (err) {
        if (err instanceof ImageBuildError) throw new CliError(err.message);
        throw err;
      }
    });

  images
    .command('guest')
    .description(
      'build the guest image servers boot (Debian cloud kernel, busybox, dropbear; DHCP, metadata, SSH), cached by input hash',
    )
    .option('--release <release>', 'OpenStack release (its Debian suite)', defaultRelease)
    .option('--no-cache', 'build it again')
    .option('--json', 'print the image record as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ sudo npx stackanetes images guest          # prints the raw disk's path
  $ sudo npx stackanetes images guest --json   # path, size, sha256, kernel, package versions
Cache: ~/.cache/stackanetes/guest ($STACKANETES_CACHE/guest). \`stackanetes up\` uploads it to Glance.`,
    )
    .action(async (flags: { release: string; cache: boolean; json?: boolean }) => {
      checkRelease(flags.release);
      const line = progressLines();
      const img = await buildGuestImage({
        release: flags.release,
        noCache: !flags.cache,
        onProgress: (m) => line('note', m),
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify(img, null, 2) + '\n');
        return;
      }
      process.stdout.write(`${img.disk}\n`);
      process.stderr.write(
        `${img.fromCache ? 'cached' : `built in ${img.seconds.toFixed(1)} s`}: ${mb(img.diskBytes)} raw disk, kernel ${img.kernelVersion}, ${img.packages.length} Debian packages (${img.debianSuite})\n`,
      );
    });

  images
    .command('list')
    .description('list the built images with their size, package count and digest')
    .option('--json', 'print the image records as JSON')
    .option('--tag <tag>', "the images of this tag (default: each release's own tag)")
    .option('--all-tags', 'the images of every tag (-without-updates, fixed images, …)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ npx stackanetes images list\n  $ npx stackanetes images list --tag 2025.1-without-updates\n  $ npx stackanetes images list --all-tags',
    )
    .action(async (flags: ListFlags) => {
      if (flags.tag !== undefined) tagFlag(defaultRelease, flags.tag);
      const records = await listRecords(cachePaths(), {
        ...(flags.tag !== undefined ? { tag: flags.tag } : {}),
        ...(flags.allTags ? { allTags: true } : {}),
      });
      if (flags.json) {
        process.stdout.write(JSON.stringify(records, null, 2) + '\n');
        return;
      }
      if (!records.length) {
        process.stderr.write('no images built yet; run `stackanetes images build`\n');
        return;
      }
      process.stdout.write(
        `${'REFERENCE'.padEnd(55)} ${'DIGEST'.padEnd(19)}  ${'SIZE'.padStart(7)}  ${'GZIP'.padStart(7)}  PKGS  ${'USER'.padEnd(10)} VERSION\n`,
      );
      for (const r of records) {
        process.stdout.write(
          `${r.reference.padEnd(55)} ${r.manifestDigest.slice(0, 19)}  ${mb(r.uncompressedSize).padStart(7)}  ${mb(r.compressedSize).padStart(7)}  ${String(r.packageCount).padStart(4)}  ${r.user.padEnd(10)} ${r.version}\n`,
        );
      }
    });

  images
    .command('sbom')
    .description(
      'print the Debian packages of an image with their exact versions (CycloneDX with --json)',
    )
    .argument('<image>', 'image name (e.g. keystone), reference or manifest digest')
    .option('--release <release>', 'OpenStack release', defaultRelease)
    .option('--tag <tag>', "the image's tag (default: the release's)")
    .option('--json', 'print the CycloneDX 1.5 document')
    .addHelpText(
      'after',
      '\nExamples:\n  $ npx stackanetes images sbom keystone | grep python3-keystone\n  $ npx stackanetes images sbom mariadb --json > mariadb.cdx.json\n  $ npx stackanetes images sbom keystone --tag 2025.1-without-updates\n  $ npx stackanetes images sbom localhost:5001/stackanetes/keystone:2025.1-fix-3f2a9c01',
    )
    .action(async (image: string, flags: SbomFlags) => {
      checkRelease(flags.release);
      const tag = tagFlag(flags.release, flags.tag);
      const [target] = await imageTargets([image], flags.release, tag, 1);
      const { record, sbom } = target!;
      const text = await readFile(sbom, 'utf8');
      if (flags.json) {
        process.stdout.write(text);
        return;
      }
      const bom = JSON.parse(text) as CycloneDx;
      const debian = sbomPackages(bom);
      const python = sbomPythonPackages(bom);
      process.stdout.write(`# ${record.reference} ${record.manifestDigest}\n`);
      process.stdout.write(
        `# ${debian.length} Debian packages (${record.debianSuite})${python.length ? `, ${python.length} Python packages (pypi, in the virtualenv)` : ''}; CycloneDX: ${record.sbom}\n`,
      );
      for (const p of debian) {
        process.stdout.write(
          `${p.name.padEnd(44)} ${p.version.padEnd(36)} ${p.arch.padEnd(6)} ${p.source}\n`,
        );
      }
      for (const p of python) {
        process.stdout.write(`${p.name.padEnd(44)} ${p.version.padEnd(36)} pypi\n`);
      }
    });

  images
    .command('scan')
    .description(
      "report the Debian packages of built images that have a newer version in the release's -security or -updates suite, with the CVEs the newer version's changelog names",
    )
    .argument(
      '[images...]',
      'image names, references or manifest digests (default: every built image of the release and tag)',
    )
    .option('--release <release>', 'OpenStack release', defaultRelease)
    .option('--tag <tag>', "the images' tag (default: the release's)")
    .option('--json', 'print the report as JSON')
    // a mistyped option is "could not scan" (2), not "findings" (1); help is 0
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes images scan
  $ npx stackanetes images scan keystone mariadb
  $ npx stackanetes images scan keystone --tag 2025.1-without-updates
  $ npx stackanetes images scan --json | jq '.images[].findings[].cves[]'
Exit status: 0 no package has a newer version, 1 some have (findings), 2 could not scan.
Reads the SBOMs \`images build\` wrote and the suites' InRelease and Packages indexes from
$STACKANETES_DEBIAN_MIRROR (default http://deb.debian.org/debian; security: debian-security
beside it, or $STACKANETES_DEBIAN_SECURITY_MIRROR). Indexes and changelogs are cached in
~/.cache/stackanetes/scan ($STACKANETES_CACHE/scan); the InRelease files are fetched every time.`,
    )
    .action(async (names: string[], flags: ScanFlags) => {
      checkRelease(flags.release, 2);
      const tag = tagFlag(flags.release, flags.tag, 2);
      const targets = await imageTargets(names, flags.release, tag, 2);
      const line = progressLines();
      const report = await scanOrExit(flags.release, targets.map(scanTarget), (m) =>
        line('note', m),
      );
      if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else printScan(report);
      process.stderr.write(`${scanSummary(report)}\n`);
      if (report.findings) process.exitCode = 1;
    });

  images
    .command('fix')
    .description(
      'make new images of built ones in which the packages `images scan` finds are upgraded to their fixed versions (the same layers plus one), and scan the results',
    )
    .argument(
      '[images...]',
      'image names, references or manifest digests (default: every built image of the release and tag)',
    )
    .option('--release <release>', 'OpenStack release', defaultRelease)
    .option('--tag <tag>', "the images' tag (default: the release's)")
    .option('--no-push', "do not push the new images to the local cluster's registry")
    .option('--json', 'print what was made and the scan of the results as JSON')
    // a mistyped option is "could not" (2), not "findings remain" (1); help is 0
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .addHelpText(
      'after',
      `
Examples:
  $ sudo npx stackanetes images fix                      # every image of the release's tag
  $ sudo npx stackanetes images fix keystone --tag 2025.1-without-updates
  $ sudo npx stackanetes images fix localhost:5001/stackanetes/keystone:2025.1 --json
Each image with findings gets one more layer in which
  apt-get install --only-upgrade <package>=<fixed version> …
ran (the release's suite, -updates and -security) on its root file system. The new image is
<repository>:<tag>-fix-<8 hex of the layer's key> (the key: the image's manifest digest, the
packages, the build script version; cached), recorded under images/<release>/tags/<that tag>/
with its SBOM, and pushed to the local registry when it answers. Images without findings stay.
Prints old → new reference and digest per image, then the scan of the results.
Exit status: 0 the results have no findings, 1 some remain, 2 could not (the reason is printed).`,
    )
    .action(async (names: string[], flags: FixFlags) => {
      checkRelease(flags.release, 2);
      const tag = tagFlag(flags.release, flags.tag, 2);
      const targets = await imageTargets(names, flags.release, tag, 2);
      const line = progressLines();
      const before = await scanOrExit(flags.release, targets.map(scanTarget), (m) =>
        line('note', m),
      );
      const onEvent = progressPrinter();
      const made: { target: Target; upgraded: number; fixed?: DerivedImage }[] = [];
      const started = Date.now();
      for (const [i, target] of targets.entries()) {
        const findings = before.images[i]?.findings ?? [];
        if (!findings.length) {
          made.push({ target, upgraded: 0 });
          continue;
        }
        try {
          const fixed = await fixImage(target.record, findings, { push: flags.push, onEvent });
          made.push({ target, upgraded: fixed.record.upgraded?.length ?? 0, fixed });
        } catch (err) {
          throw new CliError(
            `could not fix ${target.record.reference}: ${err instanceof Error ? err.message : String(err)}`,
            2,
          );
        }
      }
      const after = await scanOrExit(
        flags.release,
        made.map((m) =>
          m.fixed
            ? { name: m.target.record.name, reference: m.fixed.reference, sbom: m.fixed.sbom }
            : scanTarget(m.target),
        ),
        (m) => line('note', m),
      );
      if (flags.json) {
        const images = made.map((m) => ({
          name: m.target.record.name,
          from: {
            reference: m.target.record.reference,
            manifestDigest: m.target.record.manifestDigest,
          },
          ...(m.fixed
            ? {
                to: {
                  reference: m.fixed.reference,
                  manifestDigest: m.fixed.manifestDigest,
                  sbom: m.fixed.sbom,
                  cached: m.fixed.cached,
                  registry: m.fixed.registry,
                },
                upgraded: m.fixed.record.upgraded ?? [],
              }
            : {}),
        }));
        process.stdout.write(JSON.stringify({ images, scan: after }, null, 2) + '\n');
      } else {
        for (const m of made) {
          const from = `${m.target.record.reference} (${m.target.record.manifestDigest.slice(0, 19)})`;
          process.stdout.write(
            m.fixed
              ? `${m.target.record.name}: ${from} → ${m.fixed.reference} (${m.fixed.manifestDigest.slice(0, 19)}), ${m.upgraded} packages upgraded${m.fixed.cached ? ' (cached)' : ''}\n`
              : `${m.target.record.name}: ${from} has no findings: not changed\n`,
          );
        }
        printScan(after);
      }
      const fixed = made.filter((m) => m.fixed).length;
      process.stderr.write(
        `fixed ${fixed} of ${made.length} images in ${((Date.now() - started) / 1000).toFixed(1)} s; results: ${scanSummary(after)}\n`,
      );
      if (after.findings) process.exitCode = 1;
    });

  images
    .command('export')
    .description(
      'write built images as one OCI archive (for ctr import, skopeo copy oci-archive:, podman load)',
    )
    .option('--release <release>', 'OpenStack release', defaultRelease)
    .option(
      '--only <images>',
      'comma-separated images (default: all built for the release)',
      parseList,
    )
    .requiredOption('-o, --output <file>', 'archive to write')
    .addHelpText(
      'after',
      '\nExample:\n  $ npx stackanetes images export --only keystone,mariadb -o openstack.oci.tar\n  $ skopeo copy oci-archive:openstack.oci.tar:localhost:5001/stackanetes/keystone:2025.1 docker://registry.example/keystone:2025.1',
    )
    .action(async (flags: ExportFlags) => {
      checkRelease(flags.release);
      if (flags.only) checkImages(flags.only, '--only');
      const cache = cachePaths();
      const records = (await listRecords(cache)).filter(
        (r) => r.release === flags.release && (!flags.only || flags.only.includes(r.name)),
      );
      if (!records.length)
        throw new CliError('no built images match; run `stackanetes images build` first');
      await new OciLayout(cache.oci).exportArchive(
        records.map((r) => r.reference),
        flags.output,
      );
      process.stderr.write(`wrote ${records.length} images to ${flags.output}\n`);
    });

  images
    .command('prune')
    .description('remove layers, blobs and unpacked root file systems no tagged image uses')
    .addHelpText('after', '\nExample:\n  $ sudo npx stackanetes images prune')
    .action(async () => {
      const r = await prune(cachePaths());
      process.stderr.write(`removed ${r.removed.length} entries, ${mb(r.bytes)}\n`);
    });
}
