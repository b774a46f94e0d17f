// The cluster's host processes: how each is started and how to tell it is ready.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bmcPort } from './bmc.ts';
import { binaryPaths } from './build.ts';
import { localPath } from './config.ts';
import { kubeRouterArgs } from './nodecontainer.ts';
import { hostNodeName } from './nodes.ts';
import type { Layout } from './layout.ts';
import { net } from './network.ts';
import { testImage } from './versions.ts';

export const nodeName = hostNodeName;

/** The IngressClass the local cluster's Traefik serves; marked the cluster's default. */
export const ingressClass = { name: 'stackanetes', controller: 'traefik.io/ingress-controller' };

export const nodeLabels = {
  'stackanetes.io/control-plane': 'true',
  'stackanetes.io/compute': 'true',
  'stackanetes.io/network': 'true',
} as const;

/** Simulated nodes carry this annotation; kwok manages only nodes that have it. */
export const fakeNodeAnnotation = { key: 'kwok.x-k8s.io/node', value: 'fake' } as const;

export interface Component {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
}

/**
 * How often simulated nodes renew their Leases, and how long the controller manager waits for a
 * renewal before it calls a node NotReady. A real kubelet renews every 10 s; the grace period is
 * 20 s so that a dead node of the local cluster is seen within seconds. kwok renews every
 * simulated node's Lease itself: 1000 of them every 10 s is 100 writes a second, which on 2
 * cores (API server, etcd, controller manager and kwok on them) fell tens of seconds behind, and
 * every late renewal made a node NotReady and its pods unready. Past 200 simulated nodes they
 * renew every 30 s and the grace period is 90 s, which also applies to the real nodes then.
 */
export function heartbeats(fakeNodes: number): { leaseSeconds: number; graceSeconds: number } {
  return fakeNodes > 200
    ? { leaseSeconds: 120, graceSeconds: 90 }
    : { leaseSeconds: 40, graceSeconds: 20 };
}

