// A minimal OCI image archive (one uncompressed layer) that `ctr images import` accepts: the
// layout's index.json names the image with containerd's `io.containerd.image.name` annotation.
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../util/exec.ts';

export interface ImageSpec {
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

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function sha256(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function buildOciArchive(spec: ImageSpec): Promise<void> {
  const work = `${spec.out}.d`;
  rmSync(work, { recursive: true, force: true });
  const blobs = join(work, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });

  const layerTmp = join(work, 'layer.tar');
  await run('tar', ['--numeric-owner', '--xattrs', '-C', spec.rootfs, '-cf', layerTmp, '.']);
  const layerDigest = await sha256File(layerTmp);
  const layerSize = statSync(layerTmp).size;
  renameSync(layerTmp, join(blobs, layerDigest));

  const config = JSON.stringify({
    architecture: 'amd64',
    os: 'linux',
    config: {
      Env: spec.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(spec.entrypoint ? { Entrypoint: spec.entrypoint } : {}),
      ...(spec.cmd ? { Cmd: spec.cmd } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [`sha256:${layerDigest}`] },
  });
  const configDigest = sha256(config);
  writeFileSync(join(blobs, configDigest), config);

  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: `sha256:${configDigest}`,
      size: Buffer.byteLength(config),
    },
    layers: [
      {
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: `sha256:${layerDigest}`,
        size: layerSize,
      },
    ],
  });
  const manifestDigest = sha256(manifest);
  writeFileSync(join(blobs, manifestDigest), manifest);

  const tag = spec.name.slice(spec.name.lastIndexOf(':') + 1);
  writeFileSync(
    join(work, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: `sha256:${manifestDigest}`,
          size: Buffer.byteLength(manifest),
          platform: { architecture: 'amd64', os: 'linux' },
          annotations: {
            'io.containerd.image.name': spec.name,
            'org.opencontainers.image.ref.name': tag,
          },
        },
      ],
    }),
  );
  writeFileSync(join(work, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await run('tar', ['-C', work, '-cf', `${spec.out}.tmp`, 'oci-layout', 'index.json', 'blobs']);
  renameSync(`${spec.out}.tmp`, spec.out);
  rmSync(work, { recursive: true, force: true });
}
