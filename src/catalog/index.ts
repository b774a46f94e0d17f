// The release catalogs Stackanetes knows. Adding a release is adding a file here.
import { catalog as epoxy } from './2025.1.ts';
import { catalog as gazpacho } from './2026.1.ts';
import type { ReleaseCatalog, ServiceDef } from './types.ts';

const catalogs: Readonly<Record<string, ReleaseCatalog>> = {
  [epoxy.source.release]: epoxy,
  [gazpacho.source.release]: gazpacho,
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

/**
 * The services that have `what` in any known release, in catalog order: a cloud's secrets cover
 * every release it may move to.
 */
export function servicesWith(what: (def: ServiceDef) => boolean): string[] {
  const out = new Set<string>();
  for (const c of Object.values(catalogs)) {
    for (const [name, def] of Object.entries(c.services)) if (what(def)) out.add(name);
  }
  return [...out];
}

export type * from './types.ts';
