// Pushing built images from the image store (an OCI layout) to a registry over the OCI
// distribution API: blobs the registry has are skipped, blobs another repository already has
// are mounted across (the images share their base layers), the rest are uploaded in one
// request each, then the manifest is put under its tag. Plain HTTP: the local cluster's registry
// lives on the machine's bridge only.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { OciLayout } from './oci.ts';

export interface PushTarget {
  /** Base URL the registry answers on, e.g. http://10.244.0.1:5001. */
  readonly url: string;
  /** The registry's name in image references, e.g. localhost:5001. */
  readonly name: string;
}

export interface PushResult {
  reference: string;
  uploaded: number;
  mounted: number;
  skipped: number;
  bytes: number;
}

interface Manifest {
  mediaType?: string;
  config: { digest: string };
  layers: { digest: string }[];
}

/** Whether the registry answers its API root. */
export async function registryAnswers(url: string): Promise<boolean> {
  try {
    const r = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(3000) });
    return r.status === 200 || r.status === 401;
  } catch {
    return false;
  }
}

/** `localhost:5001/stackanetes/keystone:2025.1` → repository and tag at that registry. */
export function splitReference(
  reference: string,
  registryName: string,
): { repository: string; tag: string } {
  if (!reference.startsWith(`${registryName}/`))
    throw new Error(`${reference} does not name the registry ${registryName}`);
  const rest = reference.slice(registryName.length + 1);
  const colon = rest.lastIndexOf(':');
  if (colon < 0) throw new Error(`${reference} has no tag`);
  return { repository: rest.slice(0, colon), tag: rest.slice(colon + 1) };
}

/** The response when it is a success; otherwise an error saying what failed and the status. */
export async function check(r: Response, what: string): Promise<Response> {
  if (!r.ok) {
    const body = await r.text().catch(() => '');
    throw new Error(`${what}: HTTP ${r.status} ${body.slice(0, 300)}`);
  }
  return r;
}

/**
 * Pushes images (by reference, as tagged in the layout) to the registry. `where` remembers which
 * repository already holds each blob, so later images mount instead of uploading.
 */
export async function pushImages(
  layout: OciLayout,
  references: readonly string[],
  target: PushTarget,
  onImage: (r: PushResult) => void = () => undefined,
): Promise<PushResult[]> {
  const where = new Map<string, string>();
  const results: PushResult[] = [];
  for (const reference of references) {
    const { repository, tag } = splitReference(reference, target.name);
    const desc = await layout.resolve(reference);
    if (!desc) throw new Error(`${reference} is not in the image store`);
    const manifest = await layout.readJsonBlob<Manifest>(desc.digest);
    const result: PushResult = { reference, uploaded: 0, mounted: 0, skipped: 0, bytes: 0 };
    const base = `${target.url}/v2/${repository}`;
    for (const digest of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)]) {
      const head = await fetch(`${base}/blobs/${digest}`, { method: 'HEAD' });
      if (head.status === 200) {
        result.skipped++;
        where.set(digest, repository);
        continue;
      }
      const from = where.get(digest);
      const start = await fetch(
        `${base}/blobs/uploads/${from ? `?mount=${digest}&from=${encodeURIComponent(from)}` : ''}`,
        { method: 'POST' },
      );
      if (start.status === 201) {
        result.mounted++;
        where.set(digest, repository);
        continue;
      }
      await check(start, `starting the upload of ${digest} to ${repository}`);
      const location = start.headers.get('location');
      if (!location) throw new Error(`the registry gave no upload location for ${repository}`);
      const url = new URL(location, target.url);
      url.searchParams.set('digest', digest);
      const file = layout.blobPath(digest);
      const size = (await stat(file)).size;
      await check(
        await fetch(url, {
          method: 'PUT',
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
          body: Readable.toWeb(createReadStream(file)) as ReadableStream,
          duplex: 'half',
        }),
        `uploading ${digest} to ${repository}`,
      );
      result.uploaded++;
      result.bytes += size;
      where.set(digest, repository);
    }
    const body = await readFile(layout.blobPath(desc.digest));
    await check(
      await fetch(`${base}/manifests/${tag}`, {
        method: 'PUT',
        headers: { 'content-type': desc.mediaType },
        body: new Uint8Array(body),
      }),
      `putting the manifest of ${reference}`,
    );
    results.push(result);
    onImage(result);
  }
  return results;
}
