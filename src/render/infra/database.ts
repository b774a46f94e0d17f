// MariaDB: a StatefulSet that is a single server with one replica and a Galera cluster with an
// odd number of replicas. Who bootstraps a cluster is decided from the data and from whether any
// peer answers, never from the ordinal alone: a member that finds a running cluster joins it; the
// last member to leave a cluster cleanly (`safe_to_bootstrap: 1`) bootstraps it again; after a
// crash of every member (or at the first start, when all are empty) each says how far its data
// goes (grastate.dat's seqno, else `mariadbd --wsrep-recover`) and, once all have said, the most
// advanced one bootstraps (the lowest ordinal among equals) and the others join it. Per-service
// databases and users are created by each service's own db-init Job.
import type { ComponentName, Probe as ProbeDef } from '../../catalog/types.ts';
import type { Ctx } from '../context.ts';
import { writeIni } from '../ini.ts';
import { kollaConfig, kollaConfigDir, type KollaConfig } from '../kolla.ts';
import type { KubeObject } from '../kube.ts';
import { dataClaim, statefulSet } from '../statefulset.ts';
import { service, type podTemplate } from '../workload.ts';
import { backendObjects, backendPod, headlessName, headlessService } from './backend.ts';
import { memberHosts } from '../openstack/endpoints.ts';

export function renderDatabase(ctx: Ctx): KubeObject[] {
  const spec = ctx.spec.infrastructure.database;
  const def = ctx.catalog.database;
  const replicas = spec.replicas;
  const galera = replicas > 1;
  const headless = headlessName(def);
  const peers = memberHosts(ctx, def.service, headless, replicas);
  const config = databaseConfig(ctx, peers);
  const pod = { component: 'database', def, replicas, config } as const;
  const { container, template } = backendPod(ctx, {
    ...pod,
    resources: spec.resources,
    container: {
      ports: Object.entries(def.ports).map(([name, port]) => ({ name, port })),
      mounts: [{ name: 'data', mountPath: '/var/lib/mysql' }],
      env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
      probe: probe(galera),
    },
    terminationGracePeriodSeconds: 120,
  });
  // A joining Galera member receives a full copy (SST) before it answers: up to 30 minutes.
  container.startupProbe!.failureThreshold = 1800;
  const sts = dataStatefulSet(
    ctx,
    'database',
    def.service,
    headless,
    replicas,
    template,
    { storage: spec.storage, defaultSize: '10Gi' },
    // An empty member finds the running cluster and joins it (start.sh), receiving a full copy.
    galera
      ? 'it joins the running members with an empty data directory and receives a full copy of their data (Galera state transfer, mariabackup)'
      : undefined,
  );
  return backendObjects(ctx, pod, [
    service(ctx, def.service, 'database', def.service, [{ name: 'mysql', port: def.ports.mysql }]),
    headlessService(ctx, 'database', def),
    sts,
  ]);
}

/** The members' config Secret: my.cnf, the start script, root's credentials and first SQL. */
function databaseConfig(ctx: Ctx, peers: string[]): KollaConfig {
  const def = ctx.catalog.database;
  const galera = peers.length > 1;
  const owner = `${def.user}:${def.user}`;
  const myCnf = { name: 'my.cnf', dest: '/etc/mysql/my.cnf', content: myCnfText(ctx, peers) };
  return kollaConfig(
    ctx,
    'database',
    def.service,
    `bash ${kollaConfigDir}/start.sh`,
    [{ ...myCnf, owner, perm: '0600' }],
    {
      permissions: [{ path: '/var/lib/mysql', owner, recurse: false }],
      extra: {
        'start.sh': startScript(ctx, peers.length, peers),
        ...(galera ? { 'ready.sh': readyScript(), 'alive.sh': aliveScript() } : {}),
        'root.cnf': mysqlClientCnf('root', ctx.secrets.databaseRoot, '127.0.0.1', def.ports.mysql),
        'init.sql': rootInitSql(ctx.secrets.databaseRoot),
      },
    },
  );
}

/** The server's options; with several members, Galera's among them. */
function myCnfText(ctx: Ctx, peers: string[]): string {
  const mysqld: Record<string, string | number | boolean> = {
    'bind-address': '0.0.0.0',
    port: ctx.catalog.database.ports.mysql,
    datadir: '/var/lib/mysql',
    // /run is empty in the images: keep the socket and pid file on the data volume.
    socket: '/var/lib/mysql/mysqld.sock',
    'pid-file': '/var/lib/mysql/mysqld.pid',
    'character-set-server': 'utf8mb4',
    'collation-server': 'utf8mb4_general_ci',
    'skip-name-resolve': true,
    max_connections: 1000,
    innodb_buffer_pool_size: '256M',
    innodb_autoinc_lock_mode: 2,
    default_storage_engine: 'InnoDB',
    binlog_format: 'ROW',
  };
  const cnf: Record<string, Record<string, string | number | boolean>> = { mysqld };
  if (peers.length > 1) {
    cnf.galera = {
      wsrep_on: 'ON',
      wsrep_provider: '/usr/lib/galera/libgalera_smm.so',
      wsrep_cluster_name: `${ctx.name}-${ctx.namespace}`,
      wsrep_cluster_address: `gcomm://${peers.join(',')}`,
      wsrep_sst_method: 'mariabackup',
      wsrep_sst_auth: `root:${ctx.secrets.databaseRoot}`,
      wsrep_slave_threads: 2,
      // The Service spreads connections over every member, and a service's next transaction may
      // run on another member than the one that committed the last: reads wait until this member
      // has applied what the cluster committed before them (causal reads). Without it, Neutron's
      // network create on an HA cloud failed: its post-commit read did not find the row its own
      // commit had written on another member (StandardAttributeIDNotFound, HTTP 404 to a POST).
      wsrep_sync_wait: 1,
    };
  }
  return writeIni(cnf);
}

