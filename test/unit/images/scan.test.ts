// `images scan`: Debian version ordering, the mirror's files (InRelease, Packages, changelogs),
// and the scan itself against a small fake mirror (in process, and over HTTP on localhost for the
// CLI's exit codes). No network.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { compareDebianVersions } from '../../../src/images/debversion.ts';
import { aptSource } from '../../../src/images/rootfs.ts';
import {
  cvesBetween,
  parseChangelog,
  parsePackages,
  parseRelease,
  scanImages,
  ScanError,
  type Fetcher,
  type ScanImage,
} from '../../../src/images/scan.ts';
import { cycloneDx, type DebPackage } from '../../../src/images/sbom.ts';
import { runCli } from '../helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'stackanetes-scan-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

// ---- versions ----

test('Debian versions order as policy §5.6.12 says', () => {
  const older: [string, string][] = [
    ['1.0~rc1', '1.0'], // ~ sorts before the end of the string
    ['1.0~~', '1.0~'],
    ['1.0~rc1', '1.0~rc2'],
    ['2.0', '1:0.9'], // the epoch first
    ['2.30-1', '2.30-1+deb13u1'], // a security upload
    ['3.5.1-1', '3.5.1-1+deb13u1'],
    ['1.0-1', '1.0-1+b1'], // a binNMU
    ['1.0-1~bpo13+1', '1.0-1'], // a backport
    ['1.2.9', '1.2.10'], // digits as numbers
    ['1.0', '1.0a'], // a letter after the end
    ['1.0a', '1.0+'], // letters before other characters
    ['1.0+', '1.0.'],
    ['2025b-4', '2025c-0+deb13u1'],
    ['1:1.3.dfsg+really1.3.1-1', '1:1.3.dfsg+really1.3.1-1+b1'],
    ['9', '10'],
    ['1.0', '1.0-0.1'],
  ];
  for (const [a, b] of older) {
    assert.ok(compareDebianVersions(a, b) < 0, `${a} < ${b}`);
    assert.ok(compareDebianVersions(b, a) > 0, `${b} > ${a}`);
  }
  for (const [a, b] of [
    ['1.0', '1.0'],
    ['0:1.0', '1.0'],
    ['1.01', '1.1'],
    ['1.0-0', '1.0-00'],
  ] as const) {
    assert.equal(compareDebianVersions(a, b), 0, `${a} = ${b}`);
  }
});

test('Debian versions order as dpkg --compare-versions does', (t) => {
  if (spawnSync('dpkg', ['--version']).status !== 0) return t.skip('no dpkg here');
  const versions = [
    '1.0~rc1',
    '1.0',
    '1.0-1',
    '1.0-1+b1',
    '1.0-1+deb13u1',
    '1:0.9',
    '1.0a',
    '1.0+dfsg',
    '2.41-12',
    '2.41-12+deb13u1',
    '2.41-2',
    '10',
    '9.9.9',
  ];
  versions.forEach((a, i) => {
    for (const b of versions.slice(i + 1)) {
      const ours = Math.sign(compareDebianVersions(a, b));
      const lt = spawnSync('dpkg', ['--compare-versions', a, 'lt', b]).status === 0;
      const gt = spawnSync('dpkg', ['--compare-versions', a, 'gt', b]).status === 0;
      assert.equal(ours, lt ? -1 : gt ? 1 : 0, `${a} vs ${b}`);
    }
  });
});

// ---- a small mirror ----

