// `images scan`: which Debian packages of the built images have a newer version in the
// release's -security or -updates suite, and which CVEs those versions fix. Installed versions
// come from each image's CycloneDX SBOM; newer versions from the suites' binary Packages
// indexes (found through their InRelease); CVE IDs from the fixed package's own
// changelog.Debian.gz, the entries after the installed version. Downloads are cached under
// ~/.cache/stackanetes/scan/: an index by suite and the sha256 its InRelease gives it (a changed
// index is fetched again and replaces the old one), a changelog by source package and version.
// Nothing else is written.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { run } from '../util/exec.ts';
import { compareDebianVersions } from './debversion.ts';
import { defaultCacheRoot } from './paths.ts';
import type { AptSource } from './rootfs.ts';
import { sbomPackages, type CycloneDx } from './sbom.ts';
import { sha256 } from '../util/hash.ts';

/** The scan could not be done (exit 2): an unreadable SBOM, an unreachable mirror, … */
export class ScanError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScanError';
  }
}

/** Returns the body of a URL, or throws saying why not. */
export type Fetcher = (url: string) => Promise<Uint8Array>;

export const httpFetcher: Fetcher = async (url) => {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(120_000) });
  } catch (err) {
    const cause = err instanceof Error ? (err.cause as Error | undefined) : undefined;
    throw new Error(cause?.message ?? (err instanceof Error ? err.message : String(err)), {
      cause: err,
    });
  }
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
};

export function scanCacheRoot(): string {
  return join(dirname(defaultCacheRoot()), 'scan');
}

// ---- Debian's files ----

/** Fields of a deb822 file (Packages, Release): one record per paragraph, continuation lines joined. */
export function parseDeb822(text: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  let rec: Record<string, string> = {};
  let last = '';
  for (const line of text.split('\n')) {
    if (!line.trim()) {
      if (Object.keys(rec).length) out.push(rec);
      rec = {};
      last = '';
    } else if (line.startsWith(' ') || line.startsWith('\t')) {
      if (last) rec[last] += `\n${line.trim()}`;
    } else {
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      last = line.slice(0, colon);
      rec[last] = line.slice(colon + 1).trim();
    }
  }
  if (Object.keys(rec).length) out.push(rec);
  return out;
}

export interface ReleaseFile {
  readonly date: string;
  /** path under dists/<suite>/ → sha256 and size */
  readonly files: ReadonlyMap<string, { sha256: string; size: number }>;
}

/** An InRelease (or Release) file: its Date and the SHA256 list. The signature is not checked. */
export function parseRelease(text: string): ReleaseFile {
  const signed = text.split('\n-----BEGIN PGP SIGNATURE-----')[0]!;
  const body = signed.startsWith('-----BEGIN PGP SIGNED MESSAGE-----')
    ? signed.slice(signed.indexOf('\n\n') + 2)
    : signed;
  const rec = parseDeb822(body)[0] ?? {};
  const files = new Map<string, { sha256: string; size: number }>();
  for (const line of (rec.SHA256 ?? '').split('\n')) {
    const [sha256, size, path] = line.trim().split(/\s+/);
    if (sha256 && size && path) files.set(path, { sha256, size: Number(size) });
  }
  return { date: rec.Date ?? '', files };
}

export interface IndexEntry {
  readonly package: string;
  readonly version: string;
  readonly arch: string;
  readonly source: string;
  readonly sourceVersion: string;
  /** Path of the .deb under the mirror's root. */
  readonly filename: string;
  readonly size: number;
  readonly sha256: string;
}

/** A binary Packages index. */
export function parsePackages(text: string): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const r of parseDeb822(text)) {
    if (!r.Package || !r.Version || !r.Filename) continue;
    // `Source: openssl` or `Source: openssl (3.5.1-1)` when the binary's version differs
    const m = /^(\S+)(?:\s+\((\S+)\))?/.exec(r.Source ?? '');
    out.push({
      package: r.Package,
      version: r.Version,
      arch: r.Architecture ?? '',
      source: m?.[1] ?? r.Package,
      sourceVersion: m?.[2] ?? r.Version,
      filename: r.Filename,
      size: Number(r.Size) || 0,
      sha256: r.SHA256 ?? '',
    });
  }
  return out;
}

export interface ChangelogEntry {
  readonly source: string;
  readonly version: string;
  readonly distribution: string;
  readonly cves: readonly string[];
}

const cvePattern = /CVE-\d{4}-\d{4,}/g;

