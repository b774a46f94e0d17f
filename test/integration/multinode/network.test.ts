// Three real nodes (`cluster up --nodes 3`): each node container runs its own kubelet and
// containerd in its own namespaces; pods on different nodes reach each other and Services; DNS
// answers from every node; NetworkPolicy is enforced by kube-router; every node pulls from the
// cluster's registry.
import assert from 'node:assert/strict';
import { readlinkSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { cgroupPids } from '../../../src/cluster/cgroups.ts';
import { nodeCgroup } from '../../../src/cluster/nodes.ts';
import { execInNode } from '../../../src/cluster/nodecontainer.ts';
import { pauseImage } from '../../../src/cluster/versions.ts';
import {
  apply,
  container,
  deleteNamespace,
  getJson,
  isReady,
  kubectl,
  l,
  makeNamespace,
  nodeName,
  waitFor,
  type Condition,
} from '../cluster/helpers.ts';
import { pushTestImage, realNodes, tcpProbe } from './helpers.ts';

let ns = '';
let nodes: string[] = [];

before(async () => {
  nodes = await realNodes();
  ns = await makeNamespace('stk-multi');
});
after(() => deleteNamespace(ns));

/** One pod pinned to each node, running the command; resolves once all are Ready. */
async function podPerNode(prefix: string, command: string[], labels: Record<string, string> = {}) {
  for (const node of nodes) {
    await apply({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${prefix}-${node}`, namespace: ns, labels: { app: prefix, ...labels } },
      spec: {
        nodeName: node,
        terminationGracePeriodSeconds: 1,
        containers: [container(prefix, command)],
      },
    });
  }
  return waitFor(
    `a ${prefix} pod Running and Ready on each of ${nodes.join(', ')}`,
    async () => {
      const list = await getJson<{
        items: {
          metadata: { name: string };
          spec: { nodeName: string };
          status: { podIP?: string; conditions?: Condition[] };
        }[];
      }>(['pods', '-n', ns, '-l', `app=${prefix}`]);
      const ready = list.items.filter((p) => isReady(p.status.conditions) && p.status.podIP);
      return ready.length === nodes.length
        ? ready.map((p) => ({ name: p.metadata.name, node: p.spec.nodeName, ip: p.status.podIP! }))
        : undefined;
    },
    180_000,
    1000,
  );
}

const exec = (pod: string, script: string) =>
  kubectl(['exec', '-n', ns, pod, '--', 'bash', '-c', script]);

void test('3 nodes are Ready; a node container runs its own kubelet in its own namespaces', async () => {
  assert.equal(nodes.length, 3, `real nodes: ${nodes.join(', ')}`);
  for (const node of nodes) {
    const n = await getJson<{ status: { conditions?: Condition[] } }>(['node', node]);
    assert.ok(isReady(n.status.conditions), `${node} Ready`);
  }
  const hostNs = (kind: string) => readlinkSync(`/proc/self/ns/${kind}`);
  for (const node of nodes.slice(1)) {
    const pids = cgroupPids(nodeCgroup(node));
    const kubelet = pids.find((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/exe`).endsWith('/kubelet');
      } catch {
        return false;
      }
    });
    assert.ok(kubelet, `a kubelet process in ${nodeCgroup(node)}`);
    for (const kind of ['net', 'pid', 'mnt', 'uts'])
      assert.notEqual(
        readlinkSync(`/proc/${kubelet}/ns/${kind}`),
        hostNs(kind),
        `${node}'s kubelet has its own ${kind} namespace`,
      );
  }
});

// Under disk pressure the kubelet removes unused images, and a node without its sandbox image
// starts no pod (a node of the HA cloud lost it so during an upgrade). The nodes' containerd
// (Debian bookworm's 1.6) does not report the pin that would keep it, so each node container
// imports it again when it is gone: the loss made for real (the image removed from containerd, as
// the collection does), then a pod started on that node.
void test('a node container whose pause image is removed imports it again and starts pods', async () => {
  const node = nodes.filter((n) => n !== nodeName).at(-1)!;
  await execInNode(l, node, ['ctr', '-n', 'k8s.io', 'images', 'rm', pauseImage]);
  const has = async () =>
    (await execInNode(l, node, ['ctr', '-n', 'k8s.io', 'images', 'ls', '-q']))
      .split('\n')
      .includes(pauseImage);
  assert.equal(await has(), false, `${pauseImage} removed from ${node}`);
  await waitFor(
    `${node} to import ${pauseImage} again`,
    async () => ((await has()) ? true : undefined),
    180_000,
    2000,
  );
  const name = `sandbox-back-${node}`;
  await apply({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 1,
      containers: [container('c', ['sleep', '3600'])],
    },
  });
  await waitFor(
    `${name} Ready on ${node}`,
    async () => {
      const p = await getJson<{ status: { conditions?: Condition[] } }>(['pod', '-n', ns, name]);
      return isReady(p.status.conditions) ? true : undefined;
    },
    180_000,
    1000,
  );
});

