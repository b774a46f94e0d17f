// An image's SBOM in the registry beside it, so that whatever runs the image (the operator's pod)
// can scan it without the build host's files: an OCI 1.1 artifact (artifactType CycloneDX, an
// empty config, one layer the SBOM, `subject` the image's manifest) tagged
// `sha256-<hex of the image's manifest digest>.sbom`. The tag makes it findable on any registry;
// the subject lets a registry that serves the referrers API list it there too.
import { sha256 } from '../util/hash.ts';
import { mediaTypes, type Descriptor } from './oci.ts';
import { check } from './registry.ts';

export const sbomArtifactType = 'application/vnd.cyclonedx+json';
const emptyConfig = new TextEncoder().encode('{}');
const emptyConfigType = 'application/vnd.oci.empty.v1+json';

/** The tag the SBOM of the image with this manifest digest is pushed under. */
export function sbomTag(manifestDigest: string): string {
  const m = /^sha256:([a-f0-9]{64})$/.exec(manifestDigest);
  if (!m) throw new Error(`${manifestDigest} is not a sha256 digest`);
  return `sha256-${m[1]}.sbom`;
}

/** The artifact manifest for an SBOM of `subject` (the image's manifest). */
export function sbomManifest(subject: Descriptor, sbom: Uint8Array): object {
  return {
    schemaVersion: 2,
    mediaType: mediaTypes.manifest,
    artifactType: sbomArtifactType,
    config: { mediaType: emptyConfigType, digest: `sha256:${sha256(emptyConfig)}`, size: 2 },
    layers: [{ mediaType: sbomArtifactType, digest: `sha256:${sha256(sbom)}`, size: sbom.length }],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  };
}

/** Uploads a small blob (one request) unless the repository has it. */
async function putBlob(base: string, bytes: Uint8Array, what: string): Promise<void> {
  const digest = `sha256:${sha256(bytes)}`;
  if ((await fetch(`${base}/blobs/${digest}`, { method: 'HEAD' })).status === 200) return;
  const start = await check(await fetch(`${base}/blobs/uploads/`, { method: 'POST' }), what);
  const location = start.headers.get('location');
  if (!location) throw new Error(`${what}: the registry gave no upload location`);
  const url = new URL(location, base);
  url.searchParams.set('digest', digest);
  await check(
    await fetch(url, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    }),
    what,
  );
}

/** Pushes the SBOM of an image already in `repository` (at registry `url`). */
export async function pushSbom(
  url: string,
  repository: string,
  subject: Descriptor,
  sbom: Uint8Array,
): Promise<string> {
  const base = `${url}/v2/${repository}`;
  const what = `pushing the SBOM of ${repository}@${subject.digest}`;
  await putBlob(base, emptyConfig, what);
  await putBlob(base, sbom, what);
  const tag = sbomTag(subject.digest);
  await check(
    await fetch(`${base}/manifests/${tag}`, {
      method: 'PUT',
      headers: { 'content-type': mediaTypes.manifest },
      body: JSON.stringify(sbomManifest(subject, sbom)),
    }),
    what,
  );
  return tag;
}

/** Where a registry named in image references answers: `name=url` pairs, else https://name. */
export function registryUrl(name: string, mirrors: string | undefined): string {
  for (const pair of (mirrors ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim();
  }
  return `https://${name}`;
}

/** `localhost:5001/stackanetes/keystone@sha256:…` → registry, repository and manifest digest. */
export function splitDigestReference(
  reference: string,
): { registry: string; repository: string; digest: string } | undefined {
  const m = /^([^/]+)\/(.+)@(sha256:[a-f0-9]{64})$/.exec(reference);
  return m ? { registry: m[1]!, repository: m[2]!, digest: m[3]! } : undefined;
}

/**
 * The SBOM pushed beside the image `reference` (by digest). Throws saying what is missing: the
 * registry not answering, no SBOM pushed for that digest, an artifact that is not one.
 */
export async function fetchSbom(
  reference: string,
  mirrors: string | undefined,
  timeoutMs = 30_000,
): Promise<Uint8Array> {
  const ref = splitDigestReference(reference);
  if (!ref) throw new Error(`${reference}: not registry/repository@sha256:<digest>`);
  const base = `${registryUrl(ref.registry, mirrors)}/v2/${ref.repository}`;
  const get = async (path: string, accept?: string): Promise<Response> => {
    try {
      return await fetch(`${base}/${path}`, {
        headers: accept ? { accept } : {},
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const cause = (err as Error).cause as Error | undefined;
      throw new Error(`${base}: ${cause?.message ?? (err as Error).message}`, { cause: err });
    }
  };
  const tag = sbomTag(ref.digest);
  const m = await get(`manifests/${tag}`, mediaTypes.manifest);
  if (m.status === 404)
    throw new Error(
      `no SBOM in the registry for ${reference} (tag ${tag}): \`stackanetes images build\` pushes one with each image`,
    );
  await check(m, `the SBOM manifest of ${reference}`);
  const manifest = (await m.json()) as { artifactType?: string; layers?: Descriptor[] };
  const layer = manifest.layers?.[0];
  if (manifest.artifactType !== sbomArtifactType || !layer)
    throw new Error(`${ref.repository}:${tag} is not a CycloneDX SBOM artifact`);
  const blob = await check(await get(`blobs/${layer.digest}`), `the SBOM of ${reference}`);
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (`sha256:${sha256(bytes)}` !== layer.digest)
    throw new Error(`the SBOM of ${reference} does not match its digest ${layer.digest}`);
  return bytes;
}
