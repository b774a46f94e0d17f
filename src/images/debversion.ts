// Debian version ordering (Debian policy §5.6.12): [epoch:]upstream[-revision], compared epoch
// first (a number), then upstream, then revision, each by dpkg's algorithm: alternating runs of
// non-digits (compared character by character, letters before non-letters, `~` before
// everything, even the end of the string) and digits (compared as numbers).

interface Parts {
  readonly epoch: number;
  readonly upstream: string;
  readonly revision: string;
}

function parts(version: string): Parts {
  const v = version.trim();
  const colon = v.indexOf(':');
  const epoch = colon > 0 ? Number(v.slice(0, colon)) : 0;
  const rest = colon > 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf('-');
  return {
    epoch: Number.isFinite(epoch) ? epoch : 0,
    upstream: dash >= 0 ? rest.slice(0, dash) : rest,
    revision: dash >= 0 ? rest.slice(dash + 1) : '',
  };
}

/** dpkg's weight of one character in a non-digit run; 0 stands for "the run ended". */
function order(c: string | undefined): number {
  if (c === undefined || (c >= '0' && c <= '9')) return 0;
  if (c === '~') return -1;
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** dpkg's verrevcmp: one upstream version or revision against another. */
function compareFragment(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let firstDiff = 0;
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ac = order(a[i]);
      const bc = order(b[j]);
      if (ac !== bc) return ac - bc;
      i++;
      j++;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    while (isDigit(a[i]) && isDigit(b[j])) {
      if (!firstDiff) firstDiff = a.charCodeAt(i) - b.charCodeAt(j);
      i++;
      j++;
    }
    if (isDigit(a[i])) return 1;
    if (isDigit(b[j])) return -1;
    if (firstDiff) return firstDiff;
  }
  return 0;
}

/** Negative when `a` is older than `b`, 0 when equal, positive when newer. */
export function compareDebianVersions(a: string, b: string): number {
  const pa = parts(a);
  const pb = parts(b);
  if (pa.epoch !== pb.epoch) return pa.epoch - pb.epoch;
  return compareFragment(pa.upstream, pb.upstream) || compareFragment(pa.revision, pb.revision);
}
