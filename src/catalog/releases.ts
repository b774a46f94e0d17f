// Which OpenStack releases Stackanetes knows, and where each one's packages come from.
export interface ReleaseSource {
  /** OpenStack release name as the spec writes it, e.g. `2025.1`. */
  readonly release: string;
  /** Code name, e.g. `epoxy`. */
  readonly codename: string;
  /** Debian suite whose packages carry this release. */
  readonly debianSuite: string;
  /** Default image tag for this release. */
  readonly imageTag: string;
}

export const releaseSources: Readonly<Record<string, ReleaseSource>> = {
  '2025.1': { release: '2025.1', codename: 'epoxy', debianSuite: 'trixie', imageTag: '2025.1' },
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
