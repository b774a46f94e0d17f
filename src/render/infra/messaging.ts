// RabbitMQ: a StatefulSet whose members find each other through Kubernetes peer discovery.
// Each OpenStack service gets its own vhost and user from its rabbitmq-init Job; the admin user
// is only for those Jobs.
import type { Ctx } from '../context.ts';
import { accountRole } from '../rbac.ts';
import { coreCpuRequest } from '../priority.ts';
import { kollaConfig, kollaConfigDir, type KollaConfig } from '../kolla.ts';
import { memoryBytes } from '../quantity.ts';
import type { EnvVar, KubeObject } from '../kube.ts';
import { resources, service } from '../workload.ts';
import { backendObjects, backendPod, headlessName, headlessService } from './backend.ts';
import { dataStatefulSet } from './database.ts';

const rabbitmqServer = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const dataDir = '/var/lib/rabbitmq';
const startScript = 'start.sh';

export function renderMessaging(ctx: Ctx): KubeObject[] {
  const spec = ctx.spec.infrastructure.messaging;
  const def = ctx.catalog.messaging;
  const headless = headlessName(def);
  const replicas = spec.replicas;
  const suffix = `.${headless}.${ctx.namespace}.svc`;
  const config = messagingConfig(ctx, suffix);
  const pod = { component: 'messaging', def, replicas, config } as const;
  const { template } = backendPod(ctx, {
    ...pod,
    resources: spec.resources,
    container: {
      ports: Object.entries(def.ports).map(([name, port]) => ({ name, port })),
      mounts: [{ name: 'data', mountPath: dataDir }],
      // No rabbitmq-diagnostics (an Erlang VM started per check, seconds of CPU on a loaded node):
      // ready while the AMQP listener accepts connections (as the RabbitMQ cluster operator does);
      // alive while the Erlang VM holds its distribution listener, which it keeps while the broker
      // is stopped on purpose (`rabbitmqctl stop_app`, the first step of maintenance) — that must
      // not be undone by a restart. A crashed VM ends the container by itself.
      probe: {
        ready: { kind: 'tcp', port: def.ports.amqp },
        live: { kind: 'tcp', port: def.ports.dist },
      },
      env: brokerEnv(suffix),
    },
    terminationGracePeriodSeconds: 120,
  });
  // Peer discovery asks the API for the headless Service's endpoints.
  template.spec.automountServiceAccountToken = true;
  const sts = dataStatefulSet(
    ctx,
    'messaging',
    def.service,
    headless,
    replicas,
    template,
    { storage: spec.storage, defaultSize: '5Gi' },
    replicas > 1
      ? 'with an empty data directory it has a running member forget it, joins the cluster again as a new member and is added back to the quorum queues (start.sh)'
      : undefined,
  );
  return backendObjects(ctx, pod, [
    ...accountRole(ctx, def.service, 'messaging', def.service, [
      { apiGroups: [''], resources: ['endpoints'], verbs: ['get'] },
    ]),
    service(ctx, def.service, 'messaging', def.service, [
      { name: 'amqp', port: def.ports.amqp },
      { name: 'management', port: def.ports.management },
    ]),
    headlessService(ctx, 'messaging', def),
    sts,
  ]);
}

/** The members' environment: each one's node name under the headless Service, and its paths. */
function brokerEnv(suffix: string): EnvVar[] {
  return [
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'RABBITMQ_USE_LONGNAME', value: 'true' },
    { name: 'RABBITMQ_NODENAME', value: `rabbit@$(POD_NAME)${suffix}` },
    { name: 'RABBITMQ_MNESIA_BASE', value: `${dataDir}/mnesia` },
    // The root file system is read-only: logs (console only) and crash dumps on the volume.
    { name: 'RABBITMQ_LOG_BASE', value: `${dataDir}/log` },
    // Erlang (the broker and rabbitmqctl) reads the cookie from $HOME.
    { name: 'HOME', value: dataDir },
  ];
}

/** The members' config Secret: rabbitmq.conf, the plugins, the Erlang cookie, the start script. */
function messagingConfig(ctx: Ctx, suffix: string): KollaConfig {
  const def = ctx.catalog.messaging;
  const owner = `${def.user}:${def.user}`;
  const file = (name: string, content: string) => ({
    name,
    dest: `/etc/rabbitmq/${name}`,
    content,
    owner,
    perm: '0600',
  });
  const files = [
    file('rabbitmq.conf', rabbitmqConf(ctx, suffix)),
    file('enabled_plugins', '[rabbitmq_management,rabbitmq_peer_discovery_k8s].\n'),
  ];
  return kollaConfig(
    ctx,
    'messaging',
    def.service,
    `bash ${kollaConfigDir}/${startScript}`,
    files,
    {
      permissions: [{ path: dataDir, owner, recurse: true }],
      extra: {
        'erlang.cookie': ctx.secrets.erlangCookie,
        [startScript]: startSh(def.service, ctx.spec.infrastructure.messaging.replicas, suffix),
      },
    },
  );
}

