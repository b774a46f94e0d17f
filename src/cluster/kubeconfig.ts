// Kubeconfig files for the cluster's users, each authenticating with its own client certificate.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

export const contextName = 'stackanetes';

export function kubeconfigYaml(server: string, pki: string, certName: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: contextName, cluster: { server, 'certificate-authority': join(pki, 'ca.crt') } },
    ],
    users: [
      {
        name: certName,
        user: {
          'client-certificate': join(pki, `${certName}.crt`),
          'client-key': join(pki, `${certName}.key`),
        },
      },
    ],
    contexts: [{ name: contextName, context: { cluster: contextName, user: certName } }],
    'current-context': contextName,
  });
}

export function writeKubeconfig(path: string, server: string, pki: string, certName: string): void {
  writeFileSync(path, kubeconfigYaml(server, pki, certName), { mode: 0o600 });
}
