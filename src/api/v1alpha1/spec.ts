// The OpenStackCloud spec, defined once. Types, the CRD's OpenAPI schema and CLI validation all
// come from these TypeBox definitions; defaults live here and nowhere else.
import { Type, type Static, type TOptional, type TProperties } from '@sinclair/typebox';
import { defaultImageRegistry, imageNames } from '../../catalog/images.ts';

export const group = 'stackanetes.io';
export const version = 'v1alpha1';
export const kind = 'OpenStackCloud';
export const plural = 'openstackclouds';
export const apiVersion = `${group}/${version}`;

/** Marks a schema node that the CRD generator must emit as `x-kubernetes-int-or-string`. */
const intOrString = 'x-kubernetes-int-or-string';
/** Marks a node whose value is free-form for the CRD (`x-kubernetes-preserve-unknown-fields`). */
const preserveUnknown = 'x-kubernetes-preserve-unknown-fields';

const strict = { additionalProperties: false } as const;

/** A Kubernetes resource quantity such as `500m`, `2`, `1Gi`. */
export const Quantity = Type.Union(
  [
    Type.String({
      pattern: '^[+]?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+|[numkMGTPE]i?|Ki)?$',
    }),
    Type.Number({ minimum: 0 }),
  ],
  { [intOrString]: true, description: 'A resource quantity, e.g. 500m, 2, 1Gi.' },
);

const ResourceList = Type.Object(
  { cpu: Type.Optional(Quantity), memory: Type.Optional(Quantity) },
  strict,
);

export const Resources = Type.Object(
  { requests: Type.Optional(ResourceList), limits: Type.Optional(ResourceList) },
  { ...strict, description: 'Compute resources for each container of the component.' },
);

export const labelKeyPattern =
  '^(([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$';
export const labelValuePattern = '^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$';

const LabelKey = Type.String({ pattern: labelKeyPattern, maxLength: 316 });
const LabelValue = Type.String({ pattern: labelValuePattern, maxLength: 63 });

export const LabelSelector = Type.Object(
  {
    matchLabels: Type.Optional(Type.Record(LabelKey, LabelValue)),
    matchExpressions: Type.Optional(
      Type.Array(
        Type.Object(
          {
            key: LabelKey,
            operator: Type.Union([
              Type.Literal('In'),
              Type.Literal('NotIn'),
              Type.Literal('Exists'),
              Type.Literal('DoesNotExist'),
            ]),
            values: Type.Optional(Type.Array(LabelValue)),
          },
          strict,
        ),
      ),
    ),
  },
  { ...strict, description: 'Selects nodes by label, as a Kubernetes label selector.' },
);

const Storage = (size: string) =>
  Type.Object(
    {
      size: Type.String({
        default: size,
        pattern: '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$',
        description: 'Requested volume size, e.g. 10Gi.',
      }),
      storageClassName: Type.Optional(
        Type.String({ minLength: 1, description: 'StorageClass; the cluster default if unset.' }),
      ),
    },
    { ...strict, default: {} },
  );

/** section → key → value; a list value writes the key once per item (multi-valued options). */
export const ConfigOverrides = Type.Record(
  Type.String({ minLength: 1, maxLength: 128, pattern: '^[^\\[\\]\\r\\n]+$' }),
  Type.Record(
    Type.String({ minLength: 1, maxLength: 256, pattern: '^[^=\\r\\n\\[\\]]+$' }),
    Type.Union(
      [
        Type.String({ pattern: '^[^\\r\\n]*$' }),
        Type.Number(),
        Type.Boolean(),
        Type.Array(Type.String({ pattern: '^[^\\r\\n]*$' })),
      ],
      { [preserveUnknown]: true },
    ),
  ),
  {
    default: {},
    description:
      'oslo.config overrides for the service main file: section → key → value, merged over the catalog defaults.',
  },
);

const serviceCommon = (replicas: number) => ({
  enabled: Type.Boolean({ default: true, description: 'Deploy this service.' }),
  replicas: Type.Integer({ minimum: 1, maximum: 50, default: replicas }),
  resources: Type.Optional(Resources),
  config: ConfigOverrides,
});