const securityPackages = (provider = 'openssl-provider-legacy'): string => `Package: ${provider}
Source: openssl
Version: 3.5.1-1+deb13u1
Architecture: amd64
Size: 300000
Filename: pool/updates/main/o/openssl/${provider}_3.5.1-1+deb13u1_amd64.deb
SHA256: @${provider}@
Description: OpenSSL legacy provider

Package: libssl3t64
Source: openssl
Version: 3.5.1-1+deb13u1
Architecture: amd64
Size: 2300000
Filename: pool/updates/main/o/openssl/libssl3t64_3.5.1-1+deb13u1_amd64.deb
SHA256: @libssl3t64@
Description: Secure Sockets Layer toolkit - shared libraries
 A continuation line.

Package: openssl
Version: 3.5.1-1+deb13u1
Architecture: amd64
Size: 1400000
Filename: pool/updates/main/o/openssl/openssl_3.5.1-1+deb13u1_amd64.deb
SHA256: @openssl@

Package: libc6
Source: glibc
Version: 2.41-11
Architecture: amd64
Size: 2800000
Filename: pool/updates/main/g/glibc/libc6_2.41-11_amd64.deb
SHA256: 00
`;

const updatesPackages = `Package: tzdata
Version: 2025c-0+deb13u1
Architecture: all
Size: 260000
Filename: pool/main/t/tzdata/tzdata_2025c-0+deb13u1_all.deb
SHA256: @tzdata@
`;

const opensslChangelog = `openssl (3.5.1-1+deb13u1) trixie-security; urgency=medium

  * CVE-2025-9230: out-of-bounds read and write in RFC 3211 KEK unwrap.
  * CVE-2025-9231: timing side-channel in SM2 on 64 bit ARM
    (also fixes CVE-2025-9232).

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Tue, 30 Sep 2025 21:00:00 +0200

openssl (3.5.1-1) unstable; urgency=medium

  * New upstream version (fixes CVE-2025-1111).

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Wed, 02 Jul 2025 21:00:00 +0200

openssl (3.5.0-2) unstable; urgency=medium

  * CVE-2024-0001.

 -- Sebastian Andrzej Siewior <sebastian@breakpoint.cc>  Wed, 02 Apr 2025 21:00:00 +0200
`;

const tzdataChangelog = `tzdata (2025c-0+deb13u1) trixie; urgency=medium

  * New upstream release.

 -- Benjamin Drung <bdrung@debian.org>  Mon, 01 Dec 2025 10:00:00 +0100

tzdata (2025b-4) unstable; urgency=medium

  * Update translations.

 -- Benjamin Drung <bdrung@debian.org>  Mon, 01 Jun 2025 10:00:00 +0100
`;

/** A .deb made with dpkg-deb, with a changelog.Debian.gz when one is given. */
function deb(pkg: string, version: string, changelog?: string): Buffer {
  const root = join(work, `deb-${pkg}`);
  mkdirSync(join(root, 'DEBIAN'), { recursive: true });
  writeFileSync(
    join(root, 'DEBIAN', 'control'),
    `Package: ${pkg}\nVersion: ${version}\nArchitecture: all\nMaintainer: T <t@example.org>\nDescription: test\n`,
  );
  const doc = join(root, 'usr', 'share', 'doc', pkg);
  mkdirSync(doc, { recursive: true });
  writeFileSync(join(doc, 'copyright'), 'test\n');
  if (changelog) writeFileSync(join(doc, 'changelog.Debian.gz'), gzipSync(changelog));
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, `${root}.deb`], {
    stdio: 'ignore',
  });
  return readFileSync(`${root}.deb`);
}

const sha = (b: Uint8Array | string): string => createHash('sha256').update(b).digest('hex');

function inRelease(suite: string, date: string, files: Record<string, Uint8Array>): string {
  return [
    '-----BEGIN PGP SIGNED MESSAGE-----',
    'Hash: SHA256',
    '',
    'Origin: Debian',
    `Codename: ${suite}`,
    `Date: ${date}`,
    'SHA256:',
    ...Object.entries(files).map(([p, b]) => ` ${sha(b)} ${b.length} ${p}`),
    '-----BEGIN PGP SIGNATURE-----',
    '',
    'iQIzBAEBCAAdFiEE',
    '-----END PGP SIGNATURE-----',
    '',
  ].join('\n');
}

