// Who may talk to whom: NetworkPolicies so that only the services that need the database, the
// queue and the cache can reach them; and Ingresses for the public endpoints the spec names.
import type { ComponentName } from '../catalog/types.ts';
import { meta, publicHost, selectorLabels, type Ctx } from './context.ts';
import { componentLabel, type Ingress, type KubeObject, type NetworkPolicy } from './kube.ts';
import { cacheService, databaseService, messagingService } from './openstack/common.ts';

/** Which components use each shared backend (their pods and their jobs). */
const clients: Record<'database' | 'messaging' | 'cache', readonly ComponentName[]> = {
  database: ['keystone', 'glance', 'placement', 'nova', 'neutron'],
  messaging: ['nova', 'neutron'],
  cache: ['keystone', 'glance', 'placement', 'nova', 'neutron', 'horizon'],
};

export function renderPolicies(ctx: Ctx, components: readonly ComponentName[]): KubeObject[] {
  const out: KubeObject[] = [];
  const backends: [keyof typeof clients, string, number[], number[]][] = [
    [
      'database',
      databaseService,
      [ctx.catalog.database.ports.mysql!],
      Object.values(ctx.catalog.database.ports),
    ],
    [
      'messaging',
      messagingService,
      [ctx.catalog.messaging.ports.amqp!, ctx.catalog.messaging.ports.management!],
      Object.values(ctx.catalog.messaging.ports),
    ],
    ['cache', cacheService, Object.values(ctx.catalog.cache.ports), []],
  ];
  for (const [backend, name, clientPorts, peerPorts] of backends) {
    const users = clients[backend].filter((c) => components.includes(c));
    const own = selectorLabels(ctx, backend, name);
    const np: NetworkPolicy & { metadata: { name: string } } = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(ctx, `${name}-clients`, backend, name),
      spec: {
        podSelector: { matchLabels: own },
        policyTypes: ['Ingress'],
        ingress: [
          {
            from: [
              {
                podSelector: {
                  matchExpressions: [
                    { key: 'app.kubernetes.io/instance', operator: 'In', values: [ctx.name] },
                    {
                      key: componentLabel,
                      operator: 'In',
                      values: users.length > 0 ? users : [backend],
                    },
                  ],
                },
              },
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

const exposed: [
  ComponentName,
  'keystone' | 'glance' | 'placement' | 'nova' | 'novncproxy' | 'neutron' | 'horizon',
  string,
  number,
][] = [
  ['keystone', 'keystone', 'keystone-api', 5000],
  ['glance', 'glance', 'glance-api', 9292],
  ['placement', 'placement', 'placement-api', 8778],
  ['nova', 'nova', 'nova-api', 8774],
  ['nova', 'novncproxy', 'nova-novncproxy', 6080],
  ['neutron', 'neutron', 'neutron-server', 9696],
  ['horizon', 'horizon', 'horizon-server', 8080],
];

function ingresses(ctx: Ctx, components: readonly ComponentName[]): KubeObject[] {
  const pub = ctx.spec.endpoints.public;
  const out: KubeObject[] = [];
  for (const [component, key, svc, port] of exposed) {
    if (!components.includes(component)) continue;
    if (key === 'novncproxy' && !ctx.spec.services.nova.novncproxy) continue;
    const host = publicHost(ctx, key);
    if (!host) continue;
    const ing: Ingress & { metadata: { name: string } } = {
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
