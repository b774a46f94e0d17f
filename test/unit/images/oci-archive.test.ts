// The local cluster's own images (pause, test) are one-layer OCI archives written by the same
// layout code as the image builds: index.json names the image the way `ctr images import` reads.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildOciArchive, type ImageConfig, type ImageManifest } from '../../../src/images/oci.ts';

test('a directory becomes an importable one-layer archive, and nothing else is left', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stackanetes-oci-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'rootfs'));
  writeFileSync(join(dir, 'rootfs', 'pause'), 'not really a binary');
  const out = join(dir, 'pause.tar');
  await buildOciArchive({
    name: 'registry.k8s.io/pause:3.10',
    rootfs: join(dir, 'rootfs'),
    entrypoint: ['/pause'],
    out,
  });
  assert.deepEqual(
    ['pause.tar.oci', 'pause.tar.tmp', 'pause.tar.tmp.d'].filter((f) => existsSync(join(dir, f))),
    [],
  );
  const x = join(dir, 'x');
  mkdirSync(x);
  assert.equal(spawnSync('tar', ['-xf', out, '-C', x]).status, 0);
  const blob = (digest: string) => join(x, 'blobs', 'sha256', digest.replace('sha256:', ''));
  const index = JSON.parse(readFileSync(join(x, 'index.json'), 'utf8')) as {
    manifests: { digest: string; annotations: Record<string, string> }[];
  };
  assert.equal(index.manifests.length, 1);
  const entry = index.manifests[0];
  assert.ok(entry);
  assert.deepEqual(entry.annotations, {
    'io.containerd.image.name': 'registry.k8s.io/pause:3.10',
    'org.opencontainers.image.ref.name': '3.10',
  });
  const manifest = JSON.parse(readFileSync(blob(entry.digest), 'utf8')) as ImageManifest;
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as ImageConfig;
  assert.deepEqual(config.config.Entrypoint, ['/pause']);
  assert.equal(manifest.layers.length, 1);
  const layer = spawnSync('tar', ['-tzf', blob(manifest.layers[0]!.digest)], { encoding: 'utf8' });
  assert.deepEqual(layer.stdout.split('\n').filter(Boolean), ['./', './pause']);
});