/** A debian/changelog: its entries, newest first, each with the CVE IDs its text names. */
export function parseChangelog(text: string): ChangelogEntry[] {
  const out: { source: string; version: string; distribution: string; cves: Set<string> }[] = [];
  for (const line of text.split('\n')) {
    const head = /^(\S+) \(([^()\s]+)\) ([^;]*);/.exec(line);
    if (head) {
      out.push({ source: head[1]!, version: head[2]!, distribution: head[3]!, cves: new Set() });
      continue;
    }
    const entry = out.at(-1);
    if (entry) for (const cve of line.match(cvePattern) ?? []) entry.cves.add(cve);
  }
  return out.map((e) => ({ ...e, cves: [...e.cves].sort() }));
}

/** The CVE IDs of the entries after `installed` up to and including `fixed`. */
export function cvesBetween(
  entries: readonly ChangelogEntry[],
  installed: string,
  fixed: string,
): string[] {
  const cves = new Set<string>();
  for (const e of entries) {
    if (
      compareDebianVersions(e.version, installed) > 0 &&
      compareDebianVersions(e.version, fixed) <= 0
    )
      for (const c of e.cves) cves.add(c);
  }
  return sortCves(cves);
}

function sortCves(cves: Iterable<string>): string[] {
  const key = (c: string): [number, number] => {
    const [, y, n] = c.split('-');
    return [Number(y), Number(n)];
  };
  return [...new Set(cves)].sort((a, b) => {
    const [ya, na] = key(a);
    const [yb, nb] = key(b);
    return ya - yb || na - nb;
  });
}

// ---- SBOMs ----

export type InstalledPackage = ReturnType<typeof sbomPackages>[number];

/** The packages of an SBOM written by `images build`; a ScanError names the file when it is not one. */
export async function readSbom(file: string): Promise<InstalledPackage[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ScanError(`cannot read the SBOM ${file}: ${(err as Error).message}`);
  }
  let bom: CycloneDx;
  try {
    bom = JSON.parse(text) as CycloneDx;
  } catch (err) {
    throw new ScanError(`malformed SBOM ${file}: ${(err as Error).message}`);
  }
  if (!bom || typeof bom !== 'object' || !Array.isArray(bom.components)) {
    throw new ScanError(`malformed SBOM ${file}: no "components" list (CycloneDX expected)`);
  }
  bom.components.forEach((c, i) => {
    if (typeof c?.name !== 'string' || typeof c.version !== 'string' || !c.name || !c.version) {
      throw new ScanError(`malformed SBOM ${file}: components[${i}] has no name or version`);
    }
    if (c.properties !== undefined && !Array.isArray(c.properties)) {
      throw new ScanError(`malformed SBOM ${file}: components[${i}].properties is not a list`);
    }
  });
  return sbomPackages(bom);
}

// ---- the scan ----

export interface ScanImage {
  readonly name: string;
  readonly reference: string;
  /** The CycloneDX file `images build` wrote. */
  readonly sbom: string;
}

export interface Finding {
  readonly package: string;
  readonly arch: string;
  readonly source: string;
  readonly installed: string;
  readonly fixed: string;
  readonly suite: string;
  readonly cves: readonly string[];
  /** Set when no changelog could be read from the fixed package: its CVEs are unknown. */
  readonly note?: string;
}

export interface ImageScan {
  readonly name: string;
  readonly reference: string;
  readonly sbom: string;
  readonly packages: number;
  readonly findings: readonly Finding[];
  /** Distinct CVE IDs over all findings. */
  readonly cves: readonly string[];
}

export interface ScannedIndex {
  readonly suite: string;
  readonly url: string;
  /** The InRelease's Date. */
  readonly date: string;
  readonly sha256: string;
  readonly packages: number;
  readonly cached: boolean;
}

export interface ScanReport {
  readonly suite: string;
  readonly arch: string;
  readonly indexes: readonly ScannedIndex[];
  readonly images: readonly ImageScan[];
  /** Findings over all images (a package in two images counts twice). */
  readonly findings: number;
  /** Distinct CVE IDs over all images. */
  readonly cves: number;
  readonly seconds: number;
}

export interface ScanOptions {
  readonly images: readonly ScanImage[];
  readonly source: AptSource;
  readonly fetch?: Fetcher;
  /** Default ~/.cache/stackanetes/scan ($STACKANETES_CACHE/scan). */
  readonly cacheDir?: string;
  /** Architecture of the images' packages; default amd64. */
  readonly arch?: string;
  readonly onProgress?: (message: string) => void;
}

interface SuiteIndex {
  readonly suite: string;
  readonly base: string;
  readonly entries: readonly IndexEntry[];
}

