// Which release-to-release upgrades upstream supports, and which of them Stackanetes can make.
//
// OpenStack supports an upgrade between adjacent releases, and between two SLURP releases
// (Skip Level Upgrade Release Process: every `<year>.1` since 2023.1) directly, skipping the
// release between them. Nothing else: no downgrades, no skipping a non-SLURP release.

/** Upstream's release series, oldest first. */
export const series: readonly { readonly release: string; readonly slurp: boolean }[] = [
  { release: '2023.1', slurp: true },
  { release: '2023.2', slurp: false },
  { release: '2024.1', slurp: true },
  { release: '2024.2', slurp: false },
  { release: '2025.1', slurp: true },
  { release: '2025.2', slurp: false },
  { release: '2026.1', slurp: true },
  { release: '2026.2', slurp: false },
];

const position = (release: string): number => series.findIndex((s) => s.release === release);

/** Upstream supports `from` → `to`: the next release, or the next SLURP release from a SLURP one. */
export function upstreamAllows(from: string, to: string): boolean {
  const i = position(from);
  const j = position(to);
  if (i < 0 || j < 0 || j <= i) return false;
  if (j === i + 1) return true;
  return j === i + 2 && series[i]!.slurp && series[j]!.slurp;
}

/** Where upstream allows going from `from`, with why (adjacent or SLURP), in series order. */
export function upstreamTargets(from: string): { release: string; why: string }[] {
  return series
    .filter((s) => upstreamAllows(from, s.release))
    .map((s) => ({
      release: s.release,
      why: position(s.release) === position(from) + 1 ? 'the next release' : 'SLURP to SLURP',
    }));
}

/** Every `from>to` upgrade upstream allows between two of `known`: what admission accepts. */
export function allowedPairs(known: readonly string[]): string[] {
  const out: string[] = [];
  for (const from of known) {
    for (const to of known) if (upstreamAllows(from, to)) out.push(`${from}>${to}`);
  }
  return out.sort();
}

/**
 * Why `from` → `to` is refused, or undefined when it is allowed (or no change). `known` are the
 * releases Stackanetes has a catalog for. The message names the allowed paths.
 */
export function upgradeRefusal(
  from: string,
  to: string,
  known: readonly string[],
): string | undefined {
  if (from === to) return undefined;
  if (upstreamAllows(from, to) && known.includes(to)) return undefined;
  const targets = upstreamTargets(from);
  const allowed = targets.length
    ? targets
        .map(
          (t) =>
            `${t.release} (${t.why}${known.includes(t.release) ? '' : '; Stackanetes has no catalog for it yet'})`,
        )
        .join(', ')
    : 'none upstream knows';
  let why: string;
  if (position(from) < 0) why = `${from} is not a release Stackanetes can upgrade from`;
  else if (position(to) < 0) why = `${to} is not an OpenStack release`;
  else if (position(to) < position(from))
    why = `${from} → ${to} is a downgrade, which OpenStack does not support`;
  else if (!upstreamAllows(from, to)) {
    const skipped = series.slice(position(from) + 1, position(to)).map((s) => s.release);
    why = `${from} → ${to} skips ${skipped.join(', ')}; upstream allows only the next release, or the next SLURP release from a SLURP release`;
  } else why = `Stackanetes has no catalog for ${to}`;
  return `${why}. From ${from} the allowed upgrades are: ${allowed}`;
}
