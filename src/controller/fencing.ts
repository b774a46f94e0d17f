// Fencing: a node that stopped answering is made sure to be off before anything it ran (a pod, a
// volume's writer, a database member, a guest) is started elsewhere. `Fencer` is what the node
// health reconciler (./nodes.ts) asks; `fenceNode` is the whole act: ask, cut the power unless it
// is off already, then wait until the power controller says Off.
//
// Implementations, one per kind of power controller, chosen by `spec.healing.fencing.method`
// (src/api/v1alpha1/spec.ts) in `createFencer` below:
// - redfish: `RedfishFencer`, a server's BMC (iDRAC, iLO, XCC, OpenBMC) or the local cluster's
//   (src/cluster/bmc.ts), over DMTF Redfish, as fence_redfish does.
// - IPMI goes here next: a method `ipmi` in the spec (host, credentials Secret) and an
//   `IpmiFencer` running `ipmitool -I lanplus … chassis power status|off`, as fence_ipmilan does.
//   Anything else that can say On/Off and cut the power (a PDU, a cloud provider's API) fits the
//   same two calls.
import { setTimeout as sleep } from 'node:timers/promises';
import { nodePlaceholder, type HealingSpec } from '../api/v1alpha1/spec.ts';

export type PowerState = 'On' | 'Off' | 'Unknown';

export interface Fencer {
  /** What the power controller says now; `Unknown` for a state in between (PoweringOff). Throws when it cannot be asked. */
  powerState(node: string): Promise<PowerState>;
  /** Cuts the power at once (no clean shutdown); resolves once the controller took the order. */
  powerOff(node: string): Promise<void>;
}

/** Fencing did not happen or cannot be confirmed: nothing may move. */
export class FencingError extends Error {
  override name = 'FencingError';
}

export interface FenceResult {
  /** False when the node was found off already (nothing was sent). */
  readonly poweredOff: boolean;
}

/**
 * Makes sure `node` is off: asks first (a node already off gets no second order, so a resumed
 * operator never fences twice), else cuts its power and waits until the controller says Off.
 * Throws a FencingError when it does not within `timeoutMs`.
 */
export async function fenceNode(
  fencer: Fencer,
  node: string,
  opts: { timeoutMs: number; pollMs?: number },
): Promise<FenceResult> {
  if ((await fencer.powerState(node)) === 'Off') return { poweredOff: false };
  const started = performance.now();
  await fencer.powerOff(node);
  let state: PowerState;
  for (;;) {
    state = await fencer.powerState(node);
    if (state === 'Off') return { poweredOff: true };
    if (performance.now() - started >= opts.timeoutMs) break;
    await sleep(opts.pollMs ?? 1000);
  }
  throw new FencingError(
    `${node}: power-off ordered, but its power state is still ${state} after ${Math.round(opts.timeoutMs / 1000)} s`,
  );
}

export interface RedfishOptions {
  /** The Redfish service's base URL; `{node}` is replaced by the node name. */
  readonly url: string;
  /** The ComputerSystem's Id; `{node}` is replaced by the node name. */
  readonly systemId: string;
  readonly username: string;
  readonly password: string;
  /** Per request (default 10 s). */
  readonly requestTimeoutMs?: number;
}

interface RedfishSystem {
  PowerState?: string;
  Actions?: { '#ComputerSystem.Reset'?: { target?: string } };
}

/** Power control through a Redfish service: `GET Systems/<id>` and its `ComputerSystem.Reset` action. */
export class RedfishFencer implements Fencer {
  readonly #o: RedfishOptions;
  readonly #auth: string;

  constructor(o: RedfishOptions) {
    this.#o = o;
    this.#auth = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString('base64')}`;
  }

  /** The system's URL for a node. */
  systemUrl(node: string): URL {
    const base = this.#o.url.replaceAll(nodePlaceholder, encodeURIComponent(node));
    const id = this.#o.systemId.replaceAll(nodePlaceholder, node);
    return new URL(`/redfish/v1/Systems/${encodeURIComponent(id)}`, base);
  }

  async powerState(node: string): Promise<PowerState> {
    const s = await this.#system(node);
    return s.PowerState === 'On' || s.PowerState === 'Off' ? s.PowerState : 'Unknown';
  }

  async powerOff(node: string): Promise<void> {
    // The action's address is the one the system names (vendors differ), else the standard one.
    const system = this.systemUrl(node);
    const target = (await this.#system(node)).Actions?.['#ComputerSystem.Reset']?.target;
    const url = new URL(target ?? `${system.pathname}/Actions/ComputerSystem.Reset`, system);
    await this.#call('POST', url, { ResetType: 'ForceOff' });
  }

  async #system(node: string): Promise<RedfishSystem> {
    return (await this.#call('GET', this.systemUrl(node))) as RedfishSystem;
  }

  async #call(method: 'GET' | 'POST', url: URL, body?: unknown): Promise<unknown> {
    const timeoutMs = this.#o.requestTimeoutMs ?? 10_000;
    const what = `Redfish ${method} ${url.href}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          authorization: this.#auth,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        redirect: 'error',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError')
        throw new FencingError(`${what}: no answer within ${timeoutMs / 1000} s`, { cause: err });
      throw new FencingError(
        `${what}: cannot reach it (${e.cause?.code ?? e.cause?.message ?? e.message})`,
        { cause: err },
      );
    }
    const text = await res.text();
    if (res.status === 401 || res.status === 403)
      throw new FencingError(`${what}: ${res.status}: the BMC refused the username and password`);
    if (!res.ok) throw new FencingError(`${what}: ${res.status} ${redfishMessage(text)}`);
    if (!text) return {};
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new FencingError(`${what}: the answer is not JSON: ${text.slice(0, 200)}`);
    }
  }
}

/** The message of a Redfish error body (`{"error": {"message": …}}`), else the text itself. */
function redfishMessage(text: string): string {
  try {
    const e = (JSON.parse(text) as { error?: { message?: string } }).error;
    if (e?.message) return e.message;
  } catch {
    /* not JSON */
  }
  return text.slice(0, 300);
}

/**
 * The fencer a cloud's spec names, with the credentials read from its Secret; undefined for
 * `none`. A new method is one more case here.
 */
export function createFencer(
  fencing: HealingSpec['fencing'],
  credentials: { username: string; password: string },
): Fencer | undefined {
  switch (fencing.method) {
    case 'redfish':
      if (!fencing.redfish) return undefined;
      return new RedfishFencer({
        url: fencing.redfish.url,
        systemId: fencing.redfish.systemId,
        ...credentials,
      });
    case 'none':
      return undefined;
  }
}
