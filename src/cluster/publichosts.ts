// The local cluster's public domain: every `<service>.stackanetes.test` name a cloud's catalog
// gives as its public URL resolves, on this machine, to the ingress controller (Traefik on the
// node address). `cluster up` keeps a marked block in /etc/hosts for those names; `cluster down`
// removes it. `.test` is reserved (RFC 2606): no such name exists anywhere else.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { publicServices } from '../api/v1alpha1/spec.ts';
import { net } from './network.ts';

export const publicDomain = 'stackanetes.test';

const begin = '# BEGIN stackanetes: public endpoints of the local cluster (its ingress)';
const end = '# END stackanetes';

export function publicHostNames(domain = publicDomain): string[] {
  return publicServices.map((s) => `${s}.${domain}`);
}

export function hostsBlock(): string {
  return [begin, `${net.nodeIp} ${publicHostNames().join(' ')}`, end].join('\n');
}

/** `text` (an /etc/hosts) with our block replaced by `block`, or removed when it is undefined. */
export function withBlock(text: string, block: string | undefined): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const line of lines) {
    if (line === begin) inside = true;
    else if (line === end && inside) inside = false;
    else if (!inside) out.push(line);
  }
  while (out.length && out[out.length - 1] === '') out.pop();
  if (block) out.push(block);
  return out.join('\n') + '\n';
}

/** Adds (or refreshes) the block; says whether the file changed. */
export function installPublicHosts(file = '/etc/hosts'): boolean {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const next = withBlock(text, hostsBlock());
  if (next === text) return false;
  writeFileSync(file, next);
  return true;
}

export function removePublicHosts(file = '/etc/hosts'): boolean {
  if (!existsSync(file)) return false;
  const text = readFileSync(file, 'utf8');
  const next = withBlock(text, undefined);
  if (next === text) return false;
  writeFileSync(file, next);
  return true;
}