/** A Linux network interface name (at most 15 characters, IFNAMSIZ less its NUL). */
export const interfaceNamePattern = '^[A-Za-z0-9_.-]{1,15}$';
const InterfaceName = (description: string) =>
  Type.String({ pattern: interfaceNamePattern, description });

const Service = <T extends TProperties>(extra: T, description: string) =>
  Type.Object({ ...serviceCommon(1), ...extra }, { ...strict, default: {}, description });

export const ServicesSpec = Type.Object(
  {
    keystone: Service({}, 'Identity.'),
    glance: Service(
      {
        store: Type.Object(
          {
            backend: Type.Literal('file', { default: 'file' }),
            size: Type.String({ default: '20Gi', pattern: '^[0-9]+(Ki|Mi|Gi|Ti|Pi)?$' }),
            storageClassName: Type.Optional(Type.String({ minLength: 1 })),
          },
          { ...strict, default: {}, description: 'Where Glance keeps image data.' },
        ),
      },
      'Images.',
    ),
    placement: Service({}, 'Placement.'),
    nova: Service(
      {
        computeDriver: Type.Union([Type.Literal('libvirt'), Type.Literal('fake')], {
          default: 'libvirt',
          description:
            'Nova compute driver: libvirt (real guests under QEMU/KVM) or fake (no guests: scale tests on simulated nodes).',
        }),
        virtType: Type.Union([Type.Literal('detect'), Type.Literal('kvm'), Type.Literal('qemu')], {
          default: 'detect',
          description:
            'libvirt only: kvm (hardware virtualisation), qemu (emulation with TCG, slow but works anywhere), or detect: each compute node boots a Linux kernel under KVM when it starts and uses kvm if that works, qemu otherwise.',
        }),
        novncproxy: Type.Boolean({ default: true, description: 'Serve VNC consoles.' }),
      },
      'Compute.',
    ),
    neutron: Service(
      {
        provider: Type.Object(
          {
            physicalNetwork: Type.String({
              default: 'physnet1',
              pattern: '^[A-Za-z0-9_-]{1,64}$',
              description:
                'The name Neutron gives the external network (provider:physical_network).',
            }),
            bridge: Type.String({
              default: 'br-ex',
              pattern: '^[A-Za-z][A-Za-z0-9_.-]{0,14}$',
              description:
                'The Open vSwitch bridge every compute and network node makes for it (OVN bridge mapping); those nodes are gateway chassis.',
            }),
            interface: Type.Optional(
              InterfaceName(
                "A node's network interface put on the bridge: the physical external network.",
              ),
            ),
            hostNamespace: Type.Optional(
              Type.Object(
                {
                  name: Type.String({
                    default: 'stackanetes-ext',
                    pattern: '^[a-z0-9][a-z0-9_-]{0,30}$',
                  }),
                  address: Type.String({
                    default: '172.24.4.1/24',
                    pattern:
                      '^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/([0-9]|[12][0-9]|3[0-2])$',
                    description: 'Address/prefix in the namespace: the external subnet gateway.',
                  }),
                },
                {
                  ...strict,
                  description:
                    'Instead of an interface: a network namespace on each of those nodes, joined to the bridge by a veth pair and holding this address. An external network that exists only on the node (development, tests); floating IPs are reached from inside it (`ip netns exec NAME …`).',
                },
              ),
            ),
          },
          {
            ...strict,
            default: {},
            description: 'The external (provider) network routers and floating IPs use.',
          },
        ),
        tunnelInterface: Type.Optional(
          InterfaceName(
            "The network interface, on every compute and network node, that carries the Geneve tunnels between chassis. Open vSwitch's userspace (netdev) datapath sends tunnel packets only through an OVS bridge that holds the endpoint's address, so each node's Open vSwitch makes a bridge br-phy, puts this interface on it, moves the interface's IPv4 address onto br-phy and ends tunnels there (ovn-encap-ip). Give an interface of its own, not the one holding the node's address (its kubelet's). Unset: tunnels end on the node's address, as the kernel datapath needs no more.",
          ),
        ),
      },
      'Networking with ML2/OVN.',
    ),
    horizon: Service({}, 'Dashboard.'),
  },
  { ...strict, default: {} },
);

