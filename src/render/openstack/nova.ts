// Nova: the compute API and metadata API (uWSGI), conductor, scheduler, the noVNC console proxy,
// and nova-compute as a DaemonSet on compute nodes (with libvirtd beside it for `libvirt`).
// Three databases (nova, nova_api, nova_cell0) belong to one database user; the db-sync job maps
// cell0 and creates cell1.
import type { IniSections } from '../../catalog/types.ts';
import { publicUrl, svcHost, type Ctx } from '../context.ts';
import { kollaConfig, type ConfigFile } from '../kolla.ts';
import { contentHash } from '../hash.ts';
import {
  configHashAnnotation,
  type Container,
  type DaemonSet,
  type KubeObject,
  type Volume,
  type VolumeMount,
} from '../kube.ts';
import { kollaContainer, hostPathVolume, resources } from '../workload.ts';
import { mergeIni, writeIni } from '../ini.ts';
import {
  computedSections,
  configFile,
  dbInitJob,
  dbSyncJob,
  dbUrl,
  keystoneAuth,
  mainConfig,
  messagingInitJob,
  processObjects,
  registerJob,
  serviceAccounts,
  uwsgiIni,
} from './common.ts';

/** Where the compute pod's init container writes the per-node options (my_ip). */
const hostConfigDir = '/etc/nova/host';
export const novaHostConfig = `${hostConfigDir}/host.conf`;
/** libvirtd's sockets, shared by the libvirt and nova-compute containers through the host. */
const libvirtRunDir = '/run/libvirt';
export const ovsRunDir = '/run/openvswitch';

/** Kolla's nova uid/gid: config Secrets (probe scripts included) are group-readable by it. */
export const novaGid = 42436;

/** The Service names other components reach Nova by. */
export const novaMetadataService = 'nova-metadata';
export const novaMetadataPort = 8775;

export function renderNova(ctx: Ctx): KubeObject[] {
  const def = ctx.catalog.services.nova;
  const spec = ctx.spec.services.nova;
  const conf = configFile(def, 'nova.conf', mainConfig(ctx, 'nova', def, computed(ctx)));
  // Compute nodes talk to the databases only through the conductor: their nova.conf carries no
  // database credentials (and no API token validation), so a hypervisor host cannot leak them.
  const merged: Record<string, IniSections[string]> = {
    ...mergeIni(
      def.defaults[def.mainConfig],
      computedSections(ctx, 'nova', def),
      computed(ctx),
      spec.config,
    ),
  };
  for (const section of ['database', 'api_database', 'keystone_authtoken']) delete merged[section];
  const computeConf = configFile(def, 'nova.conf', writeIni(merged));
  const apiIni = configFile(
    def,
    'nova-api-uwsgi.ini',
    uwsgiIni(ctx, def, 'nova-api', '/usr/bin/nova-api-wsgi', port(def.processes, 'api')),
  );
  const metadataIni = configFile(
    def,
    'nova-metadata-uwsgi.ini',
    uwsgiIni(
      ctx,
      def,
      'nova-metadata',
      '/usr/bin/nova-metadata-wsgi',
      port(def.processes, 'metadata'),
    ),
  );
  const files: Record<string, ConfigFile> = {
    'nova.conf': conf,
    'nova-api-uwsgi.ini': apiIni,
    'nova-metadata-uwsgi.ini': metadataIni,
  };

  const out: KubeObject[] = [
    ...serviceAccounts(ctx, 'nova', 'nova'),
    ...dbInitJob(ctx, 'nova', 'nova', def.databases),
    ...messagingInitJob(ctx, 'nova', 'nova'),
    ...dbSyncJob(ctx, 'nova', def, [conf]),
    ...registerJob(ctx, 'nova', 'nova', def, {
      nova: publicUrl(
        ctx,
        'nova',
        `http://${svcHost(ctx, 'nova-api')}:${port(def.processes, 'api')}`,
      ),
    }),
  ];

  for (const proc of def.processes) {
    if (proc.name === 'novncproxy' && !spec.novncproxy) continue;
    const procFiles = proc.configFiles.map((f) => {
      const file = proc.name === 'compute' && f === 'nova.conf' ? computeConf : files[f];
      if (!file) throw new Error(`nova ${proc.name}: no rendered config file ${f}`);
      return file;
    });
    if (proc.name === 'compute') {
      out.push(...compute(ctx, procFiles));
      continue;
    }
    out.push(
      ...processObjects(ctx, {
        component: 'nova',
        service: 'nova',
        def,
        proc,
        files: procFiles,
        replicas: spec.replicas,
      }),
    );
  }
  return out;
}

