// The cluster's certificates and service-account keys, made with the machine's openssl on the
// first `cluster up` and kept with the cluster's state (so a restart keeps every client valid).
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../util/exec.ts';

export interface CertSpec {
  /** File name stem: <name>.crt and <name>.key. */
  name: string;
  cn: string;
  org?: string;
  usage: 'client' | 'server' | 'both';
  dns?: string[];
  ips?: string[];
}

const days = '3650';

/** `openssl req` arguments for a new request with a new, unencrypted P-256 key (its file next). */
const newP256Key = [
  '-new',
  '-nodes',
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-keyout',
];

export async function ensureCa(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (existsSync(join(dir, 'ca.crt'))) return;
  await run('openssl', [
    'req',
    '-x509',
    ...newP256Key,
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
    '-days',
    days,
    '-subj',
    '/CN=stackanetes-local-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
}

export async function ensureCert(dir: string, spec: CertSpec): Promise<void> {
  const crt = join(dir, `${spec.name}.crt`);
  const key = join(dir, `${spec.name}.key`);
  if (existsSync(crt) && existsSync(key)) return;
  const subj = `${spec.org ? `/O=${spec.org}` : ''}/CN=${spec.cn}`;
  const eku = { client: 'clientAuth', server: 'serverAuth', both: 'serverAuth,clientAuth' }[
    spec.usage
  ];
  const ext = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    `extendedKeyUsage=${eku}`,
  ];
  const sans = [
    ...(spec.dns ?? []).map((d) => `DNS:${d}`),
    ...(spec.ips ?? []).map((i) => `IP:${i}`),
  ];
  if (sans.length) ext.push(`subjectAltName=${sans.join(',')}`);
  const extFile = join(dir, `${spec.name}.ext`);
  writeFileSync(extFile, ext.join('\n') + '\n');
  const csr = join(dir, `${spec.name}.csr`);
  await run('openssl', ['req', ...newP256Key, key, '-out', csr, '-subj', subj]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(dir, 'ca.crt'),
    '-CAkey',
    join(dir, 'ca.key'),
    '-CAcreateserial',
    '-out',
    crt,
    '-days',
    days,
    '-extfile',
    extFile,
  ]);
}

/** The key pair the API server signs service-account tokens with. */
export async function ensureServiceAccountKey(dir: string): Promise<void> {
  if (existsSync(join(dir, 'sa.pub'))) return;
  await run('openssl', ['genrsa', '-out', join(dir, 'sa.key'), '2048']);
  await run('openssl', ['rsa', '-in', join(dir, 'sa.key'), '-pubout', '-out', join(dir, 'sa.pub')]);
}
