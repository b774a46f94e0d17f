// Placement: the resource inventory API Nova schedules against.
import type { Ctx } from '../context.ts';
import type { KubeObject } from '../kube.ts';
import { wsgiService } from './wsgi.ts';

export function renderPlacement(ctx: Ctx): KubeObject[] {
  return wsgiService(ctx, 'placement', {}).objects;
}