/** The mirror's files by path ("debian/dists/…", "debian-security/pool/…"). */
function mirrorFiles(): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const debs: Record<string, [string, Buffer]> = {
    'openssl-provider-legacy': [
      'pool/updates/main/o/openssl/openssl-provider-legacy_3.5.1-1+deb13u1_amd64.deb',
      deb('openssl-provider-legacy', '3.5.1-1+deb13u1'), // its doc directory has no changelog
    ],
    libssl3t64: [
      'pool/updates/main/o/openssl/libssl3t64_3.5.1-1+deb13u1_amd64.deb',
      deb('libssl3t64', '3.5.1-1+deb13u1', opensslChangelog),
    ],
    openssl: [
      'pool/updates/main/o/openssl/openssl_3.5.1-1+deb13u1_amd64.deb',
      deb('openssl', '3.5.1-1+deb13u1', opensslChangelog),
    ],
    tzdata: [
      'pool/main/t/tzdata/tzdata_2025c-0+deb13u1_all.deb',
      deb('tzdata', '2025c-0+deb13u1', tzdataChangelog),
    ],
  };
  const withHashes = (text: string): string =>
    text.replace(/@([\w-]+)@/g, (_, p: string) => sha(debs[p]![1]));
  const secIndex = gzipSync(withHashes(securityPackages()));
  files.set(
    'debian-security/dists/trixie-security/InRelease',
    Buffer.from(
      inRelease('trixie-security', 'Mon, 30 Nov 2026 00:22:33 UTC', {
        'main/binary-amd64/Packages.gz': secIndex,
      }),
    ),
  );
  files.set('debian-security/dists/trixie-security/main/binary-amd64/Packages.gz', secIndex);
  // -updates as Debian serves it: only Packages.xz
  const updIndex = execFileSync('xz', ['-c'], { input: withHashes(updatesPackages) });
  files.set(
    'debian/dists/trixie-updates/InRelease',
    Buffer.from(
      inRelease('trixie-updates', 'Mon, 30 Nov 2026 02:21:41 UTC', {
        'main/binary-amd64/Packages.xz': updIndex,
      }),
    ),
  );
  files.set('debian/dists/trixie-updates/main/binary-amd64/Packages.xz', updIndex);
  for (const [name, [path, bytes]] of Object.entries(debs)) {
    files.set(`${name === 'tzdata' ? 'debian' : 'debian-security'}/${path}`, bytes);
  }
  return files;
}

const base = 'http://mirror.test';
const source = aptSource('trixie', [
  { uri: 'debian', suite: 'trixie-updates' },
  { uri: 'debian-security', suite: 'trixie-security' },
]);
const fakeSource = {
  ...source,
  mirror: `${base}/debian`,
  securityMirror: `${base}/debian-security`,
};

/** A fetcher serving `files`, recording what was asked. */
function fakeFetcher(files: Map<string, Uint8Array>): Fetcher & { urls: string[] } {
  const urls: string[] = [];
  const f = (url: string): Promise<Uint8Array> => {
    urls.push(url);
    const b = files.get(url.slice(base.length + 1));
    return b ? Promise.resolve(b) : Promise.reject(new Error('HTTP 404 Not Found'));
  };
  return Object.assign(f, { urls });
}

function pkg(name: string, version: string, src = name, arch = 'amd64'): DebPackage {
  return { name, version, arch, source: src, sourceVersion: version, installedKiB: 1 };
}

const outdated = [
  pkg('libssl3t64', '3.5.1-1', 'openssl'),
  pkg('openssl', '3.5.1-1', 'openssl'),
  pkg('libc6', '2.41-12', 'glibc'), // the suite's is older
  pkg('tzdata', '2025b-4', 'tzdata', 'all'),
  pkg('bash', '5.2.37-2'), // in neither suite
];

