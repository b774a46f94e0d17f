// The steps of a release upgrade, in order: pure, from the two catalogs and the cloud's services.
// What the operator records as done (status.upgrade.completed) are these steps' ids, so a
// restarted operator resumes at the first one not done.
import type { CatalogService, ReleaseCatalog } from '../catalog/types.ts';
import { upgradeRefusal } from '../catalog/upgrades.ts';

export interface PlannedStep {
  /** `preflight/<service>` or `<service>/<step>`: unique in the plan, kept in status. */
  readonly id: string;
  readonly service: CatalogService;
  readonly kind: 'check' | 'job' | 'roll';
  /** The command a check or job runs, with the target release's image and config. */
  readonly command?: string;
  /** The processes a roll restarts, in this order. */
  readonly processes?: readonly string[];
  /** After this step the old release can no longer run on the database. */
  readonly contract: boolean;
  /** Nova's RPC pin is in the config this step runs with. */
  readonly pinned: boolean;
}

export interface UpgradePlan {
  readonly from: string;
  readonly to: string;
  readonly steps: readonly PlannedStep[];
  /** The first step after which there is no going back, if any. */
  readonly pointOfNoReturn?: string;
}

/**
 * The upgrade from `from` to `to` of the services the cloud runs (`enabled`), or an Error that
 * names the allowed paths. Pre-flight checks of every service come first: nothing changes until
 * all pass. Then each service in the target catalog's upgrade order, its own steps in order.
 */
export function planUpgrade(
  from: ReleaseCatalog,
  to: ReleaseCatalog,
  enabled: readonly CatalogService[],
  known: readonly string[],
): UpgradePlan {
  const refusal = upgradeRefusal(from.source.release, to.source.release, known);
  if (refusal) throw new Error(refusal);
  if (from.source.release === to.source.release) {
    throw new Error(`the cloud already runs ${to.source.release}: there is nothing to upgrade`);
  }
  const order = to.upgradeOrder ?? [];
  const missing = enabled.filter((s) => !order.includes(s) || !to.services[s].upgrade);
  if (missing.length) {
    throw new Error(
      `the ${to.source.release} catalog says nothing of how to upgrade ${missing.join(', ')}`,
    );
  }
  const services = order.filter((s) => enabled.includes(s));
  const checks: PlannedStep[] = services.flatMap((service) => {
    const command = to.services[service].upgrade!.check;
    return command
      ? [
          {
            id: `preflight/${service}`,
            service,
            kind: 'check',
            command,
            contract: false,
            pinned: false,
          },
        ]
      : [];
  });
  const steps: PlannedStep[] = services.flatMap((service) => {
    const def = to.services[service].upgrade!;
    const until = def.pin ? def.steps.findIndex((s) => s.name === def.pin!.until) : -1;
    return def.steps.map((s, i): PlannedStep => {
      const base = { id: `${service}/${s.name}`, service, pinned: i <= until };
      return s.kind === 'job'
        ? { ...base, kind: 'job', command: s.command, contract: s.contract === true }
        : { ...base, kind: 'roll', processes: s.processes, contract: false };
    });
  });
  const all = [...checks, ...steps];
  const pointOfNoReturn = all.find((s) => s.contract)?.id;
  return {
    from: from.source.release,
    to: to.source.release,
    steps: all,
    ...(pointOfNoReturn ? { pointOfNoReturn } : {}),
  };
}

/** The first step of `plan` not among `completed`: where a (resumed) upgrade goes on. */
export function nextStep(plan: UpgradePlan, completed: readonly string[]): PlannedStep | undefined {
  const done = new Set(completed);
  return plan.steps.find((s) => !done.has(s.id));
}

/** The plan as a person reads it before starting: one line a step, and where there is no way back. */
export function describePlan(plan: UpgradePlan): string {
  const lines = [`upgrade ${plan.from} → ${plan.to}, ${plan.steps.length} steps:`];
  plan.steps.forEach((s, i) => {
    const what =
      s.kind === 'roll'
        ? `roll ${s.processes!.join(', ')} onto ${plan.to}`
        : `${s.kind === 'check' ? 'check' : 'run'} \`${s.command}\``;
    const marks = [s.pinned ? 'compute RPC pinned' : '', s.contract ? 'NO ROLLBACK AFTER THIS' : '']
      .filter(Boolean)
      .join('; ');
    lines.push(`  ${String(i + 1).padStart(2)}. ${s.id}: ${what}${marks ? ` [${marks}]` : ''}`);
  });
  lines.push(
    plan.pointOfNoReturn
      ? `Until ${plan.pointOfNoReturn} the cloud can go back to ${plan.from}; after it, it cannot: the database no longer holds what ${plan.from} needs.`
      : `No step removes what ${plan.from} needs from the database.`,
  );
  return lines.join('\n');
}
