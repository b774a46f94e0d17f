// What test/e2e/remediate.test.ts and bench/remediate.ts both do to the cloud: run the
// command line, name an image by digest, read which Keystone image the pods run, derive the
// deliberately broken Keystone images, and put the cloud back on the release's own image.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cloudName, isReady, kubectl, namespace, pods, until } from './helpers.ts';
import type { ImageRecord } from '../../src/images/build.ts';
import type { DeriveStep } from '../../src/images/fix.ts';

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** `stackanetes <args>`, with `env` added to this process's environment; never throws. */
export async function stackanetes(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 3_600_000,
): Promise<CliResult> {
  const t0 = Date.now();
  const seconds = () => (Date.now() - t0) / 1000;
  try {
    const r = await run(process.execPath, ['bin/stackanetes.js', ...args], {
      timeout: timeoutMs,
      maxBuffer: 64 << 20,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, seconds: seconds() };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof e.code === 'number' ? e.code : -1,
      stdout: e.stdout ?? '',
      stderr: e.stderr ?? '',
      seconds: seconds(),
    };
  }
}

/** `registry/name@sha256:…`: the image a record describes, by its manifest digest. */
export function byDigest(record: Pick<ImageRecord, 'reference' | 'manifestDigest'>): string {
  return `${record.reference.slice(0, record.reference.lastIndexOf(':'))}@${record.manifestDigest}`;
}

/** A JSON merge patch on the cloud. */
export function patchCloud(patch: object): Promise<string> {
  return kubectl([
    ...['-n', namespace, 'patch', 'openstackcloud', cloudName, '--type', 'merge'],
    ...['-p', JSON.stringify(patch)],
  ]);
}

/**
 * The Keystone images the pods (not being deleted) run, as their specs name them, and the
 * digests their containers started from (a container started by digest reports its config's
 * digest as `image`: the repository is in `imageID`).
 */
export async function keystoneImages(): Promise<{ images: string[]; imageIds: string[] }> {
  const ps = (await pods('keystone-api')).filter((p) => !p.metadata.deletionTimestamp);
  const images = ps.flatMap((p) =>
    (p.spec as { containers: { image: string }[] }).containers
      .map((c) => c.image)
      .filter((i) => i.includes('/keystone')),
  );
  const imageIds = ps.flatMap((p) =>
    ((p.status as { containerStatuses?: { imageID: string }[] }).containerStatuses ?? [])
      .map((c) => c.imageID)
      .filter((id) => id.includes('/keystone@')),
  );
  return { images: [...new Set(images)], imageIds: [...new Set(imageIds)] };
}

/** Keystone images broken on purpose (`deriveImage` steps on a working one). */
export const brokenKeystone = {
  /** uWSGI cannot load the application: the container exits at once. */
  start: {
    tag: '2025.1-broken-start',
    script: 'rm -f /usr/bin/keystone-wsgi-public',
    description: 'keystone whose service cannot start (broken on purpose)',
  },
  /** Starts and answers its probes (GET /v3), but password authentication raises. */
  token: {
    tag: '2025.1-broken-token',
    script: [
      'f=/usr/lib/python3/dist-packages/keystone/identity/backends/sql.py',
      `python3 - "$f" <<'EOF'`,
      'import sys',
      'p = sys.argv[1]',
      's = open(p).read()',
      'd = "    def authenticate(self, user_id, password):\\n"',
      'assert d in s',
      `open(p, "w").write(s.replace(d, d + "        raise RuntimeError('broken on purpose by the remediation test')\\n", 1))`,
      'EOF',
      'find /usr/lib/python3/dist-packages/keystone/identity -name "*.pyc" -delete',
    ].join('\n'),
    description: 'keystone that cannot issue a token (broken on purpose)',
  },
} as const satisfies Record<string, DeriveStep>;

/**
 * The cloud back on the release's own Keystone image (no override) with policy report, and
 * every Keystone pod on `release` and Ready; `extra` is merged into the same patch.
 */
export async function backToRelease(
  release: Pick<ImageRecord, 'reference'>,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await patchCloud({
    spec: {
      images: { overrides: { keystone: null } },
      remediation: { policy: 'report' },
      ...extra,
    },
  });
  await until(
    async () => {
      const ps = (await pods('keystone-api')).filter((p) => !p.metadata.deletionTimestamp);
      const { images } = await keystoneImages();
      return (
        images.length === 1 && images[0] === release.reference && ps.length > 0 && ps.every(isReady)
      );
    },
    `every Keystone pod back on ${release.reference} and Ready`,
    600_000,
  );
}
