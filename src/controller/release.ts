// Which release the cloud reconciler renders, and what the Upgraded condition says. A cloud runs
// status.release (set when it was first Ready); spec.release differing from it asks for an
// upgrade, which goes service by service in its own steps (src/plan/upgrade.ts) — never by
// rendering the whole cloud at the new release at once, which would run every service's full
// database migration in no particular order while old code still serves. Until the upgrade has
// finished the cloud is rendered at the release it runs, and controller/upgrade.ts moves it.
import { knownReleases } from '../catalog/index.ts';
import { upgradeRefusal } from '../catalog/upgrades.ts';
import type { ComponentState } from './conditions.ts';

export const upgradedConditionType = 'Upgraded';

export interface ReleaseDecision {
  /** The release to render the cloud at in this pass. */
  readonly render: string;
  /** The Upgraded condition; none while spec and status agree (the condition is removed). */
  readonly condition?: ComponentState;
  /** An upgrade upstream allows, to be carried out (controller/upgrade.ts). */
  readonly upgrade?: { readonly from: string; readonly to: string };
}

/**
 * `running` is status.release (undefined: the cloud has never been Ready, so nothing runs that an
 * upgrade must respect, and it is deployed at spec.release).
 */
export function decideRelease(specRelease: string, running: string | undefined): ReleaseDecision {
  if (running === undefined || running === specRelease) return { render: specRelease };
  const refusal = upgradeRefusal(running, specRelease, knownReleases());
  if (refusal) {
    return {
      render: running,
      condition: {
        status: 'False',
        reason: 'UpgradeRefused',
        message: `the cloud runs ${running} and stays on it: ${refusal}`,
      },
    };
  }
  return { render: running, upgrade: { from: running, to: specRelease } };
}
