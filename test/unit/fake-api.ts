// A small Kubernetes API server in memory, on a real HTTP port, for tests and benches that run
// the real client (or the real CLI in a child process) without a cluster: objects by path, lists
// with label selectors, create/replace (with resourceVersion conflicts), server-side apply and
// merge patches (taken as the new object's fields), deletes, watches that stay open and carry
// every change, and a bearer-token check. It is no API server: no defaulting, no validation.
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { KubeObject } from '../../src/render/kube.ts';

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  body: string;
}

interface Watch {
  collection: string;
  namespace: string | undefined;
  selector: string | null;
  res: http.ServerResponse;
}

/** `/api/v1/namespaces/ns/pods/x/status` → collection `/api/v1/pods`, namespace, name, sub. */
export function parsePath(path: string): {
  collection: string;
  namespace: string | undefined;
  name: string | undefined;
  sub: string | undefined;
} {
  const parts = path.split('/').filter(Boolean);
  const base = parts[0] === 'api' ? parts.slice(0, 2) : parts.slice(0, 3);
  let rest = parts.slice(base.length);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = decodeURIComponent(rest[1]!);
    rest = rest.slice(2);
  }
  const [plural, name, sub] = rest;
  return {
    collection: `/${[...base, plural].join('/')}`,
    namespace,
    name: name === undefined ? undefined : decodeURIComponent(name),
    sub,
  };
}

function matches(obj: KubeObject, selector: string | null): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    if (term.startsWith('!')) return obj.metadata.labels?.[term.slice(1)] === undefined;
    const [k, v] = term.split('=') as [string, string | undefined];
    const have = obj.metadata.labels?.[k];
    return v === undefined ? have !== undefined : have === v;
  });
}

function status(code: number, reason: string, message: string): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    reason,
    message,
    code,
  });
}

export class FakeApi {
  readonly requests: Recorded[] = [];
  /** Objects by `collection|namespace|name`. */
  readonly objects = new Map<string, KubeObject>();
  /** When set, a request whose Authorization header it refuses is answered 401. */
  accept: ((authorization: string | undefined) => boolean) | undefined;
  /** When set, what a status write keeps (as an API server prunes fields its CRD lacks). */
  pruneStatus: ((status: unknown) => unknown) | undefined;
  /** Lists of these collections (e.g. `/apis/apps/v1/deployments`) wait until released. */
  readonly heldLists = new Set<string>();
  #rv = 100;
  readonly #server: http.Server;
  readonly #watches = new Set<Watch>();
  readonly #waiting: (() => void)[] = [];

  /** With `tls`: the server's self-signed certificate (PEM file), to trust as the CA. */
  readonly caFile: string | undefined;

  private constructor(server: http.Server, caFile?: string) {
    this.#server = server;
    this.caFile = caFile;
  }

