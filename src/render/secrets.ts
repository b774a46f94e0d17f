// The secret values a cloud needs: one per service and purpose. They are an input to render,
// so render stays pure; the operator generates them once and keeps them in Kubernetes Secrets.
import { randomBytes } from 'node:crypto';

export interface CloudSecrets {
  /** MariaDB root: only the database pods and the per-service db-init jobs see it. */
  readonly databaseRoot: string;
  /** One database user per service, named after the service. */
  readonly databaseUsers: Readonly<Record<string, string>>;
  readonly messagingAdmin: string;
  readonly erlangCookie: string;
  /** One RabbitMQ user (and vhost) per service that uses the queue. */
  readonly messagingUsers: Readonly<Record<string, string>>;
  /** The Keystone `admin` user's password. */
  readonly keystoneAdmin: string;
  /** One Keystone service user per service. */
  readonly serviceUsers: Readonly<Record<string, string>>;
  /** Initial Fernet and credential key repositories (key index → base64url 32-byte key). */
  readonly fernetKeys: Readonly<Record<string, string>>;
  readonly credentialKeys: Readonly<Record<string, string>>;
  readonly novaMetadataSecret: string;
  readonly horizonSecretKey: string;
  readonly memcacheSecretKey: string;
}

export const databaseServices = ['keystone', 'glance', 'placement', 'nova', 'neutron'] as const;
export const messagingServices = ['nova', 'neutron'] as const;
export const keystoneServiceUsers = ['glance', 'placement', 'nova', 'neutron'] as const;

const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A password of `length` characters from [A-Za-z0-9]: safe in URLs, INI files and shells. */
export function randomPassword(length = 32, random: (n: number) => Buffer = randomBytes): string {
  let out = '';
  while (out.length < length) {
    for (const b of random(length * 2)) {
      // Rejection sampling keeps every character equally likely.
      if (b < 248 && out.length < length) out += alphabet[b % alphabet.length];
    }
  }
  return out;
}

function fernetKey(random: (n: number) => Buffer): string {
  return random(32).toString('base64url') + '=';
}

/** Fresh random secrets for a new cloud. */
export function generateSecrets(random: (n: number) => Buffer = randomBytes): CloudSecrets {
  const pw = () => randomPassword(32, random);
  const per = (names: readonly string[]) => Object.fromEntries(names.map((n) => [n, pw()]));
  return {
    databaseRoot: pw(),
    databaseUsers: per(databaseServices),
    messagingAdmin: pw(),
    erlangCookie: randomPassword(48, random),
    messagingUsers: per(messagingServices),
    keystoneAdmin: pw(),
    serviceUsers: per(keystoneServiceUsers),
    fernetKeys: { '0': fernetKey(random), '1': fernetKey(random) },
    credentialKeys: { '0': fernetKey(random), '1': fernetKey(random) },
    novaMetadataSecret: pw(),
    horizonSecretKey: randomPassword(50, random),
    memcacheSecretKey: pw(),
  };
}

/**
 * Stand-ins for every secret, for output that must never carry real values (`render` without
 * `--secrets`). Deterministic, so such output is byte-identical from run to run.
 */
export function redactedSecrets(): CloudSecrets {
  const r = (what: string) => `REDACTED-${what}`;
  const per = (names: readonly string[], what: string) =>
    Object.fromEntries(names.map((n) => [n, r(`${n}-${what}`)]));
  return {
    databaseRoot: r('database-root'),
    databaseUsers: per(databaseServices, 'db'),
    messagingAdmin: r('rabbitmq-admin'),
    erlangCookie: r('erlang-cookie'),
    messagingUsers: per(messagingServices, 'rabbitmq'),
    keystoneAdmin: r('keystone-admin'),
    serviceUsers: per(keystoneServiceUsers, 'keystone'),
    fernetKeys: { '0': r('fernet-0'), '1': r('fernet-1') },
    credentialKeys: { '0': r('credential-0'), '1': r('credential-1') },
    novaMetadataSecret: r('nova-metadata'),
    horizonSecretKey: r('horizon-secret-key'),
    memcacheSecretKey: r('memcache-secret-key'),
  };
}

/** Checks a secrets document read from a file has every value; returns the missing paths. */
export function missingSecrets(s: Partial<CloudSecrets>): string[] {
  const want = generateSecrets(() => Buffer.alloc(64, 1));
  const missing: string[] = [];
  for (const [k, v] of Object.entries(want)) {
    const have = (s as Record<string, unknown>)[k];
    if (typeof v === 'string') {
      if (typeof have !== 'string' || have === '') missing.push(k);
    } else {
      for (const inner of Object.keys(v as object)) {
        const h = (have as Record<string, unknown> | undefined)?.[inner];
        if (typeof h !== 'string' || h === '') missing.push(`${k}.${inner}`);
      }
    }
  }
  return missing;
}
