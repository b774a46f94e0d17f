// The release catalogs Stackanetes knows. Adding a release is adding a file here.
import { catalog as epoxy } from './2025.1.ts';
import type { ReleaseCatalog } from './types.ts';

const catalogs: Readonly<Record<string, ReleaseCatalog>> = {
  [epoxy.source.release]: epoxy,
};

export function knownReleases(): string[] {
  return Object.keys(catalogs).sort();
}

export function getCatalog(release: string): ReleaseCatalog {
  const c = catalogs[release];
  if (!c) {
    throw new Error(
      `unknown release ${JSON.stringify(release)}; known: ${knownReleases().join(', ')}`,
    );
  }
  return c;
}

export type * from './types.ts';
