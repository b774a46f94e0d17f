// Readiness probes for the cluster's processes.
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TlsClient {
  ca?: string;
  cert?: string;
  key?: string;
}

export function adminTls(pki: string): TlsClient {
  return {
    ca: readFileSync(join(pki, 'ca.crt'), 'utf8'),
    cert: readFileSync(join(pki, 'admin.crt'), 'utf8'),
    key: readFileSync(join(pki, 'admin.key'), 'utf8'),
  };
}

/** GET a URL; resolves with the status code and body (never rejects on HTTP errors). */
export function get(
  url: string,
  tls: TlsClient = {},
  timeoutMs = 3000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const opts = {
      timeout: timeoutMs,
      ...(u.protocol === 'https:' ? { ...tls, rejectUnauthorized: tls.ca !== undefined } : {}),
    };
    const req = (u.protocol === 'https:' ? request : httpRequest)(u, opts, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function isOk(url: string, tls: TlsClient = {}): Promise<boolean> {
  try {
    return (await get(url, tls, 2000)).status === 200;
  } catch {
    return false;
  }
}

export const socketExists = (path: string) => existsSync(path);