const upToDate = [
  pkg('libssl3t64', '3.5.1-1+deb13u1', 'openssl'),
  pkg('openssl', '3.5.1-1+deb13u1', 'openssl'),
  pkg('libc6', '2.41-12', 'glibc'),
  pkg('tzdata', '2025c-0+deb13u1', 'tzdata', 'all'),
];

function sbomFile(name: string, packages: DebPackage[], dir = work): string {
  const file = join(dir, `${name}.cdx.json`);
  const bom = cycloneDx(
    {
      reference: `localhost:5001/stackanetes/${name}:2025.1`,
      release: '2025.1',
      debianSuite: 'trixie',
      created: '2026-12-01T00:00:00Z',
    },
    packages,
  );
  writeFileSync(file, JSON.stringify(bom));
  return file;
}

function image(name: string, packages: DebPackage[]): ScanImage {
  return {
    name,
    reference: `localhost:5001/stackanetes/${name}:2025.1`,
    sbom: sbomFile(name, packages),
  };
}

let files: Map<string, Uint8Array>;
before(() => {
  files = mirrorFiles();
});

// ---- parsers ----

test('an InRelease gives its Date and the SHA256 of each index, inside the signature', () => {
  const r = parseRelease(
    Buffer.from(files.get('debian-security/dists/trixie-security/InRelease')!).toString(),
  );
  assert.equal(r.date, 'Mon, 30 Nov 2026 00:22:33 UTC');
  const gz = files.get('debian-security/dists/trixie-security/main/binary-amd64/Packages.gz')!;
  assert.deepEqual(r.files.get('main/binary-amd64/Packages.gz'), {
    sha256: sha(gz),
    size: gz.length,
  });
  assert.equal(r.files.size, 1);
});

test('a Packages index gives each binary its source package and source version', () => {
  const entries = parsePackages(securityPackages());
  assert.deepEqual(
    entries.map((e) => [e.package, e.version, e.source, e.sourceVersion, e.size]),
    [
      ['openssl-provider-legacy', '3.5.1-1+deb13u1', 'openssl', '3.5.1-1+deb13u1', 300000],
      ['libssl3t64', '3.5.1-1+deb13u1', 'openssl', '3.5.1-1+deb13u1', 2300000],
      ['openssl', '3.5.1-1+deb13u1', 'openssl', '3.5.1-1+deb13u1', 1400000],
      ['libc6', '2.41-11', 'glibc', '2.41-11', 2800000],
    ],
  );
  const binNmu = parsePackages(
    'Package: zlib1g\nSource: zlib (1:1.3.dfsg+really1.3.1-1)\nVersion: 1:1.3.dfsg+really1.3.1-1+b1\nFilename: pool/z.deb\n',
  );
  assert.equal(binNmu[0]!.source, 'zlib');
  assert.equal(binNmu[0]!.sourceVersion, '1:1.3.dfsg+really1.3.1-1');
});

test('a changelog names the CVEs of the entries after the installed version, up to the fixed one', () => {
  const entries = parseChangelog(opensslChangelog);
  assert.deepEqual(
    entries.map((e) => [e.version, e.distribution, e.cves]),
    [
      ['3.5.1-1+deb13u1', 'trixie-security', ['CVE-2025-9230', 'CVE-2025-9231', 'CVE-2025-9232']],
      ['3.5.1-1', 'unstable', ['CVE-2025-1111']],
      ['3.5.0-2', 'unstable', ['CVE-2024-0001']],
    ],
  );
  assert.deepEqual(cvesBetween(entries, '3.5.1-1', '3.5.1-1+deb13u1'), [
    'CVE-2025-9230',
    'CVE-2025-9231',
    'CVE-2025-9232',
  ]);
  assert.deepEqual(cvesBetween(entries, '3.5.0-2', '3.5.1-1'), ['CVE-2025-1111']);
  assert.deepEqual(cvesBetween(entries, '3.5.1-1+deb13u1', '3.5.1-1+deb13u1'), []);
});

