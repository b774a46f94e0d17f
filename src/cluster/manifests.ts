// Objects the cluster needs besides its processes: cluster DNS's Service, the default
// StorageClass and its provisioner's namespace, RBAC for the host components, simulated nodes.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { localPath } from './config.ts';
import { fakeNodeAnnotation, ingressClass } from './components.ts';
import { net } from './network.ts';

type Obj = Record<string, unknown>;

export const users = {
  coredns: 'stackanetes:coredns',
  localPath: 'stackanetes:local-path-provisioner',
  kwok: 'stackanetes:kwok',
  kubeRouter: 'stackanetes:kube-router',
  traefik: 'stackanetes:traefik',
} as const;

export function clusterObjects(): Obj[] {
  const binding = (name: string, role: string, user: string): Obj => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }],
  });
  /** A ClusterRole with these rules (API groups, resources, verbs) for `user`, bound to it. */
  const userRole = (user: string, rules: [string[], string[], string[]][]): Obj[] => [
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: user },
      // Copies: the YAML writer would turn an array used twice into an anchor and alias.
      rules: rules.map(([g, r, v]) => ({ apiGroups: [...g], resources: [...r], verbs: [...v] })),
    },
    binding(user, user, user),
  ];
  const read = ['get', 'list', 'watch'];
  const ingresses = ['networking.k8s.io', 'extensions'];
  return [
    ...userRole(users.coredns, [
      [[''], ['endpoints', 'services', 'pods', 'namespaces'], ['list', 'watch']],
      [['discovery.k8s.io'], ['endpointslices'], ['list', 'watch']],
    ]),
    // kube-router's NetworkPolicy controller reads pods, namespaces, policies and its node.
    ...userRole(users.kubeRouter, [
      [[''], ['namespaces', 'pods', 'services', 'nodes', 'endpoints'], read],
      [['networking.k8s.io'], ['networkpolicies'], read],
      [['discovery.k8s.io'], ['endpointslices'], read],
    ]),
    // Traefik's Ingress provider: what its upstream RBAC grants.
    ...userRole(users.traefik, [
      [[''], ['services', 'secrets', 'nodes', 'endpoints'], read],
      [['discovery.k8s.io'], ['endpointslices'], ['list', 'watch']],
      [ingresses, ['ingresses', 'ingressclasses'], read],
      [ingresses, ['ingresses/status'], ['update']],
    ]),
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: {
        name: ingressClass.name,
        annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' },
      },
      spec: { controller: ingressClass.controller },
    },
    // The provisioner manages PVs, helper pods and events across the cluster; kwok plays the
    // kubelet of every simulated node. Both get cluster-admin, as their upstream manifests do.
    binding(users.localPath, 'cluster-admin', users.localPath),
    binding(users.kwok, 'cluster-admin', users.kwok),
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: 'kube-dns',
        namespace: 'kube-system',
        labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' },
      },
      spec: {
        clusterIP: net.dnsServiceIp,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        ],
      },
    },
    {
      // CoreDNS runs on the node itself, so the Service has no selector: its one endpoint is
      // the node's bridge address.
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'kube-dns-node',
        namespace: 'kube-system',
        labels: {
          'kubernetes.io/service-name': 'kube-dns',
          'endpointslice.kubernetes.io/managed-by': 'stackanetes.io',
        },
      },
      addressType: 'IPv4',
      endpoints: [{ addresses: [net.nodeIp], conditions: { ready: true } }],
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      ],
    },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: localPath.namespace } },
    {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: localPath.serviceAccount, namespace: localPath.namespace },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: localPath.configMap, namespace: localPath.namespace },
      data: localPath.scripts,
    },
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: {
        name: localPath.storageClass,
        annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' },
      },
      provisioner: localPath.provisioner,
      volumeBindingMode: 'WaitForFirstConsumer',
      reclaimPolicy: 'Delete',
    },
    {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: localPath.sharedStorageClass },
      provisioner: localPath.provisioner,
      // Immediate: the shared directory is on every node. Bound on first use, the claim carried
      // the node the scheduler picked for the first pod, and every later pod went to that node.
      volumeBindingMode: 'Immediate',
      reclaimPolicy: 'Delete',
    },
  ];
}

export const fakeNodePrefix = 'kwok-node-';

export function fakeNode(i: number): Obj {
  const name = `${fakeNodePrefix}${i}`;
  const resources = { cpu: '32', memory: '256Gi', pods: '110', 'ephemeral-storage': '1Ti' };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: {
        [fakeNodeAnnotation.key]: fakeNodeAnnotation.value,
        'node.alpha.kubernetes.io/ttl': '0',
      },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        type: 'kwok',
        'stackanetes.io/fake': 'true',
      },
    },
    // Only pods that tolerate this taint land on a simulated node.
    spec: {
      taints: [
        { key: fakeNodeAnnotation.key, value: fakeNodeAnnotation.value, effect: 'NoSchedule' },
      ],
    },
    status: { allocatable: resources, capacity: resources },
  };
}

export function toYamlStream(objs: Obj[]): string {
  return objs.map((o) => stringify(o)).join('---\n');
}

/**
 * kwok's stage definitions, as shipped in its module (node setup and lease heartbeat, pod
 * lifecycle), and one of the project's: a running pod that lost its readiness is ready again.
 */
export function kwokStages(kwokModuleDir: string): string {
  const stage = join(kwokModuleDir, 'kustomize', 'stage');
  const files = [
    'node/fast/node-initialize.yaml',
    'node/heartbeat-with-lease/node-heartbeat-with-lease.yaml',
    'pod/fast/pod-ready.yaml',
    'pod/fast/pod-complete.yaml',
    'pod/fast/pod-delete.yaml',
  ];
  return [
    ...files.map((f) => readFileSync(join(stage, f), 'utf8').trim() + '\n'),
    stringify(podReadyAgainStage),
  ].join('---\n');
}

/**
 * What a kubelet does when its node is back, kwok does not: when kwok's lease renewals fall behind
 * the controller manager's grace period (1000 simulated nodes on 2 cores: 100 renewals a second),
 * the node lifecycle controller marks the node's pods not ready, and kwok's own stages only make
 * Pending pods ready. This one makes a running pod of a simulated node ready again, a second later.
 */
const podReadyAgainStage = {
  apiVersion: 'kwok.x-k8s.io/v1alpha1',
  kind: 'Stage',
  metadata: { name: 'stackanetes-pod-ready-again' },
  spec: {
    resourceRef: { apiGroup: 'v1', kind: 'Pod' },
    selector: {
      matchExpressions: [
        { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' },
        { key: '.status.phase', operator: 'In', values: ['Running'] },
        {
          key: '.status.conditions.[] | select( .type == "Ready" ) | .status',
          operator: 'NotIn',
          values: ['True'],
        },
      ],
    },
    delay: { durationMilliseconds: 1000 },
    next: {
      statusTemplate: [
        '{{ $now := Now }}',
        'conditions:',
        ...['Initialized', 'PodScheduled', 'ContainersReady', 'Ready'].flatMap((type) => [
          '- lastTransitionTime: {{ $now | Quote }}',
          '  status: "True"',
          `  type: ${type}`,
        ]),
        '{{ range .spec.readinessGates }}',
        '- lastTransitionTime: {{ $now | Quote }}',
        '  status: "True"',
        '  type: {{ .conditionType | Quote }}',
        '{{ end }}',
        '',
      ].join('\n'),
    },
  },
};
