// Who may talk to whom: NetworkPolicies so that only the services that need the database, the
// queue and the cache can reach them; and Ingresses for the public endpoints the spec names.
import type { ComponentName, ReleaseCatalog } from '../catalog/types.ts';
import { meta, publicHost, selectorLabels, type Ctx } from './context.ts';
import { componentLabel, type Ingress, type KubeObject, type NetworkPolicy } from './kube.ts';
import { portOf, processName, processOf, publicProcesses } from './openstack/endpoints.ts';
import { dataPlaneNamespace } from './namespaces.ts';

/** The label Kubernetes puts on every namespace: its name. */
const namespaceNameLabel = 'kubernetes.io/metadata.name';

type Backend = 'database' | 'messaging' | 'cache';

/**
 * Which components use each shared backend (their pods and their jobs), as the catalog says:
 * a service with databases, one on the queue, and every service on the cache (each service's
 * main file has a [cache] section; Horizon keeps its sessions there).
 */
function backendClients(catalog: ReleaseCatalog, backend: Backend): ComponentName[] {
  const services = Object.values(catalog.services);
  if (backend === 'database') {
    return services.filter((s) => s.databases.length > 0).map((s) => s.component);
  }
  if (backend === 'messaging') return services.filter((s) => s.messaging).map((s) => s.component);
  return services.map((s) => s.component);
}

export function renderPolicies(ctx: Ctx, components: readonly ComponentName[]): KubeObject[] {
  const out: KubeObject[] = [];
  const { database, messaging, cache } = ctx.catalog;
  // Each backend: the ports its clients use, and those its members use between themselves.
  const backends: [Backend, string, number[], number[]][] = [
    ['database', database.service, [database.ports.mysql], Object.values(database.ports)],
    [
      'messaging',
      messaging.service,
      [messaging.ports.amqp, messaging.ports.management],
      Object.values(messaging.ports),
    ],
    ['cache', cache.service, Object.values(cache.ports), []],
  ];
  // Host-network clients (nova-compute and the agents on every node) connect from the nodes'
  // own addresses, which no pod selector matches: the queue and the cache admit those networks.
  // The database does not: nothing on a host network uses it.
  const nodeBlocks = (ctx.spec.nodeNetworks ?? []).map((cidr) => ({ ipBlock: { cidr } }));
  for (const [backend, name, clientPorts, peerPorts] of backends) {
    const users = backendClients(ctx.catalog, backend).filter((c) => components.includes(c));
    const own = selectorLabels(ctx, backend, name);
    const clients = {
      matchExpressions: [
        { key: 'app.kubernetes.io/instance', operator: 'In', values: [ctx.name] },
        { key: componentLabel, operator: 'In', values: users.length > 0 ? users : [backend] },
      ],
    };
    const np: NetworkPolicy & KubeObject = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(ctx, `${name}-clients`, backend, name),
      spec: {
        podSelector: { matchLabels: own },
        policyTypes: ['Ingress'],
        ingress: [
          {
            // The cloud's pods in its own namespace, and in its data plane's (the agents;
            // those on the host's network are not pods to a NetworkPolicy: spec.nodeNetworks).
            from: [
              { podSelector: clients },
              {
                namespaceSelector: {
                  matchLabels: { [namespaceNameLabel]: dataPlaneNamespace(ctx.namespace) },
                },
                podSelector: clients,
              },
              ...(backend === 'database' ? [] : nodeBlocks),
            ],
            ports: clientPorts.map((port) => ({ port, protocol: 'TCP' as const })),
          },
          ...(peerPorts.length > 0
            ? [
                {
                  from: [{ podSelector: { matchLabels: own } }],
                  ports: peerPorts.map((port) => ({ port, protocol: 'TCP' as const })),
                },
              ]
            : []),
        ],
      },
    };
    out.push(np);
  }
  out.push(...ingresses(ctx, components));
  return out;
}

function ingresses(ctx: Ctx, components: readonly ComponentName[]): KubeObject[] {
  const pub = ctx.spec.endpoints.public;
  const out: KubeObject[] = [];
  for (const { component, key, service, process } of publicProcesses(ctx)) {
    if (!components.includes(component)) continue;
    if (key === 'novncproxy' && !ctx.spec.services.nova.novncproxy) continue;
    const svc = processName(service, process);
    const port = portOf(processOf(ctx, service, process));
    const host = publicHost(ctx, key);
    if (!host) continue;
    const ing: Ingress & KubeObject = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: meta(ctx, svc, component, 'public'),
      spec: {
        ...(pub.ingressClassName ? { ingressClassName: pub.ingressClassName } : {}),
        ...(pub.tlsSecretName ? { tls: [{ hosts: [host], secretName: pub.tlsSecretName }] } : {}),
        rules: [
          {
            host,
            http: {
              paths: [
                {
                  path: '/',
                  pathType: 'Prefix',
                  backend: { service: { name: svc, port: { number: port } } },
                },
              ],
            },
          },
        ],
      },
    };
    out.push(ing);
  }
  return out;
}
