// The deployed cloud, checked with the real `openstack` client (in the cloud's openstack-client
// pod) and plain HTTP from this host: what a user of the cloud would do first.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  bootImage,
  cloudReady,
  createServer,
  deleteServer,
  ensureTinyFlavor,
  inClient,
  osJson,
  serverSettled,
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

interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** `curl -i` output: the last status line (after any 100 Continue), headers and body. */
function parseHttp(raw: string): HttpAnswer {
  const blocks = raw.replace(/\r\n/g, '\n').split('\n\n');
  let i = 0;
  while (/^HTTP\/\S+ 100/.test(blocks[i] ?? '') && i < blocks.length - 1) i++;
  const [statusLine = '', ...lines] = (blocks[i] ?? '').split('\n');
  const headers = Object.fromEntries(
    lines.map((l) => [
      l.slice(0, l.indexOf(':')).toLowerCase(),
      l.slice(l.indexOf(':') + 1).trim(),
    ]),
  );
  return {
    status: Number(statusLine.split(' ')[1]),
    headers,
    body: blocks.slice(i + 1).join('\n\n'),
  };
}

const json = (a: HttpAnswer): any => JSON.parse(a.body);

/**
 * What GET on each API's catalog URL answers, from the API references: Keystone `GET /v3` 200
 * with the v3 version; Glance `GET /` 300 Multiple Choices listing its versions; Placement `GET /`
 * 200; Nova `GET /v2.1` 200 with version v2.1; Neutron `GET /` 200 listing v2.0; Horizon's `/`
 * redirects (302) a visitor without a session to its login page.
 */
const documentedRoots: Record<
  string,
  { status: number; check: (a: HttpAnswer, url: string) => void }
> = {
  identity: {
    status: 200,
    check: (a, url) => {
      assert.match(json(a).version.id, /^v3\.\d+$/, `${url} is Identity v3`);
      assert.equal(json(a).version.status, 'stable');
    },
  },
  image: {
    status: 300,
    check: (a, url) =>
      assert.ok(
        json(a).versions.some((v: { status: string }) => v.status === 'CURRENT'),
        `${url} lists a CURRENT image API version`,
      ),
  },
  placement: {
    status: 200,
    check: (a, url) => assert.equal(json(a).versions[0].id, 'v1.0', `${url} is Placement v1.0`),
  },
  compute: {
    status: 200,
    check: (a, url) => assert.equal(json(a).version.id, 'v2.1', `${url} is Compute v2.1`),
  },
  network: {
    status: 200,
    check: (a, url) =>
      assert.ok(
        json(a).versions.some((v: { id: string }) => v.id === 'v2.0'),
        `${url} lists Networking v2.0`,
      ),
  },
  dashboard: {
    status: 302,
    check: (a, url) =>
      assert.match(
        a.headers.location ?? '',
        /\/auth\/login\//,
        `${url} redirects to the login page`,
      ),
  },
};

/** Runs `what`; its error as a one-element list, or an empty list. */
async function attempt(label: string, what: () => Promise<unknown>): Promise<string[]> {
  try {
    await what();
    return [];
  } catch (err) {
    return [`${label}: ${err instanceof Error ? err.message : String(err)}`];
  }
}

/** Runs each `openstack <command>`, all of them; the ones that failed, with why. */
async function remove(commands: string[]): Promise<string[]> {
  const failed: string[] = [];
  for (const c of commands) failed.push(...(await attempt(c, () => inClient(`openstack ${c}`))));
  return failed;
}

/** Deletes the port, subnet and network a test named after `net`; the deletes that failed. */
function removeNetwork(net: string): Promise<string[]> {
  return remove([
    `port delete ${net}-port`,
    `subnet delete ${net}-subnet`,
    `network delete ${net}`,
  ]);
}

