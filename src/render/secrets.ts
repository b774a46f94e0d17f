// The secret values a cloud needs: one per service and purpose. They are an input to render,
// so render stays pure; they are generated once and kept by src/secrets/cloud-secrets.ts (the
// operator's in a Kubernetes Secret, the CLI's in a file).
import { servicesWith } from '../catalog/index.ts';

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

/** The services with a database user, a queue user and a Keystone user of their own. */
export const databaseServices = servicesWith((s) => s.databases.length > 0);
export const messagingServices = servicesWith((s) => s.messaging);
export const keystoneServiceUsers = servicesWith((s) => s.keystoneUser);

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

/** What a secret value may be: its characters and length (every value goes into SQL, shell, URLs). */
export interface SecretRule {
  readonly pattern: RegExp;
  /** What would be accepted, for a person. */
  readonly accepted: string;
}

const unreserved = (min: number, max: number): SecretRule => ({
  // RFC 3986 unreserved characters: verbatim in URLs (mysql+pymysql://user:pw@…), inside SQL
  // quotes, shell double quotes, INI values and YAML without any escaping.
  pattern: new RegExp(`^[A-Za-z0-9._~-]{${min},${max}}$`),
  accepted: `${min} to ${max} characters from A-Z a-z 0-9 . _ ~ -`,
});

const fernet: SecretRule = {
  pattern: /^[A-Za-z0-9_-]{43}=$/,
  accepted:
    'a Fernet key: 32 bytes in URL-safe base64 (43 characters from A-Z a-z 0-9 _ - and a final =)',
};

/** The rule for each secret (nested maps: the rule for each of their values). */
const rules: Record<keyof CloudSecrets, SecretRule> = {
  databaseRoot: unreserved(16, 128),
  databaseUsers: unreserved(16, 128),
  messagingAdmin: unreserved(16, 128),
  erlangCookie: unreserved(20, 255),
  messagingUsers: unreserved(16, 128),
  keystoneAdmin: unreserved(16, 128),
  serviceUsers: unreserved(16, 128),
  fernetKeys: fernet,
  credentialKeys: fernet,
  novaMetadataSecret: unreserved(16, 128),
  // Django warns about a SECRET_KEY shorter than 50 characters.
  horizonSecretKey: unreserved(50, 128),
  memcacheSecretKey: unreserved(16, 128),
};

export interface SecretProblem {
  /** Where, e.g. `databaseUsers.nova`. */
  readonly path: string;
  /** What is wrong and what would be accepted; never the value. */
  readonly message: string;
}

/**
 * Checks a secrets document (a user's `--secrets` file, or the cloud's Secret): every value
 * present, of allowed characters and length, before any of it reaches SQL, a shell or YAML.
 */
export function secretProblems(doc: unknown): SecretProblem[] {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc))
    return [{ path: '(document)', message: 'expected a mapping of secrets' }];
  // The names every document must have; the stand-ins have them all, and no randomness.
  const want = redactedSecrets();
  const problems: SecretProblem[] = [];
  const check = (path: string, value: unknown, rule: SecretRule) => {
    if (value === undefined || value === null || value === '')
      problems.push({ path, message: `missing (accepted: ${rule.accepted})` });
    else if (typeof value !== 'string')
      problems.push({ path, message: `expected a string of ${rule.accepted}` });
    else if (!rule.pattern.test(value))
      problems.push({
        path,
        message: `${value.length} characters, not all allowed (accepted: ${rule.accepted})`,
      });
  };
  for (const [k, v] of Object.entries(want) as [keyof CloudSecrets, unknown][]) {
    const have = (doc as Record<string, unknown>)[k];
    if (typeof v === 'string') {
      check(k, have, rules[k]);
      continue;
    }
    if (have !== undefined && (typeof have !== 'object' || have === null || Array.isArray(have))) {
      problems.push({
        path: k,
        message: `expected a mapping with ${Object.keys(v as object).join(', ')}`,
      });
      continue;
    }
    const inner = (have ?? {}) as Record<string, unknown>;
    const names = new Set([...Object.keys(v as object), ...Object.keys(inner)]);
    for (const name of names) {
      if (rules[k] === fernet && !/^[0-9]+$/.test(name))
        problems.push({ path: `${k}.${name}`, message: 'key names are key indexes: 0, 1, 2, …' });
      else check(`${k}.${name}`, inner[name], rules[k]);
    }
  }
  return problems;
}
