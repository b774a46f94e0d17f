// The local cluster's power controller, shaped as a server's BMC: the subset of DMTF Redfish
// that fencing agents use (fence_redfish, Metal3's Ironic, the operator's RedfishFencer), so the
// operator fences a node container through the same code it would use against a real server.
// The power itself is the node containers' (nodecontainer.ts): ForceOff is `cluster node kill`
// (a power cut), On is `cluster node start`. The host node is this machine: it is listed, always
// On, and refuses every reset.
//
//   GET  /redfish/v1                                                service root (no auth, as Redfish says)
//   GET  /redfish/v1/Systems                                        members: one per real node
//   GET  /redfish/v1/Systems/<node>                                 PowerState On | Off
//   POST /redfish/v1/Systems/<node>/Actions/ComputerSystem.Reset   {"ResetType": "ForceOff" | "On" | "ForceRestart"}
//
// HTTP basic auth, with a user and password generated once into the cluster's PKI directory
// (`bmcCredentials`). `cluster up` runs it as a host process (`stackanetes cluster bmc`) on the
// cluster bridge's host address, so the operator reaches it from a pod as from this machine.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { randomPassword } from '../secrets/cloud-secrets.ts';
import { sameSecret } from '../util/hash.ts';
import type { Layout } from './layout.ts';
import { killNode, nodePower, startNode } from './nodecontainer.ts';
import type { NodeSpec } from './nodes.ts';
import { net } from './network.ts';

/** Where the BMC listens: the bridge's host address (pods' gateway), port 8000 (as sushy-tools). */
export const bmcPort = 8000;
export const bmcUrl = `http://${net.nodeIp}:${bmcPort}`;

export type SystemPower = 'On' | 'Off';
export const resetTypes = ['On', 'ForceOff', 'ForceRestart'] as const;
export type ResetType = (typeof resetTypes)[number];

/** What the BMC controls: each system by name, whether it can be switched alone, and how. */
export interface PowerBackend {
  systems(): { name: string; controllable: boolean }[];
  state(name: string): Promise<SystemPower>;
  off(name: string): Promise<void>;
  on(name: string): Promise<void>;
}

/** The local cluster's nodes as `nodes()` lists them: node containers switch, the host does not. */
export function localPower(l: Layout, nodes: () => NodeSpec[]): PowerBackend {
  const find = (name: string) => {
    const n = nodes().find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  };
  return {
    systems: () => nodes().map((n) => ({ name: n.name, controllable: n.kind === 'container' })),
    state: async (name) => {
      const n = find(name);
      // The host node is the machine this process runs on.
      if (n.kind === 'host') return 'On';
      return (await nodePower(l, n)) === 'running' ? 'On' : 'Off';
    },
    off: async (name) => {
      await killNode(l, find(name));
    },
    on: async (name) => {
      await startNode(l, find(name));
    },
  };
}

export interface BmcCredentials {
  readonly username: string;
  readonly password: string;
}

export function bmcCredentialsFile(l: Layout): string {
  return join(l.pki, 'bmc.json');
}

