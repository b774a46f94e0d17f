// src/openstack/api.ts: what its errors say. The calls themselves run against the real Keystone
// and Nova in the e2e tier (test/e2e/nova-services.test.ts, test/e2e/evacuate.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OpenStackSession } from '../../../src/openstack/api.ts';

const credentials = {
  authUrl: 'http://keystone-api.openstack.svc:5000',
  username: 'admin',
  password: 'not-this-one',
  projectName: 'admin',
};

test('an unreachable Keystone: the error names the call and the cause, never the password', async () => {
  const session = new OpenStackSession(credentials, {
    fetch: () => Promise.reject(new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } })),
  });
  await assert.rejects(
    () => session.endpoint('compute'),
    (err: Error) => {
      assert.equal(
        err.message,
        'keystone POST http://keystone-api.openstack.svc:5000/v3/auth/tokens: ECONNREFUSED',
      );
      assert.ok(!err.message.includes(credentials.password));
      return true;
    },
  );
});

test('Keystone refusing the password: its own message and the status, not the password', async () => {
  const session = new OpenStackSession(credentials, {
    fetch: () =>
      Promise.resolve(
        new Response(
          JSON.stringify({
            error: { code: 401, message: 'The request you have made requires authentication.' },
          }),
          {
            status: 401,
          },
        ),
      ),
  });
  await assert.rejects(
    () => session.endpoint('compute'),
    /keystone POST \/v3\/auth\/tokens as admin: HTTP 401: The request you have made requires authentication\./,
  );
});
