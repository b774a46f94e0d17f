// `stackanetes images …`: build Kolla-compatible images from Debian packages, list them, show
// their SBOMs, export them as an OCI archive.
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { defaultImageRegistry } from '../catalog/images.ts';
import { releaseSources } from '../catalog/releases.ts';
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

function checkRelease(release: string): void {
  if (!releaseSources[release]) {
    throw new CliError(
      `--release ${JSON.stringify(release)} is not known; known releases: ${Object.keys(releaseSources).join(', ')}`,
    );
  }
}

function checkImages(names: readonly string[], flag: string): void {
  const unknown = names.filter((n) => !buildableImages.includes(n));
  if (unknown.length) {
    throw new CliError(
      `${flag}: unknown image ${unknown.join(', ')}; images: ${buildableImages.join(', ')}`,
    );
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
      if (!record) {
        throw new CliError(
          `${image} (${flags.release}) has not been built; run \`stackanetes images build --only ${image}\``,
        );
      }
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