function port(
  procs: readonly { name: string; ports: readonly { port: number }[] }[],
  name: string,
): number {
  const p = procs.find((x) => x.name === name)?.ports[0]?.port;
  if (p === undefined) throw new Error(`nova: the catalog has no port for ${name}`);
  return p;
}

/** nova.conf sections computed from the spec and secrets (on top of common's). */
function computed(ctx: Ctx): IniSections {
  const spec = ctx.spec.services.nova;
  const def = ctx.catalog.services.nova;
  const auth = keystoneAuth(ctx, 'nova');
  const vncPort = def.processes.find((p) => p.name === 'novncproxy')?.ports[0]?.port ?? 6080;
  const vncBase = publicUrl(
    ctx,
    'novncproxy',
    `http://${svcHost(ctx, 'nova-novncproxy')}:${vncPort}`,
  );
  const sections: Record<string, Record<string, string | number | boolean>> = {
    DEFAULT: {
      // The fake driver whose node UUID is derived from the node name: it survives a restart of
      // nova-compute (FakeDriver draws a new one each time, and Nova then refuses to start).
      compute_driver:
        spec.computeDriver === 'fake' ? 'fake.PredictableNodeUUIDDriver' : 'libvirt.LibvirtDriver',
    },
    api_database: { connection: dbUrl(ctx, 'nova', 'nova_api'), max_retries: -1 },
    placement: { ...auth, valid_interfaces: 'internal' },
    neutron: {
      ...auth,
      valid_interfaces: 'internal',
      service_metadata_proxy: true,
      metadata_proxy_shared_secret: ctx.secrets.novaMetadataSecret,
    },
    glance: { valid_interfaces: 'internal', region_name: ctx.spec.region },
    service_user: { ...auth, send_service_user_token: true },
    vnc: spec.novncproxy
      ? { enabled: true, novncproxy_base_url: `${vncBase}/vnc_lite.html` }
      : { enabled: false },
    // nova-compute plugs VIFs into br-int through the node's ovsdb-server socket.
    os_vif_ovs: { ovsdb_connection: `unix:${ovsRunDir}/db.sock` },
  };
  if (spec.computeDriver === 'libvirt') {
    // kvm needs /dev/kvm on the compute nodes; `virt_type: qemu` in the overrides emulates.
    sections.libvirt = { virt_type: 'kvm', connection_uri: 'qemu:///system' };
  }
  return sections;
}

/**
 * nova-compute on every compute node. The node's IP is only known on the node, so an init
 * container writes `my_ip` and `host` (the node name, which the OVN chassis uses too) into a small file nova-compute reads after nova.conf.
 */
