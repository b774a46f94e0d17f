// What the cluster is built from: each Go program with its module, version and flags, built
// once into the cache; plus the machine's Debian packages.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.ts';
import { buildInWrapper, goInstall, wrapperModule } from './gobuild.ts';
import type { Layout } from './layout.ts';
import { debianPackages, versions } from './versions.ts';

export const kubernetesBinaries = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
  'kubectl',
] as const;
export type KubernetesBinary = (typeof kubernetesBinaries)[number];

/** The -X flags upstream's build sets, so /version and the node report the real release. */
export function kubernetesVersionLdflags(version: string, buildDate: string): string[] {
  const m = /^v(\d+)\.(\d+)\./.exec(version);
  if (!m) throw new Error(`not a Kubernetes version: ${version}`);
  const [major, minor] = [m[1] ?? '', m[2] ?? ''];
  const flags: string[] = [];
  for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
    flags.push(
      `-X ${pkg}.gitVersion=${version}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
      `-X ${pkg}.buildDate=${buildDate}`,
    );
  }
  return flags;
}

export interface BuildStep {
  title: string;
  /** True when the outputs are already in the cache. */
  done: () => boolean;
  run: () => Promise<unknown>;
}

export function binaryPaths(l: Layout) {
  const k = (name: KubernetesBinary) => join(l.bin.kubernetes, name);
  return {
    kubeApiserver: k('kube-apiserver'),
    kubeControllerManager: k('kube-controller-manager'),
    kubeScheduler: k('kube-scheduler'),
    kubelet: k('kubelet'),
    kubeProxy: k('kube-proxy'),
    kubectl: k('kubectl'),
    etcd: join(l.bin.etcd, 'etcd'),
    coredns: join(l.bin.coredns, 'coredns'),
    kwok: join(l.bin.kwok, 'kwok'),
    localPath: join(l.bin.localPath, 'local-path-provisioner'),
    crictl: join(l.bin.crictl, 'crictl'),
    pause: join(l.bin.pause, 'pause'),
  };
}

export function goBuildSteps(l: Layout): BuildStep[] {
  const bins = binaryPaths(l);
  const log = (name: string) => join(l.logs, `build-${name}.log`);
  const buildDate = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const steps: BuildStep[] = [];
  for (const name of kubernetesBinaries) {
    const out = join(l.bin.kubernetes, name);
    steps.push({
      title: `${name} ${versions.kubernetes}`,
      done: () => existsSync(out),
      run: async () => {
        const dir = await wrapperModule(l, {
          key: `kubernetes-${versions.kubernetes}`,
          module: 'k8s.io/kubernetes',
          version: versions.kubernetes,
          siblingVersion: versions.kubernetesStaging,
        });
        await buildInWrapper(l, dir, {
          pkg: `k8s.io/kubernetes/cmd/${name}`,
          out,
          ldflags: kubernetesVersionLdflags(versions.kubernetes, buildDate),
          logFile: log(name),
        });
      },
    });
  }
  steps.push({
    title: `etcd ${versions.etcd}`,
    done: () => existsSync(bins.etcd),
    run: async () => {
      const dir = await wrapperModule(l, {
        key: `etcd-${versions.etcd}`,
        module: 'go.etcd.io/etcd/server/v3',
        version: versions.etcd,
      });
      await buildInWrapper(l, dir, {
        pkg: 'go.etcd.io/etcd/server/v3',
        out: bins.etcd,
        logFile: log('etcd'),
      });
    },
  });
  const installs: [string, string, string, string][] = [
    ['coredns', `github.com/coredns/coredns@${versions.coredns}`, l.bin.coredns, 'coredns'],
    ['kwok', `sigs.k8s.io/kwok/cmd/kwok@${versions.kwok}`, l.bin.kwok, 'kwok'],
    [
      'local-path-provisioner',
      `github.com/rancher/local-path-provisioner@${versions.localPath}`,
      l.bin.localPath,
      'local-path-provisioner',
    ],
    ['crictl', `sigs.k8s.io/cri-tools/cmd/crictl@${versions.crictl}`, l.bin.crictl, 'crictl'],
  ];
  for (const [title, pkg, dir, name] of installs) {
    steps.push({
      title: `${title} ${pkg.split('@')[1] ?? ''}`,
      done: () => existsSync(join(dir, name)),
      run: () => goInstall(l, pkg, dir, name, log(title)),
    });
  }
  return steps;
}

/** The Debian packages from `versions.ts` that dpkg does not list as installed. */
export async function missingPackages(): Promise<string[]> {
  const { stdout } = await run(
    'dpkg-query',
    ['-W', '-f', '${Package} ${db:Status-Status}\n', ...debianPackages],
    {
      allowFailure: true,
    },
  );
  const installed = new Set(
    stdout
      .split('\n')
      .filter((line) => line.endsWith(' installed'))
      .map((line) => line.split(' ')[0]),
  );
  return debianPackages.filter((p) => !installed.has(p));
}

export async function installPackages(packages: string[], logFile: string): Promise<void> {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    run(
      'apt-get',
      ['-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', ...packages],
      { env, logFile, allowFailure: true },
    );
  let r = await install();
  if (r.code !== 0) {
    // A fresh machine has no package lists yet.
    await run('apt-get', ['-o', 'DPkg::Lock::Timeout=300', 'update'], { env, logFile });
    r = await install();
  }
  if (r.code !== 0)
    throw new Error(`apt-get install ${packages.join(' ')} failed (see ${logFile})`);
}
