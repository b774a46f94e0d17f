// RedfishFencer and fenceNode against a stand-in Redfish service on localhost that behaves as a
// vendor's BMC does: its own system id, the Reset action at the address the system names, a
// PowerState that passes through PoweringOff, basic auth, Redfish error bodies.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import {
  FencingError,
  RedfishFencer,
  createFencer,
  fenceNode,
  type Fencer,
  type PowerState,
} from '../../../src/controller/fencing.ts';

interface StandIn {
  url: string;
  /** Every request: method, path, body. */
  calls: { method: string; path: string; body: string }[];
  power: string;
  /** How many reads after a ForceOff still say PoweringOff. */
  lag: number;
  /** Answer nothing (a BMC that hangs). */
  hang: boolean;
  close(): Promise<void>;
}

/** One system, `System.Embedded.1`, its Reset action at a vendor path, user admin / secret. */
async function standIn(): Promise<StandIn> {
  const s: Omit<StandIn, 'url' | 'close'> = { calls: [], power: 'On', lag: 1, hang: false };
  let pending = 0;
  const system = '/redfish/v1/Systems/System.Embedded.1';
  const resetTarget = `${system}/Actions/Oem/Vendor.Reset`;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      s.calls.push({ method: req.method ?? '', path: req.url ?? '', body });
      if (s.hang) return;
      const send = (code: number, obj?: unknown) => {
        res.writeHead(code, { 'content-type': 'application/json' });
        res.end(obj === undefined ? '' : JSON.stringify(obj));
      };
      const expected = `Basic ${Buffer.from('admin:secret').toString('base64')}`;
      if (req.headers.authorization !== expected) return send(401, { error: { message: 'no' } });
      if (req.method === 'GET' && req.url === system) {
        const state = pending > 0 ? 'PoweringOff' : s.power;
        if (pending > 0) pending--;
        return send(200, {
          Id: 'System.Embedded.1',
          PowerState: state,
          Actions: { '#ComputerSystem.Reset': { target: resetTarget } },
        });
      }
      if (req.method === 'POST' && req.url === resetTarget) {
        const type = (JSON.parse(body) as { ResetType?: string }).ResetType;
        if (type !== 'ForceOff')
          return send(400, { error: { message: `ResetType ${type} not supported` } });
        s.power = 'Off';
        pending = s.lag;
        return send(204);
      }
      send(404, {
        error: { code: 'Base.1.8.ResourceMissingAtURI', message: `${req.url} is not here` },
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const out = s as StandIn;
  out.url = `http://127.0.0.1:${port}`;
  out.close = () => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return out;
}

const fencerFor = (s: StandIn, password = 'secret', requestTimeoutMs?: number) =>
  new RedfishFencer({
    url: s.url,
    systemId: 'System.Embedded.1',
    username: 'admin',
    password,
    ...(requestTimeoutMs ? { requestTimeoutMs } : {}),
  });

test('Redfish: reads PowerState, posts ForceOff to the target the system names, with basic auth', async () => {
  const s = await standIn();
  try {
    const f = fencerFor(s);
    assert.equal(await f.powerState('node-3'), 'On');
    const r = await fenceNode(f, 'node-3', { timeoutMs: 5000, pollMs: 10 });
    assert.deepEqual(r, { poweredOff: true });
    const posts = s.calls.filter((c) => c.method === 'POST');
    assert.deepEqual(posts, [
      {
        method: 'POST',
        path: '/redfish/v1/Systems/System.Embedded.1/Actions/Oem/Vendor.Reset',
        body: '{"ResetType":"ForceOff"}',
      },
    ]);
    // It waited through PoweringOff (Unknown) until Off.
    assert.equal(await f.powerState('node-3'), 'Off');
  } finally {
    await s.close();
  }
});

test('fenceNode sends nothing to a node that is off already (a resumed operator fences once)', async () => {
  const s = await standIn();
  try {
    s.power = 'Off';
    assert.deepEqual(await fenceNode(fencerFor(s), 'n', { timeoutMs: 1000, pollMs: 10 }), {
      poweredOff: false,
    });
    assert.equal(s.calls.filter((c) => c.method === 'POST').length, 0);
  } finally {
    await s.close();
  }
});

test('fenceNode fails when the power state does not reach Off in time', async () => {
  // A fake fencer (no Redfish): the order is taken, the node stays On.
  const calls: string[] = [];
  const stuck: Fencer = {
    powerState: (): Promise<PowerState> => Promise.resolve('On'),
    powerOff: (node) => {
      calls.push(node);
      return Promise.resolve();
    },
  };
  await assert.rejects(fenceNode(stuck, 'n', { timeoutMs: 50, pollMs: 10 }), (err: Error) => {
    assert.ok(err instanceof FencingError);
    assert.match(err.message, /n: power-off ordered, but its power state is still On after 0 s/);
    return true;
  });
  assert.deepEqual(calls, ['n']);
});

test('Redfish errors say what was asked and why it failed: credentials, missing system, timeout, unreachable', async () => {
  const s = await standIn();
  try {
    await assert.rejects(fencerFor(s, 'wrong').powerState('n'), (err: Error) => {
      assert.ok(err instanceof FencingError);
      assert.match(
        err.message,
        /GET http:\/\/127\.0\.0\.1:\d+\/redfish\/v1\/Systems\/System\.Embedded\.1: 401: the BMC refused the username and password/,
      );
      return true;
    });
    const other = new RedfishFencer({
      url: s.url,
      systemId: '{node}',
      username: 'admin',
      password: 'secret',
    });
    await assert.rejects(
      other.powerState('node-9'),
      /Systems\/node-9: 404 \/redfish\/v1\/Systems\/node-9 is not here/,
    );
    s.hang = true;
    await assert.rejects(fencerFor(s, 'secret', 100).powerState('n'), /no answer within 0.1 s/);
  } finally {
    await s.close();
  }
  await assert.rejects(fencerFor(s).powerState('n'), /cannot reach it \(ECONNREFUSED\)/);
});

test('the node name fills {node} in the URL and the system id; method none makes no fencer', () => {
  const f = new RedfishFencer({
    url: 'https://{node}-bmc.example.com:8443',
    systemId: '{node}',
    username: 'u',
    password: 'p',
  });
  assert.equal(
    f.systemUrl('worker-1').href,
    'https://worker-1-bmc.example.com:8443/redfish/v1/Systems/worker-1',
  );
  const redfish = {
    url: 'http://10.244.0.1:8000',
    systemId: '{node}',
    secretName: 'bmc',
    timeoutSeconds: 30,
  };
  assert.ok(
    createFencer({ method: 'redfish', redfish }, { username: 'u', password: 'p' }) instanceof
      RedfishFencer,
  );
  assert.equal(createFencer({ method: 'none' }, { username: 'u', password: 'p' }), undefined);
});