function compute(ctx: Ctx, files: readonly ConfigFile[]): KubeObject[] {
  const def = ctx.catalog.services.nova;
  const base = def.processes.find((p) => p.name === 'compute')!;
  const libvirt = ctx.spec.services.nova.computeDriver === 'libvirt';
  const proc = {
    ...base,
    command: `${base.command} --config-file ${novaHostConfig}`,
  };
  const hostConf: Volume = { name: 'host-config', emptyDir: {} };
  const hostConfMount: VolumeMount = { name: 'host-config', mountPath: hostConfigDir };
  // nova-compute keeps its node identity (compute_id) in its state path and refuses to start
  // without it once it has registered: the state lives on the node, across pod restarts.
  const stateMount: VolumeMount = { name: 'nova-state', mountPath: '/var/lib/nova' };
  const volumes: Volume[] = [hostConf, hostPathVolume('nova-state', '/var/lib/nova')];
  const mounts: VolumeMount[] = [hostConfMount, stateMount];
  const extraContainers: Container[] = [];
  const extraObjects: KubeObject[] = [];
  let lv: ReturnType<typeof libvirtContainer> | undefined;

  if (libvirt) {
    const hp = hostPathVolume;
    volumes.push(
      hp('libvirt-run', libvirtRunDir),
      hp('libvirt-lib', '/var/lib/libvirt'),
      hp('libvirt-qemu', '/var/lib/stackanetes/libvirt/qemu'),
      hp('nova-instances', '/var/lib/nova/instances'),
      hp('openvswitch-run', ovsRunDir),
      hp('modules', '/lib/modules'),
      hp('dev', '/dev', 'Directory'),
      hp('cgroup', '/sys/fs/cgroup', 'Directory'),
    );
    // Instance disks must be at the same path for nova-compute and libvirtd/qemu.
    const shared: VolumeMount[] = [
      { name: 'libvirt-run', mountPath: libvirtRunDir },
      { name: 'libvirt-lib', mountPath: '/var/lib/libvirt' },
      { name: 'nova-instances', mountPath: '/var/lib/nova/instances' },
      { name: 'modules', mountPath: '/lib/modules', readOnly: true },
      { name: 'dev', mountPath: '/dev' },
    ];
    mounts.push(...shared, { name: 'openvswitch-run', mountPath: ovsRunDir });
    lv = libvirtContainer(ctx, [
      ...shared,
      { name: 'libvirt-qemu', mountPath: '/etc/libvirt/qemu' },
      { name: 'cgroup', mountPath: '/sys/fs/cgroup' },
    ]);
    extraContainers.push(lv.container);
    volumes.push(lv.volume);
    extraObjects.push(lv.secret);
  }

  const objs = processObjects(ctx, {
    component: 'nova',
    service: 'nova',
    def,
    proc,
    files,
    replicas: 1,
    volumes,
    mounts,
    extraContainers,
    fsGroup: novaGid,
    // The fake driver touches nothing on the host but its state directory: nova-compute runs as
    // nova without privileges. libvirt's plugs interfaces, opens /dev/kvm and disks through
    // sudo (rootwrap, privsep): privileged.
    security: libvirt ? { kind: 'privileged' } : { kind: 'restricted' },
  });
  const ds = objs.find((o): o is DaemonSet & KubeObject => o.kind === 'DaemonSet');
  if (!ds?.spec?.template.spec) throw new Error('nova-compute: expected a DaemonSet');
  const pod = ds.spec.template.spec;
  const computeContainer = pod.containers[0]!;
  // nova's `host` (and the OVN chassis hostname) is the node name.
  computeContainer.env = [
    ...(computeContainer.env ?? []),
    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  ];
  const setup = [
    'chown nova:nova /var/lib/nova',
    `printf '[DEFAULT]\\nhost = %s\\nmy_ip = %s\\n' "$NODE_NAME" "$NODE_IP" > ${novaHostConfig}`,
    `cat ${novaHostConfig}`,
  ];
  // libvirt writes its node identity (compute_id) itself on first start; the fake driver does
  // not, and Nova refuses a second start without one: it is the UUID the driver derives.
  if (!libvirt) {
    setup.push(
      `{ [ -s /var/lib/nova/compute_id ] || python3 -c 'import sys, uuid; print(uuid.uuid5(uuid.NAMESPACE_DNS, sys.argv[1]))' "$NODE_NAME" > /var/lib/nova/compute_id; }`,
      'chown nova:nova /var/lib/nova/compute_id',
    );
  }
  // hostPath directories are created root-owned; nova-compute (user nova) writes instances.
  // QEMU runs as nova: /dev/kvm is the host's device node, whose group id need not match the
  // image's kvm group, so it is opened to all (systemd's own default since v245).
  if (libvirt) {
    setup.push(
      'chown nova:nova /var/lib/nova/instances',
      'if [ -c /dev/kvm ]; then chmod 0666 /dev/kvm; fi',
    );
  }
  pod.initContainers = [
    {
      name: 'host-config',
      image: computeContainer.image!,
      imagePullPolicy: computeContainer.imagePullPolicy!,
      command: ['sh', '-c', setup.join(' && ')],
      env: [
        { name: 'NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
        { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      ],
      resources: resources(undefined, '10m', ctx.catalog.memory.init),
      // root: it gives the host's state directory to nova and writes into it (with libvirt it
      // also opens /dev/kvm to QEMU, on the host's /dev: privileged).
      securityContext: libvirt
        ? { runAsUser: 0, runAsGroup: 0, privileged: true }
        : {
            runAsUser: 0,
            runAsGroup: 0,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'], add: ['CHOWN', 'DAC_OVERRIDE'] },
          },
      volumeMounts: libvirt
        ? [
            hostConfMount,
            stateMount,
            { name: 'nova-instances', mountPath: '/var/lib/nova/instances' },
            { name: 'dev', mountPath: '/dev' },
          ]
        : [hostConfMount, stateMount],
    },
  ];
  if (lv) {
    // QEMU processes outlive a restart of the libvirt container only in the host's PID namespace.
    pod.hostPID = true;
    // A change to libvirtd's config rolls the pods too.
    const annotations = ds.spec.template.metadata!.annotations!;
    annotations[configHashAnnotation] = contentHash(
      [annotations[configHashAnnotation], lv.hash],
      16,
    );
  }
  // Draining a compute node must not leave instances without their hypervisor mid-operation.
  pod.terminationGracePeriodSeconds = 120;
  return [...objs, ...extraObjects];
}

/** libvirtd answers on its socket (virsh, a small C client). */
const virshVersion = {
  kind: 'exec',
  command: ['virsh', '-c', 'qemu:///system', 'version'],
} as const;

/** libvirtd in the nova-compute image (it carries the libvirt/KVM packages), running as root. */
function libvirtContainer(ctx: Ctx, mounts: VolumeMount[]) {
  const owner = 'root:root';
  const files: ConfigFile[] = [
    {
      name: 'libvirtd.conf',
      dest: '/etc/libvirt/libvirtd.conf',
      owner,
      perm: '0644',
      content: libvirtdConf,
    },
    { name: 'qemu.conf', dest: '/etc/libvirt/qemu.conf', owner, perm: '0644', content: qemuConf },
  ];
  const config = kollaConfig(ctx, 'nova', 'libvirt', '/usr/sbin/libvirtd', files);
  // A second Kolla config in the same pod: its own volume name.
  const volumeName = 'kolla-config-libvirt';
  const cfg = {
    ...config,
    volume: { ...config.volume, name: volumeName },
    mount: { ...config.mount, name: volumeName },
  };
  const container = kollaContainer(ctx, {
    name: 'libvirt',
    image: 'nova-compute',
    config: cfg,
    probe: { ready: virshVersion, live: virshVersion },
    resources: ctx.spec.services.nova.resources,
    memory: {
      request: '128Mi',
      // libvirtd makes the guests' cgroups below its own (there is no systemd in the container
      // to put them elsewhere): a limit here would be shared by every instance on the node.
      unlimited: "the instances' QEMU processes are charged to this container's cgroup",
    },
    mounts,
    security: { kind: 'privileged' },
  });
  container.securityContext = { ...container.securityContext, runAsUser: 0, runAsGroup: 0 };
  return { container, volume: cfg.volume, secret: config.secret, hash: config.hash };
}

const libvirtdConf = writeLines([
  'listen_tls = 0',
  'listen_tcp = 0',
  'unix_sock_group = "libvirt"',
  'unix_sock_ro_perms = "0777"',
  'unix_sock_rw_perms = "0770"',
  'auth_unix_ro = "none"',
  'auth_unix_rw = "none"',
  'log_outputs = "3:stderr"',
]);

const qemuConf = writeLines([
  // No virtlogd in the container: QEMU writes its console log to a file itself.
  'stdio_handler = "file"',
  'user = "nova"',
  'group = "nova"',
]);

function writeLines(lines: string[]): string {
  return lines.join('\n') + '\n';
}