void test('pods on different nodes reach each other by pod IP and through a Service', async () => {
  const servers = await podPerNode('web', [
    'sh',
    '-c',
    'mkdir -p /www && hostname > /www/index.html && exec busybox httpd -f -p 8080 -h /www',
  ]);
  await apply({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: ns },
    spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
  });
  const clients = await podPerNode('client', ['sleep', 'infinity']);
  for (const c of clients) {
    for (const s of servers) {
      const out = await exec(c.name, tcpProbe(s.ip, 8080, 'GET / HTTP/1.0\r\n\r\n'));
      assert.match(out, new RegExp(s.name), `${c.node} → ${s.node} (${s.ip})`);
    }
    // Through the Service's cluster IP, by its DNS name: some web pod answers.
    const viaService = await exec(
      c.name,
      tcpProbe(`web.${ns}.svc.cluster.local`, 80, 'GET / HTTP/1.0\r\n\r\n'),
    );
    assert.match(viaService, /web-stackanetes-node/, `${c.node} → Service web`);
  }
});

void test('cluster DNS answers from every node', async () => {
  const clients = await podPerNode('dns', ['sleep', 'infinity']);
  for (const c of clients) {
    const out = await exec(c.name, 'getent hosts kubernetes.default.svc.cluster.local');
    assert.match(out, /^10\.96\.0\.1\s/m, `DNS from ${c.node}`);
  }
});

void test('NetworkPolicy is enforced on every node: only labelled clients reach the server', async () => {
  const servers = await podPerNode('guarded', [
    'sh',
    '-c',
    'mkdir -p /www && echo ok > /www/index.html && exec busybox httpd -f -p 8080 -h /www',
  ]);
  await apply({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'guarded', namespace: ns },
    spec: {
      podSelector: { matchLabels: { app: 'guarded' } },
      policyTypes: ['Ingress'],
      ingress: [
        {
          from: [{ podSelector: { matchLabels: { allowed: 'friend' } } }],
          ports: [{ port: 8080 }],
        },
      ],
    },
  });
  const allowed = await podPerNode('friend', ['sleep', 'infinity'], { allowed: 'friend' });
  const denied = await podPerNode('stranger', ['sleep', 'infinity']);
  for (const s of servers) {
    for (const c of allowed) {
      // Policies reach every node's kube-router within its sync: allow a few seconds.
      await waitFor(
        `${c.node} (allowed) to reach ${s.node}`,
        async () => /ok/.test(await exec(c.name, tcpProbe(s.ip, 8080, 'GET / HTTP/1.0\r\n\r\n'))),
        60_000,
        1000,
      );
    }
    for (const c of denied) {
      await waitFor(
        `${c.node} (not allowed) to be refused by ${s.node}`,
        async () =>
          /TIMEOUT|REFUSED/.test(
            await exec(c.name, tcpProbe(s.ip, 8080, 'GET / HTTP/1.0\r\n\r\n')),
          ),
        60_000,
        1000,
      );
    }
  }
});

void test("every node pulls an image from the cluster's registry", async () => {
  const ref = await pushTestImage();
  await apply({
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'pulled', namespace: ns },
    spec: {
      selector: { matchLabels: { app: 'pulled' } },
      template: {
        metadata: { labels: { app: 'pulled' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          tolerations: [
            {
              operator: 'Exists',
              effect: 'NoSchedule',
              key: 'node-role.kubernetes.io/control-plane',
            },
          ],
          containers: [
            {
              name: 'pulled',
              image: ref,
              imagePullPolicy: 'Always',
              command: ['sleep', 'infinity'],
            },
          ],
        },
      },
    },
  });
  await waitFor(
    `the DaemonSet of ${ref} Ready on all ${nodes.length} nodes`,
    async () => {
      const ds = await getJson<{ status: { numberReady?: number } }>([
        'daemonset',
        '-n',
        ns,
        'pulled',
      ]);
      return ds.status.numberReady === nodes.length;
    },
    300_000,
    2000,
  );
  const events = await kubectl([
    'get',
    'events',
    '-n',
    ns,
    '--field-selector',
    'reason=Pulled',
    '-o',
    'name',
  ]);
  assert.ok(events.trim().split('\n').length >= nodes.length, 'a Pulled event per node');
});
