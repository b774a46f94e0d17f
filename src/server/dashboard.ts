// The operator's dashboard: one page (plain HTML, CSS and JavaScript under ./dashboard/) and a
// read-only JSON API behind a bearer token — each cloud with its components, conditions and pods
// per node (/api/clouds), the timeline of what was done and why (/api/timeline), and both live as
// server-sent events (/api/stream: a `clouds` event whenever the caches change, at most once per
// `snapshotEveryMs`, and an `entry` event, with its id, per timeline entry; a reconnecting client
// sends Last-Event-ID and gets what it missed). The page itself carries no data and needs no token.
import { sameSecret } from '../util/hash.ts';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { snapshot, type Snapshot } from './dashboard-view.ts';
import {
  Timeline,
  narrateEvents,
  narrateJobs,
  narratePods,
  type Source,
  type TimelineEntry,
} from './dashboard-timeline.ts';

export interface DashboardSources {
  /** OpenStackClouds. */
  readonly clouds: Source;
  /**
   * The clouds' pods (label app.kubernetes.io/managed-by=stackanetes), their data planes' too (in
   * `<namespace>-dataplane`, labelled with their cloud's namespace).
   */
  readonly pods: Source;
  /** The clouds' Jobs. */
  readonly jobs: Source;
  /** Events about OpenStackClouds (the operator writes them). */
  readonly events: Source;
}

export interface DashboardOptions {
  readonly sources: DashboardSources;
  /** The bearer token a request must carry; while undefined every API request is refused. */
  readonly token: () => string | undefined;
  /** Where the token is kept: the sign-in form says how to read it. */
  readonly tokenSecret: { readonly namespace: string; readonly name: string };
  readonly now?: () => Date;
  /** Coalesce changes into at most one `clouds` event this often (default 1000 ms). */
  readonly snapshotEveryMs?: number;
  /** A comment line on idle streams this often, so that proxies keep them open (default 15 s). */
  readonly keepAliveMs?: number;
  readonly timelineCapacity?: number;
}

export interface Dashboard {
  readonly app: FastifyInstance;
  readonly timeline: Timeline;
  /** What /api/clouds answers now. */
  snapshot(): Snapshot & { synced: boolean };
}

const staticDir = new URL('./dashboard/', import.meta.url);
const assets: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

const securityHeaders = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** Compares a request's `Authorization: Bearer …` with the token, in constant time. */
export function authorized(header: string | undefined, token: string | undefined): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  if (!m || !token) return false;
  return sameSecret(m[1]!, token);
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

export function sseFrame(event: string, data: unknown, id?: number): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function buildDashboard(o: DashboardOptions): Dashboard {
  const now = o.now ?? (() => new Date());
  const { clouds, pods, jobs, events } = o.sources;
  const timeline = new Timeline(o.timelineCapacity);
  narratePods(pods, timeline, now);
  narrateJobs(jobs, timeline, now);
  narrateEvents(events, timeline);

  const files = new Map<string, string>();
  for (const name of Object.keys(assets)) {
    files.set(name, readFileSync(new URL(name, staticDir), 'utf8'));
  }
  const secret = o.tokenSecret;
  files.set(
    'index.html',
    files
      .get('index.html')!
      .replaceAll('{{secretNamespace}}', escapeHtml(secret.namespace))
      .replaceAll('{{secretName}}', escapeHtml(secret.name)),
  );

  const current = () => ({
    ...snapshot(clouds.list(), pods.list(), now()),
    synced: clouds.hasSynced && pods.hasSynced,
  });

  // Live streams: each is a function that writes one frame to its response.
  const streams = new Set<(frame: string) => void>();
  const broadcast = (frame: string) => {
    for (const write of streams) write(frame);
  };
  timeline.subscribe((e: TimelineEntry) => broadcast(sseFrame('entry', e, e.id)));
  let pending: NodeJS.Timeout | undefined;
  const changed = () => {
    if (pending || streams.size === 0) return;
    pending = setTimeout(() => {
      pending = undefined;
      if (streams.size) broadcast(sseFrame('clouds', current()));
    }, o.snapshotEveryMs ?? 1000);
    pending.unref();
  };
  for (const s of [clouds, pods]) {
    s.onAdd(changed);
    s.onUpdate(changed);
    s.onDelete(changed);
  }

  const app = Fastify({ logger: false });
  const closers = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const close of closers) close();
    if (pending) clearTimeout(pending);
    done();
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.headers(securityHeaders);
    return payload;
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/api/')) return;
    if (authorized(req.headers.authorization, o.token())) return;
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="stackanetes-dashboard"')
      .header('cache-control', 'no-store')
      .send({
        error: 'Unauthorized',
        message: `send the token from Secret ${secret.namespace}/${secret.name} (key "token") as "Authorization: Bearer <token>"`,
      });
  });

  for (const [path, name] of [
    ['/', 'index.html'],
    ['/app.js', 'app.js'],
    ['/style.css', 'style.css'],
  ] as const) {
    app.get(path, (_req, reply) => reply.type(assets[name]!).send(files.get(name)));
  }
  app.get('/healthz', (_req, reply) => reply.type('text/plain').send('ok\n'));

  app.get('/api/clouds', (_req, reply) =>
    reply.header('cache-control', 'no-store').send(current()),
  );
  app.get<{ Querystring: { after?: string } }>('/api/timeline', (req, reply) =>
    reply
      .header('cache-control', 'no-store')
      .send({ entries: timeline.since(Number(req.query.after ?? 0) || 0) }),
  );
  app.get('/api/stream', (req, reply) => {
    reply.hijack();
    openStream(req.raw, reply.raw, Number(req.headers['last-event-id'] ?? 0) || 0);
  });

  function openStream(req: IncomingMessage, res: ServerResponse, lastId: number): void {
    res.writeHead(200, {
      ...securityHeaders,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 3000\n\n');
    res.write(sseFrame('clouds', current()));
    for (const e of timeline.since(lastId)) res.write(sseFrame('entry', e, e.id));
    const write = (frame: string) => void res.write(frame);
    const ping = setInterval(() => res.write(': keep-alive\n\n'), o.keepAliveMs ?? 15_000);
    ping.unref();
    const close = () => {
      clearInterval(ping);
      streams.delete(write);
      closers.delete(close);
      res.end();
    };
    streams.add(write);
    closers.add(close);
    req.on('close', close);
  }

  return { app, timeline, snapshot: current };
}
