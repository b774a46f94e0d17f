// The health gate of a roll-out: API calls that prove a service works (a token issued, images,
// servers, networks listed), made from the cloud's openstack-client pod by
// src/openstack/gate.py, against one pod's address (the canary) or the Service's.
import { readFileSync } from 'node:fs';
import { run } from '../util/exec.ts';

/** What a check calls, by the catalog's endpoint type (see gate.py). */
export type GateKind =
  'identity' | 'image' | 'placement' | 'compute' | 'metadata' | 'network' | 'dashboard';

export interface GateCheck {
  /** What the user reads: `keystone-api canary (10.88.0.12)`. */
  readonly name: string;
  readonly kind: GateKind;
  /** `http://host:port`, without the API's path. */
  readonly url: string;
}

export interface GateResult {
  readonly name: string;
  readonly ok: boolean;
  /** The HTTP status, 0 when nothing answered. */
  readonly status: number;
  readonly detail: string;
  readonly ms: number;
}

/**
 * The check for a container port of an image: the port the catalog's API listens on. Images
 * with no API (conductor, scheduler, agents, databases) have none; their roll-out is judged by
 * their pods and by the cloud-wide checks.
 */
const checkByPort: Readonly<Record<number, GateKind>> = {
  5000: 'identity',
  9292: 'image',
  8778: 'placement',
  8774: 'compute',
  8775: 'metadata',
  9696: 'network',
};

export function gateKind(image: string, port: number): GateKind | undefined {
  if (image === 'horizon' && port === 8080) return 'dashboard';
  return checkByPort[port];
}

export const gateScript = readFileSync(new URL('./gate.py', import.meta.url), 'utf8');

/** Parses gate.py's output: one JSON object a line; other lines are ignored. */
export function parseGateOutput(stdout: string): GateResult[] {
  const out: GateResult[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line) as GateResult;
      if (typeof r.name === 'string' && typeof r.ok === 'boolean') out.push(r);
    } catch {
      // not one of the script's lines
    }
  }
  return out;
}

/** Runs the checks in the cloud's openstack-client pod. A check that did not run has failed. */
export async function runGate(
  namespace: string,
  checks: readonly GateCheck[],
  env: NodeJS.ProcessEnv = process.env,
  timeoutSeconds = 10,
): Promise<GateResult[]> {
  if (checks.length === 0) return [];
  const settings = JSON.stringify({ timeout: timeoutSeconds, checks });
  const r = await run(
    'kubectl',
    [
      '-n',
      namespace,
      'exec',
      'deploy/openstack-client',
      '--',
      'python3',
      '-c',
      gateScript,
      settings,
    ],
    { env, allowFailure: true },
  );
  const results = parseGateOutput(r.stdout);
  for (const c of checks) {
    if (!results.some((x) => x.name === c.name)) {
      results.push({
        name: c.name,
        ok: false,
        status: 0,
        detail: `did not run: ${r.stderr.trim().split('\n').pop() || `exit ${r.code}`}`,
        ms: 0,
      });
    }
  }
  return results;
}