// ---- the scan ----

test('a scan reports the packages with a newer version in -security or -updates, with the CVEs fixed since', async () => {
  const fetch = fakeFetcher(files);
  const report = await scanImages({
    images: [image('keystone', outdated)],
    source: fakeSource,
    fetch,
    cacheDir: join(work, 'cache-findings'),
  });
  const [img] = report.images;
  assert.equal(img!.packages, 5);
  const cves = ['CVE-2025-9230', 'CVE-2025-9231', 'CVE-2025-9232'];
  assert.deepEqual(
    img!.findings.map((f) => [f.package, f.installed, f.fixed, f.suite, f.cves]),
    [
      ['libssl3t64', '3.5.1-1', '3.5.1-1+deb13u1', 'trixie-security', cves],
      ['openssl', '3.5.1-1', '3.5.1-1+deb13u1', 'trixie-security', cves],
      ['tzdata', '2025b-4', '2025c-0+deb13u1', 'trixie-updates', []],
    ],
  );
  assert.deepEqual(img!.cves, cves);
  assert.equal(report.findings, 3);
  assert.equal(report.cves, 3);
  // one changelog per source: openssl's from its smallest binary that has one (the 0.3 MB
  // legacy provider's has none, the 1.4 MB openssl's has), never the 2.3 MB libssl3t64
  const debs = fetch.urls.filter((u) => u.endsWith('.deb')).map((u) => u.split('/').pop());
  assert.deepEqual(debs.sort(), [
    'openssl-provider-legacy_3.5.1-1+deb13u1_amd64.deb',
    'openssl_3.5.1-1+deb13u1_amd64.deb',
    'tzdata_2025c-0+deb13u1_all.deb',
  ]);
});

test('a scan of up-to-date images reports nothing', async () => {
  const report = await scanImages({
    images: [image('mariadb', upToDate)],
    source: fakeSource,
    fetch: fakeFetcher(files),
    cacheDir: join(work, 'cache-clean'),
  });
  assert.deepEqual(report.images[0]!.findings, []);
  assert.equal(report.findings, 0);
  assert.equal(report.cves, 0);
});

test('a second scan fetches only the InRelease files; a changed index is fetched again', async () => {
  const cacheDir = join(work, 'cache-warm');
  const images = [image('keystone', outdated)];
  const first = await scanImages({
    images,
    source: fakeSource,
    fetch: fakeFetcher(files),
    cacheDir,
  });
  const fetch = fakeFetcher(files);
  const second = await scanImages({ images, source: fakeSource, fetch, cacheDir });
  assert.deepEqual(fetch.urls, [
    `${base}/debian/dists/trixie-updates/InRelease`,
    `${base}/debian-security/dists/trixie-security/InRelease`,
  ]);
  assert.deepEqual(second.images, first.images);
  assert.ok(second.indexes.every((i) => i.cached));

  // a new security index (one package more, so another hash)
  const changed = new Map(files);
  const gzPath = 'debian-security/dists/trixie-security/main/binary-amd64/Packages.gz';
  const newIndex = gzipSync(
    Buffer.from(
      gunzipSync(changed.get(gzPath)!).toString() +
        '\nPackage: openssl-doc\nVersion: 1\nFilename: pool/d.deb\n',
    ),
  );
  changed.set(gzPath, newIndex);
  changed.set(
    'debian-security/dists/trixie-security/InRelease',
    Buffer.from(
      inRelease('trixie-security', 'Tue, 01 Dec 2026 00:00:00 UTC', {
        'main/binary-amd64/Packages.gz': newIndex,
      }),
    ),
  );
  const fetch3 = fakeFetcher(changed);
  const third = await scanImages({ images, source: fakeSource, fetch: fetch3, cacheDir });
  assert.ok(fetch3.urls.includes(`${base}/${gzPath}`), 'the changed index is downloaded');
  assert.equal(third.indexes.find((i) => i.suite === 'trixie-security')!.cached, false);
  assert.equal(third.indexes.find((i) => i.suite === 'trixie-security')!.packages, 5);
  assert.ok(!fetch3.urls.some((u) => u.endsWith('.deb')), 'changelogs stay cached');
  assert.deepEqual(
    readdirSync(join(cacheDir, 'indexes')).sort(),
    [
      `trixie-security_amd64_${sha(newIndex)}.Packages`,
      `trixie-updates_amd64_${sha(files.get('debian/dists/trixie-updates/main/binary-amd64/Packages.xz')!)}.Packages`,
    ],
    'the replaced index is removed',
  );
});

