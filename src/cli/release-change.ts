// What `stackanetes apply` says before it changes a running cloud's release: refused paths and a
// change during a running upgrade stop it with nothing applied; an allowed one prints the plan
// and where there is no way back. The API server enforces the same rules (the CRD's CEL rules)
// and the operator checks them again; this is the early, readable answer.
import { getCatalog, knownReleases } from '../catalog/index.ts';
import type { CatalogService } from '../catalog/types.ts';
import { upgradeRefusal } from '../catalog/upgrades.ts';
import { describePlan, planUpgrade } from '../plan/upgrade.ts';
import type { UpgradeStatus } from '../api/v1alpha1/spec.ts';

export interface LiveRelease {
  /** spec.release as the cluster has it. */
  readonly spec: string;
  /** status.release: what runs (undefined: never Ready). */
  readonly running?: string;
  readonly upgrade?: UpgradeStatus;
}

/**
 * `{ refuse }` with the reason (apply stops, exit 1, nothing applied), `{ plan }` with the text to
 * show before an allowed upgrade, or `{}` when the release does not change.
 */
export function releaseChange(
  live: LiveRelease,
  wanted: string,
  services: readonly CatalogService[],
): { refuse?: string; plan?: string } {
  if (wanted === live.spec) return {};
  if (live.upgrade && !live.upgrade.finishedAt) {
    return {
      refuse: `spec.release: an upgrade ${live.upgrade.from} → ${live.upgrade.to} is running (step ${live.upgrade.step ?? 'not yet started'}); a new release can be asked for once it has finished`,
    };
  }
  const from = live.running ?? live.spec;
  const refusal = upgradeRefusal(from, wanted, knownReleases());
  if (refusal) return { refuse: `spec.release: ${refusal}` };
  if (from === wanted) return {};
  return {
    plan: describePlan(
      planUpgrade(getCatalog(from), getCatalog(wanted), services, knownReleases()),
    ),
  };
}
