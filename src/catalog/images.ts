// The container images a release is built from and deployed with. One image per component;
// the renderer and the image builder both read this list, so their names always agree.
export const imageNames = [
  'mariadb',
  'rabbitmq',
  'memcached',
  'keystone',
  'glance-api',
  'placement-api',
  'nova-api',
  'nova-conductor',
  'nova-scheduler',
  'nova-novncproxy',
  'nova-compute',
  'neutron-server',
  'neutron-ovn-metadata-agent',
  'ovn-northd',
  'ovn-nb-db',
  'ovn-sb-db',
  'ovn-controller',
  'openvswitch',
  'horizon',
  'toolbox',
] as const;

export type ImageName = (typeof imageNames)[number];

/** Where images come from when the spec says nothing: what the local cluster imports. */
export const defaultImageRegistry = 'localhost/stackanetes';

/** `registry/name:tag`, the reference the renderer emits and the builder tags. */
export function imageReference(registry: string, name: string, tag: string): string {
  const sep = tag.startsWith('sha256:') ? '@' : ':';
  return `${registry.replace(/\/+$/, '')}/${name}${sep}${tag}`;
}