  /** Over HTTP, or with `tls` over HTTPS with a fresh self-signed certificate for 127.0.0.1. */
  static async start(opts: { tls?: boolean } = {}): Promise<FakeApi> {
    let server: http.Server;
    let caFile: string | undefined;
    if (opts.tls) {
      const dir = mkdtempSync(join(tmpdir(), 'stackanetes-fake-api-tls-'));
      caFile = join(dir, 'tls.crt');
      const keyFile = join(dir, 'tls.key');
      execFileSync(
        'openssl',
        ['req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']
          .concat(['-keyout', keyFile, '-out', caFile, '-days', '2', '-subj', '/CN=fake-api'])
          .concat(['-addext', 'subjectAltName=IP:127.0.0.1']),
        { stdio: 'ignore' },
      );
      server = https.createServer({ cert: readFileSync(caFile), key: readFileSync(keyFile) });
    } else {
      server = http.createServer();
    }
    const api = new FakeApi(server, caFile);
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) =>
      api.handle(req, res),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return api;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get url(): string {
    return `${this.caFile ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** A kubeconfig file for this server (user fields as given, e.g. `{ token: 'a' }`). */
  kubeconfig(user: Record<string, unknown> = {}): string {
    const dir = mkdtempSync(join(tmpdir(), 'stackanetes-fake-api-'));
    const file = join(dir, 'kubeconfig');
    writeFileSync(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'fake',
            cluster: this.caFile
              ? { server: this.url, 'certificate-authority': this.caFile }
              : { server: this.url, 'insecure-skip-tls-verify': true },
          },
        ],
        users: [{ name: 'u', user }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'u' } }],
        'current-context': 'fake',
      }),
    );
    return file;
  }

  /** Stores an object as if created through the API (watches are told). */
  put(collection: string, obj: KubeObject): KubeObject {
    const key = `${collection}|${obj.metadata.namespace ?? ''}|${obj.metadata.name}`;
    const stored = structuredClone(obj);
    const before = this.objects.get(key);
    stored.metadata.resourceVersion = String(++this.#rv);
    stored.metadata.uid ??= before?.metadata.uid ?? `uid-${this.#rv}`;
    this.objects.set(key, stored);
    this.#notify(collection, before ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }

  get(collection: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.objects.get(`${collection}|${namespace ?? ''}|${name}`);
  }

  remove(collection: string, namespace: string | undefined, name: string): void {
    const key = `${collection}|${namespace ?? ''}|${name}`;
    const obj = this.objects.get(key);
    if (!obj) return;
    this.objects.delete(key);
    this.#notify(collection, 'DELETED', obj);
  }

  /** Answers the lists held by `heldLists`. */
  releaseLists(): void {
    this.heldLists.clear();
    for (const w of this.#waiting.splice(0)) w();
  }

  async close(): Promise<void> {
    for (const w of this.#watches) w.res.end();
    this.#watches.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  #notify(collection: string, type: string, obj: KubeObject): void {
    for (const w of this.#watches) {
      if (w.collection !== collection) continue;
      if (w.namespace !== undefined && w.namespace !== obj.metadata.namespace) continue;
      if (!matches(obj, w.selector)) continue;
      w.res.write(`${JSON.stringify({ type, object: obj })}\n`);
    }
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const rec: Recorded = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        authorization: req.headers.authorization,
        body,
      };
      this.requests.push(rec);
      res.setHeader('Content-Type', 'application/json');
      if (this.accept && !this.accept(rec.authorization)) {
        res.statusCode = 401;
        res.end(status(401, 'Unauthorized', 'Unauthorized'));
        return;
      }
      this.#route(rec, res);
    });
  }

  #route(r: Recorded, res: http.ServerResponse): void {
    const send = (code: number, payload: string) => {
      res.statusCode = code;
      res.end(payload);
    };
    const { collection, namespace, name, sub } = parsePath(r.path);
    const key = `${collection}|${namespace ?? ''}|${name ?? ''}`;
    const existing = this.objects.get(key);
    if (r.method === 'GET' && name === undefined) {
      const selector = r.query.get('labelSelector');
      if (r.query.get('watch')) {
        res.statusCode = 200;
        res.flushHeaders();
        const w: Watch = { collection, namespace, selector, res };
        this.#watches.add(w);
        res.on('close', () => this.#watches.delete(w));
        return;
      }
      const answer = () => {
        const all = [...this.objects.entries()]
          .filter(([k]) => k.startsWith(`${collection}|`))
          .map(([, o]) => o)
          .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
          .filter((o) => matches(o, selector));
        // Pages as the API server gives them: `limit` items, then a `continue` token.
        const from = Number(r.query.get('continue') ?? 0);
        const limit = Number(r.query.get('limit') ?? 0) || all.length;
        const items = all.slice(from, from + limit);
        const more = from + limit < all.length ? { continue: String(from + limit) } : {};
        send(
          200,
          JSON.stringify({ items, metadata: { resourceVersion: String(this.#rv), ...more } }),
        );
      };
      if (this.heldLists.has(collection)) this.#waiting.push(answer);
      else answer();
      return;
    }
    if (r.method === 'GET') {
      if (!existing) return send(404, status(404, 'NotFound', `${name} not found`));
      return send(200, JSON.stringify(existing));
    }
    if (r.method === 'DELETE') {
      if (!existing) return send(404, status(404, 'NotFound', `${name} not found`));
      const uid = (JSON.parse(r.body || '{}') as { preconditions?: { uid?: string } }).preconditions
        ?.uid;
      if (uid && uid !== existing.metadata.uid)
        return send(
          409,
          status(409, 'Conflict', `Precondition failed: UID in precondition: ${uid}`),
        );
      this.remove(collection, namespace, name!);
      return send(200, status(200, '', 'deleted'));
    }
    const obj = JSON.parse(r.body || '{}') as KubeObject;
    if (r.method === 'POST') {
      const metadata: KubeObject['metadata'] = { ...obj.metadata, namespace };
      if (!metadata.name && typeof metadata.generateName === 'string')
        metadata.name = `${metadata.generateName}${this.#rv + 1}`;
      if (this.get(collection, namespace, metadata.name))
        return send(409, status(409, 'AlreadyExists', `${metadata.name} already exists`));
      return send(201, JSON.stringify(this.put(collection, { ...obj, metadata })));
    }
    if (r.method === 'PUT') {
      if (!existing) return send(404, status(404, 'NotFound', `${name} not found`));
      if (obj.metadata.resourceVersion !== existing.metadata.resourceVersion)
        return send(409, status(409, 'Conflict', 'the object has been modified'));
      return send(
        200,
        JSON.stringify(this.put(collection, { ...obj, metadata: { ...obj.metadata, namespace } })),
      );
    }
    if (r.method === 'PATCH') {
      const base = existing ?? { ...obj, metadata: { ...obj.metadata, namespace, generation: 0 } };
      const merged: KubeObject =
        sub === 'status'
          ? { ...base, status: this.pruneStatus ? this.pruneStatus(obj.status) : obj.status }
          : {
              ...base,
              ...obj,
              metadata: {
                ...base.metadata,
                ...obj.metadata,
                namespace,
                // As the API server: metadata alone (finalizers, labels) is no new generation.
                generation: (base.metadata.generation ?? 0) + (obj.spec === undefined ? 0 : 1),
              },
            };
      return send(existing ? 200 : 201, JSON.stringify(this.put(collection, merged)));
    }
    send(405, status(405, 'MethodNotAllowed', r.method));
  }
}
