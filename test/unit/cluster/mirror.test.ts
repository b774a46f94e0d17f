// The local cluster's one way out for pods (src/cluster/mirror.ts): the Debian mirror's address
// and port, and its name in the cluster DNS. The rules themselves are checked on the real
// network by the operator's scan in test/e2e/remediate.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mirrorRules, mirrorZones, resolveMirrors } from '../../../src/cluster/mirror.ts';

test('mirror endpoints: an address is taken as it is, a name as this machine resolves it, junk left out', async () => {
  const got = await resolveMirrors([
    'http://203.0.113.80/debian',
    'http://203.0.113.80/debian', // the same twice: once
    'https://192.0.2.7:8443/debian-security',
    'http://localhost/debian',
    'not a url',
    'http://no-such-host.invalid/debian',
  ]);
  assert.deepEqual(got, [
    { host: undefined, address: '203.0.113.80', port: 80 },
    { host: undefined, address: '192.0.2.7', port: 8443 },
    { host: 'localhost', address: '127.0.0.1', port: 80 },
  ]);
});

test('mirror rules: accepted from the pod bridge to that address and port only, masqueraded out', () => {
  const [accept, masq] = mirrorRules('stackanetes0', {
    host: 'deb.debian.org',
    address: '203.0.113.80',
    port: 80,
  });
  assert.deepEqual(accept!.slice(0, 9), [
    'FORWARD',
    '-i',
    'stackanetes0',
    '-d',
    '203.0.113.80/32',
    '-p',
    'tcp',
    '--dport',
    '80',
  ]);
  assert.equal(accept!.at(-1), 'ACCEPT');
  assert.deepEqual(masq!.slice(0, 6), ['POSTROUTING', '-t', 'nat', '!', '-o', 'stackanetes0']);
  assert.ok(masq!.includes('203.0.113.80/32'));
  assert.equal(masq!.at(-1), 'MASQUERADE');
});

test('mirror zones: one per name, answering its address; none for an address', () => {
  const zones = mirrorZones('10.244.0.1', [
    { host: 'deb.debian.org', address: '203.0.113.80', port: 80 },
    { host: 'deb.debian.org', address: '203.0.113.80', port: 443 },
    { host: undefined, address: '192.0.2.7', port: 80 },
  ]);
  assert.equal(zones.match(/^deb\.debian\.org:53 \{$/gm)?.length, 1);
  assert.match(zones, /answer "\{\{ \.Name \}\} 60 IN A 203\.0\.113\.80"/);
  assert.match(zones, /bind 10\.244\.0\.1/);
  assert.doesNotMatch(zones, /192\.0\.2\.7/);
  assert.equal(mirrorZones('10.244.0.1', []), '');
});