describe('the cloud from examples/minimal.yaml', { skip }, () => {
  before(async () => {
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
  });

  test('keystone issues a token and its catalog lists every service, each public endpoint answering as documented', async (t) => {
    const token = await osJson<{ id: string; expires: string }>('token issue');
    assert.match(token.id, /^gAAAAA/, 'a Fernet token');
    assert.ok(Date.parse(token.expires) > Date.now(), 'not expired');

    const endpoints = await osJson<Endpoint[]>('endpoint list --interface public');
    const types = new Set(endpoints.map((e) => e['Service Type']));
    for (const type of Object.keys(documentedRoots))
      assert.ok(
        types.has(type),
        `the catalog has a public ${type} endpoint (has: ${[...types].join(', ')})`,
      );

    // GET on each public URL as the catalog gives it, from inside the cloud (the client pod
    // resolves the cluster's names), without following redirects.
    for (const e of endpoints) {
      const root = documentedRoots[e['Service Type']];
      if (!root) continue;
      const raw = await inClient(`curl -sS -i --max-time 20 '${e.URL}'`);
      const answer = parseHttp(raw);
      t.diagnostic(`${e['Service Type']} ${e.URL}: HTTP ${answer.status}`);
      assert.equal(
        answer.status,
        root.status,
        `GET ${e.URL} (${e['Service Type']}) answers ${root.status} as its API reference says`,
      );
      root.check(answer, e.URL);
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
      await inClient(`rm -f /tmp/up.img /tmp/down.img; openstack image delete ${id}`);
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

  test('neutron: network, subnet and port are created; the OVN controller and metadata agents are alive', async (t) => {
    const net = `e2e-net-${stamp}`;
    const left: string[] = [];
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
        await osJson<{ 'Agent Type': string; Alive: boolean | string; Host: string }[]>(
          'network agent list',
        );
      t.diagnostic(
        `agents: ${agents.map((a) => `${a['Agent Type']}@${a.Host}:${String(a.Alive)}`).join(', ')}`,
      );
      // -f json gives Alive as a boolean; the table form shows :-) or XXX.
      const alive = (type: string) =>
        agents.some((a) => a['Agent Type'] === type && (a.Alive === true || a.Alive === ':-)'));
      // A chassis that is also a gateway (br-ex, the external network) reports as the
      // "Gateway" agent: every node of the HA cloud is one.
      assert.ok(
        alive('OVN Controller agent') || alive('OVN Controller Gateway agent'),
        'an OVN controller (chassis) is alive',
      );
      assert.ok(alive('OVN Metadata agent'), 'an OVN metadata agent is alive');
    } finally {
      left.push(...(await removeNetwork(net)));
    }
    assert.deepEqual(left, [], 'what the test created is deleted');
  });

  test('nova: a server boots on a Neutron port that Nova binds to its host, and is deleted until gone', async (t) => {
    const name = `e2e-vm-${stamp}`;
    const net = `e2e-vmnet-${stamp}`;
    const flavor = await ensureTinyFlavor();
    const image = await bootImage();
    let id: string | undefined;
    const left: string[] = [];
    try {
      const network = await osJson<{ id: string }>(`network create ${net}`);
      await osJson(
        `subnet create --network ${network.id} --subnet-range 192.168.78.0/24 ${net}-subnet`,
      );
      const port = await osJson<{ id: string; fixed_ips: unknown }>(
        `port create --network ${network.id} ${net}-port`,
      );
      const ip = /192\.168\.78\.\d+/.exec(JSON.stringify(port.fixed_ips))?.[0];
      assert.ok(ip, `the port has an address (${JSON.stringify(port.fixed_ips)})`);
      id = await createServer(name, `--flavor ${flavor} --image ${image} --nic port-id=${port.id}`);
      const server = await serverSettled(id);
      assert.equal(
        server.status,
        'ACTIVE',
        `the server boots (fault: ${JSON.stringify(server.fault ?? null)})`,
      );
      const host = String(server['OS-EXT-SRV-ATTR:host']);
      assert.ok(
        JSON.stringify(server.addresses).includes(`"${ip}"`),
        `the server has the port's address ${ip} (${JSON.stringify(server.addresses)})`,
      );
      const bound = await osJson<Record<string, string>>(`port show ${port.id}`);
      // libvirt plugs the guest's tap into br-int (port ACTIVE); with the fake driver nothing
      // plugs it (DOWN). The binding is real either way.
      t.diagnostic(
        `server on ${host}; port ${bound.status}, vif_type ${bound.binding_vif_type}, host ${bound.binding_host_id}`,
      );
      assert.equal(bound.device_id, id, 'the port belongs to the server');
      assert.equal(bound.binding_host_id, host, 'the port is bound to the host the server runs on');
      assert.ok(
        !['unbound', 'binding_failed', ''].includes(bound.binding_vif_type ?? ''),
        `Neutron bound the port (vif_type ${bound.binding_vif_type})`,
      );
    } finally {
      if (id) left.push(...(await attempt(`server delete ${id}`, () => deleteServer(id!))));
      left.push(...(await removeNetwork(net)));
    }
    assert.deepEqual(left, [], 'the server is gone and what the test created is deleted');
  });

  test('the public endpoint of keystone answers from outside the pod network', async () => {
    const keystone = await serviceUrl('keystone-api');
    const r = await fetch(`${keystone}/v3`);
    assert.equal(r.status, 200);
    const body = (await r.json()) as { version: { id: string; status: string } };
    assert.equal(body.version.status, 'stable');
  });
});
