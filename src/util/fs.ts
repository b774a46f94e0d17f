// Small file-system questions the standard library answers only by throwing.
import { access } from 'node:fs/promises';

/** Whether something (file, directory, socket) is at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
