// Why a workload is not ready, when the reason is a container that keeps exiting: "0/1 ready"
// alone sent a CI run through two 15-minute waits while nova-compute refused to start 23 times
// with one clear line in its log. A component's condition names the container, its restarts,
// its last exit and the line it died with. Pure functions here; the reconciler fetches the pods
// (one bounded list, only for a workload that is not ready) and the previous container's log.
import type { KubeObject } from '../render/kube.ts';

/** A container that restarts over and over, as its pod's status shows it. */
export interface CrashingContainer {
  pod: string;
  container: string;
  restarts: number;
  /** CrashLoopBackOff while kubelet waits to start it again; else the state it is in. */
  state: string;
  exitCode?: number;
  /** Why it last ended, as kubelet says it (Error, Completed, OOMKilled). */
  reason?: string;
}

interface ContainerStatus {
  name: string;
  restartCount?: number;
  state?: { waiting?: { reason?: string }; running?: object; terminated?: { reason?: string } };
  lastState?: { terminated?: { exitCode?: number; reason?: string } };
}

/** Restarts from which a container counts as crashing even between two back-offs. */
export const crashRestarts = 3;

/** The container of these pods that has restarted most, if it is crash-looping. */
export function crashingContainer(pods: readonly KubeObject[]): CrashingContainer | undefined {
  let worst: CrashingContainer | undefined;
  for (const pod of pods) {
    const status = pod.status as
      | { containerStatuses?: ContainerStatus[]; initContainerStatuses?: ContainerStatus[] }
      | undefined;
    for (const c of [
      ...(status?.initContainerStatuses ?? []),
      ...(status?.containerStatuses ?? []),
    ]) {
      const restarts = c.restartCount ?? 0;
      const waiting = c.state?.waiting?.reason;
      if (waiting !== 'CrashLoopBackOff' && restarts < crashRestarts) continue;
      if (worst && worst.restarts >= restarts) continue;
      const last = c.lastState?.terminated;
      worst = {
        pod: pod.metadata.name,
        container: c.name,
        restarts,
        state:
          waiting ?? (c.state?.running ? 'Running' : (c.state?.terminated?.reason ?? 'Waiting')),
        ...(last?.exitCode !== undefined ? { exitCode: last.exitCode } : {}),
        ...(last?.reason ? { reason: last.reason } : {}),
      };
    }
  }
  return worst;
}

// "2026-12-01 17:55:38.597 1076 ERROR oslo_service.backend.eventlet.service " (oslo.log's prefix)
const osloPrefix = /^\d{4}-\d\d-\d\d[ T][\d:.]+\s+\d+\s+[A-Z]+\s+\S+\s*(\[[^\]]*\]\s*)?/;
// "nova.exception.InvalidConfiguration: …", "ValueError: …", "pymysql.err.OperationalError: …"
const exceptionLine = /(^|\s)[\w.]*(Error|Exception|Invalid\w*|Failure|Refused)\w*: \S/;

/**
 * The line a process died with, from the end of its log: the last exception line (without
 * oslo.log's timestamp, PID, level and logger), else the last line with text; at most 200
 * characters.
 */
export function dyingLine(log: string): string {
  const lines = log
    .split('\n')
    .map((l) => l.replace(osloPrefix, '').trim())
    .filter(Boolean);
  const line = lines.findLast((l) => exceptionLine.test(l)) ?? lines.at(-1) ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** "pod p: container c restarted 23 times (CrashLoopBackOff), last exit 0 (Completed): <line>" */
export function crashNote(c: CrashingContainer, line: string): string {
  const exit =
    c.exitCode !== undefined ? `, last exit ${c.exitCode}${c.reason ? ` (${c.reason})` : ''}` : '';
  return `pod ${c.pod}: container ${c.container} restarted ${c.restarts} times (${c.state})${exit}${line ? `: ${line}` : ''}`;
}
