// The oslo.config INI writer. Values are written verbatim (passwords and URLs may hold `#`, `;`,
// `=`), a list value repeats its key (multi-valued options), sections are sorted with DEFAULT
// first, keys keep a stable sorted order, and later layers override earlier ones key by key.
import type { IniSections, IniValue } from '../catalog/types.ts';

type MutableSections = Record<string, Record<string, IniValue>>;

/** Merges layers left to right: a later layer's key replaces the earlier value. */
export function mergeIni(...layers: (IniSections | undefined)[]): IniSections {
  const out: MutableSections = {};
  for (const layer of layers) {
    if (!layer) continue;
    for (const [section, keys] of Object.entries(layer)) {
      const target = (out[section] ??= {});
      for (const [key, value] of Object.entries(keys)) target[key] = value;
    }
  }
  return out;
}

export function formatIniValue(value: IniValue): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'boolean') return [value ? 'true' : 'false'];
  return [String(value)];
}

/** How a file other than oslo.config's writes its keys (MariaDB's option files, as first written). */
export interface IniStyle {
  /** Between a key and its value: ` = ` (default) or `=`. */
  readonly assign?: ' = ' | '=';
  /** Keys sorted (default), or in the order given. */
  readonly sortKeys?: boolean;
}

/** Writes sections as oslo.config reads them. Throws if a value would break the file. */
export function writeIni(sections: IniSections, style: IniStyle = {}): string {
  const assign = style.assign ?? ' = ';
  const names = Object.keys(sections).sort((a, b) =>
    a === 'DEFAULT' ? -1 : b === 'DEFAULT' ? 1 : a < b ? -1 : a > b ? 1 : 0,
  );
  const parts: string[] = [];
  for (const name of names) {
    const keys = sections[name]!;
    const lines = [`[${name}]`];
    const ordered = style.sortKeys === false ? Object.keys(keys) : Object.keys(keys).sort();
    for (const key of ordered) {
      for (const v of formatIniValue(keys[key]!)) {
        if (/[\r\n]/.test(v)) throw new Error(`[${name}] ${key}: a value cannot span lines`);
        lines.push(v === '' ? `${key}${assign.trimEnd()}` : `${key}${assign}${v}`);
      }
    }
    parts.push(lines.join('\n'));
  }
  return parts.join('\n\n') + '\n';
}
