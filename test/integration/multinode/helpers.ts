// Shared by the multi-node tests: the real nodes, a TCP probe that tells a refusal or a timeout
// from an answer, and the cluster's test image pushed to its registry.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localRegistry } from '../../../src/catalog/images.ts';
import { run } from '../../../src/util/exec.ts';
import { imageArchives } from '../../../src/cluster/images.ts';
import { OciLayout } from '../../../src/images/oci.ts';
import { pushImages } from '../../../src/images/registry.ts';
import { getJson, l, testImage } from '../cluster/helpers.ts';

/** Names of the real (not kwok-simulated) nodes, the host node first. */
export async function realNodes(): Promise<string[]> {
  const list = await getJson<{
    items: { metadata: { name: string; labels?: Record<string, string> } }[];
  }>(['nodes']);
  return list.items
    .filter((n) => n.metadata.labels?.type !== 'kwok')
    .map((n) => n.metadata.name)
    .sort();
}

/**
 * A bash snippet (for `kubectl exec … bash -c`) that connects to host:port, sends `payload` and
 * prints the answer, or prints TIMEOUT (nothing answered within 5 s: dropped) or REFUSED.
 */
export function tcpProbe(host: string, port: number, payload: string): string {
  const p = payload
    .replace(/\\/g, '\\\\')
    .replace(/"/g, '\\"')
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n');
  return `timeout 5 bash -c 'exec 3<>/dev/tcp/${host}/${port} && printf "${p}" >&3 && cat <&3' 2>&1; rc=$?; [ $rc -eq 124 ] && echo TIMEOUT; [ $rc -ne 0 ] && [ $rc -ne 124 ] && echo REFUSED; true`;
}

/** Pushes the cluster's test image to its registry; returns the reference nodes pull. */
export async function pushTestImage(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'stk-push-'));
  try {
    await run('tar', ['-xf', imageArchives(l).test, '-C', dir]);
    const layout = new OciLayout(dir);
    const desc = await layout.resolve(testImage);
    if (!desc) throw new Error(`${testImage} is not in ${imageArchives(l).test}`);
    const ref = `${localRegistry.name}/test/debian:${testImage.split(':').pop() ?? 'latest'}`;
    await layout.tag(ref, desc);
    await pushImages(layout, [ref], localRegistry);
    return ref;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
