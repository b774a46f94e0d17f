// The list of commands. Each module registers itself on the root program.
import type { Command } from 'commander';

export type Register = (program: Command) => void;

export const commands: Register[] = [];
