// Nova: the compute API and metadata API (uWSGI), conductor, scheduler, the noVNC console proxy,
// and nova-compute as a DaemonSet on compute nodes. With the libvirt driver, libvirtd and virtlogd
// run beside it from the nova-libvirt image (Kolla's split), and an init container decides the
// node's virt_type (KVM when a Linux kernel boots under it, else QEMU's emulation, TCG).
// Three databases (nova, nova_api, nova_cell0) belong to one database user; the db-sync job maps
// cell0 and creates cell1.
import type { IniSections } from '../../catalog/types.ts';
import { kollaUids } from '../../catalog/images.ts';
import { nodeStateDir, publicUrl, type Ctx } from '../context.ts';
import { configJson, kollaConfig, kollaConfigDir, type ConfigFile } from '../kolla.ts';
import { contentHash } from '../hash.ts';
import {
  configHashAnnotation,
  type Container,
  type DaemonSet,
  type KubeObject,
  type Volume,
  type VolumeMount,
} from '../kube.ts';
import {
  daemonSet,
  kollaContainer,
  hostPathVolume,
  resources,
  type ContainerMemory,
} from '../workload.ts';
import { mergeIni, writeIni } from '../ini.ts';
import { ovsdbLocalPort } from './ovn.ts';
import { computedSections, configFile, keystoneAuth, mainConfig } from './common.ts';
import { dbUrl, internalUrl, processName, processOf } from './endpoints.ts';
import { processObjects } from './process.ts';
import { serviceSetup } from './service-jobs.ts';
import { apiUwsgi } from './wsgi.ts';

/** Where the compute pod's init containers write the per-node options (my_ip, virt_type). */
const hostConfigDir = '/etc/nova/host';
export const novaHostConfig = `${hostConfigDir}/host.conf`;
export const novaVirtConfig = `${hostConfigDir}/libvirt.conf`;
/** The kernel the nova-libvirt image carries to find out whether KVM works (recipes.ts). */
export const kvmProbeKernel = '/usr/share/stackanetes/kvm-probe/vmlinuz';
/** libvirtd's sockets, shared by the libvirt and nova-compute containers through the host. */
const libvirtRunDir = '/run/libvirt';
export const ovsRunDir = '/run/openvswitch';

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
  const uwsgi = (proc: string) => apiUwsgi(ctx, 'nova', processOf(ctx, 'nova', proc));
  const files = Object.fromEntries([conf, uwsgi('api'), uwsgi('metadata')].map((f) => [f.name, f]));

  const out: KubeObject[] = serviceSetup(ctx, 'nova', [conf]);

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
    out.push(...processObjects(ctx, { service: 'nova', proc, files: procFiles }));
  }
  return out;
}

/** nova.conf sections computed from the spec and secrets (on top of common's). */
function computed(ctx: Ctx): IniSections {
  const spec = ctx.spec.services.nova;
  const auth = keystoneAuth(ctx, 'nova');
  const vncBase = publicUrl(ctx, 'novncproxy', internalUrl(ctx, 'nova', 'novncproxy'));
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
    // nova-compute (user nova) plugs VIFs into br-int through the node's ovsdb-server on the
    // node's loopback: its unix socket is root's only.
    os_vif_ovs: { ovsdb_connection: `tcp:127.0.0.1:${ovsdbLocalPort}` },
  };
  if (spec.computeDriver === 'libvirt') {
    // virt_type and cpu_mode come from the node (novaVirtConfig), written by the virt-type init
    // container from spec.services.nova.virtType.
    sections.libvirt = { connection_uri: 'qemu:///system' };
  }
  return sections;
}

/**
 * nova-compute on every compute node. The node's IP is only known on the node, so an init
 * container writes `my_ip` and `host` (the node name, which the OVN chassis uses too) into a
 * small file nova-compute reads after nova.conf; with libvirt a second one writes virt_type.
 */
