// The one way out of the local cluster's pod network: the Debian mirror, so that the operator's
// scan (spec.remediation) reads the -security suites from its pod as it would in a real cluster
// with egress to its mirror. Pods may reach the mirror's address on the mirror's port only
// (accepted ahead of the rule that keeps pod traffic on the bridge, and masqueraded behind this
// machine's address), and the cluster DNS answers the mirror's name with the address this
// machine resolves it to. Nothing else outside is reachable from a pod.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { aptSource } from '../images/rootfs.ts';
import { run } from '../util/exec.ts';

export interface MirrorEndpoint {
  /** The name pods use (the URL's host); undefined when the URL names an address. */
  readonly host: string | undefined;
  readonly address: string;
  readonly port: number;
}

/** The mirror URLs the images are built from ($STACKANETES_DEBIAN_MIRROR, its security mirror). */
export function mirrorUrls(): string[] {
  const src = aptSource('trixie', []);
  return [...new Set([src.mirror, src.securityMirror])];
}

/** Where each mirror URL answers, as this machine resolves it; unresolvable ones are left out. */
export async function resolveMirrors(urls: readonly string[]): Promise<MirrorEndpoint[]> {
  const out = new Map<string, MirrorEndpoint>();
  for (const u of urls) {
    let url: URL;
    try {
      url = new URL(u);
    } catch {
      continue;
    }
    const hostname = url.hostname.replace(/^\[|\]$/g, '');
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    let address = hostname;
    if (!isIP(hostname)) {
      try {
        address = (await lookup(hostname, { family: 4 })).address;
      } catch {
        continue;
      }
    }
    if (isIP(address) !== 4) continue;
    const host = isIP(hostname) ? undefined : hostname;
    out.set(`${host ?? ''} ${address} ${port}`, { host, address, port });
  }
  return [...out.values()];
}

const comment = 'stackanetes: pods may reach the Debian mirror';

/** The rules for one endpoint: accepted from the pod bridge, masqueraded on the way out. */
export function mirrorRules(bridge: string, m: MirrorEndpoint): string[][] {
  const match = ['-d', `${m.address}/32`, '-p', 'tcp', '--dport', String(m.port)];
  return [
    ['FORWARD', '-i', bridge, ...match, '-m', 'comment', '--comment', comment, '-j', 'ACCEPT'],
    [
      'POSTROUTING',
      '-t',
      'nat',
      '!',
      '-o',
      bridge,
      ...match,
      '-m',
      'comment',
      '--comment',
      comment,
      '-j',
      'MASQUERADE',
    ],
  ];
}

/** Corefile zones that answer each mirror name with its address. */
export function mirrorZones(bind: string, mirrors: readonly MirrorEndpoint[]): string {
  const byHost = new Map<string, string>();
  for (const m of mirrors) if (m.host && !byHost.has(m.host)) byHost.set(m.host, m.address);
  return [...byHost]
    .map(
      ([
        host,
        address,
      ]) => `# The Debian mirror (src/cluster/mirror.ts), as this machine resolves it.
${host}:53 {
    bind ${bind}
    errors
    template IN A ${host} {
        answer "{{ .Name }} 60 IN A ${address}"
    }
    template IN AAAA ${host} {
        rcode NOERROR
    }
}
`,
    )
    .join('');
}

/** The rules' arguments without the chain/table prefix that -C/-I/-D need first. */
function ruleArgs(rule: string[]): { table: string[]; chain: string; rest: string[] } {
  const [chain, ...rest] = rule;
  const t = rest.indexOf('-t');
  if (t < 0) return { table: [], chain: chain!, rest };
  const table = ['-t', rest[t + 1]!];
  return { table, chain: chain!, rest: [...rest.slice(0, t), ...rest.slice(t + 2)] };
}

/** Inserts the mirror's rules at the head of their chains (ahead of the pod guard) unless there. */
export async function allowMirrorEgress(
  bridge: string,
  mirrors: readonly MirrorEndpoint[],
): Promise<void> {
  for (const m of mirrors) {
    for (const rule of mirrorRules(bridge, m)) {
      const { table, chain, rest } = ruleArgs(rule);
      const there = await run('iptables', [...table, '-C', chain, ...rest], { allowFailure: true });
      if (there.code !== 0) await run('iptables', [...table, '-I', chain, ...rest]);
    }
  }
}

/** Removes every rule the mirror egress added (whatever addresses they name). */
export async function removeMirrorEgress(): Promise<void> {
  for (const table of ['filter', 'nat']) {
    const saved = await run('iptables', ['-t', table, '-S'], { allowFailure: true });
    for (const line of saved.stdout.split('\n')) {
      if (!line.startsWith('-A ') || !line.includes(comment)) continue;
      // `-A CHAIN args…` → `-D CHAIN args…` (the comment is quoted in -S output).
      const args = (line.slice(3).match(/"[^"]*"|\S+/g) ?? []).map((a) => a.replace(/^"|"$/g, ''));
      await run('iptables', ['-t', table, '-D', ...args], { allowFailure: true });
    }
  }
}
