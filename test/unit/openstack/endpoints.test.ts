// The endpoints `stackanetes up` prints: each with the address this host reaches it by, and the
// dashboard at Horizon's catalog entry.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { endpointTable } from '../../../src/openstack/endpoints.ts';

const ips = new Map([
  ['keystone-api.openstack.svc', '10.96.0.20'],
  ['horizon-server.openstack.svc', '10.96.0.30'],
]);

test('in-cluster endpoints show the cluster IP, and the dashboard is Horizon by its IP', () => {
  const t = endpointTable(
    [
      { service: 'horizon', url: 'http://horizon-server.openstack.svc:8080/' },
      { service: 'keystone', url: 'http://keystone-api.openstack.svc:5000/v3' },
    ],
    ips,
    'stackanetes.test',
  );
  assert.equal(t.onIngress, false);
  assert.deepEqual(t.lines, [
    '  horizon   http://horizon-server.openstack.svc:8080/   (from this host: http://10.96.0.30:8080/)',
    '  keystone  http://keystone-api.openstack.svc:5000/v3   (from this host: http://10.96.0.20:5000/v3)',
    '  dashboard  http://10.96.0.30:8080/ (user admin)',
  ]);
});

test('public endpoints go through the ingress, and the dashboard is Horizon’s public URL', () => {
  const t = endpointTable(
    [
      { service: 'horizon', url: 'https://horizon.stackanetes.test/' },
      { service: 'keystone', url: 'https://keystone.stackanetes.test/v3' },
    ],
    ips,
    'stackanetes.test',
  );
  assert.equal(t.onIngress, true);
  assert.equal(t.lines.at(-1), '  dashboard  https://horizon.stackanetes.test/ (user admin)');
});

test('no Horizon in the catalog, no dashboard line', () => {
  const t = endpointTable(
    [{ service: 'keystone', url: 'http://keystone-api.openstack.svc:5000/v3' }],
    ips,
    'stackanetes.test',
  );
  assert.equal(t.lines.length, 1);
});