function compute(ctx: Ctx, files: readonly ConfigFile[]): KubeObject[] {
  const def = ctx.catalog.services.nova;
  const base = def.processes.find((p) => p.name === 'compute')!;
  const libvirt = ctx.spec.services.nova.computeDriver === 'libvirt';
  const proc = {
    ...base,
    command: [base.command, `--config-file ${novaHostConfig}`]
      .concat(libvirt ? [`--config-file ${novaVirtConfig}`] : [])
      .join(' '),
  };
  const hostConf: Volume = { name: 'host-config', emptyDir: {} };
  const hostConfMount: VolumeMount = { name: 'host-config', mountPath: hostConfigDir };
  // nova-compute keeps its node identity (compute_id) in its state path and refuses to start
  // without it once it has registered: the state lives on the node, across pod restarts.
  const stateMount: VolumeMount = { name: 'nova-state', mountPath: '/var/lib/nova' };
  const state = nodeStateDir(ctx);
  const volumes: Volume[] = [hostConf, hostPathVolume('nova-state', `${state}/nova`)];
  const mounts: VolumeMount[] = [hostConfMount, stateMount];
  const extraObjects: KubeObject[] = [];
  let lv: ReturnType<typeof libvirtContainers> | undefined;

  if (libvirt) {
    const hp = hostPathVolume;
    // The host's paths libvirtd and virtlogd use (all of them, in their own DaemonSet below).
    const host = {
      run: hp('libvirt-run', libvirtRunDir),
      lib: hp('libvirt-lib', `${state}/libvirt`),
      qemu: hp('libvirt-qemu', `${state}/libvirt-qemu`),
      instances: hp('nova-instances', `${state}/nova/instances`),
      openvswitch: hp('openvswitch-run', ovsRunDir),
      modules: hp('modules', '/lib/modules'),
      dev: hp('dev', '/dev', 'Directory'),
      cgroup: hp('cgroup', '/sys/fs/cgroup', 'Directory'),
    };
    // nova-compute shares all but libvirtd's own (its domain definitions, the cgroup tree).
    volumes.push(host.run, host.lib, host.instances, host.openvswitch, host.modules, host.dev);
    // Instance disks and console logs must be at the same path for nova-compute, libvirtd,
    // virtlogd and QEMU.
    const shared: VolumeMount[] = [
      { name: 'libvirt-run', mountPath: libvirtRunDir },
      { name: 'nova-instances', mountPath: '/var/lib/nova/instances' },
    ];
    const openvswitch: VolumeMount = { name: 'openvswitch-run', mountPath: ovsRunDir };
    const dev: VolumeMount = { name: 'dev', mountPath: '/dev' };
    mounts.push(
      ...shared,
      { name: 'libvirt-lib', mountPath: '/var/lib/libvirt' },
      { name: 'modules', mountPath: '/lib/modules', readOnly: true },
      dev,
      openvswitch,
    );
    lv = libvirtContainers(ctx, {
      // libvirtd adds each guest's tap to br-int with ovs-vsctl (<virtualport type='openvswitch'>).
      libvirtd: [
        ...shared,
        { name: 'libvirt-lib', mountPath: '/var/lib/libvirt' },
        { name: 'libvirt-qemu', mountPath: '/etc/libvirt/qemu' },
        { name: 'cgroup', mountPath: '/sys/fs/cgroup' },
        { name: 'modules', mountPath: '/lib/modules', readOnly: true },
        dev,
        openvswitch,
      ],
      virtlogd: shared,
    });
    // libvirtd and virtlogd run in a DaemonSet of their own: a pod's containers go and come
    // together, and the guests' QEMU processes live in libvirtd's cgroup, so while they shared
    // nova-compute's pod every roll of nova-compute (an upgrade, a fixed image, a config change)
    // killed every guest on the node. nova-compute needs only their sockets and the files.
    const libvirtDs = daemonSet(ctx, processName('nova', 'libvirt'), {
      component: 'nova',
      part: 'libvirt',
      role: 'compute',
      containers: lv.containers,
      volumes: [lv.volume, ...Object.values(host)],
      configHash: lv.hash,
      serviceAccountName: 'nova',
      hostNetwork: true,
      fsGroup: kollaUids.nova,
      // Draining a node must not leave its guests without their hypervisor mid-operation.
      terminationGracePeriodSeconds: 120,
    });
    // QEMU processes outlive a restart of the libvirt container only in the host's PID namespace.
    libvirtDs.spec!.template.spec!.hostPID = true;
    // The Kolla config volume stays in nova-compute's pod too, for the virt-type init container.
    volumes.push(lv.volume);
    extraObjects.push(lv.secret, libvirtDs);
  }

  const objs = processObjects(ctx, {
    service: 'nova',
    proc,
    files,
    volumes,
    mounts,
    fsGroup: kollaUids.nova,
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
  const nodeEnv = [
    { name: 'NODE_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
    { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
  ];
  pod.initContainers = [
    {
      name: 'host-config',
      image: computeContainer.image!,
      imagePullPolicy: computeContainer.imagePullPolicy!,
      command: ['sh', '-c', setup.join(' && ')],
      env: nodeEnv,
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
    pod.initContainers.push(lv.virtType(hostConfMount));
    // A change to the virt-type script rolls the pods too.
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

/** virtlogd answers on its admin socket (virt-admin, a small C client). */
const virtlogdVersion = {
  kind: 'exec',
  command: ['virt-admin', '-c', 'virtlogd:///system', 'version'],
} as const;

/**
 * libvirtd and virtlogd from the nova-libvirt image (Kolla's nova_libvirt and nova_virtlogd),
 * both root, one Kolla config Secret between them; and the init container that writes the
 * node's virt_type.
 */
function libvirtContainers(ctx: Ctx, mounts: { libvirtd: VolumeMount[]; virtlogd: VolumeMount[] }) {
  const owner = 'root:root';
  const file = (name: string, dest: string, content: string): ConfigFile => ({
    name,
    dest,
    owner,
    perm: '0644',
    content,
  });
  const files: ConfigFile[] = [
    file('libvirtd.conf', '/etc/libvirt/libvirtd.conf', libvirtdConf),
    file('qemu.conf', '/etc/libvirt/qemu.conf', qemuConf),
    file('virtlogd.conf', '/etc/libvirt/virtlogd.conf', virtlogdConf),
  ];
  // One Secret: libvirtd's config.json, virtlogd's as a second file (KOLLA_CONFIG_FILE), the
  // virt-type script.
  const virtlogdJson = configJson('/usr/sbin/virtlogd', files.slice(2));
  const config = kollaConfig(ctx, 'nova', 'libvirt', '/usr/sbin/libvirtd', files.slice(0, 2), {
    extra: {
      'virtlogd.json': virtlogdJson,
      [virtTypeScript]: virtTypeSh,
      'virtlogd.conf': virtlogdConf,
    },
  });
  // A second Kolla config in the same pod: its own volume name.
  const volumeName = 'kolla-config-libvirt';
  const cfg = {
    ...config,
    volume: { ...config.volume, name: volumeName },
    mount: { ...config.mount, name: volumeName },
  };
  const daemon = (
    name: string,
    probe: typeof virshVersion | typeof virtlogdVersion,
    daemonMounts: VolumeMount[],
    memory: ContainerMemory,
    extra: Partial<Parameters<typeof kollaContainer>[1]> = {},
  ): Container => {
    const c = kollaContainer(ctx, {
      name,
      image: 'nova-libvirt',
      config: cfg,
      // No Service sends the daemons work: started, then alive while they answer.
      probe: { live: probe },
      resources: ctx.spec.services.nova.resources,
      memory,
      mounts: daemonMounts,
      security: { kind: 'privileged' },
      ...extra,
    });
    c.securityContext = { ...c.securityContext, runAsUser: 0, runAsGroup: 0 };
    return c;
  };
  // libvirtd makes the guests' cgroups below its own (there is no systemd in the container to put
  // them elsewhere): its memory has no limit, which would be shared by every instance on the node.
  const libvirtd = daemon('libvirt', virshVersion, mounts.libvirtd, ctx.catalog.memory.libvirtd);
  const virtlogd = daemon(
    'virtlogd',
    virtlogdVersion,
    mounts.virtlogd,
    ctx.catalog.memory.virtlogd,
    {
      cpu: '10m',
      env: [{ name: 'KOLLA_CONFIG_FILE', value: `${kollaConfigDir}/virtlogd.json` }],
    },
  );
  const virtType = (hostConf: VolumeMount): Container => ({
    name: 'virt-type',
    image: libvirtd.image!,
    imagePullPolicy: libvirtd.imagePullPolicy!,
    command: [
      'bash',
      `${kollaConfigDir}/${virtTypeScript}`,
      ctx.spec.services.nova.virtType,
      novaVirtConfig,
    ],
    resources: resources(undefined, '10m', ctx.catalog.memory.virtType),
    securityContext: { runAsUser: 0, runAsGroup: 0, privileged: true },
    volumeMounts: [cfg.mount, hostConf, { name: 'dev', mountPath: '/dev' }],
  });
  return {
    containers: [libvirtd, virtlogd],
    virtType,
    volume: cfg.volume,
    secret: config.secret,
    hash: config.hash,
  };
}

const virtTypeScript = 'virt-type.sh';

/**
 * Writes the node's `[libvirt] virt_type` and `cpu_mode`. `detect` boots the image's Linux
 * kernel under KVM with no root file system: KVM works when the kernel gets as far as its panic
 * for the missing root (a second on real hardware). Where /dev/kvm exists but KVM cannot run a
 * guest (nested virtualisation without the features Linux needs), QEMU stops with "KVM internal
 * error" or hangs: after the timeout the node emulates (TCG) instead.
 */
const virtTypeSh = `#!/bin/bash
# virt-type.sh MODE OUT: MODE is detect, kvm or qemu; OUT gets the [libvirt] section.
set -u
mode="$1"
out="$2"
kernel=${kvmProbeKernel}
kvm_boots() {
  [ -c /dev/kvm ] || { echo 'no /dev/kvm'; return 1; }
  [ -r "$kernel" ] || { echo "no $kernel in this image"; return 1; }
  local log start rc
  log="$(mktemp)"
  start="$(date +%s%N)"
  timeout 60 qemu-system-x86_64 -accel kvm -cpu host -m 128 -smp 1 -nodefaults -display none \\
    -no-reboot -serial stdio -monitor none -kernel "$kernel" -append 'console=ttyS0 panic=-1' \\
    > "$log" 2>&1
  rc=$?
  if grep -q 'Kernel panic - not syncing' "$log"; then
    echo "a Linux kernel booted under KVM in $(( ($(date +%s%N) - start) / 1000000 )) ms"
    return 0
  fi
  echo "a Linux kernel did not boot under KVM (exit $rc$([ $rc = 124 ] && echo ': no progress in 60 s')): $(grep -m1 -E 'KVM internal error|error|failed' "$log" || tail -n 1 "$log")"
  return 1
}
case "$mode" in
  kvm) type=kvm why='spec.services.nova.virtType is kvm' ;;
  qemu) type=qemu why='spec.services.nova.virtType is qemu' ;;
  detect) if why="$(kvm_boots)"; then type=kvm; else type=qemu; fi ;;
  *) echo "virt-type.sh: unknown mode $mode (detect, kvm or qemu)" >&2; exit 2 ;;
esac
# KVM guests get the host's CPU model; emulated ones QEMU's default model.
if [ "$type" = kvm ]; then cpu=host-model; else cpu=none; fi
printf '[libvirt]\\nvirt_type = %s\\ncpu_mode = %s\\n' "$type" "$cpu" > "$out"
echo "libvirt virt_type = $type, cpu_mode = $cpu ($why)"
`;

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
  // Console output goes through virtlogd (libvirt's default stdio_handler), into the instance's
  // console.log that `openstack console log show` reads.
  'stdio_handler = "logd"',
  'user = "nova"',
  'group = "nova"',
  // No AppArmor or SELinux profile inside the container.
  'security_driver = "none"',
  // QEMU uses the node's /dev (mounted into the container): no private /dev per guest.
  'namespaces = []',
  // Instance files live on the node's file system, which may not keep extended attributes.
  'remember_owner = 0',
]);

const virtlogdConf = writeLines(['log_outputs = "3:stderr"', 'max_clients = 1024']);

function writeLines(lines: string[]): string {
  return lines.join('\n') + '\n';
}
