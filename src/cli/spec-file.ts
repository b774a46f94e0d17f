// Reading a spec file for a command: every failure becomes a CliError a person can act on.
import { readFileSync } from 'node:fs';
import type { OpenStackCloud } from '../api/v1alpha1/spec.ts';
import { validateText } from '../api/v1alpha1/validate.ts';
import { CliError } from './errors.ts';

export function readText(path: string): string {
  try {
    return path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'is a directory'
          : String(code ?? err);
    throw new CliError(`cannot read ${path}: ${why}`);
  }
}

/**
 * Reads and validates a spec (once: standard input can be read only once); on failure lists
 * every problem with its field path. Returns the text as written and the cloud with defaults.
 */
export function readSpec(path: string): { text: string; cloud: OpenStackCloud } {
  const text = readText(path);
  const result = validateText(text);
  if (!result.ok) {
    const lines = result.problems.map((p) => `  ${p.path || '(document)'}: ${p.message}`);
    throw new CliError(`${path} is not a valid OpenStackCloud:\n${lines.join('\n')}`);
  }
  return { text, cloud: result.cloud };
}

export function readCloud(path: string): OpenStackCloud {
  return readSpec(path).cloud;
}
