// Which OpenStack releases Stackanetes knows, and where each one's code comes from.

/**
 * How a release's OpenStack code gets into the images: Debian's packages of a suite that carries
 * the whole release (`debian`), or the release's Python packages from PyPI pinned by that
 * release's constraints, installed into a virtual environment on the same Debian base (Kolla's
 * "source" install type, `source`).
 */
export type InstallType = 'debian' | 'source';

export interface ReleaseSource {
  /** OpenStack release name as the spec writes it, e.g. `2025.1`. */
  readonly release: string;
  /** Code name, e.g. `epoxy`. */
  readonly codename: string;
  /**
   * Debian suite of the images' base (and, for `debian` installs, of the OpenStack packages):
   * MariaDB, RabbitMQ, Open vSwitch and OVN always come from here.
   */
  readonly debianSuite: string;
  readonly install: InstallType;
  /** Default image tag for this release. */
  readonly imageTag: string;
}

export const releaseSources: Readonly<Record<string, ReleaseSource>> = {
  '2025.1': {
    release: '2025.1',
    codename: 'epoxy',
    debianSuite: 'trixie',
    install: 'debian',
    imageTag: '2025.1',
  },
  // No Debian suite carries the whole of 2026.1 (forky mixes 2026.1 and 2026.2, without glance):
  // its services come from PyPI (src/images/README.md says how).
  '2026.1': {
    release: '2026.1',
    codename: 'gazpacho',
    debianSuite: 'trixie',
    install: 'source',
    imageTag: '2026.1',
  },
};

export function releaseSource(release: string): ReleaseSource {
  const r = releaseSources[release];
  if (!r) {
    throw new Error(
      `unknown release ${JSON.stringify(release)}; known: ${Object.keys(releaseSources).join(', ')}`,
    );
  }
  return r;
}
