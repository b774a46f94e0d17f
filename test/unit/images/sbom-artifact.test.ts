// The SBOM beside its image in the registry (src/images/sbom-artifact.ts): its tag, its manifest,
// where a registry answers. Pushing and fetching against the real registry: the operator's scan
// in test/e2e/remediate.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  registryUrl,
  sbomManifest,
  sbomTag,
  splitDigestReference,
} from '../../../src/images/sbom-artifact.ts';
import { sha256 } from '../../../src/util/hash.ts';

const d = `sha256:${'ab'.repeat(32)}`;

test('the SBOM tag is the image digest with a dash, .sbom; not a digest: refused', () => {
  assert.equal(sbomTag(d), `sha256-${'ab'.repeat(32)}.sbom`);
  assert.throws(() => sbomTag('latest'), /not a sha256 digest/);
});

test('the SBOM manifest: an OCI artifact of CycloneDX, the empty config, its subject the image', () => {
  const sbom = new TextEncoder().encode('{"components":[]}');
  const m = sbomManifest(
    { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: d, size: 1234 },
    sbom,
  ) as Record<string, any>;
  assert.equal(m.artifactType, 'application/vnd.cyclonedx+json');
  assert.equal(m.config.mediaType, 'application/vnd.oci.empty.v1+json');
  assert.equal(m.config.digest, `sha256:${sha256('{}')}`);
  assert.deepEqual(m.layers, [
    {
      mediaType: 'application/vnd.cyclonedx+json',
      digest: `sha256:${sha256(sbom)}`,
      size: sbom.length,
    },
  ]);
  assert.deepEqual(m.subject, {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: d,
    size: 1234,
  });
});

test('references by digest and where their registry answers', () => {
  assert.deepEqual(splitDigestReference(`localhost:5001/stackanetes/keystone@${d}`), {
    registry: 'localhost:5001',
    repository: 'stackanetes/keystone',
    digest: d,
  });
  assert.equal(splitDigestReference('localhost:5001/stackanetes/keystone:2025.1'), undefined);
  const mirrors = 'localhost:5001=http://10.244.0.1:5001, other:5000=http://x:5000';
  assert.equal(registryUrl('localhost:5001', mirrors), 'http://10.244.0.1:5001');
  assert.equal(registryUrl('other:5000', mirrors), 'http://x:5000');
  assert.equal(registryUrl('quay.io', mirrors), 'https://quay.io');
  assert.equal(registryUrl('quay.io', undefined), 'https://quay.io');
});