/** rabbitmq.conf: peer discovery through the headless Service, listeners, the admin, logging. */
function rabbitmqConf(ctx: Ctx, suffix: string): string {
  const spec = ctx.spec.infrastructure.messaging;
  const def = ctx.catalog.messaging;
  // RabbitMQ sizes its memory high watermark (60 %), past which it blocks publishers, from the
  // machine's memory unless told otherwise: told the container's limit, it stops taking messages
  // before the kernel would kill it.
  const limit = resources(spec.resources, coreCpuRequest, def.memory).limits?.memory;
  return [
    'cluster_formation.peer_discovery_backend = k8s',
    'cluster_formation.k8s.host = kubernetes.default.svc',
    'cluster_formation.k8s.address_type = hostname',
    `cluster_formation.k8s.service_name = ${headlessName(def)}`,
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
    ...(limit ? [`total_memory_available_override_value = ${memoryBytes(limit)}`] : []),
    '',
  ].join('\n');
}

/**
 * Erlang refuses a cookie file that anyone but its owner can read, and the Secret's files are
 * readable by the pod's group: the cookie is copied to $HOME readable by its owner only (as the
 * rabbitmq user: no root, no sudo). Debian's /usr/sbin/rabbitmq-server is a sh wrapper that
 * ignores SIGTERM (the pod would sit out its whole grace period); the script it runs stops
 * RabbitMQ cleanly on TERM and logs to stdout.
 *
 * A member of a cluster that starts with no data (its volume was lost, or given up by the
 * operator for a node that stayed dead) would be refused by the others, which still list it
 * ("inconsistent cluster"): a running member forgets it first (possible while it is offline, as
 * it is before it starts), then it joins as a new member through peer discovery, and once it runs
 * the quorum queues get a replica on it again (forgetting removed it from them). At a cluster's
 * first start no member lists it and nothing is forgotten.
 */
function startSh(name: string, replicas: number, suffix: string): string {
  const cookie = `${dataDir}/.erlang.cookie`;
  const rejoin =
    replicas > 1
      ? [
          'me="$RABBITMQ_NODENAME"',
          'regrow=',
          'if [ ! -d "$RABBITMQ_MNESIA_BASE/$me" ]; then',
          `  for i in $(seq 0 ${replicas - 1}); do`,
          `    peer="${name}-$i${suffix}"`,
          `    [ "${name}-$i" = "$POD_NAME" ] && continue`,
          '    getent hosts "$peer" >/dev/null || continue',
          '    if timeout 30 rabbitmqctl -q -n "rabbit@$peer" forget_cluster_node "$me" >/dev/null 2>&1; then',
          '      echo "no data here, and rabbit@$peer listed $me: forgotten there, joining as a new member"',
          '      regrow=1',
          '      break',
          '    fi',
          '  done',
          'fi',
          // await_startup fails at once while the node's Erlang VM is not up yet: asked again.
          'if [ -n "$regrow" ]; then',
          '  (for _ in $(seq 1 90); do',
          '    if rabbitmqctl -q await_startup --timeout 30 >/dev/null 2>&1; then',
          '      if out=$(rabbitmq-queues -q grow "$me" all 2>&1); then',
          '        echo "quorum queues: a replica on $me again"',
          '      else',
          '        echo "quorum queues not grown onto $me: $out"',
          '      fi',
          '      exit 0',
          '    fi',
          '    sleep 10',
          '  done',
          '  echo "quorum queues not grown onto $me: it did not start in 15 minutes") &',
          'fi',
        ]
      : [];
  return [
    '#!/bin/bash',
    'set -euo pipefail',
    `if ! cmp -s ${kollaConfigDir}/erlang.cookie ${cookie}; then`,
    `  rm -f ${cookie}`,
    `  install -m 0400 ${kollaConfigDir}/erlang.cookie ${cookie}`,
    'fi',
    ...rejoin,
    `exec ${rabbitmqServer}`,
    '',
  ].join('\n');
}
