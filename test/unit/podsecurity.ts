// The Pod Security Standards' "restricted" level (which includes "baseline") as the API server's
// PodSecurity admission checks it in Kubernetes 1.33 (k8s.io/pod-security-admission/policy), for
// pod specs in unit tests. No maintained Node library implements these checks; the rules are few
// and listed at https://kubernetes.io/docs/concepts/security/pod-security-standards/.
// Each violation names the field and what would be accepted, as the API server's message does.
// Windows pods (spec.os.name: windows), which some checks exempt, are not rendered here.

type Obj = Record<string, any>;

const baselineCapabilities = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);
const safeSysctls = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
  'net.ipv4.tcp_rmem',
  'net.ipv4.tcp_wmem',
]);
const seLinuxTypes = new Set([
  '',
  'container_t',
  'container_init_t',
  'container_kvm_t',
  'container_engine_t',
]);
const restrictedVolumeKinds = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
];

function containers(spec: Obj): [string, Obj][] {
  return (['initContainers', 'containers', 'ephemeralContainers'] as const).flatMap((k) =>
    ((spec[k] ?? []) as Obj[]).map((c, i): [string, Obj] => [`spec.${k}[${i}]`, c]),
  );
}

/** What the "baseline" level forbids in a pod spec (and its annotations). */
export function baselineViolations(spec: Obj, annotations: Obj = {}): string[] {
  const out: string[] = [];
  const psc = (spec.securityContext ?? {}) as Obj;
  for (const k of ['hostNetwork', 'hostPID', 'hostIPC'] as const)
    if (spec[k]) out.push(`spec.${k}: must be unset or false`);
  if (psc.windowsOptions?.hostProcess)
    out.push('spec.securityContext.windowsOptions.hostProcess: must be unset or false');
  for (const v of (spec.volumes ?? []) as Obj[])
    if (v.hostPath) out.push(`spec.volumes[${v.name}].hostPath: hostPath volumes are forbidden`);
  for (const s of (psc.sysctls ?? []) as Obj[])
    if (!safeSysctls.has(s.name))
      out.push(`spec.securityContext.sysctls: ${s.name} is not a safe sysctl`);
  const checkContext = (path: string, sc: Obj | undefined) => {
    if (!sc) return;
    if (sc.seccompProfile?.type === 'Unconfined')
      out.push(`${path}.seccompProfile.type: must not be Unconfined`);
    if (sc.appArmorProfile?.type === 'Unconfined')
      out.push(`${path}.appArmorProfile.type: must not be Unconfined`);
    const se = sc.seLinuxOptions as Obj | undefined;
    if (se) {
      if (!seLinuxTypes.has(se.type ?? ''))
        out.push(`${path}.seLinuxOptions.type: ${se.type} is not allowed`);
      if (se.user) out.push(`${path}.seLinuxOptions.user: must be unset`);
      if (se.role) out.push(`${path}.seLinuxOptions.role: must be unset`);
    }
  };
  checkContext('spec.securityContext', psc);
  for (const [path, c] of containers(spec)) {
    const sc = c.securityContext as Obj | undefined;
    checkContext(`${path}.securityContext`, sc);
    if (sc?.privileged) out.push(`${path}.securityContext.privileged: must be unset or false`);
    if (sc?.windowsOptions?.hostProcess)
      out.push(`${path}.securityContext.windowsOptions.hostProcess: must be unset or false`);
    if (sc?.procMount && sc.procMount !== 'Default')
      out.push(`${path}.securityContext.procMount: must be Default`);
    for (const cap of (sc?.capabilities?.add ?? []) as string[])
      if (!baselineCapabilities.has(cap))
        out.push(`${path}.securityContext.capabilities.add: ${cap} is not allowed`);
    for (const p of (c.ports ?? []) as Obj[])
      if (p.hostPort)
        out.push(`${path}.ports[${p.name ?? p.containerPort}].hostPort: must be unset or 0`);
  }
  for (const [k, v] of Object.entries(annotations)) {
    if (
      k.startsWith('container.apparmor.security.beta.kubernetes.io/') &&
      v !== 'runtime/default' &&
      !String(v).startsWith('localhost/')
    )
      out.push(`metadata.annotations[${k}]: must be runtime/default or localhost/*`);
  }
  return out;
}

/** What the "restricted" level forbids in a pod spec, "baseline" included. */
export function restrictedViolations(spec: Obj, annotations: Obj = {}): string[] {
  const out = baselineViolations(spec, annotations);
  const psc = (spec.securityContext ?? {}) as Obj;
  for (const v of (spec.volumes ?? []) as Obj[]) {
    const kinds = Object.keys(v).filter((k) => k !== 'name');
    if (!kinds.every((k) => restrictedVolumeKinds.includes(k)))
      out.push(
        `spec.volumes[${v.name}]: ${kinds.join(', ')} volumes are not allowed (only ${restrictedVolumeKinds.join(', ')})`,
      );
  }
  if (psc.runAsNonRoot === false) out.push('spec.securityContext.runAsNonRoot: must be true');
  if (psc.runAsUser === 0) out.push('spec.securityContext.runAsUser: must not be 0');
  const podSeccomp = ['RuntimeDefault', 'Localhost'].includes(psc.seccompProfile?.type);
  for (const [path, c] of containers(spec)) {
    const sc = (c.securityContext ?? {}) as Obj;
    if (sc.allowPrivilegeEscalation !== false)
      out.push(`${path}.securityContext.allowPrivilegeEscalation: must be false`);
    if (sc.runAsNonRoot === false || (sc.runAsNonRoot !== true && psc.runAsNonRoot !== true))
      out.push(
        `${path}.securityContext.runAsNonRoot: must be true (here or in spec.securityContext)`,
      );
    if (sc.runAsUser === 0) out.push(`${path}.securityContext.runAsUser: must not be 0`);
    const t = sc.seccompProfile?.type;
    if (t === undefined ? !podSeccomp : !['RuntimeDefault', 'Localhost'].includes(t))
      out.push(
        `${path}.securityContext.seccompProfile.type: must be RuntimeDefault or Localhost (here or in spec.securityContext)`,
      );
    const caps = (sc.capabilities ?? {}) as Obj;
    if (!((caps.drop ?? []) as string[]).includes('ALL'))
      out.push(`${path}.securityContext.capabilities.drop: must include ALL`);
    for (const cap of (caps.add ?? []) as string[])
      if (cap !== 'NET_BIND_SERVICE')
        out.push(
          `${path}.securityContext.capabilities.add: only NET_BIND_SERVICE may be added, not ${cap}`,
        );
  }
  return out;
}

/** The pod template of a workload (Deployment, StatefulSet, DaemonSet, Job, CronJob), if any. */
export function podTemplateOf(o: Obj): { metadata?: Obj; spec: Obj } | undefined {
  if (o.kind === 'CronJob') return o.spec.jobTemplate.spec.template;
  return o.spec?.template?.spec ? o.spec.template : undefined;
}
