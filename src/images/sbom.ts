// Software bill of materials: every Debian package in an image with its exact version, read
// with dpkg-query from the image's root file system, and (source releases) every Python package
// of its virtualenv, written as CycloneDX 1.5 JSON.
import { createHash } from 'node:crypto';
import { pypiPurl, type PythonPackage } from './pypi.ts';

export interface DebPackage {
  readonly name: string;
  readonly version: string;
  readonly arch: string;
  readonly source: string;
  readonly sourceVersion: string;
  /** Installed-Size in KiB. */
  readonly installedKiB: number;
}

/** Parses `dpkg-query -W -f='${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\t${db:Status-Abbrev}\t${Installed-Size}\n'`. */
export function parseDpkgQuery(text: string): DebPackage[] {
  const out: DebPackage[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [name, version, arch, source, sourceVersion, status, size] = line.split('\t');
    if (!name || !version || !status?.startsWith('ii')) continue;
    out.push({
      name,
      version,
      arch: arch ?? '',
      source: source || name,
      sourceVersion: sourceVersion || version,
      installedKiB: Number(size) || 0,
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name) || a.arch.localeCompare(b.arch));
}

export function debPurl(p: DebPackage, distro: string): string {
  const qs = [`arch=${p.arch}`, `distro=${distro}`];
  if (p.source !== p.name) qs.push(`upstream=${encodeURIComponent(p.source)}`);
  return `pkg:deb/debian/${encodeURIComponent(p.name)}@${encodeURIComponent(p.version)}?${qs.join('&')}`;
}

export interface SbomSubject {
  /** registry/name:tag */
  readonly reference: string;
  readonly manifestDigest?: string;
  readonly release: string;
  readonly debianSuite: string;
  readonly created: string;
}

export interface CycloneDxComponent {
  type: string;
  'bom-ref': string;
  name: string;
  version: string;
  purl?: string;
  properties?: { name: string; value: string }[];
}

export interface CycloneDx {
  bomFormat: 'CycloneDX';
  specVersion: '1.5';
  serialNumber: string;
  version: 1;
  metadata: {
    timestamp: string;
    tools: { components: { type: string; name: string }[] };
    component: CycloneDxComponent;
    properties: { name: string; value: string }[];
  };
  components: CycloneDxComponent[];
}

function uuidFrom(text: string): string {
  const h = createHash('sha256').update(text).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * The SBOM of an image: its Debian packages (`pkg:deb/debian/…`), then the Python packages of its
 * virtualenv (`pkg:pypi/<name>@<version>`, property `python:virtualenv`), if it has one.
 */
export function cycloneDx(
  subject: SbomSubject,
  packages: readonly DebPackage[],
  python: readonly PythonPackage[] = [],
  venv = '/var/lib/kolla/venv',
): CycloneDx {
  const colon = subject.reference.lastIndexOf(':');
  const name = subject.reference.slice(0, colon);
  const tag = subject.reference.slice(colon + 1);
  const components: CycloneDxComponent[] = packages.map((p) => {
    const purl = debPurl(p, subject.debianSuite);
    return {
      type: 'library',
      'bom-ref': purl,
      name: p.name,
      version: p.version,
      purl,
      properties: [
        { name: 'debian:arch', value: p.arch },
        { name: 'debian:source', value: p.source },
        { name: 'debian:source-version', value: p.sourceVersion },
        { name: 'debian:installed-size-kib', value: String(p.installedKiB) },
      ],
    };
  });
  for (const p of python) {
    const purl = pypiPurl(p);
    components.push({
      type: 'library',
      'bom-ref': purl,
      name: p.name,
      version: p.version,
      purl,
      properties: [{ name: 'python:virtualenv', value: venv }],
    });
  }
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${uuidFrom(`${subject.reference}@${subject.manifestDigest ?? ''}:${packages.length}${python.length ? `+${python.length}` : ''}`)}`,
    version: 1,
    metadata: {
      timestamp: subject.created,
      tools: { components: [{ type: 'application', name: 'stackanetes' }] },
      component: {
        type: 'container',
        'bom-ref': subject.reference,
        name,
        version: tag,
        ...(subject.manifestDigest
          ? {
              purl: `pkg:oci/${encodeURIComponent(name.split('/').pop() ?? name)}@${encodeURIComponent(subject.manifestDigest)}?repository_url=${encodeURIComponent(name)}&tag=${encodeURIComponent(tag)}`,
            }
          : {}),
      },
      properties: [
        { name: 'stackanetes:openstack-release', value: subject.release },
        { name: 'stackanetes:debian-suite', value: subject.debianSuite },
      ],
    },
    components,
  };
}

/** Whether a component is a Python package (a `pkg:pypi` purl), not a Debian one. */
export function isPypi(c: Pick<CycloneDxComponent, 'purl'>): boolean {
  return c.purl?.startsWith('pkg:pypi/') ?? false;
}

/**
 * The Debian packages listed in an SBOM written by `cycloneDx` (what `images scan` checks against
 * Debian's archive); Python packages are left out (sbomPythonPackages).
 */
export function sbomPackages(
  bom: CycloneDx,
): { name: string; version: string; arch: string; source: string; sourceVersion: string }[] {
  return bom.components
    .filter((c) => !isPypi(c))
    .map((c) => {
      const prop = (n: string): string | undefined =>
        c.properties?.find((p) => p.name === n)?.value;
      return {
        name: c.name,
        version: c.version,
        arch: prop('debian:arch') ?? '',
        source: prop('debian:source') ?? c.name,
        sourceVersion: prop('debian:source-version') ?? c.version,
      };
    });
}

/** The Python packages (of the virtualenv) listed in an SBOM written by `cycloneDx`. */
export function sbomPythonPackages(bom: CycloneDx): PythonPackage[] {
  return bom.components.filter(isPypi).map((c) => ({ name: c.name, version: c.version }));
}
