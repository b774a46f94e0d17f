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
  ImageBuildError,
  listRecords,
  readRecord,
  recordPaths,
  type BuildEvent,
} from '../images/build.ts';
import { cachePaths } from '../images/paths.ts';
import { OciLayout } from '../images/oci.ts';
import { sbomPackages, type CycloneDx } from '../images/sbom.ts';
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

function notBuilt(image: string, release: string, exitCode = 1): CliError {
  return new CliError(
    `${image} (${release}) has not been built; run \`stackanetes images build --only ${image}\``,
    exitCode,
  );
}

/** The images `images scan` looks at: the names given, else every built image of the release. */
async function scanTargets(names: readonly string[], release: string): Promise<ScanImage[]> {
  const cache = cachePaths();
  const target = (r: { name: string; reference: string }): ScanImage => ({
    name: r.name,
    reference: r.reference,
    sbom: recordPaths(cache, release, r.name).sbom,
  });
  if (!names.length) {
    const records = (await listRecords(cache)).filter((r) => r.release === release);
    if (!records.length) {
      throw new CliError(
        `no image of ${release} has been built (${cache.root}); run \`stackanetes images build\``,
        2,
      );
    }
    return records.map(target);
  }
  checkImages(names, 'image', 2);
  const out: ScanImage[] = [];
  for (const name of new Set(names)) {
    const record = await readRecord(cache, release, name);
    if (!record) throw notBuilt(name, release, 2);
    out.push(target(record));
  }
  return out;
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
}

interface ListFlags {
  json?: boolean;
}

interface SbomFlags {
  release: string;
  json?: boolean;
}

interface ScanFlags {
  release: string;
  json?: boolean;
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
    .addHelpText(
      'after',
      `
Examples:
  $ sudo npx stackanetes images build
  $ sudo npx stackanetes images build --release 2025.1 --only keystone,mariadb
Cache: ~/.cache/stackanetes/images ($STACKANETES_CACHE/images); logs under logs/.
Mirror: $STACKANETES_DEBIAN_MIRROR (default http://deb.debian.org/debian).`,
    )
    .action(async (flags: BuildFlags) => {
      checkRelease(flags.release);
      if (flags.only) checkImages(flags.only, '--only');
      try {
        const result = await buildImages({
          release: flags.release,
          ...(flags.only ? { only: flags.only } : {}),
          registry: flags.registry,
          ...(flags.tag ? { tag: flags.tag } : {}),
          noCache: !flags.cache,
          push: flags.push,
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
    .addHelpText('after', '\nExample:\n  $ npx stackanetes images list')
    .action(async (flags: ListFlags) => {
      const records = await listRecords(cachePaths());
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
    .argument('<image>', 'image name, e.g. keystone')
    .option('--release <release>', 'OpenStack release', defaultRelease)
    .option('--json', 'print the CycloneDX 1.5 document')
    .addHelpText(
      'after',
      '\nExamples:\n  $ npx stackanetes images sbom keystone | grep python3-keystone\n  $ npx stackanetes images sbom mariadb --json > mariadb.cdx.json',
    )
    .action(async (image: string, flags: SbomFlags) => {
      checkRelease(flags.release);
      checkImages([image], 'image');
      const cache = cachePaths();
      const record = await readRecord(cache, flags.release, image);
      if (!record) throw notBuilt(image, flags.release);
      const text = await readFile(recordPaths(cache, flags.release, image).sbom, 'utf8');
      if (flags.json) {
        process.stdout.write(text);
        return;
      }
      const bom = JSON.parse(text) as CycloneDx;
      process.stdout.write(`# ${record.reference} ${record.manifestDigest}\n`);
      process.stdout.write(
        `# ${bom.components.length} Debian packages (${record.debianSuite}); CycloneDX: ${record.sbom}\n`,
      );
      for (const p of sbomPackages(bom)) {
        process.stdout.write(
          `${p.name.padEnd(44)} ${p.version.padEnd(36)} ${p.arch.padEnd(6)} ${p.source}\n`,
        );
      }
    });

  images
    .command('scan')
    .description(
      "report the Debian packages of built images that have a newer version in the release's -security or -updates suite, with the CVEs the newer version's changelog names",
    )
    .argument('[images...]', 'image names (default: every built image of the release)')
    .option('--release <release>', 'OpenStack release', defaultRelease)
    .option('--json', 'print the report as JSON')
    // a mistyped option is "could not scan" (2), not "findings" (1); help is 0
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .addHelpText(
      'after',
      `
Examples:
  $ npx stackanetes images scan
  $ npx stackanetes images scan keystone mariadb
  $ npx stackanetes images scan --json | jq '.images[].findings[].cves[]'
Exit status: 0 no package has a newer version, 1 some have (findings), 2 could not scan.
Reads the SBOMs \`images build\` wrote and the suites' InRelease and Packages indexes from
$STACKANETES_DEBIAN_MIRROR (default http://deb.debian.org/debian; security: debian-security
beside it, or $STACKANETES_DEBIAN_SECURITY_MIRROR). Indexes and changelogs are cached in
~/.cache/stackanetes/scan ($STACKANETES_CACHE/scan); the InRelease files are fetched every time.`,
    )
    .action(async (names: string[], flags: ScanFlags) => {
      checkRelease(flags.release, 2);
      const targets = await scanTargets(names, flags.release);
      const recipes = releaseRecipes(flags.release);
      if (!recipes.extraSuites.length) {
        throw new CliError(
          `${flags.release} has no -security or -updates suite to compare with`,
          2,
        );
      }
      const line = progressLines();
      let report: ScanReport;
      try {
        report = await scanImages({
          images: targets,
          source: aptSource(releaseSource(flags.release).debianSuite, recipes.extraSuites),
          onProgress: (m) => line('note', m),
        });
      } catch (err) {
        // whatever stopped it (a ScanError, or e.g. a cache that cannot be written): 2, not 1
        throw new CliError(err instanceof Error ? err.message : String(err), 2);
      }
      if (flags.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
      else printScan(report);
      const packages = report.images.reduce((n, i) => n + i.packages, 0);
      const suites = report.indexes
        .map((i) => `${i.suite} of ${i.date}${i.cached ? ' (cached)' : ''}`)
        .join(', ');
      process.stderr.write(
        `${report.images.length} images, ${packages} packages against ${suites}: ${report.findings} findings, ${report.cves} CVEs (${report.seconds.toFixed(1)} s)\n`,
      );
      if (report.findings) process.exitCode = 1;
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