const Infra = (replicas: number, size: string | undefined, description: string) =>
  Type.Object(
    {
      replicas: Type.Integer({ minimum: 1, maximum: 9, default: replicas }),
      resources: Type.Optional(Resources),
      ...(size ? { storage: Storage(size) } : {}),
    },
    { ...strict, default: {}, description },
  );

export const InfrastructureSpec = Type.Object(
  {
    database: Infra(1, '10Gi', 'MariaDB; more than one replica forms a Galera cluster (odd size).'),
    messaging: Infra(1, '5Gi', 'RabbitMQ; more than one replica forms a cluster.'),
    cache: Infra(1, undefined, 'Memcached.'),
  },
  { ...strict, default: {} },
);

const ImageOverride = Type.Object(
  {
    registry: Type.Optional(Type.String({ minLength: 1 })),
    name: Type.Optional(Type.String({ minLength: 1, pattern: '^[a-z0-9][a-z0-9._/-]*$' })),
    tag: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$' })),
    digest: Type.Optional(Type.String({ pattern: '^sha256:[a-f0-9]{64}$' })),
  },
  strict,
);

export const ImagesSpec = Type.Object(
  {
    registry: Type.String({
      default: defaultImageRegistry,
      minLength: 1,
      description: 'Registry and path prefix, e.g. quay.io/example/openstack.',
    }),
    tag: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$',
        description: 'Tag for every image; the release name if unset.',
      }),
    ),
    pullPolicy: Type.Union(
      [Type.Literal('IfNotPresent'), Type.Literal('Always'), Type.Literal('Never')],
      { default: 'IfNotPresent' },
    ),
    pullSecrets: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    overrides: Type.Optional(
      Type.Object(Object.fromEntries(imageNames.map((n) => [n, Type.Optional(ImageOverride)])), {
        ...strict,
        description: 'Per-image registry, name, tag or digest.',
      }),
    ),
  },
  { ...strict, default: {} },
);

export const NodeRolesSpec = Type.Object(
  {
    controlPlane: LabelSelector,
    compute: LabelSelector,
    network: LabelSelector,
  },
  {
    ...strict,
    default: {
      controlPlane: { matchLabels: { 'stackanetes.io/control-plane': 'true' } },
      compute: { matchLabels: { 'stackanetes.io/compute': 'true' } },
      network: { matchLabels: { 'stackanetes.io/network': 'true' } },
    },
    description: 'Which nodes run control services, compute and network agents.',
  },
);

export const Toleration = Type.Object(
  {
    key: Type.Optional(Type.String({ maxLength: 316 })),
    operator: Type.Optional(Type.Union([Type.Literal('Exists'), Type.Literal('Equal')])),
    value: Type.Optional(Type.String({ maxLength: 63 })),
    effect: Type.Optional(
      Type.Union([
        Type.Literal('NoSchedule'),
        Type.Literal('PreferNoSchedule'),
        Type.Literal('NoExecute'),
      ]),
    ),
    tolerationSeconds: Type.Optional(Type.Integer()),
  },
  strict,
);

/** The services with a public endpoint, each reachable as `<name>.<domain>` unless set in hosts. */
export const publicServices = [
  'keystone',
  'glance',
  'placement',
  'nova',
  'novncproxy',
  'neutron',
  'horizon',
] as const;
export type PublicService = (typeof publicServices)[number];

const hostname = Type.String({
  pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
  maxLength: 253,
});

export const EndpointsSpec = Type.Object(
  {
    public: Type.Object(
      {
        domain: Type.Optional({
          ...hostname,
          description: 'Public host names become <service>.<domain> unless set in hosts.',
        }),
        hosts: Type.Optional(
          Type.Object(
            Object.fromEntries(publicServices.map((k) => [k, Type.Optional(hostname)])) as Record<
              PublicService,
              TOptional<typeof hostname>
            >,
            strict,
          ),
        ),
        tlsSecretName: Type.Optional(
          Type.String({ minLength: 1, description: 'A kubernetes.io/tls Secret for the hosts.' }),
        ),
        ingressClassName: Type.Optional(Type.String({ minLength: 1 })),
      },
      { ...strict, default: {} },
    ),
  },
  { ...strict, default: {} },
);

