// Probes: how the kubelet checks each process, and what each check costs.
// - Liveness means "dead or deadlocked", never "slow" and never "a dependency is down": a restart
//   cures neither, and on a loaded node it turns slowness into an outage (the restarted service
//   starts cold, its clients reconnect, the load grows). Its budget is minutes.
// - Readiness carries slowness and dependency outages: the process stops taking work, nothing is
//   restarted, and it takes work again by itself.
// - Startup probes look every second, so that a replacement takes work as soon as it answers;
//   the kubelet runs the readiness probe at once when the startup probe succeeds.
// Checks are cheap: an HTTP GET or a TCP connect by the kubelet itself where the process has an
// endpoint, else a small C tool or health.sh (sh and awk reading /proc). No probe starts a Python
// interpreter or an Erlang VM, and none opens a session to another pod's broker or database.
import type { Check, Probe as ProbeDef } from '../catalog/types.ts';
import { kollaConfigDir } from './kolla.ts';
import type { Container, Probe } from './kube.ts';

export const healthScript = 'health.sh';
export const healthScriptPath = `${kollaConfigDir}/${healthScript}`;

/**
 * The least time (period × failureThreshold + timeout) a liveness probe has to keep failing
 * before the kubelet restarts a container. On a node at load average 30 on 2 cores each runnable
 * task gets about 1/15 of a core: a check that needs 1 s of CPU on a quiet node can take 15 s,
 * and queues behind the requests the service is already serving. Two minutes is eight such
 * checks, and still replaces a deadlocked process within about three.
 */
export const minLivenessBudgetSeconds = 120;

/**
 * Timings by what a check costs: `cheap` is done by the kubelet (HTTP, TCP), `exec` runs a command
 * in the container. An exec costs about 0.1 s of CPU in the container runtime (containerd's shim
 * and `runc exec`) besides the command's own, whatever the command: measured by bench/load.ts,
 * the whole cloud's probes cost 15.7 % of one core when exec readiness ran every 15 s and exec
 * liveness every 30 s. So exec readiness looks every 30 s (a broker or database outage still shows
 * within a minute), and exec liveness, which only has to find a dead or deadlocked process, every
 * 120 s.
 */
export const timing = {
  start: {
    cheap: { periodSeconds: 1, timeoutSeconds: 5, failureThreshold: 600 },
    exec: { periodSeconds: 1, timeoutSeconds: 10, failureThreshold: 600 },
  },
  ready: {
    cheap: { periodSeconds: 10, timeoutSeconds: 10, failureThreshold: 3 },
    exec: { periodSeconds: 30, timeoutSeconds: 10, failureThreshold: 2 },
  },
  live: {
    cheap: { periodSeconds: 30, timeoutSeconds: 20, failureThreshold: 5 },
    exec: { periodSeconds: 120, timeoutSeconds: 20, failureThreshold: 2 },
    // health.sh alive compares with the previous verdict: four minutes without running at all.
    progress: { periodSeconds: 120, timeoutSeconds: 20, failureThreshold: 2 },
  },
} as const;

/**
 * How long a new pod of a Deployment must have been Ready before it counts as available (the
 * Deployment's minReadySeconds): a roll replaces the next pod, and an upgrade moves the next
 * process, only then. A Python service's start goes on after its first probe passes (its second
 * uWSGI worker's import, keystonemiddleware's first token, an RPC worker's whole import when its
 * start check is only "it runs"), and on a node whose CPU is saturated, starts that overlap take
 * it from the pods serving: bench/upgrade on the HA cloud saw requests to every API time out in
 * the windows where two or three nova-api, neutron-server or neutron worker pods started within
 * 30 s of each other, and none while Keystone's, Glance's and Placement's pods rolled.
 */
export const settleSeconds = 20;

/**
 * A restarted container gets this long to stop after a failed liveness probe, not the pod's
 * whole grace period: SIGTERM does nothing to a stopped or deadlocked process.
 */
const livenessGraceSeconds = 10;

