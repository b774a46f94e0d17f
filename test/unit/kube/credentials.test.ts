// Credentials are re-read, never applied once: against a fake API server that accepts only the
// current token, a rotated service-account token, a rotated kubeconfig tokenFile and an exec
// plugin's expired credential are all followed without restarting the client.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../../src/kube/client.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { Credentials, inClusterTarget, serviceAccountDir } from '../../../src/kube/config.ts';
import { FakeApi } from '../fake-api.ts';

const namespaces = '/api/v1/namespaces';
let api: FakeApi;
let token = 'one';

before(async () => {
  api = await FakeApi.start({ tls: true });
  api.put(namespaces, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } });
  api.accept = (authorization) => authorization === `Bearer ${token}`;
});

after(() => api.close());

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'stackanetes-credentials-'));
}

/** The service-account files a pod has, under `prefix` (as @kubernetes/client-node reads them). */
function serviceAccount(prefix: string): string {
  const dir = join(prefix, serviceAccountDir);
  mkdirSync(dir, { recursive: true });
  copyFileSync(api.caFile!, join(dir, 'ca.crt'));
  writeFileSync(join(dir, 'token'), token);
  return dir;
}

function rotate(dir: string, to: string): void {
  token = to;
  writeFileSync(join(dir, 'token'), to);
}

async function namespace(c: KubeClient): Promise<string> {
  return (await c.get<KubeObject>('v1', 'Namespace', 'default')).metadata.name;
}

test('an in-cluster client follows a rotated service-account token', async () => {
  token = 'sa-1';
  const prefix = tmp();
  const dir = serviceAccount(prefix);
  const env = {
    host: process.env.KUBERNETES_SERVICE_HOST,
    port: process.env.KUBERNETES_SERVICE_PORT,
  };
  process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
  process.env.KUBERNETES_SERVICE_PORT = String(api.port);
  const kc = new KubeConfig();
  kc.loadFromCluster(prefix);
  if (env.host === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
  else process.env.KUBERNETES_SERVICE_HOST = env.host;
  if (env.port === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
  else process.env.KUBERNETES_SERVICE_PORT = env.port;
  const c = await KubeClient.create(kc);
  try {
    assert.equal(await namespace(c), 'default');
    rotate(dir, 'sa-2'); // the kubelet wrote a new token; the old one is no longer accepted
    assert.equal(await namespace(c), 'default');
    assert.equal(api.requests.at(-1)?.authorization, 'Bearer sa-2');
  } finally {
    c.close();
  }
});

test('the service account found without a kubeconfig is read the same way', async () => {
  token = 'pod-1';
  const dir = serviceAccount(tmp());
  const target = inClusterTarget(dir, {
    KUBERNETES_SERVICE_HOST: '127.0.0.1',
    KUBERNETES_SERVICE_PORT: String(api.port),
  });
  assert.ok(target, 'found in-cluster configuration');
  const c = await KubeClient.create(new Credentials(target));
  try {
    assert.equal(await namespace(c), 'default');
    rotate(dir, 'pod-2');
    assert.equal(await namespace(c), 'default');
  } finally {
    c.close();
  }
});

test('a kubeconfig tokenFile is read again when the token in it changes', async () => {
  token = 'file-1';
  const dir = tmp();
  writeFileSync(join(dir, 'token'), token);
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = api.kubeconfig({ tokenFile: join(dir, 'token') });
  try {
    const c = await KubeClient.create();
    try {
      assert.equal(await namespace(c), 'default');
      rotate(dir, 'file-2');
      assert.equal(await namespace(c), 'default');
    } finally {
      c.close();
    }
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});

/** An exec credential plugin: prints the token in `file`, valid for `seconds`. */
function execPlugin(dir: string, seconds: number): string {
  const plugin = join(dir, 'plugin.mjs');
  writeFileSync(
    plugin,
    `import { readFileSync } from 'node:fs';
const token = readFileSync(${JSON.stringify(join(dir, 'token'))}, 'utf8').trim();
const expirationTimestamp = new Date(Date.now() + ${seconds * 1000}).toISOString();
console.log(JSON.stringify({
  apiVersion: 'client.authentication.k8s.io/v1',
  kind: 'ExecCredential',
  status: { token, expirationTimestamp },
}));
`,
  );
  return plugin;
}

async function withExecKubeconfig(seconds: number, body: (dir: string) => Promise<void>) {
  const dir = tmp();
  writeFileSync(join(dir, 'token'), token);
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = api.kubeconfig({
    exec: {
      apiVersion: 'client.authentication.k8s.io/v1',
      command: process.execPath,
      args: [execPlugin(dir, seconds)],
      interactiveMode: 'Never',
    },
  });
  try {
    await body(dir);
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
}

test('an exec plugin is asked again once its credential has expired', async () => {
  token = 'exec-1';
  await withExecKubeconfig(1, async (dir) => {
    const c = await KubeClient.create();
    try {
      assert.equal(await namespace(c), 'default');
      rotate(dir, 'exec-2');
      await sleep(1100); // the plugin's credential has expired
      const refused = api.requests.filter((r) => r.authorization !== `Bearer ${token}`).length;
      assert.equal(await namespace(c), 'default');
      assert.equal(
        api.requests.filter((r) => r.authorization !== `Bearer ${token}`).length,
        refused,
        'the expired credential was not sent again',
      );
    } finally {
      c.close();
    }
  });
});

test('an exec credential refused before its expiry is replaced by asking the plugin again', async () => {
  token = 'revoked-1';
  await withExecKubeconfig(3600, async (dir) => {
    const c = await KubeClient.create();
    try {
      assert.equal(await namespace(c), 'default');
      rotate(dir, 'revoked-2');
      assert.equal(await namespace(c), 'default');
    } finally {
      c.close();
    }
  });
});