/**
 * What `{node}` stands for in the Redfish URL and system id: the Kubernetes node's name, so one
 * template covers a BMC per server (`https://{node}-bmc.example`) or one service for many systems.
 */
export const nodePlaceholder = '{node}';

export const RedfishFencing = Type.Object(
  {
    url: Type.String({
      pattern: '^https?://[^\\s/]+(/.*)?$',
      description:
        "The Redfish service: http(s)://host[:port]; `{node}` is replaced by the node name (one BMC per server). The local cluster's is http://10.244.0.1:8000 (src/cluster/bmc.ts).",
    }),
    systemId: Type.String({
      default: nodePlaceholder,
      minLength: 1,
      description:
        "The ComputerSystem to power off, /redfish/v1/Systems/<systemId>; `{node}` is replaced by the node name (the local cluster's BMC names systems after nodes; a Dell iDRAC calls its own System.Embedded.1).",
    }),
    secretName: Type.String({
      minLength: 1,
      description:
        "A Secret in the cloud's namespace with the BMC's `username` and `password` (HTTP basic auth).",
    }),
    timeoutSeconds: Type.Integer({
      minimum: 5,
      maximum: 300,
      default: 30,
      description:
        'How long a power-off may take to show PowerState Off before fencing counts as failed (InstanceHA: 30 s).',
    }),
  },
  { ...strict, description: "Fencing through each server's BMC over Redfish." },
);

export const HealingSpec = Type.Object(
  {
    nodeDeadSeconds: Type.Integer({
      minimum: 20,
      maximum: 3600,
      default: 30,
      description:
        "A node whose Lease (kube-node-lease) has not changed for this long, by the operator's own clock, is dead: it is fenced, then marked out of service. Kubelets renew every 10 s, so 30 s is three missed renewals, seen 20 to 30 s after the power cut; fencing and the release of its pods follow within seconds, leaving most of the 120 s goal for guests to start elsewhere.",
    }),
    maxDeadFraction: Type.Number({
      minimum: 0,
      maximum: 1,
      default: 0.5,
      description:
        "When more than this fraction of the cloud's nodes are dead at once, nothing is fenced or moved: that many at once is more likely the network than the servers (InstanceHA's rule).",
    }),
    fencing: Type.Object(
      {
        method: Type.Union([Type.Literal('none'), Type.Literal('redfish')], {
          default: 'none',
          description:
            "How a dead node is powered off before its work moves: redfish (its BMC; set redfish), or none: nothing is ever moved off a dead node, and the NodesHealthy condition says so. Kubernetes' own eviction still runs.",
        }),
        redfish: Type.Optional(RedfishFencing),
      },
      { ...strict, default: {} },
    ),
    rebuildMembersAfterSeconds: Type.Optional(
      Type.Integer({
        minimum: 60,
        maximum: 86400,
        description:
          'A member of the Galera cluster or of the RabbitMQ cluster whose volume is on a node fenced this long is rebuilt on another node from the other members (Galera: a state transfer; RabbitMQ: it is removed from the cluster and joins again as a new member): its volume is given up. Only while the other members are all Ready and a majority, one member at a time. Unset: a member waits for its node to come back.',
      }),
    ),
  },
  {
    ...strict,
    default: {},
    description:
      'What the operator does when a node dies: detect (its Lease), fence (power it off and confirm), then mark it out of service so its pods and volumes are released.',
  },
);

