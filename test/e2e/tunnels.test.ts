// Tenant traffic between nodes of the HA cloud (examples/ha.yaml: spec.services.neutron.
// tunnelInterface stkntun0). Each node's OVN chassis ends its Geneve tunnels on the address of
// its tunnel interface, which ovn-controller moved onto br-phy; two servers pinned to different
// nodes reach each other on the tenant network, which between chassis only Geneve carries. The
// pinged server answers; the pinging one says so on its console (user data), so no floating IP is
// needed: on three nodes the external network's namespace is per node.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KubeObject } from '../../src/render/kube.ts';
import {
  createServer,
  consoleLog,
  deleteServers,
  serverPort,
  waitGuestReady,
  waitStatus,
} from './guests.ts';
import { client, cloudReady, dataPlaneNamespace, kubectl, osJson, skip, until } from './helpers.ts';

const stamp = Date.now().toString(36);
/** The prefix of the lines the pinging guest's user data writes on its console. */
const marker = 'stackanetes-e2e-cross-node:';

interface Pod extends KubeObject {
  spec: { nodeName?: string };
}

/** The dataplane's pods of a workload, by node. */
async function podsByNode(name: string): Promise<Map<string, string>> {
  const c = await client();
  const pods = await c.list<Pod>('v1', 'Pod', {
    namespace: dataPlaneNamespace,
    labelSelector: `app.kubernetes.io/name=${name}`,
  });
  return new Map(pods.items.map((p) => [p.spec.nodeName!, p.metadata.name]));
}

describe(
  'between nodes: Geneve endpoints on the tunnel interface, guests on different nodes reach each other',
  { skip },
  () => {
    const names = [`tun-a-${stamp}`, `tun-b-${stamp}`];
    let hosts: string[] = [];

    before(async () => {
      await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
      const computes = await osJson<{ Host: string; State: string; Status: string }[]>(
        'compute service list --service nova-compute',
      );
      hosts = computes
        .filter((c) => c.State === 'up' && c.Status === 'enabled')
        .map((c) => c.Host)
        .sort();
    });

    after(() => deleteServers(names));

    test("every chassis's Geneve endpoint is its node's tunnel address, held by br-phy", async () => {
      const controllers = await podsByNode('ovn-controller');
      assert.ok(controllers.size >= 2, `ovn-controller on ${controllers.size} nodes`);
      const seen: string[] = [];
      for (const [node, pod] of controllers) {
        const encap = (
          await kubectl([
            '-n',
            dataPlaneNamespace,
            'exec',
            pod,
            '--',
            'sh',
            '-c',
            'ovs-vsctl --db=unix:/run/openvswitch/db.sock get open_vswitch . external_ids:ovn-encap-ip; ip -4 -o addr show dev br-phy',
          ])
        ).trim();
        const [ipLine, addrLine] = encap.split('\n');
        const ip = ipLine!.replace(/"/g, '');
        console.log(`# ${node}: ovn-encap-ip ${ip}; ${addrLine?.replace(/\s+/g, ' ')}`);
        assert.match(ip, /^10\.242\.0\.\d+$/, `${node}: the encap IP is on the tunnel network`);
        assert.match(
          addrLine ?? '',
          new RegExp(`inet ${ip.replace(/\./g, '\\.')}/24`),
          `${node}: br-phy holds ${ip}`,
        );
        seen.push(ip);
      }
      assert.equal(new Set(seen).size, seen.length, `one address per chassis: ${seen.join(', ')}`);
    });

    test('a server on one node pings a server on another by its tenant address', async () => {
      assert.ok(hosts.length >= 2, `nova-compute up on ${hosts.length} hosts: ${hosts.join(', ')}`);
      const [hostA, hostB] = [hosts[hosts.length - 2]!, hosts[hosts.length - 1]!];
      const idB = await createServer(names[1]!, { availabilityZone: `nova:${hostB}` });
      const b = await waitStatus(names[1]!, ['ACTIVE']);
      assert.equal(b['OS-EXT-SRV-ATTR:host'], hostB);
      const ipB = (await serverPort(idB)).fixedIp;
      await waitGuestReady(names[1]!);
      // Tries for three minutes: its own boot, then the first answer.
      const userData = [
        '#!/bin/sh',
        'i=0',
        'while [ $i -lt 90 ]; do',
        '  i=$((i + 1))',
        `  if ping -c 1 -W 1 ${ipB} >/dev/null 2>&1; then echo "${marker} ${ipB} answered (try $i)" > /dev/console; exit 0; fi`,
        '  sleep 1',
        'done',
        `echo "${marker} ${ipB} never answered" > /dev/console`,
      ].join('\n');
      await createServer(names[0]!, { availabilityZone: `nova:${hostA}`, userData });
      const a = await waitStatus(names[0]!, ['ACTIVE']);
      assert.equal(a['OS-EXT-SRV-ATTR:host'], hostA);
      console.log(`# ${names[0]} on ${hostA} pings ${names[1]} (${ipB}) on ${hostB}`);
      const line = await until(
        async () => (await consoleLog(names[0]!)).split('\n').find((l) => l.includes(marker)),
        `${names[0]} to report on its console`,
        10 * 60_000,
        3000,
      );
      console.log(`# ${line.trim()}`);
      assert.match(line, new RegExp(`${ipB.replace(/\./g, '\\.')} answered`));
    });
  },
);
