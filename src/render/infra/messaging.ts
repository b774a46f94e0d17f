// RabbitMQ: a StatefulSet whose members find each other through Kubernetes peer discovery.
// Each OpenStack service gets its own vhost and user from its rabbitmq-init Job; the admin user
// is only for those Jobs.
import { meta, type Ctx } from '../context.ts';
import { coreRequests } from '../priority.ts';
import { kollaConfig } from '../kolla.ts';
import type { KubeObject, Role, RoleBinding } from '../kube.ts';
import {
  disruptionBudget,
  kollaContainer,
  podTemplate,
  service,
  serviceAccount,
} from '../workload.ts';
import { messagingService } from '../openstack/common.ts';
import { dataStatefulSet } from './database.ts';

const headless = `${messagingService}-headless`;

const rabbitmqServer = '/usr/lib/rabbitmq/bin/rabbitmq-server';

export function renderMessaging(ctx: Ctx): KubeObject[] {
  const spec = ctx.spec.infrastructure.messaging;
  const def = ctx.catalog.messaging;
  const replicas = spec.replicas;
  const suffix = `.${headless}.${ctx.namespace}.svc`;
  const conf = [
    'cluster_formation.peer_discovery_backend = k8s',
    'cluster_formation.k8s.host = kubernetes.default.svc',
    'cluster_formation.k8s.address_type = hostname',
    `cluster_formation.k8s.service_name = ${headless}`,
    `cluster_formation.k8s.hostname_suffix = ${suffix}`,
    'cluster_formation.node_cleanup.only_log_warning = true',
    'cluster_partition_handling = pause_minority',
    `listeners.tcp.default = ${def.ports.amqp}`,
    `management.tcp.port = ${def.ports.management}`,
    'loopback_users = none',
    'default_user = stackanetes',
    `default_pass = ${ctx.secrets.messagingAdmin}`,
    'default_user_tags.administrator = true',
    'default_permissions.configure = .*',
    'default_permissions.read = .*',
    'default_permissions.write = .*',
    'log.console = true',
    'log.console.level = info',
    'log.file = false',
    '',
  ].join('\n');
  const owner = `${def.user}:${def.user}`;
  const files = [
    {
      name: 'rabbitmq.conf',
      dest: '/etc/rabbitmq/rabbitmq.conf',
      content: conf,
      owner,
      perm: '0600',
    },
    {
      name: 'enabled_plugins',
      dest: '/etc/rabbitmq/enabled_plugins',
      content: '[rabbitmq_management,rabbitmq_peer_discovery_k8s].\n',
      owner,
      perm: '0600',
    },
    {
      name: 'erlang.cookie',
      dest: '/var/lib/rabbitmq/.erlang.cookie',
      content: ctx.secrets.erlangCookie,
      owner,
      perm: '0400',
    },
  ];
  // Debian's /usr/sbin/rabbitmq-server is a sh wrapper that ignores SIGTERM (the pod would sit out
  // its whole grace period); the script it runs stops RabbitMQ cleanly on TERM and logs to stdout.
  const config = kollaConfig(ctx, 'messaging', messagingService, rabbitmqServer, files, {
    permissions: [{ path: '/var/lib/rabbitmq', owner, recurse: true }],
  });
  const container = kollaContainer(ctx, {
    name: 'rabbitmq',
    image: def.image,
    config,
    ports: Object.entries(def.ports).map(([name, port]) => ({ name, port })),
    resources: spec.resources,
    defaultRequests: coreRequests,
    mounts: [{ name: 'data', mountPath: '/var/lib/rabbitmq' }],
    // No rabbitmq-diagnostics (an Erlang VM started per check, seconds of CPU on a loaded node):
    // ready while the AMQP listener accepts connections (as the RabbitMQ cluster operator does);
    // alive while the Erlang VM holds its distribution listener, which it keeps while the broker
    // is stopped on purpose (`rabbitmqctl stop_app`, the first step of maintenance) — that must
    // not be undone by a restart. A crashed VM ends the container by itself.
    probe: {
      ready: { kind: 'tcp', port: def.ports.amqp! },
      live: { kind: 'tcp', port: def.ports.dist! },
    },
    env: [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'RABBITMQ_USE_LONGNAME', value: 'true' },
      { name: 'RABBITMQ_NODENAME', value: `rabbit@$(POD_NAME)${suffix}` },
      { name: 'RABBITMQ_MNESIA_BASE', value: '/var/lib/rabbitmq/mnesia' },
    ],
  });
  const template = podTemplate(ctx, {
    component: 'messaging',
    part: messagingService,
    role: 'controlPlane',
    containers: [container],
    volumes: [config.volume],
    configHash: config.hash,
    serviceAccountName: messagingService,
    spread: replicas > 1,
    terminationGracePeriodSeconds: 120,
  });
  // Peer discovery asks the API for the headless Service's endpoints.
  template.spec.automountServiceAccountToken = true;
  const sts = dataStatefulSet(ctx, 'messaging', messagingService, headless, replicas, template, {
    image: def.image,
    storage: spec.storage,
    defaultSize: '5Gi',
  });
  const role: Role & { metadata: { name: string } } = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(ctx, messagingService, 'messaging', messagingService),
    rules: [{ apiGroups: [''], resources: ['endpoints'], verbs: ['get'] }],
  };
  const binding: RoleBinding & { metadata: { name: string } } = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(ctx, messagingService, 'messaging', messagingService),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: messagingService },
    subjects: [{ kind: 'ServiceAccount', name: messagingService, namespace: ctx.namespace }],
  };
  const out: KubeObject[] = [
    serviceAccount(ctx, messagingService, 'messaging'),
    role,
    binding,
    config.secret,
    service(ctx, messagingService, 'messaging', messagingService, [
      { name: 'amqp', port: def.ports.amqp! },
      { name: 'management', port: def.ports.management! },
    ]),
    service(
      ctx,
      headless,
      'messaging',
      messagingService,
      Object.entries(def.ports).map(([name, port]) => ({ name, port })),
      { headless: true, publishNotReady: true },
    ),
    sts,
  ];
  if (replicas > 1)
    out.push(disruptionBudget(ctx, messagingService, 'messaging', messagingService));
  return out;
}