/** The BMC's user and password: generated on first use, read back ever after (mode 0600). */
export function bmcCredentials(l: Layout): BmcCredentials {
  const file = bmcCredentialsFile(l);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as BmcCredentials;
  mkdirSync(dirname(file), { recursive: true });
  const c: BmcCredentials = { username: 'stackanetes', password: randomPassword(24) };
  writeFileSync(file, JSON.stringify(c, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  return c;
}

export interface BmcOptions {
  readonly power: PowerBackend;
  readonly credentials: BmcCredentials;
  /** One line per power action (the process log). */
  readonly log?: (line: string) => void;
}

const systemsPath = '/redfish/v1/Systems';

/** A Redfish error: `{"error": {"code": "Base.1.8.<id>", "message": …}}`. */
function fail(reply: FastifyReply, status: number, id: string, message: string) {
  return reply.code(status).send({ error: { code: `Base.1.8.${id}`, message } });
}

/** The BMC's HTTP application (not listening yet): `app.listen` or `app.inject`. */
export function bmcApp(o: BmcOptions): FastifyInstance {
  const app = Fastify({ logger: false });
  const expected = `${o.credentials.username}:${o.credentials.password}`;
  // One power action at a time per system: a kill and a start of one node must not interleave.
  const busy = new Map<string, Promise<unknown>>();
  const serialised = (name: string, action: () => Promise<void>) => {
    const next = (busy.get(name) ?? Promise.resolve()).catch(() => undefined).then(action);
    busy.set(name, next);
    return next;
  };

  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/redfish/v1' || req.url === '/redfish/v1/') return;
    const m = /^Basic +(\S+)$/i.exec(req.headers.authorization ?? '');
    const given = m ? Buffer.from(m[1]!, 'base64').toString('utf8') : '';
    if (m && sameSecret(given, expected)) return;
    reply.header('www-authenticate', 'Basic realm="stackanetes-bmc"');
    return fail(
      reply,
      401,
      'InsufficientPrivilege',
      'basic auth with the BMC credentials required',
    );
  });

  app.get('/redfish/v1', (_req, reply) =>
    reply.send({
      '@odata.id': '/redfish/v1',
      Id: 'RootService',
      Name: 'Stackanetes local cluster BMC',
      RedfishVersion: '1.6.0',
      Systems: { '@odata.id': systemsPath },
    }),
  );

  app.get(systemsPath, (_req, reply) => {
    const members = o.power.systems().map((s) => ({ '@odata.id': `${systemsPath}/${s.name}` }));
    return reply.send({
      '@odata.id': systemsPath,
      Name: 'Computer System Collection',
      Members: members,
      'Members@odata.count': members.length,
    });
  });

  const known = (name: string) => o.power.systems().find((s) => s.name === name);
  const missing = (reply: FastifyReply, name: string) =>
    fail(
      reply,
      404,
      'ResourceMissingAtURI',
      `no system ${name}; systems: ${o.power
        .systems()
        .map((s) => s.name)
        .join(', ')}`,
    );

  app.get<{ Params: { id: string } }>(`${systemsPath}/:id`, async (req, reply) => {
    const s = known(req.params.id);
    if (!s) return missing(reply, req.params.id);
    const self = `${systemsPath}/${s.name}`;
    return {
      '@odata.id': self,
      Id: s.name,
      Name: s.name,
      PowerState: await o.power.state(s.name),
      Actions: {
        '#ComputerSystem.Reset': {
          target: `${self}/Actions/ComputerSystem.Reset`,
          'ResetType@Redfish.AllowableValues': s.controllable ? [...resetTypes] : [],
        },
      },
    };
  });

  app.post<{ Params: { id: string }; Body: { ResetType?: unknown } | undefined }>(
    `${systemsPath}/:id/Actions/ComputerSystem.Reset`,
    async (req, reply) => {
      const s = known(req.params.id);
      if (!s) return missing(reply, req.params.id);
      const type = req.body?.ResetType;
      if (!resetTypes.includes(type as ResetType))
        return fail(
          reply,
          400,
          'ActionParameterNotSupported',
          `ResetType ${JSON.stringify(type)} is not supported; allowed: ${resetTypes.join(', ')}`,
        );
      if (!s.controllable)
        return fail(
          reply,
          400,
          'ActionNotSupported',
          `${s.name} is the machine that runs the control plane: its power cannot be switched on its own (node containers: ${
            o.power
              .systems()
              .filter((x) => x.controllable)
              .map((x) => x.name)
              .join(', ') || 'none'
          })`,
        );
      await serialised(s.name, async () => {
        if (type !== 'On') await o.power.off(s.name);
        if (type !== 'ForceOff') await o.power.on(s.name);
      });
      o.log?.(`${new Date().toISOString()} ${s.name}: ${String(type)}`);
      return reply.code(204).send();
    },
  );
  return app;
}
