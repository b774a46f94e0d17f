// The list of commands. Each module registers itself on the root program; only the module of the
// command being run is loaded (loading them all costs a second of start-up), except for help.
import type { Command } from 'commander';

export type Register = (program: Command) => void;

export const commands: Record<string, () => Promise<{ register: Register }>> = {
  init: () => import('./init.ts'),
  validate: () => import('./validate.ts'),
  render: () => import('./render.ts'),
  crd: () => import('./crd.ts'),
  apply: () => import('./apply.ts'),
  status: () => import('./status.ts'),
  operator: () => import('./operator.ts'),
  dashboard: () => import('./dashboard.ts'),
  images: () => import('./images.ts'),
  cluster: () => import('./cluster.ts'),
  up: () => import('./up.ts'),
  rollout: () => import('./remediate.ts'),
  remediate: () => import('./remediate.ts'),
};

/** The modules to load for these arguments: the named command's, or all of them. */
export async function load(argv: readonly string[]): Promise<Register[]> {
  const name = argv.find((a) => !a.startsWith('-'));
  const one = name ? commands[name] : undefined;
  const loaders = one ? [one] : Object.values(commands);
  // A module may register two commands (rollout and remediate): register it once.
  return [...new Set((await Promise.all(loaders.map((l) => l()))).map((m) => m.register))];
}
