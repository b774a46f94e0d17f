// Where the API server is and how to prove who we are: read from a kubeconfig (KUBECONFIG,
// else ~/.kube/config) or, inside a pod, from the service account. Credentials are re-read,
// never applied once: a token file (the projected service-account token the kubelet rotates, or
// a kubeconfig `tokenFile`) and client certificate files at most a minute old, an exec plugin's
// credential again when it expires, and all of them at once after the server answers 401.
// @kubernetes/client-node is not loaded for this (its import costs about 80 MB of memory): only
// its small exec-plugin runner is, and the whole library only for the legacy `auth-provider`
// users (OIDC and the like) that it alone knows how to refresh.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { isIPv6 } from 'node:net';
import { parse } from 'yaml';
import type { KubeConfig } from '@kubernetes/client-node';

export const serviceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

/** How often files holding credentials are read again (as client-go does for token files). */
export const rereadMs = 60_000;

export interface KubeCluster {
  readonly server: string;
  readonly caFile?: string;
  readonly caData?: string;
  readonly skipTLSVerify?: boolean;
  readonly tlsServerName?: string;
}

export interface ExecConfig {
  readonly command: string;
  readonly args?: string[];
  readonly env?: { name: string; value: string }[];
  readonly apiVersion?: string;
}

export interface KubeUser {
  readonly name: string;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly certFile?: string;
  readonly certData?: string;
  readonly keyFile?: string;
  readonly keyData?: string;
  readonly username?: string;
  readonly password?: string;
  readonly impersonateUser?: string;
  readonly exec?: ExecConfig;
  /** Legacy auth providers (oidc, …): handled by @kubernetes/client-node. */
  readonly authProvider?: { name: string; config?: Record<string, string> };
}

export interface KubeTarget {
  readonly cluster: KubeCluster;
  readonly user: KubeUser;
  /** Where it came from, for error messages. */
  readonly source: string;
}

/** The TLS options and headers for the next request. */
export interface RequestAuth {
  readonly headers: Record<string, string>;
  readonly ca?: Buffer | string;
  readonly cert?: Buffer | string;
  readonly key?: Buffer | string;
  readonly rejectUnauthorized?: boolean;
  readonly servername?: string;
}

type Raw = Record<string, unknown>;
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The service account's view when running in a pod; undefined elsewhere. */
export function inClusterTarget(
  dir = serviceAccountDir,
  env: NodeJS.ProcessEnv = process.env,
): KubeTarget | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port || !existsSync(join(dir, 'token'))) return undefined;
  return {
    cluster: {
      server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
      caFile: join(dir, 'ca.crt'),
    },
    user: { name: 'service-account', tokenFile: join(dir, 'token') },
    source: `in-cluster service account (${dir})`,
  };
}

