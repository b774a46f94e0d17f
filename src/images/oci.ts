// An OCI image layout on disk (https://github.com/opencontainers/image-spec/blob/main/image-layout.md),
// written by hand: blobs addressed by their sha256 digest (node:crypto), manifests and an
// index.json whose entries carry the image reference. One layout holds every image built here,
// so layers shared by several images are stored once.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

export const mediaTypes = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** Annotation containerd's importer reads for the full image name. */
export const containerdNameAnnotation = 'io.containerd.image.name';
export const refNameAnnotation = 'org.opencontainers.image.ref.name';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface LayerBlob extends Descriptor {
  /** sha256 of the uncompressed tar: what the image config's rootfs.diff_ids lists. */
  diffId: string;
  uncompressedSize: number;
}

export interface ImageConfig {
  /** Absent in the local cluster's own images: the same root file system, the same image. */
  created?: string;
  architecture: string;
  os: string;
  config: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[];
    Cmd?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
    ExposedPorts?: Record<string, Record<string, never>>;
    StopSignal?: string;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: { created: string; created_by: string; comment?: string }[];
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

function hashingStream(hash: ReturnType<typeof createHash>, counter: { n: number }): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      counter.n += chunk.length;
      cb(null, chunk);
    },
  });
}

export class OciLayout {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = dir;
  }

  async init(): Promise<void> {
    await mkdir(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(this.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    try {
      await stat(join(this.dir, 'index.json'));
    } catch {
      await this.writeIndex({ schemaVersion: 2, mediaType: mediaTypes.index, manifests: [] });
    }
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  }

  async hasBlob(digest: string): Promise<boolean> {
    try {
      await stat(this.blobPath(digest));
      return true;
    } catch {
      return false;
    }
  }

  async writeJsonBlob(mediaType: string, value: unknown): Promise<Descriptor> {
    const bytes = Buffer.from(JSON.stringify(value));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    await writeFile(this.blobPath(digest), bytes);
    return { mediaType, digest, size: bytes.length };
  }

  async readJsonBlob<T>(digest: string): Promise<T> {
    return JSON.parse(await readFile(this.blobPath(digest), 'utf8')) as T;
  }

  /**
   * Tars `dir` (numeric owners, security.capability xattrs kept), gzips it and stores the blob.
   * `excludes` are tar patterns relative to the directory, e.g. `./proc/*`.
   */
  async addLayerFromDir(dir: string, excludes: readonly string[] = []): Promise<LayerBlob> {
    const tmp = join(this.dir, 'blobs', `.tmp-${process.pid}-${Date.now()}`);
    const args = [
      '--create',
      '--file=-',
      '--directory',
      dir,
      '--format=pax',
      '--numeric-owner',
      '--sort=name',
      '--xattrs',
      '--xattrs-include=security.capability',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      ...excludes.map((e) => `--exclude=${e}`),
      '.',
    ];
    const tar = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    tar.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve, reject) => {
      tar.on('error', reject);
      tar.on('close', resolve);
    });
    const rawHash = createHash('sha256');
    const gzHash = createHash('sha256');
    const raw = { n: 0 };
    const gz = { n: 0 };
    await pipeline(
      tar.stdout,
      hashingStream(rawHash, raw),
      createGzip({ level: 3 }),
      hashingStream(gzHash, gz),
      createWriteStream(tmp),
    );
    const code = await exited;
    if (code !== 0) {
      await rm(tmp, { force: true });
      throw new Error(`tar of ${dir} exited with ${code}: ${stderr.trim()}`);
    }
    const digest = `sha256:${gzHash.digest('hex')}`;
    await rename(tmp, this.blobPath(digest));
    return {
      mediaType: mediaTypes.layerGzip,
      digest,
      size: gz.n,
      diffId: `sha256:${rawHash.digest('hex')}`,
      uncompressedSize: raw.n,
    };
  }

  /**
   * Stores an image made of `layers` (bottom first): its config, which lists their diff IDs, and
   * its manifest; then points `reference` at it.
   */
  async addImage(
    reference: string,
    config: Omit<ImageConfig, 'rootfs'>,
    layers: readonly LayerBlob[],
    annotations?: Record<string, string>,
  ): Promise<{ config: Descriptor; manifest: Descriptor }> {
    // rootfs before history, where the image builds always wrote it: the same digests as before.
    const { history, ...head } = config;
    const full: ImageConfig = {
      ...head,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      ...(history ? { history } : {}),
    };
    const configDesc = await this.writeJsonBlob(mediaTypes.config, full);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: mediaTypes.manifest,
      config: configDesc,
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
      ...(annotations ? { annotations } : {}),
    };
    const manifestDesc = await this.writeJsonBlob(mediaTypes.manifest, manifest);
    await this.tag(reference, manifestDesc);
    return { config: configDesc, manifest: manifestDesc };
  }

  async readIndex(): Promise<ImageIndex> {
    try {
      return JSON.parse(await readFile(join(this.dir, 'index.json'), 'utf8')) as ImageIndex;
    } catch {
      return { schemaVersion: 2, mediaType: mediaTypes.index, manifests: [] };
    }
  }

  async writeIndex(index: ImageIndex): Promise<void> {
    const tmp = join(this.dir, `.index.json.${process.pid}`);
    await writeFile(tmp, JSON.stringify(index, null, 2) + '\n');
    await rename(tmp, join(this.dir, 'index.json'));
  }

  /** Points `reference` (registry/name:tag) at a manifest, replacing what it pointed at. */
  async tag(reference: string, manifest: Descriptor): Promise<void> {
    const index = await this.readIndex();
    index.manifests = index.manifests.filter(
      (m) => m.annotations?.[containerdNameAnnotation] !== reference,
    );
    index.manifests.push({
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.size,
      annotations: {
        [containerdNameAnnotation]: reference,
        [refNameAnnotation]: reference.slice(reference.lastIndexOf(':') + 1),
      },
    });
    index.manifests.sort((a, b) =>
      (a.annotations?.[containerdNameAnnotation] ?? '').localeCompare(
        b.annotations?.[containerdNameAnnotation] ?? '',
      ),
    );
    await this.writeIndex(index);
  }

  async resolve(reference: string): Promise<Descriptor | undefined> {
    const index = await this.readIndex();
    return index.manifests.find((m) => m.annotations?.[containerdNameAnnotation] === reference);
  }

  /**
   * Writes an OCI archive (a tar of an image layout) holding just the given references: what
   * `ctr images import`, `skopeo copy oci-archive:…` and `podman load` read.
   */
  async exportArchive(references: readonly string[], file: string): Promise<void> {
    const index = await this.readIndex();
    const picked: Descriptor[] = [];
    const blobs = new Set<string>();
    for (const ref of references) {
      const d = index.manifests.find((m) => m.annotations?.[containerdNameAnnotation] === ref);
      if (!d) throw new Error(`${ref} is not in the image store ${this.dir}`);
      picked.push(d);
      const manifest = await this.readJsonBlob<ImageManifest>(d.digest);
      blobs.add(d.digest);
      blobs.add(manifest.config.digest);
      for (const l of manifest.layers) blobs.add(l.digest);
    }
    const stage = `${file}.d`;
    await rm(stage, { recursive: true, force: true });
    await mkdir(join(stage, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(stage, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(
      join(stage, 'index.json'),
      JSON.stringify({ schemaVersion: 2, mediaType: mediaTypes.index, manifests: picked }),
    );
    const { link } = await import('node:fs/promises');
    for (const digest of blobs) {
      const target = join(stage, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
      // Hard links: the archive is written without copying gigabytes first.
      await link(this.blobPath(digest), target).catch(async () => {
        await pipeline(createReadStream(this.blobPath(digest)), createWriteStream(target));
      });
    }
    const tar = spawn(
      'tar',
      ['--create', `--file=${file}`, '--directory', stage, '--hard-dereference', '.'],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    tar.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const code = await new Promise<number | null>((resolve, reject) => {
      tar.on('error', reject);
      tar.on('close', resolve);
    });
    await rm(stage, { recursive: true, force: true });
    if (code !== 0) throw new Error(`writing ${file} failed: ${stderr.trim()}`);
  }
}

/** What `buildOciArchive` makes: a one-layer image of a directory. */
export interface ArchiveSpec {
  /** Full reference, e.g. registry.k8s.io/pause:3.10. */
  name: string;
  /** Directory whose contents become the image's root file system. */
  rootfs: string;
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  /** Output archive path. */
  out: string;
}

/**
 * A one-layer image of `spec.rootfs` as an OCI archive that `ctr images import` accepts: how the
 * local cluster gets its pause and test images without a registry. The archive appears whole or
 * not at all, so that its existence means it is done.
 */
export async function buildOciArchive(spec: ArchiveSpec): Promise<void> {
  const layout = new OciLayout(`${spec.out}.oci`);
  await rm(layout.dir, { recursive: true, force: true });
  await layout.init();
  const layer = await layout.addLayerFromDir(spec.rootfs);
  await layout.addImage(
    spec.name,
    {
      architecture: 'amd64',
      os: 'linux',
      config: {
        Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
        ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
        ...(spec.cmd ? { Cmd: spec.cmd } : {}),
      },
    },
    [layer],
  );
  await layout.exportArchive([spec.name], `${spec.out}.tmp`);
  await rename(`${spec.out}.tmp`, spec.out);
  await rm(layout.dir, { recursive: true, force: true });
}