test('a malformed SBOM stops the scan with a ScanError naming the file, before any download', async () => {
  const bad = join(work, 'bad.cdx.json');
  writeFileSync(bad, '{"bomFormat": "CycloneDX", "components": [');
  const fetch = fakeFetcher(files);
  const scan = () =>
    scanImages({
      images: [{ name: 'keystone', reference: 'k', sbom: bad }],
      source: fakeSource,
      fetch,
      cacheDir: join(work, 'cache-bad'),
    });
  await assert.rejects(
    scan(),
    (err: Error) => err instanceof ScanError && err.message.includes(bad),
  );
  writeFileSync(bad, '{"bomFormat": "CycloneDX", "components": [{"name": "bash"}]}');
  await assert.rejects(
    scan(),
    /malformed SBOM .*bad\.cdx\.json: components\[0\] has no name or version/,
  );
  assert.deepEqual(fetch.urls, []);
});

test('an unreachable mirror stops the scan with a ScanError naming the URL', async () => {
  const failing: Fetcher = () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.1:80'));
  await assert.rejects(
    scanImages({
      images: [image('keystone', outdated)],
      source: fakeSource,
      fetch: failing,
      cacheDir: join(work, 'cache-down'),
    }),
    (err: Error) =>
      err instanceof ScanError &&
      err.message ===
        `could not fetch ${base}/debian/dists/trixie-updates/InRelease: connect ECONNREFUSED 10.0.0.1:80`,
  );
});

// ---- the command ----