/**
 * root's password, run at every start. mariadb-install-db also creates root@127.0.0.1, root@::1
 * and root@<host name> without a password; the most specific host wins, so TCP logins from
 * 127.0.0.1 would never reach '%'.
 */
function rootInitSql(password: string): string {
  return [
    `DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1';`,
    `ALTER USER 'root'@'localhost' IDENTIFIED BY '${password}';`,
    `CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '${password}';`,
    `ALTER USER 'root'@'%' IDENTIFIED BY '${password}';`,
    `GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;`,
    '',
  ].join('\n');
}

/**
 * A StatefulSet whose members start together (Parallel: after a full outage they must find each
 * other) and keep one data volume each (`data`, the spec's size and class, else the cloud's).
 */
export function dataStatefulSet(
  ctx: Ctx,
  component: ComponentName,
  name: string,
  serviceName: string,
  replicas: number,
  template: ReturnType<typeof podTemplate>,
  volume: { storage?: { size?: string; storageClassName?: string }; defaultSize: string },
  rebuild?: string,
): KubeObject {
  const claim = dataClaim(
    volume.storage?.size ?? volume.defaultSize,
    volume.storage?.storageClassName ?? ctx.spec.storageClassName,
  );
  return statefulSet(ctx, {
    component,
    name,
    serviceName,
    replicas,
    template,
    parallel: true,
    claim,
    ...(rebuild ? { rebuild } : {}),
  });
}

/** A MariaDB client option file, for `--defaults-extra-file`. */
export function mysqlClientCnf(user: string, password: string, host: string, port: number): string {
  return writeIni({ client: { user, password, host, port } }, { assign: '=', sortKeys: false });
}

function startScript(ctx: Ctx, replicas: number, peers: string[]): string {
  const { position: positionPort, galera: galeraPort } = ctx.catalog.database.ports;
  return `#!/bin/bash
# Starts MariaDB. With Galera: join any member that runs; bootstrap a new cluster from this
# member if its grastate.dat says it is safe (it left a cluster last, cleanly); otherwise, while
# no member runs, say how far this member's data goes (uuid:seqno on port ${positionPort}) and ask
# the others: once every member has answered, the most advanced one bootstraps (the lowest
# ordinal among equals; an empty data directory is seqno -1), and the others join it.
set -euo pipefail
datadir=/var/lib/mysql
if [ ! -d "$datadir/mysql" ]; then
  echo "initialising a new data directory"
  mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal >/dev/null
fi
args=(--defaults-file=/etc/mysql/my.cnf --init-file=${kollaConfigDir}/init.sql)
replicas=${replicas}
if [ "$replicas" -gt 1 ]; then
  ordinal="\${POD_NAME##*-}"
  peers=(${peers.map((p) => `"${p}"`).join(' ')})
  reachable() {
    for i in "\${!peers[@]}"; do
      [ "$i" = "$ordinal" ] && continue
      if timeout 2 bash -c "echo > /dev/tcp/\${peers[$i]}/${galeraPort}" 2>/dev/null; then return 0; fi
    done
    return 1
  }
  safe() { grep -q '^safe_to_bootstrap: 1' "$datadir/grastate.dat" 2>/dev/null; }
  position=""
  # This member's last committed writeset, as uuid:seqno.
  recover() {
    local uuid seqno found
    uuid=$(sed -n 's/^uuid:[[:space:]]*//p' "$datadir/grastate.dat" 2>/dev/null || true)
    seqno=$(sed -n 's/^seqno:[[:space:]]*//p' "$datadir/grastate.dat" 2>/dev/null || true)
    if [ ! -e "$datadir/grastate.dat" ]; then
      uuid=00000000-0000-0000-0000-000000000000 seqno=-1
    elif [ -z "$seqno" ] || [ "$seqno" = -1 ]; then
      echo "grastate.dat has no position (the server stopped without saving it): mariadbd --wsrep-recover"
      mariadbd --defaults-file=/etc/mysql/my.cnf --wsrep-recover --log-error=/tmp/wsrep-recover.log || true
      found=$(sed -n 's/.*WSREP: Recovered position: *//p' /tmp/wsrep-recover.log | tail -n 1)
      if [ -z "$found" ]; then
        echo "could not recover this member's position:"; tail -n 5 /tmp/wsrep-recover.log
        return 1
      fi
      uuid=\${found%:*} seqno=\${found##*:}
    fi
    position="$uuid:$seqno"
    command -v socat >/dev/null || echo "socat is missing from the image: the others cannot learn this member's position"
    echo "$position" > /tmp/position
    socat TCP-LISTEN:${positionPort},reuseaddr,fork OPEN:/tmp/position,rdonly &
    server=$!
    echo "this member's position: $position (told to the others on port ${positionPort})"
  }
  # True when every member has said where it is and this one is the most advanced.
  chosen() {
    local best=$ordinal bestseq=\${position##*:} i p seq
    for i in "\${!peers[@]}"; do
      [ "$i" = "$ordinal" ] && continue
      p=$(timeout 3 bash -c "exec 3<>/dev/tcp/\${peers[$i]}/${positionPort} && cat <&3" 2>/dev/null || true)
      if [ -z "$p" ]; then missing="the position of member $i"; return 1; fi
      case "\${p%:*}" in
        00000000-0000-0000-0000-000000000000 | "\${position%:*}") ;;
        *) case "\${position%:*}" in 00000000-0000-0000-0000-000000000000) ;;
             *) missing="someone to decide: member $i has another cluster's data (\${p%:*})"; return 1 ;;
           esac ;;
      esac
      seq=\${p##*:}
      if [ "$seq" -gt "$bestseq" ] || { [ "$seq" = "$bestseq" ] && [ "$i" -lt "$best" ]; }; then
        best=$i bestseq=$seq
      fi
    done
    missing="member $best to bootstrap: it is the most advanced (seqno $bestseq)"
    [ "$best" = "$ordinal" ]
  }
  server=""
  missing=""
  for attempt in $(seq 1 600); do
    if reachable; then echo "joining the running cluster"; break; fi
    if safe; then
      echo "no member runs and this one left the cluster last: bootstrapping it again"
      args+=(--wsrep-new-cluster)
      break
    fi
    if [ -n "$position" ] || recover; then
      if chosen; then
        echo "no member runs, every member has said where it is and this one is the most advanced: bootstrapping"
        sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$datadir/grastate.dat" 2>/dev/null || true
        args+=(--wsrep-new-cluster)
        break
      fi
    fi
    [ $((attempt % 10)) = 1 ] && echo "waiting for a member to run\${missing:+, or for $missing}"
    sleep 2
  done
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
fi
exec mariadbd "\${args[@]}"
`;
}

