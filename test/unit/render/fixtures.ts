// Shared inputs for render tests: the examples, validated, and deterministic secrets.
import { readFileSync } from 'node:fs';
import type { OpenStackCloud } from '../../../src/api/v1alpha1/spec.ts';
import { validateObject, validateText } from '../../../src/api/v1alpha1/validate.ts';
import { cloudObjects } from '../../../src/cli/render.ts';
import type { KubeObject } from '../../../src/render/kube.ts';
import { redactedSecrets, type CloudSecrets } from '../../../src/render/secrets.ts';
import { generateSecrets } from '../../../src/secrets/cloud-secrets.ts';

export function loadExample(name: 'minimal' | 'ha' | 'production'): OpenStackCloud {
  const r = validateText(readFileSync(`examples/${name}.yaml`, 'utf8'));
  if (!r.ok) throw new Error(`examples/${name}.yaml: ${JSON.stringify(r.problems)}`);
  return r.cloud;
}

/** A spec built from a plain object, through the same validation and defaults as the CLI. */
export function cloudOf(spec: Record<string, unknown>, name = 'test'): OpenStackCloud {
  const r = validateObject({
    apiVersion: 'stackanetes.io/v1alpha1',
    kind: 'OpenStackCloud',
    metadata: { name, namespace: 'openstack' },
    spec: { release: '2025.1', ...spec },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.cloud;
}

/** Secrets from a counter instead of randomness: every value distinct and recognisable. */
export function fixedSecrets(): CloudSecrets {
  let n = 0;
  return generateSecrets((len) => {
    const b = Buffer.alloc(len);
    for (let i = 0; i < len; i++) b[i] = (n++ * 7) % 248;
    return b;
  });
}

export { redactedSecrets };

export function renderExample(
  name: 'minimal' | 'ha' | 'production',
  secrets = redactedSecrets(),
): KubeObject[] {
  return cloudObjects(loadExample(name), secrets);
}

export function find(objs: KubeObject[], kind: string, name: string): Record<string, any> {
  const o = objs.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o)
    throw new Error(
      `no ${kind}/${name} among ${objs.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`,
    );
  return o as Record<string, any>;
}