let server: Server;
let mirrorUrl: string;
before(async () => {
  server = createServer((req, res) => {
    const b = files.get((req.url ?? '/').slice(1));
    res.writeHead(b ? 200 : 404).end(b);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  mirrorUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

/**
 * A cache with built-image records and their SBOMs, as `images build` leaves them (of the
 * release's tag, or of `tag` under tags/); none of the images is in the image store.
 */
function builtCache(
  images: Record<string, DebPackage[] | string>,
  o: { root?: string; tag?: string } = {},
): string {
  const root = o.root ?? mkdtempSync(join(work, 'cli-'));
  const tag = o.tag ?? '2025.1';
  const dir = join(root, 'images', 'images', '2025.1', ...(o.tag ? ['tags', tag] : []));
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(images)) {
    const reference = `localhost:5001/stackanetes/${name}:${tag}`;
    const manifestDigest = `sha256:${createHash('sha256').update(reference).digest('hex')}`;
    writeFileSync(
      join(dir, `${name}.json`),
      JSON.stringify({
        name,
        reference,
        release: '2025.1',
        manifestDigest,
        sbom: join(dir, `${name}.cdx.json`),
      }),
    );
    if (typeof content === 'string') writeFileSync(join(dir, `${name}.cdx.json`), content);
    else sbomFile(name, content, dir);
  }
  return root;
}

function scanCli(args: string[], cache: string, mirror = mirrorUrl, command = 'scan') {
  return runCli(['images', command, ...args], undefined, {
    STACKANETES_CACHE: cache,
    STACKANETES_DEBIAN_MIRROR: `${mirror}/debian`,
    STACKANETES_DEBIAN_SECURITY_MIRROR: `${mirror}/debian-security`,
  });
}

test('images scan exits 1 with findings, printing each with its CVEs (and as JSON)', async () => {
  const cache = builtCache({ keystone: outdated, mariadb: upToDate });
  const text = await scanCli([], cache);
  assert.equal(text.code, 1, text.stderr);
  assert.match(
    text.stdout,
    /^keystone \(localhost:5001\/stackanetes\/keystone:2025\.1\): 3 packages with fixes, 3 CVEs$/m,
  );
  assert.match(
    text.stdout,
    /^ {2}libssl3t64 +3\.5\.1-1 +→ 3\.5\.1-1\+deb13u1 +trixie-security +CVE-2025-9230 CVE-2025-9231 CVE-2025-9232$/m,
  );
  assert.match(text.stdout, /^ {2}tzdata .*trixie-updates +no CVE named$/m);
  assert.match(text.stdout, /^mariadb \(.*\): 0 packages with fixes, 0 CVEs$/m);
  assert.match(text.stderr, /2 images, 9 packages .*: 3 findings, 3 CVEs/);

  const json = await scanCli(['keystone', '--json'], cache);
  assert.equal(json.code, 1, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.deepEqual(
    doc.images.map((i: { name: string }) => i.name),
    ['keystone'],
  );
  assert.deepEqual(doc.images[0].findings[1], {
    package: 'openssl',
    arch: 'amd64',
    source: 'openssl',
    installed: '3.5.1-1',
    fixed: '3.5.1-1+deb13u1',
    suite: 'trixie-security',
    cves: ['CVE-2025-9230', 'CVE-2025-9231', 'CVE-2025-9232'],
  });
  assert.equal(doc.findings, 3);
});

test('images scan exits 0 when every image is up to date', async () => {
  const r = await scanCli(['mariadb'], builtCache({ mariadb: upToDate }));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^mariadb .*: 0 packages with fixes, 0 CVEs$/m);
});

test('images scan exits 2 on a malformed SBOM, naming the file', async () => {
  const cache = builtCache({ keystone: '{"components": 3}' });
  const r = await scanCli(['keystone'], cache);
  assert.equal(r.code, 2);
  assert.ok(
    r.stderr.includes(
      `malformed SBOM ${join(cache, 'images', 'images', '2025.1', 'keystone.cdx.json')}`,
    ),
    r.stderr,
  );
});

test('images scan exits 2 on an unreachable mirror, naming the URL', async () => {
  // a port that was free a moment ago: nothing answers there
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
  const r = await scanCli([], builtCache({ keystone: outdated }), `http://127.0.0.1:${port}`);
  assert.equal(r.code, 2);
  assert.match(
    r.stderr,
    new RegExp(
      `could not fetch http://127\\.0\\.0\\.1:${port}/debian/dists/trixie-updates/InRelease: .*ECONNREFUSED`,
    ),
  );
});

test('images scan exits 2 for an unknown image (listing the known ones), one not built, none built, or a mistyped option', async () => {
  const cache = builtCache({ keystone: outdated });
  const unknown = await scanCli(['keystone', 'nova-apix'], cache);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown image nova-apix; images: .*keystone.*nova-api/);
  const missing = await scanCli(['mariadb'], cache);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /mariadb \(2025\.1\) has not been built/);
  const none = await scanCli([], mkdtempSync(join(work, 'empty-')));
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no image of 2025\.1 has been built/);
  const typo = await scanCli(['--jsno'], cache);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown option '--jsno'/);
  const help = await scanCli(['--help'], cache);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Exit status: 0 no package has a newer version, 1 some have/);
});

