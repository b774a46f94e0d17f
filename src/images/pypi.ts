// Python packages in the images of a `source` release (Kolla's "source" install type): the
// release's packages from PyPI, pinned, in one virtualenv per image. Names, pins and the shell
// that installs them; build.ts runs it, sbom.ts lists what it installed.

/** Where every source image has its virtualenv (Kolla's path). */
export const venvPath = '/var/lib/kolla/venv';

/** A name as PEP 503 normalises it (and as a `pkg:pypi` purl writes it): `oslo.config` → `oslo-config`. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

export interface PythonPackage {
  readonly name: string;
  readonly version: string;
}

/** `pkg:pypi/<name>@<version>` (purl-spec: the name lower-cased, `_` written as `-`). */
export function pypiPurl(p: PythonPackage): string {
  return `pkg:pypi/${encodeURIComponent(normalizeName(p.name))}@${encodeURIComponent(p.version)}`;
}

/** The pins as a pip constraints file (`name==version`, one a line, sorted). */
export function constraintsFile(pins: Readonly<Record<string, string>>): string {
  return (
    Object.entries(pins)
      .map(([n, v]) => `${normalizeName(n)}==${v}`)
      .sort()
      .join('\n') + '\n'
  );
}

/** Names in `wanted` that have no pin (each package a recipe installs must have one). */
export function unpinned(
  wanted: readonly string[],
  pins: Readonly<Record<string, string>>,
): string[] {
  const have = new Set(Object.keys(pins).map(normalizeName));
  return wanted.filter((n) => !have.has(normalizeName(n)));
}

/**
 * Parses what venvListing prints: `name<TAB>version` a line, sorted by normalised name. Empty
 * text (no virtualenv in the image) is no packages.
 */
export function parsePythonListing(text: string): PythonPackage[] {
  const out: PythonPackage[] = [];
  for (const line of text.split('\n')) {
    const [name, version] = line.split('\t');
    if (name && version) out.push({ name: name.trim(), version: version.trim() });
  }
  return out.sort((a, b) => normalizeName(a.name).localeCompare(normalizeName(b.name)));
}

/**
 * Python (run with the virtualenv's interpreter) that prints every distribution installed in it,
 * `name<TAB>version` a line: what the SBOM lists.
 */
export const venvListing =
  "import importlib.metadata as m\nfor d in m.distributions(): print(d.metadata['Name'], d.version, sep='\\t')";

/**
 * Python (run with the virtualenv's interpreter, the pins file its argument) that exits 1, naming
 * them, when a distribution in the virtualenv is not pinned or not at its pin.
 */
export const venvCheck = `import importlib.metadata as m, re, sys
norm = lambda n: re.sub(r'[-_.]+', '-', n).lower()
pins = dict(l.strip().split('==', 1) for l in open(sys.argv[1]) if '==' in l)
bad = sorted(f"{d.metadata['Name']} {d.version} (pinned: {pins.get(norm(d.metadata['Name']), 'no')})" for d in m.distributions() if pins.get(norm(d.metadata['Name'])) != d.version)
if bad:
    print('not at their pins:', *bad, sep='\\n  ')
    sys.exit(1)`;
