// A small OpenStack API client for the operator: a Keystone v3 password token (kept until shortly
// before it expires, renewed once on a 401), the internal endpoints from its catalog, and the few
// Nova calls healing needs (compute services, servers on a host, evacuate). No SDK: the calls are
// few, and the official clients are Python.

export interface Credentials {
  /** Keystone's base URL, without /v3. */
  readonly authUrl: string;
  readonly username: string;
  readonly password: string;
  readonly projectName: string;
  readonly userDomainName?: string;
  readonly projectDomainName?: string;
  readonly region?: string;
}

export interface SessionOptions {
  readonly fetch?: typeof fetch;
  /** Rewrites a URL before it is used (an in-cluster name to what this process reaches). */
  readonly rewrite?: (url: string) => string;
  /** Per request (default 15 s). */
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

/** An API call that failed: the service, method, path, HTTP status and the API's own message. */
export class OpenStackError extends Error {
  readonly status: number;
  constructor(what: string, status: number, detail: string) {
    super(`${what}: HTTP ${status}${detail ? `: ${detail}` : ''}`);
    this.name = 'OpenStackError';
    this.status = status;
  }
}

interface CatalogEntry {
  type: string;
  endpoints: { interface: string; region?: string; region_id?: string; url: string }[];
}

interface Token {
  id: string;
  /** Milliseconds since the epoch. */
  expires: number;
  catalog: CatalogEntry[];
}

/** The message of an OpenStack error body: `{"itemNotFound": {"message": …}}`, `{"error": …}`. */
function errorDetail(text: string): string {
  try {
    const body = JSON.parse(text) as Record<string, unknown>;
    for (const v of Object.values(body)) {
      const m = (v as { message?: unknown } | undefined)?.message;
      if (typeof m === 'string') return m;
    }
  } catch {
    // not JSON: the start of the text
  }
  return text.slice(0, 200).trim();
}

export class OpenStackSession {
  readonly #c: Credentials;
  readonly #fetch: typeof fetch;
  readonly #rewrite: (url: string) => string;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #token: Token | undefined;

  constructor(credentials: Credentials, o: SessionOptions = {}) {
    this.#c = credentials;
    this.#fetch = o.fetch ?? fetch;
    this.#rewrite = o.rewrite ?? ((u) => u);
    this.#timeoutMs = o.timeoutMs ?? 15_000;
    this.#now = o.now ?? Date.now;
  }

  async #authenticate(): Promise<Token> {
    const c = this.#c;
    const url = this.#rewrite(
      `${c.authUrl.replace(/\/+$/, '').replace(/\/v3$/, '')}/v3/auth/tokens`,
    );
    const res = await this.#send(`keystone POST ${url}`, url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(this.#timeoutMs),
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: {
                name: c.username,
                domain: { name: c.userDomainName ?? 'Default' },
                password: c.password,
              },
            },
          },
          scope: {
            project: { name: c.projectName, domain: { name: c.projectDomainName ?? 'Default' } },
          },
        },
      }),
    });
    const text = await res.text();
    const id = res.headers.get('x-subject-token');
    // The password is never part of a message.
    if (!res.ok || !id)
      throw new OpenStackError(
        `keystone POST /v3/auth/tokens as ${c.username}`,
        res.status,
        errorDetail(text),
      );
    const body = JSON.parse(text) as { token: { expires_at: string; catalog?: CatalogEntry[] } };
    return {
      id,
      expires: Date.parse(body.token.expires_at),
      catalog: body.token.catalog ?? [],
    };
  }

  /** fetch, whose bare "fetch failed" or timeout says what was asked and why (its cause). */
  async #send(what: string, url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.#fetch(url, init);
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.cause?.code ?? e.cause?.message ?? e.message;
      throw new Error(
        `${what}: ${e.name === 'TimeoutError' ? `no answer in ${this.#timeoutMs / 1000} s` : why}`,
        {
          cause: err,
        },
      );
    }
  }

  async #valid(): Promise<Token> {
    if (!this.#token || this.#token.expires - this.#now() < 60_000)
      this.#token = await this.#authenticate();
    return this.#token;
  }

  /** The internal endpoint of a service type (in the credentials' region when given). */
  async endpoint(type: string): Promise<string> {
    const { catalog } = await this.#valid();
    const entry = catalog.find((e) => e.type === type);
    const ep = entry?.endpoints.find(
      (e) =>
        e.interface === 'internal' &&
        (!this.#c.region || (e.region_id ?? e.region) === this.#c.region),
    );
    if (!ep)
      throw new Error(
        `Keystone's catalog has no internal ${type} endpoint${this.#c.region ? ` in ${this.#c.region}` : ''}`,
      );
    return this.#rewrite(ep.url.replace(/\/+$/, ''));
  }

  /** One call to a service by type; the parsed JSON body (undefined when empty). */
  async request<T>(
    type: string,
    method: string,
    path: string,
    o: { body?: unknown; microversion?: string } = {},
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.#valid();
      const base = await this.endpoint(type);
      const res = await this.#send(`${type} ${method} ${base}${path}`, `${base}${path}`, {
        method,
        signal: AbortSignal.timeout(this.#timeoutMs),
        headers: {
          'x-auth-token': token.id,
          accept: 'application/json',
          ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(o.microversion ? { 'openstack-api-version': `${type} ${o.microversion}` } : {}),
        },
        ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
      });
      const text = await res.text();
      if (res.status === 401 && attempt === 0) {
        this.#token = undefined; // revoked or rotated away: one new token, once
        continue;
      }
      if (!res.ok)
        throw new OpenStackError(`${type} ${method} ${path}`, res.status, errorDetail(text));
      return (text ? JSON.parse(text) : undefined) as T;
    }
  }
}