test('images scan --tag scans the images of that tag; a reference or a digest names one image', async () => {
  const cache = builtCache({ keystone: upToDate });
  builtCache({ keystone: outdated }, { root: cache, tag: '2025.1-without-updates' });
  const normal = await scanCli([], cache);
  assert.equal(normal.code, 0, normal.stderr);
  const old = await scanCli(['--tag', '2025.1-without-updates'], cache);
  assert.equal(old.code, 1, old.stderr);
  assert.match(
    old.stdout,
    /^keystone \(localhost:5001\/stackanetes\/keystone:2025\.1-without-updates\): 3 packages with fixes/m,
  );
  const byRef = await scanCli(
    ['localhost:5001/stackanetes/keystone:2025.1-without-updates'],
    cache,
  );
  assert.equal(byRef.code, 1, byRef.stderr);
  const digest = `sha256:${createHash('sha256').update('localhost:5001/stackanetes/keystone:2025.1').digest('hex')}`;
  const byDigest = await scanCli([digest, '--json'], cache);
  assert.equal(byDigest.code, 0, byDigest.stderr);
  assert.equal(
    JSON.parse(byDigest.stdout).images[0].reference,
    'localhost:5001/stackanetes/keystone:2025.1',
  );
  const unknown = await scanCli([`sha256:${'0'.repeat(64)}`], cache);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no built image has the reference or manifest digest sha256:0{64}/);
  const notThere = await scanCli(['mariadb', '--tag', '2025.1-without-updates'], cache);
  assert.equal(notThere.code, 2);
  assert.match(
    notThere.stderr,
    /mariadb \(2025\.1, tag 2025\.1-without-updates\) has not been built; run `stackanetes images build --only mariadb --without-updates`/,
  );
});

test('images fix leaves images without findings as they are and exits 0', async () => {
  const cache = builtCache({ mariadb: upToDate });
  const r = await scanCli(['mariadb'], cache, mirrorUrl, 'fix');
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /^mariadb: localhost:5001\/stackanetes\/mariadb:2025\.1 \(sha256:[0-9a-f]{12}\) has no findings: not changed$/m,
  );
  assert.match(r.stdout, /^mariadb .*: 0 packages with fixes, 0 CVEs$/m);
  assert.match(r.stderr, /fixed 0 of 1 images in .*; results: 1 images, .*: 0 findings/);
  const json = await scanCli(['mariadb', '--json'], cache, mirrorUrl, 'fix');
  assert.equal(json.code, 0, json.stderr);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.images[0].to, undefined);
  assert.equal(doc.scan.findings, 0);
});

test('images fix exits 2 saying why when it cannot: bad arguments, nothing built, an image not in the store', async () => {
  const cache = builtCache({ keystone: outdated });
  const fix = (args: string[], c = cache) => scanCli(args, c, mirrorUrl, 'fix');
  const unknown = await fix(['nova-apix']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown image nova-apix; images: .*keystone/);
  const missing = await fix(['mariadb']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /mariadb \(2025\.1\) has not been built/);
  const none = await fix(['--tag', '2025.1-without-updates']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no image of 2025\.1 tagged 2025\.1-without-updates has been built/);
  const badTag = await fix(['--tag', '../../etc']);
  assert.equal(badTag.code, 2);
  assert.match(badTag.stderr, /--tag: tag "..\/..\/etc" is not a valid image tag/);
  const release = await fix(['--release', '1999.1']);
  assert.equal(release.code, 2);
  assert.match(release.stderr, /--release "1999\.1" is not known/);
  const typo = await fix(['--jsno']);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown option '--jsno'/);
  // the record is there, its layers are not (or this is not root): the fix cannot be made
  const store = await fix(['keystone']);
  assert.equal(store.code, 2, store.stdout);
  assert.match(
    store.stderr,
    /could not fix localhost:5001\/stackanetes\/keystone:2025\.1: (.* is not in the image store|making an image needs root)/,
  );
  const help = await fix(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /images fix keystone --tag 2025\.1-without-updates/);
  assert.match(
    help.stdout,
    /Exit status: 0 the results have no findings, 1 some remain, 2 could not/,
  );
});
