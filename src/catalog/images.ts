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
  'nova-libvirt',
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

/**
 * The uid (= gid) Kolla gives each service user (openstack/kolla kolla/common/users.py), in uid
 * order; the images built here create the same users (src/images/recipes.ts), so that upstream
 * Kolla images and these are interchangeable: files on volumes keep their owners.
 */
export const kollaUids = {
  kolla: 42400,
  glance: 42415,
  horizon: 42420,
  keystone: 42425,
  qemu: 42427,
  mysql: 42434,
  neutron: 42435,
  nova: 42436,
  rabbitmq: 42439,
  memcached: 42457,
  libvirt: 42473,
  openvswitch: 42476,
  hugetlbfs: 42477,
  placement: 42482,
} as const;
export type KollaUserName = keyof typeof kollaUids;

/** The user each image runs as (its USER), as in Kolla. */
export function imageUser(image: ImageName): string {
  if (image === 'keystone') return 'keystone';
  if (image === 'glance-api') return 'glance';
  if (image === 'placement-api') return 'placement';
  // libvirtd and virtlogd run as root (QEMU drops to nova, qemu.conf).
  if (image === 'nova-libvirt') return 'root';
  if (image.startsWith('nova-')) return 'nova';
  if (image.startsWith('neutron-')) return 'neutron';
  if (image === 'mariadb') return 'mysql';
  if (image === 'rabbitmq' || image === 'memcached' || image === 'horizon') return image;
  return 'root';
}

/**
 * The Kolla user an image's processes run as in a pod that meets Pod Security "restricted"
 * (never root): the image's own user, and for the images whose user is root, `openvswitch` for
 * OVN's databases and northd (Kolla's user for OVS and OVN files) and `kolla` for the toolbox.
 * Open vSwitch and ovn-controller run on the hosts' data plane as root: they have none.
 */
export function restrictedUser(image: ImageName): string | undefined {
  const user = imageUser(image);
  if (user !== 'root') return user;
  if (image === 'ovn-northd' || image === 'ovn-nb-db' || image === 'ovn-sb-db')
    return 'openvswitch';
  if (image === 'toolbox') return 'kolla';
  return undefined;
}

/** The uid (= gid) of restrictedUser(image). */
export function restrictedUid(image: ImageName): number {
  const user = restrictedUser(image);
  const uid =
    user === undefined ? undefined : (kollaUids as Readonly<Record<string, number>>)[user];
  if (uid === undefined) {
    throw new Error(`image ${image} runs as root on the data plane: it has no unprivileged user`);
  }
  return uid;
}
