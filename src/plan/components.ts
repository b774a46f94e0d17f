// Which components a spec deploys, in plan order (what each needs comes from the catalog).
import type { OpenStackCloud } from '../api/v1alpha1/spec.ts';
import { componentNames, type ComponentName } from '../catalog/types.ts';

export function enabledComponents(cloud: OpenStackCloud): ComponentName[] {
  const s = cloud.spec.services;
  return componentNames.filter((c) => {
    if (c === 'ovn') return s.neutron.enabled;
    if (c === 'database' || c === 'messaging' || c === 'cache') return true;
    return s[c].enabled;
  });
}