export const OpenStackCloudSpec = Type.Object(
  {
    release: Type.String({
      description: 'OpenStack release, e.g. 2025.1; the catalog lists what is known.',
      minLength: 1,
    }),
    region: Type.String({
      default: 'RegionOne',
      pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
    }),
    images: ImagesSpec,
    nodeRoles: NodeRolesSpec,
    nodeNetworks: Type.Optional(
      Type.Array(
        Type.String({
          pattern: '^([0-9]{1,3}(\\.[0-9]{1,3}){3}/[0-9]{1,2}|[0-9A-Fa-f:]+/[0-9]{1,3})$',
          description: 'A CIDR, e.g. 10.0.0.0/24.',
        }),
        {
          description:
            "The networks the nodes' own addresses are in. Processes on a node's host network (nova-compute, the OVN agents) connect from them, and a NetworkPolicy cannot select them as pods: the queue and the cache admit these networks. Unset: such a process reaches only the members on its own node (always admitted), so a node without a RabbitMQ member has a compute service that cannot connect. The local cluster's nodes are on 10.243.0.0/24.",
        },
      ),
    ),
    tolerations: Type.Optional(
      Type.Array(Toleration, {
        description: 'Taints every Stackanetes pod tolerates (nodes dedicated to OpenStack, say).',
      }),
    ),
    infrastructure: InfrastructureSpec,
    services: ServicesSpec,
    endpoints: EndpointsSpec,
    storageClassName: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'StorageClass for every volume that does not name its own; the cluster default if unset.',
      }),
    ),
    clusterDomain: Type.String({
      default: 'cluster.local',
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
      description:
        "The cluster's DNS domain (the kubelet's clusterDomain): services that resolve names without the search list (OVS) get fully qualified names.",
    }),
    jobs: Type.Object(
      {
        retries: Type.Integer({
          minimum: 0,
          maximum: 20,
          default: 6,
          description:
            "How many times a failed one-shot task (database creation, schema migration, Keystone registration) is tried again before the component is reported failed; the kubelet's back-off doubles from 10 s, so 6 takes about 10 minutes.",
        }),
      },
      { ...strict, default: {} },
    ),
    remediation: Type.Object(
      {
        policy: Type.Union(
          [Type.Literal('off'), Type.Literal('report'), Type.Literal('automatic')],
          {
            default: 'report',
            description:
              'What may be done about the images this cloud runs: off (nothing), report (the operator scans them on a schedule from the SBOMs in the registry, and `stackanetes remediate` on demand, and the findings are recorded), automatic (`stackanetes remediate` also rebuilds the affected images with the fixes and rolls them out, one canary pod and a health gate first, rolled back when the gate fails).',
          },
        ),
        scanIntervalMinutes: Type.Integer({
          minimum: 10,
          maximum: 10080,
          default: 360,
          description:
            'How often the operator scans the images the cloud runs (policy report or automatic); it also scans once the cloud is Ready after a change of its spec, and when it starts.',
        }),
      },
      { ...strict, default: {} },
    ),
    healing: HealingSpec,
    retainVolumesOnDelete: Type.Boolean({
      default: true,
      description: 'Keep database, queue and image volumes when the cloud is deleted.',
    }),
  },
  { ...strict, description: 'The desired state of one OpenStack cloud.' },
);

export type OpenStackCloudSpec = Static<typeof OpenStackCloudSpec>;
export type ServiceName = keyof Static<typeof ServicesSpec>;
export const serviceNames = Object.keys(ServicesSpec.properties) as ServiceName[];
export type LabelSelector = Static<typeof LabelSelector>;
export type Resources = Static<typeof Resources>;
export type HealingSpec = Static<typeof HealingSpec>;
export type ConfigOverrides = Static<typeof ConfigOverrides>;

