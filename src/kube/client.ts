// A small Kubernetes REST client: server-side apply (one field manager, strict field
// validation, optional dry run), get/list (paginated)/create/delete, status writes, and
// streaming watches. Credentials and TLS come from ./config.ts, fresh for every request; a
// request answered 401 Unauthorized is sent once more with credentials read afresh.
import https from 'node:https';
import http from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
import { Credentials, type RequestAuth } from './config.ts';
import { ApiError, apiErrorFrom } from './errors.ts';
import type { KubeObject } from '../render/kube.ts';

export const fieldManager = 'stackanetes';

interface ResourceInfo {
  readonly plural: string;
  readonly namespaced: boolean;
}

/** The kinds Stackanetes reads and writes. */
const known: Record<string, ResourceInfo> = {
  'v1/Namespace': { plural: 'namespaces', namespaced: false },
  'v1/Node': { plural: 'nodes', namespaced: false },
  'v1/Pod': { plural: 'pods', namespaced: true },
  'v1/Event': { plural: 'events', namespaced: true },
  'v1/Secret': { plural: 'secrets', namespaced: true },
  'v1/ConfigMap': { plural: 'configmaps', namespaced: true },
  'v1/Service': { plural: 'services', namespaced: true },
  'v1/ServiceAccount': { plural: 'serviceaccounts', namespaced: true },
  'v1/PersistentVolumeClaim': { plural: 'persistentvolumeclaims', namespaced: true },
  'v1/PersistentVolume': { plural: 'persistentvolumes', namespaced: false },
  'storage.k8s.io/v1/StorageClass': { plural: 'storageclasses', namespaced: false },
  'apps/v1/Deployment': { plural: 'deployments', namespaced: true },
  'apps/v1/StatefulSet': { plural: 'statefulsets', namespaced: true },
  'apps/v1/DaemonSet': { plural: 'daemonsets', namespaced: true },
  'batch/v1/Job': { plural: 'jobs', namespaced: true },
  'batch/v1/CronJob': { plural: 'cronjobs', namespaced: true },
  'policy/v1/PodDisruptionBudget': { plural: 'poddisruptionbudgets', namespaced: true },
  'scheduling.k8s.io/v1/PriorityClass': { plural: 'priorityclasses', namespaced: false },
  'networking.k8s.io/v1/NetworkPolicy': { plural: 'networkpolicies', namespaced: true },
  'networking.k8s.io/v1/Ingress': { plural: 'ingresses', namespaced: true },
  'rbac.authorization.k8s.io/v1/Role': { plural: 'roles', namespaced: true },
  'rbac.authorization.k8s.io/v1/RoleBinding': { plural: 'rolebindings', namespaced: true },
  'rbac.authorization.k8s.io/v1/ClusterRole': { plural: 'clusterroles', namespaced: false },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    plural: 'clusterrolebindings',
    namespaced: false,
  },
  'coordination.k8s.io/v1/Lease': { plural: 'leases', namespaced: true },
  'events.k8s.io/v1/Event': { plural: 'events', namespaced: true },
  'apiextensions.k8s.io/v1/CustomResourceDefinition': {
    plural: 'customresourcedefinitions',
    namespaced: false,
  },
  'stackanetes.io/v1alpha1/OpenStackCloud': { plural: 'openstackclouds', namespaced: true },
};

export function resourceInfo(apiVersion: string, kind: string): ResourceInfo {
  const r = known[`${apiVersion}/${kind}`];
  if (!r) throw new Error(`unknown kind ${apiVersion} ${kind}`);
  return r;
}

/** The collection path of a kind, optionally in a namespace. */
export function collectionPath(apiVersion: string, kind: string, namespace?: string): string {
  const r = resourceInfo(apiVersion, kind);
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return r.namespaced && namespace
    ? `${base}/namespaces/${namespace}/${r.plural}`
    : `${base}/${r.plural}`;
}

export function objectPath(
  apiVersion: string,
  kind: string,
  name: string,
  namespace?: string,
): string {
  return `${collectionPath(apiVersion, kind, namespace)}/${encodeURIComponent(name)}`;
}

type Query = Record<string, string | number | boolean | undefined>;

