// Which components a spec deploys, in plan order (what each needs comes from the catalog).
import type { OpenStackCloud } from '../api/v1alpha1/spec.ts';
import { getCatalog } from '../catalog/index.ts';
import { componentNames, type CatalogService, type ComponentName } from '../catalog/types.ts';

export function enabledComponents(cloud: OpenStackCloud): ComponentName[] {
  const s = cloud.spec.services;
  return componentNames.filter((c) => {
    if (c === 'ovn') return s.neutron.enabled;
    if (c === 'database' || c === 'messaging' || c === 'cache') return true;
    return s[c].enabled;
  });
}

/** The OpenStack services (the catalog's, not the backends) a spec deploys, in plan order. */
export function enabledServices(cloud: OpenStackCloud): CatalogService[] {
  const services = getCatalog(cloud.spec.release).services;
  return enabledComponents(cloud).filter((c): c is CatalogService => c in services);
}