const rootCnfPath = `${kollaConfigDir}/root.cnf`;

/**
 * Started: the server answers the protocol's ping (mariadb-admin, a small C client: no query, no
 * shell). Alive: the same, and with Galera its provider is connected to a component (alive.sh).
 * Ready: it runs a query — and with Galera, it is a synced member (a joiner or a donor must not
 * take clients).
 */
function probe(galera: boolean): ProbeDef {
  const ping: ProbeDef['live'] = {
    kind: 'exec',
    command: [
      'mariadb-admin',
      `--defaults-extra-file=${rootCnfPath}`,
      '--connect-timeout=10',
      'ping',
    ],
  };
  const live: ProbeDef['live'] = galera
    ? { kind: 'exec', command: ['bash', `${kollaConfigDir}/alive.sh`] }
    : ping;
  const ready: ProbeDef['ready'] = galera
    ? { kind: 'exec', command: ['bash', `${kollaConfigDir}/ready.sh`] }
    : {
        kind: 'exec',
        command: [
          'mariadb',
          `--defaults-extra-file=${rootCnfPath}`,
          '--connect-timeout=10',
          '-N',
          '-B',
          '-e',
          'SELECT 1',
        ],
      };
  return { ready, live, start: ping };
}

/** The shell command that prints one status variable of this member's own server. */
function statusQuery(variable: string): string {
  return `mariadb --defaults-extra-file=${rootCnfPath} --connect-timeout=10 -N -B -e "SHOW STATUS LIKE '${variable}'" | awk '{print $2}'`;
}

/**
 * alive.sh: the server answers, and its Galera provider is connected to a cluster component. A
 * member whose provider gave up keeps answering with wsrep_connected OFF and never rejoins by
 * itself (seen after a second full outage: "Receiving IST failed, node restart required"); a
 * restart cures it. A member whose peers are all down stays connected to a component of its own
 * (non-primary, wsrep_connected ON): alive, only not ready.
 */
export function aliveScript(): string {
  return `#!/bin/bash
# Alive: the server answers and its Galera provider is connected to a component.
set -euo pipefail
connected=$(${statusQuery('wsrep_connected')})
[ "$connected" != OFF ] || { echo "the Galera provider is connected to no component (wsrep_connected OFF): a restart is required"; exit 1; }
`;
}

function readyScript(): string {
  return `#!/bin/bash
# Ready: this member is synced with the Galera cluster (not joining, not donating).
set -eu
state=$(${statusQuery('wsrep_local_state_comment')})
[ "$state" = Synced ] || { echo "galera state: $state"; exit 1; }
`;
}
