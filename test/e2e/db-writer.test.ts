// The database's one writer on the HA cloud (src/controller/db-writer.ts): the `mariadb` Service
// selects one Galera member, so every OpenStack service writes through it (two members writing
// the same rows at once fail one transaction, which the services log as a deadlock). The test
// reads the services' connections on each member, then deletes the writer's pod: the operator
// moves the Service to another member that is Ready (with an Event), the cloud writes through it,
// and it stays the writer when the deleted member is back.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { events } from './evacuation.ts';
import { databaseWriter as writer, galeraMembers } from './galera-outage.ts';
import {
  getPod,
  inClient,
  isReady,
  kubectl,
  mariadbSql,
  namespace,
  skip,
  until,
} from './helpers.ts';

/** The addresses the Service's EndpointSlices send clients to (ready or not). */
async function endpointAddresses(): Promise<string[]> {
  const out = await kubectl([
    ...['-n', namespace, 'get', 'endpointslices', '-o', 'json'],
    ...['-l', 'kubernetes.io/service-name=mariadb'],
  ]);
  const { items } = JSON.parse(out) as { items: { endpoints?: { addresses: string[] }[] }[] };
  return items.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses));
}

/** Connections of the OpenStack services' database users on a member (not root's, not Galera's). */
async function serviceConnections(member: string): Promise<number> {
  const out = await mariadbSql(
    member,
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER NOT IN ('root', 'system user', 'event_scheduler', 'mariadb.sys', 'unauthenticated user', '')",
  );
  return Number(out.trim());
}

describe('one database writer (HA cloud)', { skip }, () => {
  test("the mariadb Service selects one Ready member, and every OpenStack service's database connections are on it", async () => {
    const w = await writer();
    assert.ok(w && galeraMembers.includes(w), `the Service selects a member: ${w}`);
    const pod = await getPod(w);
    assert.ok(pod && isReady(pod), `${w} is Ready`);
    const podIp = (pod.status as { podIP?: string }).podIP;
    assert.deepEqual(await endpointAddresses(), [podIp], `the Service's one address is ${w}'s`);
    // A request through Keystone, so that its pool holds a connection now.
    await inClient('openstack project list -f value -c ID >/dev/null');
    const counts = new Map<string, number>();
    for (const m of galeraMembers) counts.set(m, await serviceConnections(m));
    console.log(`# services' connections: ${JSON.stringify(Object.fromEntries(counts))}`);
    assert.ok(counts.get(w)! > 0, `connections on the writer ${w}`);
    for (const [m, n] of counts) if (m !== w) assert.equal(n, 0, `no connections on ${m}`);
  });

  test('the writer deleted: the operator moves the Service to another Ready member, the cloud writes through it, and it stays the writer when the first is back', async () => {
    const before = await writer();
    assert.ok(before, 'a writer');
    const old = await getPod(before);
    assert.ok(old?.metadata.uid);
    const t0 = Date.now();
    await kubectl(['-n', namespace, 'delete', 'pod', before, '--wait=false']);
    const after = await until(
      async () => {
        const w = await writer();
        return w && w !== before ? w : undefined;
      },
      `the Service moved off ${before}`,
      60_000,
      500,
    );
    console.log(
      `# ${before} deleted; the Service selects ${after} ${((Date.now() - t0) / 1000).toFixed(1)} s later`,
    );
    const next = await getPod(after);
    assert.ok(next && isReady(next), `${after} is Ready`);
    const moved = await until(
      async () =>
        (await events('DatabaseWriterMoved')).find(
          (e) => e.message.startsWith(`${before} stopped serving`) && Date.parse(e.at) >= t0 - 2000,
        ),
      'the DatabaseWriterMoved Event',
      30_000,
      1000,
    );
    assert.match(moved.message, new RegExp(`now sends the database's clients to ${after}$`));
    await until(
      async () =>
        JSON.stringify(await endpointAddresses()) ===
        JSON.stringify([(next.status as { podIP?: string }).podIP]),
      `the Service's one address is ${after}'s`,
      30_000,
      500,
    );
    // Keystone writes (a project), Neutron writes (a network): both through the new writer.
    const name = `writer-${Date.now().toString(36)}`;
    await inClient(
      `openstack project create ${name} >/dev/null && openstack network create ${name} >/dev/null && openstack network delete ${name} && openstack project delete ${name}`,
      300_000,
    );
    console.log(
      `# the cloud wrote through ${after} ${((Date.now() - t0) / 1000).toFixed(1)} s after the delete`,
    );
    assert.ok((await serviceConnections(after)) > 0, `connections on ${after}`);

    // The deleted member back (a new pod, Ready): the writer stays where it is.
    await until(
      async () => {
        const p = await getPod(before);
        return p && p.metadata.uid !== old.metadata.uid && isReady(p);
      },
      `${before} replaced and Ready`,
      15 * 60_000,
      3000,
    );
    assert.equal(await writer(), after, `${after} is still the writer`);
  });
});
