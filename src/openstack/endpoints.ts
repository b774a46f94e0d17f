// A deployed cloud's public endpoints, as Keystone's catalog lists them, and how this host
// reaches them: through the cluster's ingress when their names are public, else by the cluster IP
// of the Service an in-cluster name stands for. The dashboard's address is Horizon's entry in the
// catalog, like every other service's.
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import { capture } from '../util/exec.ts';

export interface Endpoint {
  service: string;
  url: string;
}

/** `openstack <args>` in the cloud's openstack-client pod (admin credentials), its output. */
export function openstack(
  namespace: string,
  env: NodeJS.ProcessEnv,
  args: string,
): Promise<string> {
  const argv = ['-n', namespace, 'exec', 'deploy/openstack-client', '--', 'openstack'];
  return capture('kubectl', [...argv, ...args.split(' ')], { env });
}

/** The public endpoints from Keystone's catalog, by service name. */
export async function publicEndpoints(
  namespace: string,
  env: NodeJS.ProcessEnv,
): Promise<Endpoint[]> {
  const out = await openstack(namespace, env, 'endpoint list --interface public -f json');
  const rows = JSON.parse(out) as { 'Service Name': string; URL: string }[];
  return rows
    .map((r) => ({ service: r['Service Name'], url: r.URL }))
    .sort((a, b) => a.service.localeCompare(b.service));
}

/** Service host name → cluster IP, so that this host can reach what the catalog names. */
export async function clusterIps(
  client: KubeClient,
  namespace: string,
): Promise<Map<string, string>> {
  const { items: services } = await client.list<KubeObject>('v1', 'Service', { namespace });
  const m = new Map<string, string>();
  for (const s of services) {
    const ip = (s.spec as { clusterIP?: string }).clusterIP;
    if (ip && ip !== 'None') m.set(`${s.metadata.name}.${namespace}.svc`, ip);
  }
  return m;
}

export interface EndpointTable {
  /** One line per endpoint (with the address this host reaches it by), then the dashboard's. */
  lines: string[];
  /** Whether the catalog's URLs go through the cluster's ingress (names under `publicDomain`). */
  onIngress: boolean;
}

/** The endpoints as the lines `stackanetes up` prints, Horizon's also as the dashboard. */
export function endpointTable(
  endpoints: readonly Endpoint[],
  ips: ReadonlyMap<string, string>,
  publicDomain: string,
): EndpointTable {
  const isPublic = (url: string) => new URL(url).hostname.endsWith(`.${publicDomain}`);
  const width = Math.max(...endpoints.map((e) => e.service.length));
  const lines = endpoints.map((e) => {
    const host = new URL(e.url).hostname;
    const ip = ips.get(host);
    return `  ${e.service.padEnd(width)}  ${e.url}${ip ? `   (from this host: ${e.url.replace(host, ip)})` : ''}`;
  });
  const horizon = endpoints.find((e) => e.service === 'horizon')?.url;
  if (horizon) {
    const url = new URL(horizon);
    const ip = ips.get(url.hostname);
    if (!isPublic(horizon) && ip) url.hostname = ip;
    if (isPublic(horizon) || ip)
      lines.push(`  ${'dashboard'.padEnd(width)}  ${url.href} (user admin)`);
  }
  return { lines, onIngress: endpoints.some((e) => isPublic(e.url)) };
}