export const Condition = Type.Object(
  {
    type: Type.String({ minLength: 1 }),
    status: Type.Union([Type.Literal('True'), Type.Literal('False'), Type.Literal('Unknown')]),
    reason: Type.String({ pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
    message: Type.String(),
    lastTransitionTime: Type.String({ format: 'date-time' }),
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  strict,
);
export type Condition = Static<typeof Condition>;

/** What `stackanetes remediate` last did to this cloud (written by it, not by the operator). */
export const RemediationStatus = Type.Object(
  {
    state: Type.Union([
      Type.Literal('Scanning'),
      Type.Literal('Building'),
      Type.Literal('RollingOut'),
      Type.Literal('Succeeded'),
      Type.Literal('Clean'),
      Type.Literal('Reported'),
      Type.Literal('RolledBack'),
      Type.Literal('Failed'),
    ]),
    startedAt: Type.String({ format: 'date-time' }),
    finishedAt: Type.Optional(Type.String({ format: 'date-time' })),
    message: Type.String(),
    /** The image being rolled (or the last one), with the references before and after. */
    image: Type.Optional(Type.String()),
    from: Type.Optional(Type.String()),
    to: Type.Optional(Type.String()),
    step: Type.Optional(Type.String({ description: 'canary, gate, roll, verify, rollback' })),
    previous: Type.Optional(
      Type.String({
        description:
          'spec.images.overrides.<image> before the roll, as JSON ("null": none), written when the roll changes it: a run that resumes one killed half-way puts it back if a check fails.',
      }),
    ),
    failedCheck: Type.Optional(Type.String()),
    findings: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Findings of the last scan, over all images.' }),
    ),
    rolled: Type.Optional(
      Type.Array(
        Type.Object(
          { image: Type.String(), from: Type.String(), to: Type.String(), at: Type.String() },
          strict,
        ),
      ),
    ),
  },
  strict,
);
export type RemediationStatus = Static<typeof RemediationStatus>;

/**
 * A release upgrade (spec.release changed to a release upstream allows from status.release):
 * where it is, kept in status so that a restarted operator resumes at the step it was in.
 */
export const UpgradeStatus = Type.Object(
  {
    from: Type.String({ description: 'The release the cloud ran when the upgrade began.' }),
    to: Type.String({ description: 'The release it is upgrading to (spec.release).' }),
    startedAt: Type.String({ format: 'date-time' }),
    step: Type.Optional(
      Type.String({
        description: 'The step in progress: preflight/<service> or <service>/<step>.',
      }),
    ),
    completed: Type.Array(Type.String(), {
      description: 'The steps done, in order; a resumed upgrade skips them.',
    }),
    finishedAt: Type.Optional(
      Type.String({ format: 'date-time', description: 'Set when every step is done.' }),
    ),
    failed: Type.Optional(
      Type.Object(
        {
          step: Type.String(),
          message: Type.String(),
          at: Type.String({ format: 'date-time' }),
        },
        { ...strict, description: 'The step that failed and why; the upgrade waits there.' },
      ),
    ),
  },
  strict,
);
export type UpgradeStatus = Static<typeof UpgradeStatus>;

export const OpenStackCloudStatus = Type.Object(
  {
    observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
    release: Type.Optional(
      Type.String({
        description:
          'The release the cloud runs: set when it is first Ready, and when an upgrade has finished. spec.release differing from it is an upgrade.',
      }),
    ),
    upgrade: Type.Optional(UpgradeStatus),
    conditions: Type.Optional(
      Type.Array(Condition, {
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['type'],
      }),
    ),
    remediation: Type.Optional(RemediationStatus),
    components: Type.Optional(
      Type.Record(
        Type.String(),
        Type.Object(
          {
            ready: Type.Boolean(),
            replicas: Type.Optional(Type.Integer()),
            readyReplicas: Type.Optional(Type.Integer()),
          },
          strict,
        ),
      ),
    ),
    endpoints: Type.Optional(Type.Record(Type.String(), Type.String())),
    lastReconcileTime: Type.Optional(
      Type.String({
        format: 'date-time',
        description:
          'When an operator last reconciled this cloud; refreshed at least every resync period while one runs.',
      }),
    ),
    reconciledBy: Type.Optional(
      Type.Object(
        {
          identity: Type.String({ description: 'The operator replica (pod or host name).' }),
          lease: Type.Optional(
            Type.String({ description: 'namespace/name of the leader-election Lease it held.' }),
          ),
          resyncSeconds: Type.Optional(
            Type.Integer({ minimum: 1, description: 'How often it looks at every cloud.' }),
          ),
        },
        strict,
      ),
    ),
  },
  { ...strict, description: 'What the operator observed.' },
);
export type OpenStackCloudStatus = Static<typeof OpenStackCloudStatus>;

export const OpenStackCloudMetadata = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 40,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
    }),
    namespace: Type.Optional(
      Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$' }),
    ),
    labels: Type.Optional(Type.Record(LabelKey, LabelValue)),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  },
  // Objects read back from a cluster carry uid, generation, …: keep those, check the rest.
  { additionalProperties: true },
);

export const OpenStackCloud = Type.Object(
  {
    apiVersion: Type.Literal(apiVersion),
    kind: Type.Literal(kind),
    metadata: OpenStackCloudMetadata,
    spec: OpenStackCloudSpec,
    status: Type.Optional(OpenStackCloudStatus),
  },
  strict,
);
export type OpenStackCloud = Static<typeof OpenStackCloud>;
