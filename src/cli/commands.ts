// The list of commands. Each module registers itself on the root program.
import type { Command } from 'commander';
import { register as cluster } from './cluster.ts';
import { register as images } from './images.ts';
import { register as init } from './init.ts';
import { register as validate } from './validate.ts';
import { register as render } from './render.ts';
import { register as crd } from './crd.ts';
import { register as apply } from './apply.ts';
import { register as status } from './status.ts';

export type Register = (program: Command) => void;

export const commands: Register[] = [init, validate, render, crd, apply, status, images, cluster];
