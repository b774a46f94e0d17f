// Neutron with ML2/OVN: neutron-server (API and RPC) talking to the OVN northbound and
// southbound databases, and the OVN metadata agent on every compute node, which proxies
// instances' metadata requests to Nova's metadata API. The OVN pieces are in ovn.ts.
import { hostPathVolume } from '../workload.ts';
import { kollaUids } from '../../catalog/images.ts';
import type { IniSections } from '../../catalog/types.ts';
import type { Ctx } from '../context.ts';
import { mergeIni, writeIni } from '../ini.ts';
import type { DaemonSet, KubeObject, Volume, VolumeMount } from '../kube.ts';
import { configFile, keystoneAuth, mainConfig } from './common.ts';
import { processObjects } from './process.ts';
import { serviceSetup } from './service-jobs.ts';
import { processHost, processOf } from './endpoints.ts';
import { ovsRunDir } from './nova.ts';
import { ovnNbConnection, ovnSbConnection } from './ovn.ts';
import { apiUwsgi } from './wsgi.ts';

export { renderOvn } from './ovn.ts';

const ml2Dest = '/etc/neutron/plugins/ml2/ml2_conf.ini';

export function renderNeutron(ctx: Ctx): KubeObject[] {
  const def = ctx.catalog.services.neutron;
  const spec = ctx.spec.services.neutron;
  const agent = processOf(ctx, 'neutron', 'ovn-metadata-agent');
  const metadata = processHost(ctx, 'nova', 'metadata');

  const conf = configFile(
    def,
    'neutron.conf',
    mainConfig(ctx, 'neutron', def, serverSections(ctx)),
  );
  const ml2 = configFile(
    def,
    'ml2_conf.ini',
    writeIni(
      mergeIni(def.defaults['ml2_conf.ini'], {
        ovn: { ovn_nb_connection: ovnNbConnection(ctx), ovn_sb_connection: ovnSbConnection(ctx) },
        // The external network: a flat network on the physical network every gateway chassis
        // maps to its bridge (ovn.ts).
        ml2_type_flat: { flat_networks: spec.provider.physicalNetwork },
      }),
    ),
    ml2Dest,
  );
  // Compute nodes get a neutron.conf without the database, queue and Keystone credentials:
  // the metadata agent talks only to OVN and to Nova's metadata API.
  const agentConf = configFile(
    def,
    'neutron.conf',
    writeIni(mergeIni(def.defaults['neutron.conf'], spec.config)),
  );
  const agentIni = configFile(
    def,
    'neutron_ovn_metadata_agent.ini',
    writeIni(
      mergeIni(def.defaults['neutron_ovn_metadata_agent.ini'], {
        DEFAULT: {
          nova_metadata_host: metadata.host,
          nova_metadata_port: metadata.port,
          nova_metadata_protocol: 'http',
          metadata_proxy_shared_secret: ctx.secrets.novaMetadataSecret,
        },
        ovn: { ovn_sb_connection: ovnSbConnection(ctx) },
        // Namespaces, veths and haproxy are set up as root through rootwrap/privsep.
        agent: { root_helper: 'sudo neutron-rootwrap /etc/neutron/rootwrap.conf' },
      }),
    ),
  );

  // The control plane: neutron-server (API and RPC in one) up to 2025.1; from 2025.2 the API
  // is a WSGI application under uWSGI beside the periodic and OVN maintenance workers, each a
  // process of the catalog's, all reading neutron.conf and ml2_conf.ini.
  const control = def.processes.filter((p) => p.role === 'controlPlane');
  const out: KubeObject[] = [
    ...serviceSetup(ctx, 'neutron', [conf, ml2]),
    ...control.flatMap((proc) =>
      processObjects(ctx, {
        service: 'neutron',
        proc,
        files: proc.wsgi ? [conf, ml2, apiUwsgi(ctx, 'neutron', proc)] : [conf, ml2],
      }),
    ),
  ];

  const hp = hostPathVolume;
  const volumes: Volume[] = [
    hp('openvswitch-run', ovsRunDir),
    hp('netns', '/run/netns'),
    hp('modules', '/lib/modules'),
    // The metadata proxy socket and haproxy configs live as long as the pod.
    { name: 'state', emptyDir: {} },
  ];
  const mounts: VolumeMount[] = [
    { name: 'openvswitch-run', mountPath: ovsRunDir },
    // Namespaces the agent creates must be visible to the host (and survive the container).
    { name: 'netns', mountPath: '/run/netns', mountPropagation: 'Bidirectional' },
    { name: 'modules', mountPath: '/lib/modules', readOnly: true },
    { name: 'state', mountPath: '/var/lib/neutron' },
  ];
  const agentObjects = processObjects(ctx, {
    service: 'neutron',
    proc: agent,
    files: [agentConf, agentIni],
    volumes,
    mounts,
    fsGroup: kollaUids.neutron,
  });
  // The agent talks to the node's Open vSwitch through its root-only socket, makes network
  // namespaces and runs haproxy in them, and shares them with the host (Bidirectional mount
  // propagation, which Kubernetes allows privileged containers only): root (as Kolla runs it),
  // privileged.
  for (const o of agentObjects) {
    if (o.kind !== 'DaemonSet') continue;
    const c = (o as DaemonSet).spec!.template.spec!.containers[0]!;
    c.securityContext = { ...c.securityContext, privileged: true, runAsUser: 0, runAsGroup: 0 };
  }
  out.push(...agentObjects);
  return out;
}

/** neutron.conf sections for the server, on top of common's (database, queue, Keystone). */
function serverSections(ctx: Ctx): IniSections {
  const auth = keystoneAuth(ctx, 'neutron');
  const nova = ctx.spec.services.nova.enabled;
  return {
    DEFAULT: {
      notify_nova_on_port_status_changes: nova,
      notify_nova_on_port_data_changes: nova,
    },
    nova: { ...auth, endpoint_type: 'internal' },
    placement: { ...auth, endpoint_type: 'internal' },
  };
}