function kb(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${Math.ceil(bytes / 1e3)} KB`;
}

async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

/** `xz -dc`, bytes in, bytes out. */
function unxz(data: Uint8Array, what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn('xz', ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.stdin.on('error', () => undefined);
    child.on('error', (e) =>
      reject(
        new ScanError(`cannot run xz to read ${what} (apt-get install xz-utils): ${e.message}`),
      ),
    );
    child.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(out))
        : reject(new ScanError(`xz could not read ${what}: ${err.trim()}`)),
    );
    child.stdin.end(data);
  });
}

class Scanner {
  private readonly fetcher: Fetcher;
  private readonly cache: string;
  readonly progress: (m: string) => void;

  constructor(opts: ScanOptions) {
    this.fetcher = opts.fetch ?? httpFetcher;
    this.cache = opts.cacheDir ?? scanCacheRoot();
    this.progress = opts.onProgress ?? ((): void => undefined);
  }

  async get(url: string): Promise<Uint8Array> {
    try {
      return await this.fetcher(url);
    } catch (err) {
      throw new ScanError(
        `could not fetch ${url}: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }

  /** A suite's binary Packages index for `arch`, from the cache when its InRelease hash matches. */
  async index(base: string, suite: string, arch: string): Promise<[SuiteIndex, ScannedIndex]> {
    const dists = `${base}/dists/${suite}`;
    const release = parseRelease(Buffer.from(await this.get(`${dists}/InRelease`)).toString());
    const candidates = ['gz', 'xz'].map((ext) => `main/binary-${arch}/Packages.${ext}`);
    const path = candidates.find((p) => release.files.has(p));
    if (!path) {
      throw new ScanError(
        `${dists}/InRelease lists none of ${candidates.join(', ')}: not a Debian suite with ${arch} packages`,
      );
    }
    const url = `${dists}/${path}`;
    const want = release.files.get(path)!;
    const dir = join(this.cache, 'indexes');
    const prefix = `${suite}_${arch}_`;
    const file = join(dir, `${prefix}${want.sha256}.Packages`);
    let text: string | undefined;
    if (existsSync(file)) text = await readFile(file, 'utf8').catch(() => undefined);
    const cached = text !== undefined;
    if (text === undefined) {
      const data = await this.get(url);
      const got = sha256(data);
      if (got !== want.sha256) {
        throw new ScanError(
          `${url} has sha256 ${got}, its InRelease says ${want.sha256} (the mirror may be mid-update: try again)`,
        );
      }
      text = (path.endsWith('.gz') ? gunzipSync(data) : await unxz(data, url)).toString('utf8');
      await writeAtomic(file, text);
      // the index this one replaces
      for (const old of await readdir(dir)) {
        if (old.startsWith(prefix) && join(dir, old) !== file)
          await rm(join(dir, old), { force: true });
      }
      this.progress(`${suite}: ${path} downloaded (${kb(data.length)}), dated ${release.date}`);
    } else {
      this.progress(`${suite}: ${path} cached, dated ${release.date}`);
    }
    const entries = parsePackages(text);
    return [
      { suite, base, entries },
      { suite, url, date: release.date, sha256: want.sha256, packages: entries.length, cached },
    ];
  }

  /**
   * The changelog of a source package at a version, from the smallest of its binaries that has
   * one (a binary whose doc directory is a link to another's has none); undefined if none of the
   * three smallest has (remembered: they are not downloaded again).
   */
  async changelog(
    index: SuiteIndex,
    entry: IndexEntry,
  ): Promise<{ text: string | undefined; cached: boolean }> {
    const file = join(
      this.cache,
      'changelogs',
      `${entry.source}_${entry.sourceVersion.replace(/:/g, '%3a')}.changelog`,
    );
    const cached = await readFile(file, 'utf8').catch(() => undefined);
    if (cached !== undefined) return { text: cached, cached: true };
    // its binaries had none last time: not downloaded again
    if (existsSync(`${file}.none`)) return { text: undefined, cached: true };
    const binaries = index.entries
      .filter((e) => e.source === entry.source && e.sourceVersion === entry.sourceVersion)
      .sort((a, b) => a.size - b.size || a.package.localeCompare(b.package))
      .slice(0, 3);
    for (const bin of binaries) {
      const url = `${index.base}/${bin.filename}`;
      const deb = await this.get(url);
      if (bin.sha256 && sha256(deb) !== bin.sha256) {
        throw new ScanError(`${url} does not have the sha256 its Packages index gives`);
      }
      const text = await debChangelog(deb, bin.package);
      if (text !== undefined) {
        await writeAtomic(file, text);
        return { text, cached: false };
      }
    }
    await writeAtomic(`${file}.none`, binaries.map((b) => b.filename).join('\n') + '\n');
    return { text: undefined, cached: false };
  }
}