/** The kubelet's action for one check; `brokerPort` is the message broker's AMQP port. */
export function handler(c: Check, brokerPort: number): Probe {
  switch (c.kind) {
    case 'http':
      return { httpGet: { path: c.path, port: c.port } };
    case 'tcp':
      return { tcpSocket: { port: c.port } };
    case 'uwsgi':
      // The stats server answers any path with its JSON document.
      return { httpGet: { path: '/', port: c.port } };
    case 'exec':
      return { exec: { command: [...c.command] } };
    case 'progress':
      return { exec: { command: ['sh', healthScriptPath, 'alive'] } };
    case 'broker':
    case 'connected': {
      const port = c.kind === 'broker' ? brokerPort : c.port;
      return { exec: { command: ['sh', healthScriptPath, 'connected', String(port)] } };
    }
  }
}

function cost(c: Check): 'cheap' | 'exec' {
  return c.kind === 'http' || c.kind === 'tcp' || c.kind === 'uwsgi' ? 'cheap' : 'exec';
}

/** Startup, readiness and liveness probes of a process. */
export function probes(
  def: ProbeDef,
  brokerPort: number,
): Pick<Container, 'readinessProbe' | 'livenessProbe' | 'startupProbe'> {
  const start = def.start ?? def.ready ?? def.live;
  return {
    startupProbe: { ...handler(start, brokerPort), ...timing.start[cost(start)] },
    ...(def.ready
      ? { readinessProbe: { ...handler(def.ready, brokerPort), ...timing.ready[cost(def.ready)] } }
      : {}),
    livenessProbe: {
      ...handler(def.live, brokerPort),
      ...(def.live.kind === 'progress' ? timing.live.progress : timing.live[cost(def.live)]),
      terminationGracePeriodSeconds: livenessGraceSeconds,
    },
  };
}

/** The uWSGI stats server a process's probes ask (its master answers it), if any. */
export function uwsgiStatsPort(def: ProbeDef): number | undefined {
  for (const c of [def.live, def.ready, def.start]) if (c?.kind === 'uwsgi') return c.port;
  return undefined;
}

/** Whether a process's probes run health.sh (it is then shipped in its config Secret). */
export function usesHealthScript(def: ProbeDef): boolean {
  return [def.ready, def.live, def.start].some(
    (c) => c?.kind === 'progress' || c?.kind === 'broker' || c?.kind === 'connected',
  );
}

/** How long a liveness probe keeps failing, at most, before the restart (grace not included). */
export function livenessBudgetSeconds(p: {
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
}): number {
  return (p.periodSeconds ?? 10) * (p.failureThreshold ?? 3) + (p.timeoutSeconds ?? 1);
}

/**
 * health.sh: cheap checks of the process a container runs, read from /proc (see its header).
 * Tested by test/unit/render/health.test.ts against real processes.
 */
