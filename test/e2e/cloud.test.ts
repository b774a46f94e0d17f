// The deployed cloud, checked with the real `openstack` client (in the cloud's openstack-client
// pod) and plain HTTP from this host: what a user of the cloud would do first.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  bootServer,
  cloudReady,
  deleteServer,
  inClient,
  osJson,
  serviceUrl,
  skip,
  until,
} from './helpers.ts';

interface Endpoint {
  'Service Name': string;
  'Service Type': string;
  Interface: string;
  URL: string;
}

const stamp = `${Date.now().toString(36)}`;

describe('the cloud from examples/minimal.yaml', { skip }, () => {
  before(async () => {
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
  });

  test('keystone issues a token and its catalog lists every service, each answering', async () => {
    const token = await osJson<{ id: string; expires: string }>('token issue');
    assert.match(token.id, /^gAAAAA/, 'a Fernet token');
    assert.ok(Date.parse(token.expires) > Date.now(), 'not expired');

    const endpoints = await osJson<Endpoint[]>('endpoint list');
    const types = new Set(endpoints.map((e) => e['Service Type']));
    for (const t of ['identity', 'image', 'placement', 'compute', 'network', 'dashboard'])
      assert.ok(types.has(t), `the catalog has a ${t} endpoint (has: ${[...types].join(', ')})`);

    // Every internal endpoint answers HTTP (a version document, a redirect or 401: not an error).
    const internal = endpoints.filter((e) => e.Interface === 'internal');
    const script = internal
      .map(
        (e) =>
          `printf '%s %s\\n' '${e['Service Type']}' "$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 '${e.URL}')"`,
      )
      .join('; ');
    const codes = (await inClient(script))
      .trim()
      .split('\n')
      .map((l) => l.split(' ') as [string, string]);
    console.log(`# endpoint answers: ${codes.map(([t, c]) => `${t}=${c}`).join(' ')}`);
    for (const [type, code] of codes) {
      const n = Number(code);
      assert.ok(n >= 200 && n < 500, `${type} endpoint answered HTTP ${code}`);
    }
  });

  test('glance: an uploaded image downloads back byte-identical', async () => {
    const name = `e2e-${stamp}`;
    const out = await inClient(
      [
        'set -e',
        'head -c 1048576 /dev/urandom > /tmp/up.img',
        `openstack image create --disk-format raw --container-format bare --file /tmp/up.img ${name} -f value -c id`,
      ].join('\n'),
    );
    const id = out.trim().split('\n').pop()!;
    try {
      const image = await until(
        async () => {
          const i = await osJson<{ status: string; size: number }>(`image show ${id}`);
          return i.status === 'active' ? i : undefined;
        },
        'the image to be active',
        120_000,
        1000,
      );
      assert.equal(image.size, 1048576);
      const sums = await inClient(
        `openstack image save --file /tmp/down.img ${id} && sha256sum /tmp/up.img /tmp/down.img | awk '{print $1}'`,
      );
      const [up, down] = sums.trim().split('\n');
      assert.equal(down, up, 'downloaded bytes equal the uploaded ones');
    } finally {
      await inClient(`openstack image delete ${id}; rm -f /tmp/up.img /tmp/down.img`);
    }
  });

  test('placement: the compute node is a resource provider with inventory', async () => {
    const providers = await until(
      async () => {
        const p = await osJson<{ uuid: string; name: string }[]>('resource provider list');
        return p.length > 0 ? p : undefined;
      },
      'a resource provider (nova-compute reports every 60 s)',
      180_000,
      3000,
    );
    const inventory = await osJson<{ resource_class: string; total: number }[]>(
      `resource provider inventory list ${providers[0]!.uuid}`,
    );
    const classes = Object.fromEntries(inventory.map((i) => [i.resource_class, i.total]));
    console.log(`# provider ${providers[0]!.name}: ${JSON.stringify(classes)}`);
    for (const rc of ['VCPU', 'MEMORY_MB', 'DISK_GB'])
      assert.ok((classes[rc] ?? 0) > 0, `${rc} inventory`);
  });

  test('neutron: network, subnet and port are created; the OVN chassis is listed', async () => {
    const net = `e2e-net-${stamp}`;
    try {
      const network = await osJson<{ id: string; status: string }>(`network create ${net}`);
      const subnet = await osJson<{ cidr: string; gateway_ip: string }>(
        `subnet create --network ${network.id} --subnet-range 192.168.77.0/24 ${net}-subnet`,
      );
      assert.equal(subnet.cidr, '192.168.77.0/24');
      const port = await osJson<{ fixed_ips: unknown; mac_address: string }>(
        `port create --network ${network.id} ${net}-port`,
      );
      assert.match(port.mac_address, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/);
      assert.match(JSON.stringify(port.fixed_ips), /192\.168\.77\./, 'the port got an address');
      const agents =
        await osJson<{ 'Agent Type': string; Alive: boolean; Host: string }[]>(
          'network agent list',
        );
      const types = agents.map((a) => `${a['Agent Type']}@${a.Host}:${a.Alive}`);
      console.log(`# agents: ${types.join(', ')}`);
      assert.ok(
        agents.some((a) => a['Agent Type'] === 'OVN Controller agent' && a.Alive),
        'an OVN controller (chassis) is alive',
      );
    } finally {
      await inClient(
        `openstack port delete ${net}-port; openstack subnet delete ${net}-subnet; openstack network delete ${net}; true`,
      );
    }
  });

  test('nova (fake driver): a server boots to ACTIVE and is deleted', async () => {
    const name = `e2e-vm-${stamp}`;
    try {
      assert.equal(await bootServer(name), 'ACTIVE');
      const server = await osJson<{ status: string; 'OS-EXT-SRV-ATTR:host': string }>(
        `server show ${name}`,
      );
      console.log(`# server on host ${server['OS-EXT-SRV-ATTR:host']}`);
      assert.equal(server.status, 'ACTIVE');
    } finally {
      await deleteServer(name);
    }
    const left = await osJson<{ Name: string }[]>(`server list --name ${name}`);
    assert.deepEqual(left, [], 'the server is gone');
  });

  test('the public endpoint of keystone answers from outside the pod network', async () => {
    const keystone = await serviceUrl('keystone-api');
    const r = await fetch(`${keystone}/v3`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { version: { id: string; status: string } };
    assert.equal(body.version.status, 'stable');
  });
});