/** The current context of one or more kubeconfig files (merged: the first to name a thing wins). */
export function kubeconfigTarget(files: readonly string[], context?: string): KubeTarget {
  const clusters = new Map<string, KubeCluster>();
  const users = new Map<string, KubeUser>();
  const contexts = new Map<string, { cluster: string; user: string }>();
  let current = context;
  for (const file of files) {
    let doc: Raw;
    try {
      doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Raw;
    } catch (err) {
      throw new Error(`kubeconfig ${file}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
    const dir = dirname(resolve(file));
    const path = (v: unknown) => {
      const p = str(v);
      return p && !isAbsolute(p) ? join(dir, p) : p;
    };
    for (const e of (doc.clusters as Raw[] | undefined) ?? []) {
      const c = (e.cluster ?? {}) as Raw;
      const name = str(e.name);
      if (!name || clusters.has(name) || !str(c.server)) continue;
      clusters.set(name, {
        server: str(c.server)!.replace(/\/$/, ''),
        caFile: path(c['certificate-authority']),
        caData: str(c['certificate-authority-data']),
        skipTLSVerify: c['insecure-skip-tls-verify'] === true,
        tlsServerName: str(c['tls-server-name']),
      });
    }
    for (const e of (doc.users as Raw[] | undefined) ?? []) {
      const u = (e.user ?? {}) as Raw;
      const name = str(e.name);
      if (!name || users.has(name)) continue;
      const exec = u.exec as (ExecConfig & Raw) | undefined;
      const command = exec && str(exec.command);
      users.set(name, {
        name,
        token: str(u.token),
        // client-go's `tokenFile`; @kubernetes/client-node's `token-file`.
        tokenFile: path(u.tokenFile ?? u['token-file']),
        certFile: path(u['client-certificate']),
        certData: str(u['client-certificate-data']),
        keyFile: path(u['client-key']),
        keyData: str(u['client-key-data']),
        username: str(u.username),
        password: str(u.password),
        impersonateUser: str(u.as),
        exec:
          exec && command
            ? {
                ...exec,
                // A relative command with a slash is relative to the kubeconfig, as in kubectl.
                command: command.includes('/') ? path(command)! : command,
              }
            : undefined,
        authProvider: u['auth-provider'] as KubeUser['authProvider'],
      });
    }
    for (const e of (doc.contexts as Raw[] | undefined) ?? []) {
      const c = (e.context ?? {}) as Raw;
      const name = str(e.name);
      if (name && !contexts.has(name))
        contexts.set(name, { cluster: str(c.cluster) ?? '', user: str(c.user) ?? '' });
    }
    current ??= str(doc['current-context']);
  }
  const source = `kubeconfig ${files.join(delimiter)}`;
  if (!current) throw new Error(`${source}: no current-context`);
  const ctx = contexts.get(current);
  if (!ctx) throw new Error(`${source}: context ${current} is not defined`);
  const cluster = clusters.get(ctx.cluster);
  if (!cluster)
    throw new Error(`${source}: cluster ${ctx.cluster} (context ${current}) is not defined`);
  return { cluster, user: users.get(ctx.user) ?? { name: ctx.user || 'anonymous' }, source };
}

/** What kubectl would use: KUBECONFIG, else ~/.kube/config, else the pod's service account. */
export function defaultTarget(env: NodeJS.ProcessEnv = process.env): KubeTarget {
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  if (files.length > 0) return kubeconfigTarget(files);
  const home = join(env.HOME ?? homedir(), '.kube', 'config');
  if (existsSync(home)) return kubeconfigTarget([home]);
  const inCluster = inClusterTarget(serviceAccountDir, env);
  if (inCluster) return inCluster;
  throw new Error(
    'no Kubernetes configuration: set KUBECONFIG (e.g. eval "$(npx stackanetes cluster env)"), create ~/.kube/config, or run in a pod',
  );
}

/** The current cluster and user of a @kubernetes/client-node KubeConfig. */
export function targetOf(kc: KubeConfig): KubeTarget {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const user = kc.getCurrentUser() ?? { name: 'anonymous' };
  const provider = user.authProvider as KubeUser['authProvider'];
  // Its in-cluster user is an auth provider that only names the token file.
  const tokenFile = provider?.name === 'tokenFile' ? provider.config?.tokenFile : undefined;
  return {
    cluster,
    user: {
      ...user,
      token: user.token ?? undefined,
      exec: (user.exec as ExecConfig | null) ?? undefined,
      ...(tokenFile
        ? { tokenFile, authProvider: undefined }
        : { authProvider: provider ?? undefined }),
    },
    source: `kubeconfig context ${kc.getCurrentContext()}`,
  };
}

interface ExecRunner {
  applyAuthentication(user: object, opts: { headers?: Record<string, string> }): Promise<void>;
}

/** A file's contents, read again once they are older than `rereadMs` or after `invalidate()`. */
class FileCache {
  readonly #files = new Map<string, { data: Buffer; at: number }>();
  readonly #now: () => number;
  constructor(now: () => number) {
    this.#now = now;
  }
  read(path: string): Buffer {
    const hit = this.#files.get(path);
    if (hit && this.#now() - hit.at < rereadMs) return hit.data;
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new Error(`cannot read ${path}: ${why}`, { cause: err });
    }
    this.#files.set(path, { data, at: this.#now() });
    return data;
  }
  clear(): void {
    this.#files.clear();
  }
}

/** The credentials for one target, as fresh as they need to be. */
export class Credentials {
  readonly server: URL;
  readonly target: KubeTarget;
  readonly #files: FileCache;
  #exec: Promise<ExecRunner> | undefined;
  #fallback: Promise<KubeConfig> | undefined;

  constructor(target: KubeTarget, opts: { now?: () => number } = {}) {
    this.target = target;
    this.server = new URL(target.cluster.server);
    this.#files = new FileCache(opts.now ?? (() => performance.now()));
  }

  static fromDefault(): Credentials {
    return new Credentials(defaultTarget());
  }

  static fromKubeConfig(kc: KubeConfig): Credentials {
    return new Credentials(targetOf(kc));
  }

  /** Forget every cached credential (after a 401): the next request reads them afresh. */
  invalidate(): void {
    this.#files.clear();
    this.#exec = undefined;
    this.#fallback = undefined;
  }

  async current(): Promise<RequestAuth> {
    const { cluster, user } = this.target;
    const file = (path: string | undefined, data: string | undefined) =>
      path ? this.#files.read(path) : data ? Buffer.from(data, 'base64') : undefined;
    const headers: Record<string, string> = {};
    const auth: {
      -readonly [K in keyof RequestAuth]: RequestAuth[K];
    } = {
      headers,
      ca: file(cluster.caFile, cluster.caData),
      cert: file(user.certFile, user.certData),
      key: file(user.keyFile, user.keyData),
      ...(cluster.skipTLSVerify ? { rejectUnauthorized: false } : {}),
      ...(cluster.tlsServerName ? { servername: cluster.tlsServerName } : {}),
    };
    if (user.impersonateUser) headers['Impersonate-User'] = user.impersonateUser;
    if (user.token) headers.Authorization = `Bearer ${user.token}`;
    else if (user.tokenFile)
      headers.Authorization = `Bearer ${this.#files.read(user.tokenFile).toString('utf8').trim()}`;
    else if (user.username && user.password)
      headers.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`;
    else if (user.exec) {
      this.#exec ??= import('@kubernetes/client-node/dist/exec_auth.js').then(
        (m) => new m.ExecAuth() as ExecRunner,
      );
      // Runs the plugin when it has no credential or the one it gave has expired.
      const opts: { headers: Record<string, string>; cert?: string; key?: string } = { headers };
      await (await this.#exec).applyAuthentication({ name: user.name, exec: user.exec }, opts);
      if (opts.cert) auth.cert = opts.cert;
      if (opts.key) auth.key = opts.key;
    } else if (user.authProvider) {
      const kc = await (this.#fallback ??= this.#fallbackConfig());
      const opts: { headers: Record<string, string> } = { headers };
      await kc.applyToHTTPSOptions(opts);
    }
    return auth;
  }

  async #fallbackConfig(): Promise<KubeConfig> {
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    const { cluster, user } = this.target;
    kc.loadFromOptions({
      clusters: [{ name: 'c', ...cluster, skipTLSVerify: cluster.skipTLSVerify ?? false }],
      users: [{ name: user.name, authProvider: user.authProvider }],
      contexts: [{ name: 'x', cluster: 'c', user: user.name }],
      currentContext: 'x',
    });
    return kc;
  }
}