/** Nova's API at the microversion these calls are written for (2.53: services by UUID, forced_down). */
const novaVersion = '2.53';

export interface ComputeService {
  id: string;
  binary: string;
  host: string;
  state: 'up' | 'down';
  status: 'enabled' | 'disabled';
  forced_down: boolean;
  disabled_reason: string | null;
  updated_at: string | null;
}

export interface ServerSummary {
  id: string;
  name: string;
  status: string;
  'OS-EXT-SRV-ATTR:host'?: string | null;
  'OS-EXT-STS:task_state'?: string | null;
  'OS-EXT-STS:vm_state'?: string;
}

export class Nova {
  readonly #s: OpenStackSession;
  constructor(session: OpenStackSession) {
    this.#s = session;
  }

  async services(binary?: string): Promise<ComputeService[]> {
    const q = binary ? `?binary=${encodeURIComponent(binary)}` : '';
    const r = await this.#s.request<{ services: ComputeService[] }>(
      'compute',
      'GET',
      `/os-services${q}`,
      { microversion: novaVersion },
    );
    return r.services;
  }

  async deleteService(id: string): Promise<void> {
    await this.#s.request('compute', 'DELETE', `/os-services/${id}`, {
      microversion: novaVersion,
    });
  }

  /** Disables (with a reason) or enables a service, and sets or clears forced_down. */
  async updateService(
    id: string,
    change: { status?: 'enabled' | 'disabled'; disabled_reason?: string; forced_down?: boolean },
  ): Promise<ComputeService> {
    const r = await this.#s.request<{ service: ComputeService }>(
      'compute',
      'PUT',
      `/os-services/${id}`,
      { body: change, microversion: novaVersion },
    );
    return r.service;
  }

  /** Every project's servers that Nova places on `host`. */
  async serversOnHost(host: string): Promise<ServerSummary[]> {
    const r = await this.#s.request<{ servers: ServerSummary[] }>(
      'compute',
      'GET',
      `/servers/detail?all_tenants=1&host=${encodeURIComponent(host)}`,
      { microversion: novaVersion },
    );
    return r.servers;
  }

  async server(id: string): Promise<ServerSummary> {
    const r = await this.#s.request<{ server: ServerSummary }>('compute', 'GET', `/servers/${id}`, {
      microversion: novaVersion,
    });
    return r.server;
  }

  /** Rebuilds a server of a down host elsewhere; the scheduler picks the host. */
  async evacuate(id: string): Promise<void> {
    await this.#s.request('compute', 'POST', `/servers/${id}/action`, {
      body: { evacuate: {} },
      microversion: novaVersion,
    });
  }
}
