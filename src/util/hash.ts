// The one hash the project names things by.
import { createHash } from 'node:crypto';

/** SHA-256 of `data` (text as UTF-8), as 64 hex digits. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
