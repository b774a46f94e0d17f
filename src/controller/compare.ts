// Does a live object already say everything the desired one says? Used to skip writes when
// nothing changed (no API writes in a steady state) while still reverting hand edits to fields
// Stackanetes sets. Fields the server adds (defaults, status) are ignored.

/** True when every field of `desired` is present in `live` with an equal value. */
export function contains(live: unknown, desired: unknown): boolean {
  if (desired === null || desired === undefined) return live === desired || live === undefined;
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return false;
    return desired.every((d, i) => contains(live[i], d));
  }
  if (typeof desired === 'object') {
    if (!live || typeof live !== 'object' || Array.isArray(live)) {
      // An empty desired object matches an absent one (the server drops empty structs).
      return Object.keys(desired).length === 0 && (live === undefined || live === null);
    }
    const l = live as Record<string, unknown>;
    return Object.entries(desired as Record<string, unknown>).every(([k, v]) =>
      v === undefined ? true : contains(l[k], v),
    );
  }
  if (typeof desired === 'number' || typeof desired === 'string' || typeof desired === 'boolean') {
    return live === desired || String(live) === String(desired);
  }
  return false;
}

/** Secrets are rendered with stringData; the server stores base64 `data`. Compare and apply as data. */
export function secretAsData<T extends { kind: string }>(obj: T): T {
  const o = obj as T & { stringData?: Record<string, string>; data?: Record<string, string> };
  if (o.kind !== 'Secret' || !o.stringData) return obj;
  const data: Record<string, string> = { ...(o.data ?? {}) };
  for (const [k, v] of Object.entries(o.stringData))
    data[k] = Buffer.from(v, 'utf8').toString('base64');
  const { stringData: _drop, ...rest } = o;
  return { ...rest, data } as T;
}
