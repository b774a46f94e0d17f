// A cloud's secret values: generated once (random), kept as YAML text where they are stored
// (the CLI's --secrets file, the operator's Secret), read back and checked before any use. The
// CLI and the operator share it; render only takes the values (src/render/secrets.ts), which
// keeps render free of randomness.
import { randomBytes } from 'node:crypto';
import { parse, stringify } from 'yaml';
import {
  databaseServices,
  keystoneServiceUsers,
  messagingServices,
  secretProblems,
  type CloudSecrets,
  type SecretProblem,
} from '../render/secrets.ts';

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

/** Where a cloud's secrets are kept, as text. */
export interface SecretsStore {
  /** The stored text; undefined while nothing is stored. */
  read(): Promise<string | undefined>;
  /** Stores the text unless some is there already; false when it was (another writer won). */
  create(text: string): Promise<boolean>;
}

/** Stored secrets that cannot be used; the message names fields, never values. */
export class UnusableSecrets extends Error {
  readonly problems: readonly SecretProblem[];
  /** The text is not YAML at all (yaml's own message would quote it). */
  readonly notYaml: boolean;

  constructor(problems: readonly SecretProblem[], notYaml = false) {
    super(
      notYaml
        ? 'not valid YAML (the contents are not shown, they are secret)'
        : problems.map((p) => `${p.path}: ${p.message}`).join('; '),
    );
    this.name = 'UnusableSecrets';
    this.problems = problems;
    this.notYaml = notYaml;
  }
}

/** Stored text read back: the secrets if every value is usable, else UnusableSecrets. */
export function readSecrets(text: string): CloudSecrets {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch {
    throw new UnusableSecrets([], true);
  }
  const problems = secretProblems(doc);
  if (problems.length > 0) throw new UnusableSecrets(problems);
  return doc as CloudSecrets;
}

/** The cloud's secrets: read back from the store, or generated and stored when it has none. */
export async function loadOrCreateSecrets(
  store: SecretsStore,
): Promise<{ secrets: CloudSecrets; created: boolean }> {
  const text = await store.read();
  if (text !== undefined) return { secrets: readSecrets(text), created: false };
  const secrets = generateSecrets();
  if (await store.create(stringify(secrets))) return { secrets, created: true };
  // Another writer stored its own between our read and our create: theirs counts.
  const again = await store.read();
  if (again === undefined) throw new Error('the secrets were stored by another writer, then lost');
  return { secrets: readSecrets(again), created: false };
}