function qs(query: Query | undefined): string {
  if (!query) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** Counts of requests by verb, for metrics and for benchmarks (requests per reconcile). */
export interface RequestCounts {
  reads: number;
  writes: number;
  watches: number;
  byVerb: Record<string, number>;
  /** `VERB resource` → count, e.g. `PUT leases`, `PATCH deployments`. */
  byResource: Record<string, number>;
}

/** The resource a request path names (`deployments`, `openstackclouds/status`, …). */
export function resourceOf(path: string): string {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  const ns = parts.indexOf('namespaces');
  const rest =
    ns >= 0 && parts.length > ns + 2
      ? parts.slice(ns + 2)
      : parts.slice(parts[0] === 'api' ? 2 : 3);
  const [resource, , sub] = rest;
  return sub ? `${resource}/${sub}` : (resource ?? (ns >= 0 ? 'namespaces' : 'unknown'));
}

export class KubeClient {
  readonly server: URL;
  readonly counts: RequestCounts = { reads: 0, writes: 0, watches: 0, byVerb: {}, byResource: {} };
  readonly credentials: Credentials;
  readonly #agent: http.Agent;
  /** Watches hold their connection open for minutes: they get an agent of their own. */
  readonly #watchAgent: http.Agent;
  readonly #timeoutMs: number;
  /** The API server's Date header last seen, and when (performance.now()) it was seen. */
  #serverDate: { date: number; at: number } | undefined;

  private constructor(credentials: Credentials, timeoutMs: number) {
    this.credentials = credentials;
    this.server = credentials.server;
    this.#timeoutMs = timeoutMs;
    // TLS material goes with each request: an https.Agent pools connections by it, so
    // rotated client certificates get connections of their own.
    const agent = (opts: http.AgentOptions) =>
      this.server.protocol === 'https:' ? new https.Agent(opts) : new http.Agent(opts);
    this.#agent = agent({ keepAlive: true, maxSockets: 16 });
    this.#watchAgent = agent({ keepAlive: false });
  }

  /**
   * From a KubeConfig, or Credentials; by default the usual places (KUBECONFIG,
   * ~/.kube/config, in-cluster).
   */
  static create(from?: KubeConfig | Credentials, timeoutMs = 30_000): Promise<KubeClient> {
    try {
      const credentials =
        from instanceof Credentials
          ? from
          : from
            ? Credentials.fromKubeConfig(from)
            : Credentials.fromDefault();
      return Promise.resolve(new KubeClient(credentials, timeoutMs));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * The API server's time (ms since the epoch), from the Date header of its last answer (one-second
   * resolution); this machine's clock before any answer.
   */
  serverNow(): number {
    const d = this.#serverDate;
    return d ? d.date + (performance.now() - d.at) : Date.now();
  }

  close(): void {
    this.#agent.destroy();
    this.#watchAgent.destroy();
  }

  #count(method: string, watch = false, path = ''): void {
    this.counts.byVerb[method] = (this.counts.byVerb[method] ?? 0) + 1;
    const key = `${method} ${resourceOf(path)}`;
    this.counts.byResource[key] = (this.counts.byResource[key] ?? 0) + 1;
    if (watch) this.counts.watches++;
    else if (method === 'GET') this.counts.reads++;
    else this.counts.writes++;
  }

  async #open(
    method: string,
    path: string,
    headers: Record<string, string>,
    timeoutMs: number,
    watch = false,
  ): Promise<http.ClientRequest> {
    const url = new URL(path, this.server);
    const mod = url.protocol === 'https:' ? https : http;
    let auth: Record<string, string>;
    let tls: Omit<RequestAuth, 'headers'>;
    try {
      ({ headers: auth, ...tls } = await this.credentials.current());
    } catch (err) {
      throw new ApiError(method, path.split('?')[0]!, 0, 'NoCredentials', (err as Error).message);
    }
    return mod.request(url, {
      ...tls,
      method,
      agent: watch ? this.#watchAgent : this.#agent,
      headers: { ...auth, Accept: 'application/json', ...headers },
      timeout: timeoutMs,
    });
  }

  /** Sends a request; on 401, once more with credentials read afresh. Rejects with ApiError. */
  async #send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<{ code: number; text: string }> {
    for (let attempt = 0; ; attempt++) {
      const req = await this.#open(method, path, headers, this.#timeoutMs);
      const label = path.split('?')[0]!;
      const answer = await new Promise<{ code: number; text: string }>((resolve, reject) => {
        req.on('timeout', () => req.destroy(new Error(`timed out after ${this.#timeoutMs} ms`)));
        req.on('error', (err) =>
          reject(new ApiError(method, label, 0, 'ConnectionFailed', err.message)),
        );
        req.on('response', (res) => {
          const date = Date.parse(res.headers.date ?? '');
          if (!Number.isNaN(date)) this.#serverDate = { date, at: performance.now() };
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) =>
            reject(new ApiError(method, label, 0, 'ConnectionFailed', err.message)),
          );
          res.on('end', () =>
            resolve({ code: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
        });
        req.end(body);
      });
      if (answer.code !== 401 || attempt > 0) return answer;
      this.credentials.invalidate();
    }
  }

  async request<T>(
    method: string,
    path: string,
    opts: { query?: Query; body?: unknown; contentType?: string; dryRun?: boolean } = {},
  ): Promise<T> {
    const query = { ...opts.query, ...(opts.dryRun ? { dryRun: 'All' } : {}) };
    const full = `${path}${qs(query)}`;
    if (!opts.dryRun) this.#count(method, false, path);
    else this.#count(`${method}(dry-run)`, false, path);
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string> = {};
    if (body !== undefined) {
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      // Node sends a DELETE body with neither Content-Length nor chunked encoding; the server
      // then reads the body as the next request on the kept-alive connection (400 Bad Request).
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const { code, text } = await this.#send(method, full, headers, body);
    if (code >= 200 && code < 300) return (text ? JSON.parse(text) : undefined) as T;
    throw apiErrorFrom(method, path, code, text);
  }

  get<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
  ): Promise<T> {
    return this.request<T>('GET', objectPath(apiVersion, kind, name, namespace));
  }

  /**
   * Every object of a kind, following `continue` tokens; returns the list's resourceVersion.
   * `transform` is applied to each object as its page arrives, so that only one page of whole
   * objects is held at a time.
   */
  async list<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    opts: {
      namespace?: string;
      labelSelector?: string;
      fieldSelector?: string;
      pageSize?: number;
      transform?: (obj: KubeObject) => KubeObject;
    } = {},
  ): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion: string;
    do {
      const page = await this.request<{
        items: T[];
        metadata: { continue?: string; resourceVersion: string };
      }>('GET', collectionPath(apiVersion, kind, opts.namespace), {
        query: {
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
          limit: opts.pageSize ?? 500,
          continue: cont,
        },
      });
      for (const i of page.items) {
        const obj = { ...i, apiVersion, kind };
        items.push((opts.transform ? opts.transform(obj) : obj) as T);
      }
      cont = page.metadata.continue || undefined;
      resourceVersion = page.metadata.resourceVersion;
    } while (cont);
    return { items, resourceVersion };
  }

  /**
   * Server-side apply with the Stackanetes field manager (or `manager`, for a writer that owns
   * its own fields), forcing ownership, strict fields.
   */
  apply<T extends KubeObject>(
    obj: KubeObject,
    opts: { dryRun?: boolean; force?: boolean; manager?: string } = {},
  ): Promise<T> {
    const { apiVersion, kind, metadata } = obj;
    return this.request<T>(
      'PATCH',
      objectPath(apiVersion, kind, metadata.name, metadata.namespace),
      {
        body: obj,
        contentType: 'application/apply-patch+yaml',
        dryRun: opts.dryRun,
        query: {
          fieldManager: opts.manager ?? fieldManager,
          force: opts.force ?? true,
          fieldValidation: 'Strict',
        },
      },
    );
  }

  /**
   * Applies only the status (through the status subresource). `manager` names another field
   * manager, for a writer that owns its own part of the status (`stackanetes remediate`).
   */
  applyStatus<T extends KubeObject>(obj: KubeObject, manager: string = fieldManager): Promise<T> {
    const { apiVersion, kind, metadata } = obj;
    return this.request<T>(
      'PATCH',
      `${objectPath(apiVersion, kind, metadata.name, metadata.namespace)}/status`,
      {
        body: obj,
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: manager, force: true },
      },
    );
  }

  create<T extends KubeObject>(obj: KubeObject, opts: { dryRun?: boolean } = {}): Promise<T> {
    return this.request<T>(
      'POST',
      collectionPath(obj.apiVersion, obj.kind, obj.metadata.namespace),
      {
        body: obj,
        dryRun: opts.dryRun,
        query: { fieldManager, fieldValidation: 'Strict' },
      },
    );
  }

  replace<T extends KubeObject>(obj: KubeObject): Promise<T> {
    const { apiVersion, kind, metadata } = obj;
    return this.request<T>('PUT', objectPath(apiVersion, kind, metadata.name, metadata.namespace), {
      body: obj,
      query: { fieldManager, fieldValidation: 'Strict' },
    });
  }

  /** A JSON merge patch (for small edits such as labels or annotations). */
  mergePatch<T extends KubeObject>(
    apiVersion: string,
    kind: string,
    name: string,
    namespace: string | undefined,
    patch: unknown,
  ): Promise<T> {
    return this.request<T>('PATCH', objectPath(apiVersion, kind, name, namespace), {
      body: patch,
      contentType: 'application/merge-patch+json',
      query: { fieldManager },
    });
  }

  delete(
    apiVersion: string,
    kind: string,
    name: string,
    namespace?: string,
    propagationPolicy: 'Background' | 'Foreground' | 'Orphan' = 'Background',
    /** Only this object (its uid): one made again under the same name is left alone (409). */
    uid?: string,
  ): Promise<unknown> {
    return this.request('DELETE', objectPath(apiVersion, kind, name, namespace), {
      body: {
        kind: 'DeleteOptions',
        apiVersion: 'v1',
        propagationPolicy,
        ...(uid ? { preconditions: { uid } } : {}),
      },
    });
  }

  /**
   * The text a container printed last (for failure reasons), or its previous run's when
   * `previous` (a container that restarted); empty if it cannot be read.
   */
  async podLog(
    namespace: string,
    pod: string,
    container?: string,
    tailLines = 20,
    previous = false,
  ): Promise<string> {
    const path = `/api/v1/namespaces/${namespace}/pods/${encodeURIComponent(pod)}/log`;
    this.#count('GET', false, path);
    try {
      const { code, text } = await this.#send(
        'GET',
        `${path}${qs({ container, tailLines, previous: previous || undefined })}`,
        {},
        undefined,
      );
      return code < 300 ? text : '';
    } catch {
      return '';
    }
  }

  /**
   * Streams watch events until the server closes the stream (resolves) or fails (rejects; a
   * 410 Gone, as an HTTP status or an ERROR event, rejects with ApiError.gone).
   */
  watch<T>(
    path: string,
    query: Query,
    onEvent: (e: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    this.#count('WATCH', true, path);
    const opened = this.#open(
      'GET',
      `${path}${qs({ ...query, watch: 1, allowWatchBookmarks: true })}`,
      {},
      0,
      true,
    );
    return opened.then((req) => this.#stream(req, path, onEvent, signal));
  }

  #stream<T>(
    req: http.ClientRequest,
    path: string,
    onEvent: (e: WatchEvent<T>) => void,
    signal?: AbortSignal,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const abort = () => req.destroy();
      signal?.addEventListener('abort', abort, { once: true });
      const finish = (err?: Error) => {
        signal?.removeEventListener('abort', abort);
        if (err && !signal?.aborted) reject(err);
        else resolve();
      };
      req.on('error', (err) =>
        finish(new ApiError('WATCH', path, 0, 'ConnectionFailed', err.message)),
      );
      req.on('response', (res) => {
        const code = res.statusCode ?? 0;
        if (code >= 300) {
          // Credentials may have rotated: the informer's next watch reads them afresh.
          if (code === 401) this.credentials.invalidate();
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => finish(apiErrorFrom('WATCH', path, code, text)));
          return;
        }
        let buffer = '';
        let failed: Error | undefined;
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buffer += d;
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (!line) continue;
            const e = JSON.parse(line) as WatchEvent<T>;
            if (e.type === 'ERROR') {
              const s = e.object as { code?: number; reason?: string; message?: string };
              failed = new ApiError(
                'WATCH',
                path,
                s.code ?? 500,
                s.reason ?? 'Unknown',
                s.message ?? '',
              );
              req.destroy();
              return;
            }
            try {
              onEvent(e);
            } catch (err) {
              failed = err as Error;
              req.destroy();
              return;
            }
          }
        });
        res.on('end', () => finish(failed));
        res.on('close', () => finish(failed));
        res.on('error', (err) => finish(failed ?? err));
      });
      req.end();
    });
  }
}
