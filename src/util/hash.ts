// The one hash the project names things by.
import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 of `data` (text as UTF-8), as 64 hex digits. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Whether two secrets (tokens, passwords) are equal, in a time that does not tell how nearly. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
