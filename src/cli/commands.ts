// The list of commands. Each module registers itself on the root program.
import type { Command } from 'commander';
import { register as cluster } from './cluster.ts';
import { register as images } from './images.ts';

export type Register = (program: Command) => void;

export const commands: Register[] = [images, cluster];
