// Stable content hashes: objects are serialised with sorted keys so the hash depends only on
// content. Used for config-hash annotations and for naming Jobs by their inputs.
import { createHash } from 'node:crypto';

export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>).sort(([a], [b]) =>
          a < b ? -1 : a > b ? 1 : 0,
        ),
      );
    }
    return v;
  });
}

/** Hex SHA-256 of the stable serialisation, cut to `length` characters. */
export function contentHash(value: unknown, length = 10): string {
  const text = typeof value === 'string' ? value : stableJson(value);
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}
