// What a registry or containerd will check about the built images: every blob matches its
// digest, diff_ids match the uncompressed layers, layers are shared along base →
// openstack-base → service, each image runs as Kolla's user for it and carries an SBOM; and,
// when the local cluster's containerd is running, an exported archive imports into k8s.io.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { listRecords } from '../../../src/images/build.ts';
import { OciLayout, type ImageConfig, type ImageManifest } from '../../../src/images/oci.ts';
import { cachePaths } from '../../../src/images/paths.ts';
import { kollaUsers, operatorImage, operatorUid } from '../../../src/images/recipes.ts';
import { detectContainerd, importArchive } from '../../../src/images/containerd.ts';
import { capture } from '../../../src/util/exec.ts';
import { images, release } from './helpers.ts';

async function sha256(file: string, gunzip = false): Promise<string> {
  const h = createHash('sha256');
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      h.update(chunk);
      cb();
    },
  });
  if (gunzip) await pipeline(createReadStream(file), createGunzip(), sink);
  else await pipeline(createReadStream(file), sink);
  return `sha256:${h.digest('hex')}`;
}

void test(
  'built images are valid OCI images with shared layers, Kolla users and SBOMs',
  { timeout: 45 * 60_000 },
  async () => {
    await images(['keystone', 'mariadb']);
    const cache = cachePaths();
    const oci = new OciLayout(cache.oci);
    const records = (await listRecords(cache)).filter((r) => r.release === release);
    assert.ok(records.length >= 2);
    const checked = new Set<string>();
    for (const r of records) {
      const desc = await oci.resolve(r.reference);
      assert.ok(desc, `${r.reference} missing from index.json`);
      assert.equal(desc.digest, r.manifestDigest);
      assert.equal(await sha256(oci.blobPath(desc.digest)), desc.digest);
      const manifest = await oci.readJsonBlob<ImageManifest>(desc.digest);
      const config = await oci.readJsonBlob<ImageConfig>(manifest.config.digest);
      assert.equal(manifest.layers.length, config.rootfs.diff_ids.length);
      assert.equal(r.layers[0]?.recipe, 'base', `${r.name} is not built on base`);
      for (const [i, layer] of manifest.layers.entries()) {
        assert.equal((await stat(oci.blobPath(layer.digest))).size, layer.size);
        if (checked.has(layer.digest)) continue;
        checked.add(layer.digest);
        assert.equal(await sha256(oci.blobPath(layer.digest)), layer.digest);
        assert.equal(await sha256(oci.blobPath(layer.digest), true), config.rootfs.diff_ids[i]);
      }
      if (r.name === operatorImage) {
        // The operator is not an OpenStack service: its own command, its own non-root user.
        assert.deepEqual(config.config.Cmd, ['operator']);
        assert.equal(r.uid, operatorUid);
      } else {
        assert.deepEqual(config.config.Cmd, ['kolla_start']);
        const user = kollaUsers.find((u) => u.name === config.config.User);
        assert.ok(
          config.config.User === 'root' || user,
          `${r.name} runs as ${config.config.User}, not a Kolla user`,
        );
      }
      const bom = JSON.parse(await readFile(r.sbom, 'utf8')) as {
        components: { name: string; version: string }[];
      };
      assert.equal(bom.components.length, r.packageCount);
      assert.ok(
        bom.components.some((c) => c.name === 'sudo'),
        `${r.name} SBOM lacks base packages`,
      );
    }
    const keystone = records.find((r) => r.name === 'keystone');
    const mariadb = records.find((r) => r.name === 'mariadb');
    assert.equal(keystone?.uid, 42425);
    assert.equal(mariadb?.uid, 42434);
    // mariadb and keystone share the base layer blob.
    assert.equal(keystone?.layers[0]?.digest, mariadb?.layers[0]?.digest);
  },
);

void test(
  'an exported archive imports into the local cluster containerd (k8s.io)',
  { timeout: 15 * 60_000 },
  async (t) => {
    const found = await detectContainerd();
    if ('reason' in found) {
      t.skip(found.reason);
      return;
    }
    await images(['memcached']);
    const cache = cachePaths();
    const ref = (await listRecords(cache)).find(
      (r) => r.name === 'memcached' && r.release === release,
    )?.reference;
    assert.ok(ref);
    const archive = join(tmpdir(), `stackanetes-import-${process.pid}.oci.tar`);
    try {
      await new OciLayout(cache.oci).exportArchive([ref], archive);
      await importArchive(found, archive);
      const listed = await capture(found.ctr, [
        '--address',
        found.address,
        '-n',
        'k8s.io',
        'images',
        'ls',
        '-q',
      ]);
      assert.ok(listed.split('\n').includes(ref), `${ref} not in:\n${listed}`);
    } finally {
      await rm(archive, { force: true });
    }
  },
);