/** The cluster's processes; `fakeNodes` (simulated nodes, 0 if none) sets their heartbeats. */
export function components(l: Layout, fakeNodes = 0): Record<string, Component> {
  const beat = heartbeats(fakeNodes);
  const b = binaryPaths(l);
  const pki = (f: string) => join(l.pki, f);
  const kc = (f: string) => join(l.config, `${f}.kubeconfig`);
  return {
    etcd: {
      name: 'etcd',
      command: b.etcd,
      args: [
        '--name=stackanetes',
        `--data-dir=${l.etcdData}`,
        `--listen-client-urls=http://127.0.0.1:${net.etcdClientPort}`,
        `--advertise-client-urls=http://127.0.0.1:${net.etcdClientPort}`,
        `--listen-peer-urls=http://127.0.0.1:${net.etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${net.etcdPeerPort}`,
        `--initial-cluster=stackanetes=http://127.0.0.1:${net.etcdPeerPort}`,
        '--listen-metrics-urls=http://127.0.0.1:12381',
        '--unsafe-no-fsync',
        '--quota-backend-bytes=4294967296',
        '--snapshot-count=10000',
        '--log-level=warn',
      ],
    },
    'kube-apiserver': {
      name: 'kube-apiserver',
      command: b.kubeApiserver,
      args: [
        `--etcd-servers=http://127.0.0.1:${net.etcdClientPort}`,
        `--bind-address=${net.nodeIp}`,
        `--advertise-address=${net.nodeIp}`,
        `--secure-port=${net.apiPort}`,
        `--tls-cert-file=${pki('apiserver.crt')}`,
        `--tls-private-key-file=${pki('apiserver.key')}`,
        `--client-ca-file=${pki('ca.crt')}`,
        `--kubelet-client-certificate=${pki('apiserver-kubelet-client.crt')}`,
        `--kubelet-client-key=${pki('apiserver-kubelet-client.key')}`,
        '--kubelet-preferred-address-types=InternalIP,Hostname',
        // The aggregation layer's front proxy, so extension API servers can trust the API server.
        `--requestheader-client-ca-file=${pki('ca.crt')}`,
        '--requestheader-allowed-names=front-proxy-client',
        '--requestheader-username-headers=X-Remote-User',
        '--requestheader-group-headers=X-Remote-Group',
        '--requestheader-extra-headers-prefix=X-Remote-Extra-',
        `--proxy-client-cert-file=${pki('front-proxy-client.crt')}`,
        `--proxy-client-key-file=${pki('front-proxy-client.key')}`,
        '--enable-aggregator-routing=true',
        `--service-account-issuer=https://kubernetes.default.svc.${net.clusterDomain}`,
        `--service-account-key-file=${pki('sa.pub')}`,
        `--service-account-signing-key-file=${pki('sa.key')}`,
        `--service-cluster-ip-range=${net.serviceCidr}`,
        '--authorization-mode=Node,RBAC',
        '--enable-admission-plugins=NodeRestriction',
        '--allow-privileged=true',
        '--anonymous-auth=true',
        '--profiling=false',
        '--default-not-ready-toleration-seconds=30',
        '--default-unreachable-toleration-seconds=30',
        '--event-ttl=1h',
        `--cert-dir=${join(l.run, 'kube-apiserver')}`,
        '--v=1',
      ],
    },
    'kube-controller-manager': {
      name: 'kube-controller-manager',
      command: b.kubeControllerManager,
      args: [
        `--kubeconfig=${kc('controller-manager')}`,
        `--authentication-kubeconfig=${kc('controller-manager')}`,
        `--authorization-kubeconfig=${kc('controller-manager')}`,
        '--bind-address=127.0.0.1',
        '--secure-port=10257',
        `--cert-dir=${join(l.run, 'kube-controller-manager')}`,
        '--leader-elect=false',
        '--use-service-account-credentials=true',
        `--service-account-private-key-file=${pki('sa.key')}`,
        `--root-ca-file=${pki('ca.crt')}`,
        `--cluster-signing-cert-file=${pki('ca.crt')}`,
        `--cluster-signing-key-file=${pki('ca.key')}`,
        '--cluster-name=stackanetes',
        '--allocate-node-cidrs=false',
        '--controllers=*,bootstrapsigner,tokencleaner',
        '--node-monitor-period=2s',
        `--node-monitor-grace-period=${beat.graceSeconds}s`,
        '--terminated-pod-gc-threshold=500',
        '--v=1',
      ],
    },
    'kube-scheduler': {
      name: 'kube-scheduler',
      command: b.kubeScheduler,
      args: [
        `--kubeconfig=${kc('scheduler')}`,
        `--authentication-kubeconfig=${kc('scheduler')}`,
        `--authorization-kubeconfig=${kc('scheduler')}`,
        '--bind-address=127.0.0.1',
        '--secure-port=10259',
        `--cert-dir=${join(l.run, 'kube-scheduler')}`,
        '--leader-elect=false',
        '--v=1',
      ],
    },
    containerd: {
      name: 'containerd',
      command: '/usr/bin/containerd',
      args: [`--config=${join(l.config, 'containerd.toml')}`, '--log-level=info'],
    },
    kubelet: {
      name: 'kubelet',
      command: b.kubelet,
      args: [
        `--config=${join(l.config, 'kubelet.yaml')}`,
        `--kubeconfig=${kc('kubelet')}`,
        `--hostname-override=${nodeName}`,
        `--node-ip=${net.nodeIp}`,
        `--root-dir=${l.kubeletRoot}`,
        `--cert-dir=${join(l.kubeletRoot, 'pki')}`,
        `--node-labels=${Object.entries(nodeLabels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}`,
        '--v=1',
      ],
    },
    'kube-proxy': {
      name: 'kube-proxy',
      command: b.kubeProxy,
      args: [`--config=${join(l.config, 'kube-proxy.yaml')}`, '--v=1'],
    },
    coredns: {
      name: 'coredns',
      command: b.coredns,
      args: ['-conf', join(l.config, 'Corefile')],
    },
    'local-path-provisioner': {
      name: 'local-path-provisioner',
      command: b.localPath,
      args: [
        'start',
        `--kubeconfig=${kc('local-path-provisioner')}`,
        `--config=${join(l.config, 'local-path', 'config.json')}`,
        `--helper-pod-file=${join(l.config, 'local-path', 'helperPod.yaml')}`,
        `--namespace=${localPath.namespace}`,
        `--service-account-name=${localPath.serviceAccount}`,
        `--configmap-name=${localPath.configMap}`,
        `--provisioner-name=${localPath.provisioner}`,
        `--helper-image=${testImage}`,
      ],
    },
    registry: {
      name: 'registry',
      command: b.registry,
      args: ['serve', join(l.config, 'registry.yml')],
    },
    'kube-router': {
      name: 'kube-router',
      command: b.kubeRouter,
      args: kubeRouterArgs(nodeName, kc('kube-router')),
    },
    traefik: {
      name: 'traefik',
      command: b.traefik,
      args: [
        `--entryPoints.web.address=${net.nodeIp}:80`,
        `--entryPoints.websecure.address=${net.nodeIp}:443`,
        '--entryPoints.websecure.http.tls=true',
        '--providers.kubernetesingress=true',
        `--providers.kubernetesingress.ingressclass=${ingressClass.name}`,
        '--ping=true',
        '--ping.entryPoint=ping',
        '--entryPoints.ping.address=127.0.0.1:18082',
        '--log.level=INFO',
        '--global.checknewversion=false',
        '--global.sendanonymoususage=false',
      ],
      // Traefik's Kubernetes client reads a kubeconfig from $KUBECONFIG (client certificates).
      env: { KUBECONFIG: kc('traefik') },
    },
    // The Redfish power control of the node containers (bmc.ts), this code run by this Node.
    bmc: {
      name: 'bmc',
      command: process.execPath,
      args: [
        fileURLToPath(new URL('../../bin/stackanetes.js', import.meta.url)),
        'cluster',
        'bmc',
        '--host',
        net.nodeIp,
        '--port',
        String(bmcPort),
      ],
    },
    kwok: {
      name: 'kwok',
      command: b.kwok,
      args: [
        `--kubeconfig=${kc('kwok')}`,
        `--config=${join(l.config, 'kwok.yaml')}`,
        '--manage-all-nodes=false',
        `--manage-nodes-with-annotation-selector=${fakeNodeAnnotation.key}=${fakeNodeAnnotation.value}`,
        `--cidr=${net.fakePodCidr}`,
        '--node-ip=10.245.0.1',
        '--server-address=127.0.0.1:10247',
        `--node-lease-duration-seconds=${beat.leaseSeconds}`,
      ],
    },
  };
}

/** Start order; `down` stops in reverse. */
export const startOrder = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'containerd',
  'kubelet',
  'kube-proxy',
  'coredns',
  'local-path-provisioner',
  'registry',
  'kube-router',
  'traefik',
  'bmc',
  'kwok',
] as const;
