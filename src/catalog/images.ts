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

/**
 * The local cluster's registry: image references name it `localhost:5001` (as kind's local
 * registry does); it answers on the cluster's node address, and every node's containerd maps
 * the name to that address.
 */
export const localRegistry = {
  name: 'localhost:5001',
  address: '10.244.0.1:5001',
  url: 'http://10.244.0.1:5001',
} as const;

/** Where images come from when the spec says nothing: the local cluster's registry. */
export const defaultImageRegistry = `${localRegistry.name}/stackanetes`;

/** `registry/name:tag`, the reference the renderer emits and the builder tags. */
export function imageReference(registry: string, name: string, tag: string): string {
  const sep = tag.startsWith('sha256:') ? '@' : ':';
  return `${registry.replace(/\/+$/, '')}/${name}${sep}${tag}`;
}

/** The uid (= gid) Kolla gives each service user; the images built here use the same. */
export const kollaUids: Readonly<Record<string, number>> = {
  kolla: 42400,
  glance: 42415,
  horizon: 42420,
  keystone: 42425,
  mysql: 42434,
  neutron: 42435,
  nova: 42436,
  rabbitmq: 42439,
  memcached: 42457,
  openvswitch: 42476,
  placement: 42482,
};

/** The user each image runs as (its USER), as in Kolla. */
export function imageUser(image: ImageName): string {
  if (image === 'keystone') return 'keystone';
  if (image === 'glance-api') return 'glance';
  if (image === 'placement-api') return 'placement';
  if (image.startsWith('nova-')) return 'nova';
  if (image.startsWith('neutron-')) return 'neutron';
  if (image === 'mariadb') return 'mysql';
  if (image === 'rabbitmq' || image === 'memcached' || image === 'horizon') return image;
  return 'root';
}

/**
 * The group that lets an image's user read files mounted from Secrets (mode 0440) that are not
 * copied by kolla_start (scripts, client credentials); undefined for images that run as root.
 */
export function imageGroup(image: ImageName): number | undefined {
  return kollaUids[imageUser(image)];
}
