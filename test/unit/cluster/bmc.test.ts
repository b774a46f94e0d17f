// The local cluster's BMC (src/cluster/bmc.ts) with a fake power backend: what Redfish clients
// see (members, PowerState, resets, errors, basic auth), and the operator's RedfishFencer
// fencing a node through it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { AddressInfo } from 'node:net';
import {
  bmcApp,
  bmcCredentials,
  bmcCredentialsFile,
  type PowerBackend,
  type SystemPower,
} from '../../../src/cluster/bmc.ts';
import { layout } from '../../../src/cluster/layout.ts';
import { RedfishFencer, fenceNode } from '../../../src/controller/fencing.ts';

/** A fake power backend: the host node and two node containers, their power in a map. */
function fakePower() {
  const power = new Map<string, SystemPower>([
    ['stackanetes-node', 'On'],
    ['stackanetes-node-2', 'On'],
    ['stackanetes-node-3', 'On'],
  ]);
  const actions: string[] = [];
  const backend: PowerBackend = {
    systems: () =>
      [...power.keys()].map((name) => ({ name, controllable: name !== 'stackanetes-node' })),
    state: (name) => Promise.resolve(power.get(name)!),
    off: (name) => {
      actions.push(`off ${name}`);
      power.set(name, 'Off');
      return Promise.resolve();
    },
    on: (name) => {
      actions.push(`on ${name}`);
      power.set(name, 'On');
      return Promise.resolve();
    },
  };
  return { power, actions, backend };
}

const credentials = { username: 'stackanetes', password: 'pw' };
const auth = { authorization: `Basic ${Buffer.from('stackanetes:pw').toString('base64')}` };

/** POSTs a ComputerSystem.Reset of `node` to the BMC, with the credentials. */
const resetOn = (app: ReturnType<typeof bmcApp>) => (node: string, ResetType: string) =>
  app.inject({
    method: 'POST',
    url: `/redfish/v1/Systems/${node}/Actions/ComputerSystem.Reset`,
    headers: auth,
    payload: { ResetType },
  });

test('BMC: service root without auth, everything else only with the credentials', async () => {
  const app = bmcApp({ power: fakePower().backend, credentials });
  const root = await app.inject({ url: '/redfish/v1' });
  assert.equal(root.statusCode, 200);
  assert.equal(root.json().Systems['@odata.id'], '/redfish/v1/Systems');
  for (const headers of [
    {},
    { authorization: `Basic ${Buffer.from('stackanetes:no').toString('base64')}` },
  ]) {
    const r = await app.inject({ url: '/redfish/v1/Systems', headers });
    assert.equal(r.statusCode, 401);
    assert.match(r.headers['www-authenticate'] as string, /^Basic/);
  }
  const list = await app.inject({ url: '/redfish/v1/Systems', headers: auth });
  assert.deepEqual(list.json().Members, [
    { '@odata.id': '/redfish/v1/Systems/stackanetes-node' },
    { '@odata.id': '/redfish/v1/Systems/stackanetes-node-2' },
    { '@odata.id': '/redfish/v1/Systems/stackanetes-node-3' },
  ]);
  await app.close();
});

test('BMC: ForceOff, On and ForceRestart switch a node container; its PowerState follows', async () => {
  const { power, actions, backend } = fakePower();
  const app = bmcApp({ power: backend, credentials });
  const reset = resetOn(app);
  const state = async (node: string) =>
    (await app.inject({ url: `/redfish/v1/Systems/${node}`, headers: auth })).json().PowerState;
  assert.equal(await state('stackanetes-node-2'), 'On');
  assert.equal((await reset('stackanetes-node-2', 'ForceOff')).statusCode, 204);
  assert.equal(await state('stackanetes-node-2'), 'Off');
  assert.equal((await reset('stackanetes-node-2', 'On')).statusCode, 204);
  assert.equal(power.get('stackanetes-node-2'), 'On');
  assert.equal((await reset('stackanetes-node-3', 'ForceRestart')).statusCode, 204);
  assert.deepEqual(actions, [
    'off stackanetes-node-2',
    'on stackanetes-node-2',
    'off stackanetes-node-3',
    'on stackanetes-node-3',
  ]);
  await app.close();
});

test('BMC: the host node, an unknown system and an unknown ResetType are refused with 4xx and why', async () => {
  const { actions, backend } = fakePower();
  const app = bmcApp({ power: backend, credentials });
  const reset = resetOn(app);
  const host = await reset('stackanetes-node', 'ForceOff');
  assert.equal(host.statusCode, 400);
  assert.match(
    host.json().error.message,
    /stackanetes-node is the machine that runs the control plane.*node containers: stackanetes-node-2, stackanetes-node-3/,
  );
  const system = await app.inject({ url: '/redfish/v1/Systems/stackanetes-node', headers: auth });
  assert.deepEqual(
    system.json().Actions['#ComputerSystem.Reset']['ResetType@Redfish.AllowableValues'],
    [],
  );
  const unknown = await reset('stackanetes-node-9', 'ForceOff');
  assert.equal(unknown.statusCode, 404);
  assert.match(unknown.json().error.message, /no system stackanetes-node-9/);
  const bad = await reset('stackanetes-node-2', 'GracefulShutdown');
  assert.equal(bad.statusCode, 400);
  assert.match(
    bad.json().error.message,
    /"GracefulShutdown" is not supported; allowed: On, ForceOff, ForceRestart/,
  );
  assert.deepEqual(actions, [], 'nothing was switched');
  await app.close();
});

test('BMC and RedfishFencer together: the operator fences a node container over HTTP', async () => {
  const { power, actions, backend } = fakePower();
  const app = bmcApp({ power: backend, credentials });
  await app.listen({ port: 0, host: '127.0.0.1' });
  try {
    const port = (app.server.address() as AddressInfo).port;
    const fencer = new RedfishFencer({
      url: `http://127.0.0.1:${port}`,
      systemId: '{node}',
      ...credentials,
    });
    assert.deepEqual(
      await fenceNode(fencer, 'stackanetes-node-3', { timeoutMs: 2000, pollMs: 10 }),
      {
        poweredOff: true,
      },
    );
    assert.equal(power.get('stackanetes-node-3'), 'Off');
    assert.deepEqual(actions, ['off stackanetes-node-3']);
    await assert.rejects(
      fencer.powerOff('stackanetes-node'),
      /400 stackanetes-node is the machine/,
    );
  } finally {
    await app.close();
  }
});

test('BMC credentials are generated once, kept in the PKI directory readable by root only', () => {
  const root = mkdtempSync(join(tmpdir(), 'stackanetes-bmc-'));
  try {
    const l = layout(root);
    const first = bmcCredentials(l);
    assert.equal(first.username, 'stackanetes');
    assert.match(first.password, /^[A-Za-z0-9]{24}$/);
    assert.deepEqual(bmcCredentials(l), first);
    assert.equal(statSync(bmcCredentialsFile(l)).mode & 0o777, 0o600);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