export const healthSh = `#!/bin/sh
# Cheap health checks of the service in this container, for Kubernetes probes (Stackanetes).
# POSIX sh and base tools (cat, ls, tr, grep, awk): no interpreter or client of the service is
# started and nothing is connected to, so a check costs milliseconds of CPU on any node.
#   health.sh alive           the service's processes ran on a CPU since the previous verdict
#                             (their threads' run time in /proc/PID/task/*/schedstat, to the
#                             nanosecond, and their utime+stime), which was at least
#                             HEALTH_MIN_INTERVAL (default 20) seconds before: a stopped or
#                             deadlocked process does not run. The first check, and one sooner
#                             than that after the previous verdict, pass without a verdict.
#   health.sh connected PORT  a process of the service holds an ESTABLISHED TCP connection to
#                             PORT (from /proc/net/tcp and tcp6 of the pod's network namespace).
# The service's processes are the container's first process (its init, dumb-init) and all its
# descendants; processes started by probes or \`kubectl exec\` are not among them. With a PID
# namespace of its own the init is PID 1; in the host's (hostPID), it is the oldest process of
# this container's cgroup. HEALTH_ROOT_PID names it instead (tests).
set -u
mode=\${1:-}
case "$mode" in
alive | connected) ;;
*)
  echo "usage: health.sh alive | connected PORT" >&2
  exit 2
  ;;
esac
root=\${HEALTH_ROOT_PID:-}
members=
if [ -z "$root" ] && [ "$PPID" = 0 ]; then
  root=1
elif [ -z "$root" ]; then
  line=$(grep -m1 -e ':cpuacct' -e '^0::' /proc/self/cgroup)
  members=$(grep -lxF -e "$line" /proc/[0-9]*/cgroup 2>/dev/null | tr -cs '0-9' ' ')
fi

# The service's processes: "/proc/PID" of each, then a line "ticks N" (their utime+stime).
found=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$root" -v self="$$" -v members="$members" '
  function under(p, a,   i) {
    for (i = 0; i < 100 && (p in pp); i++) { if (p == a) return 1; p = pp[p] }
    return p == a
  }
  {
    pid = $1
    sub(/^.*\\) /, "")
    pp[pid] = $2; cpu[pid] = $12 + $13; start[pid] = $20
  }
  END {
    if (root == "") {
      n = split(members, m)
      for (i = 1; i <= n; i++) {
        p = m[i]
        if (!(p in start) || under(p, self)) continue
        if (root == "" || start[p] + 0 < start[root] + 0) root = p
      }
    }
    if (root == "" || !(root in pp)) { print "no service process found in this container"; exit 1 }
    svc[root] = 1
    for (grew = 1; grew; ) {
      grew = 0
      for (p in pp) if (!(p in svc) && (pp[p] in svc)) { svc[p] = 1; grew = 1 }
    }
    for (p in svc) { printf "/proc/%s ", p; ticks += cpu[p] }
    printf "\\nticks %d\\n", ticks
  }') || { echo "$found"; exit 1; }
dirs=\${found%%
*}
ticks=\${found##*ticks }

if [ "$mode" = alive ]; then
  # shellcheck disable=SC2086 # $dirs is a list of directories
  tasks=$(for d in $dirs; do echo "$d"/task/*/schedstat; done)
  # shellcheck disable=SC2086
  cat $tasks 2>/dev/null | awk -v ticks="$ticks" -v state="\${TMPDIR:-/tmp}/.stackanetes-alive" \\
    -v min="\${HEALTH_MIN_INTERVAL:-20}" '
    { ns += $1; n++ }
    END {
      now = 0
      if ((getline up < "/proc/uptime") > 0) { split(up, u, " "); now = u[1] + 0 }
      if ((getline prev < state) > 0) split(prev, last, " ")
      close(state)
      if (last[1] != "" && now >= last[1] && now - last[1] < min) exit 0
      printf "%.2f %.0f %d\\n", now, ns, ticks > state
      if (last[1] == "" || now < last[1] || sprintf("%.0f", ns) != last[2] || ticks != last[3]) exit 0
      printf "the service has not run for %d s (%d threads)\\n", now - last[1], n
      exit 1
    }'
  exit
fi

port=\${2:?usage: health.sh connected PORT}
tables=/proc/net/tcp
if [ -r /proc/net/tcp6 ]; then tables="$tables /proc/net/tcp6"; fi
# shellcheck disable=SC2086 # $dirs is a list of directories
ls -l $(for d in $dirs; do printf '%s/fd ' "$d"; done) 2>/dev/null | awk -v port="$(printf '%04X' "$port")" -v num="$port" '
  BEGIN {
    while ((getline l < "/dev/stdin") > 0)
      if (match(l, /socket:\\[[0-9]+\\]$/)) { own[substr(l, RSTART + 8, RLENGTH - 9)] = 1; n++ }
  }
  FNR > 1 && $4 == "01" && substr($3, length($3) - 3) == port && ($10 in own) { ok = 1; exit }
  END {
    if (ok) exit 0
    printf "no ESTABLISHED connection to port %d from the service (%d sockets)\\n", num, n
    exit 1
  }' $tables
`;
