// The REST client on a kept-alive connection: a DELETE carries its body with a Content-Length,
// so the server does not read the body as the next request (which answered 400 Bad Request).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../../src/kube/client.ts';
import { isNotFound } from '../../../src/kube/errors.ts';

void test('DELETE with a body leaves a kept-alive connection usable', async () => {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      seen.push(`${req.method} ${req.url?.split('?')[0]} ${body ? JSON.parse(body).kind : '-'}`);
      res.setHeader('Content-Type', 'application/json');
      if (req.method === 'DELETE') {
        res.statusCode = 404;
        res.end(JSON.stringify({ kind: 'Status', reason: 'NotFound', message: 'not found' }));
      } else {
        res.end(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const c = await KubeClient.create(kc);
  try {
    for (let i = 0; i < 3; i++) {
      await assert.rejects(c.delete('v1', 'ConfigMap', 'x', 'ns'), isNotFound);
      const got = await c.get('v1', 'ConfigMap', 'x', 'ns');
      assert.equal(got.metadata.name, 'x');
    }
    assert.deepEqual(seen.slice(0, 2), [
      'DELETE /api/v1/namespaces/ns/configmaps/x DeleteOptions',
      'GET /api/v1/namespaces/ns/configmaps/x -',
    ]);
    assert.equal(seen.length, 6);
  } finally {
    c.close();
    server.close();
  }
});
