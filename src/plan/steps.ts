// A cloud's whole plan, in the one order every reader of it uses: the components its spec
// enables, in dependency order (graph.ts), each with the objects render made for it split into
// steps. The reconciler applies it; `stackanetes status` compares it with what the cluster has.
import type { OpenStackCloud } from '../api/v1alpha1/spec.ts';
import { getCatalog } from '../catalog/index.ts';
import { render, type RenderedComponents } from '../render/index.ts';
import type { CloudSecrets } from '../render/secrets.ts';
import { enabledComponents } from './components.ts';
import { componentSteps, planComponents, type ComponentPlan } from './graph.ts';

export function cloudPlan(
  cloud: OpenStackCloud,
  secrets: CloudSecrets,
  namespace: string,
): ComponentPlan[] {
  return planRendered(cloud, render(cloud, secrets, enabledComponents(cloud), { namespace }));
}

/** The plan of objects rendered already (an upgrade renders the cloud at two releases and mixes). */
export function planRendered(cloud: OpenStackCloud, rendered: RenderedComponents): ComponentPlan[] {
  const planned = planComponents(enabledComponents(cloud), getCatalog(cloud.spec.release));
  return planned.map((c) => componentSteps(c, rendered.get(c.name) ?? []));
}