/** usr/share/doc/<pkg>/changelog.Debian.gz of a .deb (or of another doc directory it has), as text. */
export async function debChangelog(deb: Uint8Array, pkg: string): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'stackanetes-scan-'));
  try {
    await writeFile(join(dir, 'p.deb'), deb);
    const r = await run('dpkg-deb', ['-x', join(dir, 'p.deb'), join(dir, 'root')], {
      allowFailure: true,
    });
    if (r.code !== 0) throw new ScanError(`dpkg-deb -x ${pkg}.deb: ${r.stderr.trim()}`);
    const doc = join(dir, 'root', 'usr', 'share', 'doc');
    const dirs = await readdir(doc).catch(() => [] as string[]);
    const order = [pkg, ...dirs.filter((d) => d !== pkg).sort()];
    for (const name of ['changelog.Debian.gz', 'changelog.gz']) {
      for (const d of order) {
        const data = await readFile(join(doc, d, name)).catch(() => undefined);
        if (data) return gunzipSync(data).toString('utf8');
      }
    }
    return undefined;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function pool<T>(
  items: readonly T[],
  width: number,
  fn: (t: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

/** Scans the images; throws ScanError when it cannot. */
export async function scanImages(opts: ScanOptions): Promise<ScanReport> {
  const started = Date.now();
  const arch = opts.arch ?? 'amd64';
  const scanner = new Scanner(opts);
  // SBOMs first: a malformed one stops the scan before anything is downloaded.
  // (by position: two images of one name, e.g. an image and its fix, are scanned side by side)
  const sboms: InstalledPackage[][] = [];
  for (const img of opts.images) sboms.push(await readSbom(img.sbom));

  const indexes: [SuiteIndex, ScannedIndex][] = [];
  for (const s of opts.source.extraSuites) {
    const base = s.uri === 'debian-security' ? opts.source.securityMirror : opts.source.mirror;
    indexes.push(await scanner.index(base.replace(/\/+$/, ''), s.suite, arch));
  }
  // the newest version of each package over the suites
  const newest = new Map<string, { entry: IndexEntry; index: SuiteIndex }>();
  for (const [index] of indexes) {
    for (const entry of index.entries) {
      const had = newest.get(entry.package);
      if (!had || compareDebianVersions(entry.version, had.entry.version) > 0)
        newest.set(entry.package, { entry, index });
    }
  }

  const pending = opts.images.map((img, i) => ({
    img,
    packages: sboms[i]!,
    updates: sboms[i]!.filter((p) => p.arch === arch || p.arch === 'all').flatMap((p) => {
      const n = newest.get(p.name);
      return n && compareDebianVersions(n.entry.version, p.version) > 0 ? [{ p, ...n }] : [];
    }),
  }));

  // one changelog per source package and fixed version
  const wanted = new Map<string, { entry: IndexEntry; index: SuiteIndex }>();
  for (const u of pending.flatMap((x) => x.updates)) {
    wanted.set(`${u.entry.source} ${u.entry.sourceVersion}`, u);
  }
  const changelogs = new Map<string, ChangelogEntry[] | undefined>();
  let done = 0;
  await pool([...wanted], 4, async ([key, { entry, index }]) => {
    const { text, cached } = await scanner.changelog(index, entry);
    changelogs.set(key, text === undefined ? undefined : parseChangelog(text));
    scanner.progress(
      `changelog ${entry.source} ${entry.sourceVersion} (${++done}/${wanted.size})${cached ? ' cached' : ''}${text === undefined ? ': none in its packages' : ''}`,
    );
  });

  const images: ImageScan[] = pending.map(({ img, packages, updates }) => {
    const findings: Finding[] = updates.map(({ p, entry, index }) => {
      const log = changelogs.get(`${entry.source} ${entry.sourceVersion}`);
      return {
        package: p.name,
        arch: p.arch,
        source: entry.source,
        installed: p.version,
        fixed: entry.version,
        suite: index.suite,
        cves: log ? cvesBetween(log, p.sourceVersion, entry.sourceVersion) : [],
        ...(log
          ? {}
          : { note: `no changelog in the ${entry.source} ${entry.sourceVersion} packages` }),
      };
    });
    return {
      name: img.name,
      reference: img.reference,
      sbom: img.sbom,
      packages: packages.length,
      findings,
      cves: sortCves(findings.flatMap((f) => f.cves)),
    };
  });
  return {
    suite: opts.source.suite,
    arch,
    indexes: indexes.map(([, s]) => s),
    images,
    findings: images.reduce((n, i) => n + i.findings.length, 0),
    cves: new Set(images.flatMap((i) => i.cves)).size,
    seconds: (Date.now() - started) / 1000,
  };
}
