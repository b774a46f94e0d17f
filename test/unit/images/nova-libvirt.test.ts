// The nova-libvirt image's recipe (Kolla's nova-libvirt: libvirtd, virtlogd, QEMU). Building it
// needs root and debootstrap (test/integration/images/); the renderer's use of it is in
// test/unit/render/vms.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { imageNames, imageUser, restrictedUser } from '../../../src/catalog/images.ts';
import { knownImages, runtimeConfig } from '../../../src/images/build.ts';
import { lineage, releaseRecipes } from '../../../src/images/recipes.ts';
import { kvmProbeKernel } from '../../../src/render/openstack/nova.ts';

const recipes = releaseRecipes('2025.1');
const recipe = recipes.recipes.find((r) => r.name === 'nova-libvirt')!;

test('nova-libvirt is one of the images a release builds, on the Debian base', () => {
  assert.ok(imageNames.includes('nova-libvirt'));
  assert.ok(knownImages('2025.1').includes('nova-libvirt'), '`images build` builds it');
  assert.deepEqual(
    lineage(recipes, 'nova-libvirt').map((r) => r.name),
    ['base', 'nova-libvirt'],
  );
});

test('it carries libvirtd, virtlogd, QEMU for x86 and ovs-vsctl, and runs them as root', () => {
  for (const p of [
    'libvirt-daemon-system', // libvirtd, virtlogd (libvirt-daemon-log), virt-admin
    'libvirt-clients', // virsh: the probes
    'qemu-system-x86',
    'qemu-utils',
    'openvswitch-switch', // ovs-vsctl: libvirtd plugs taps into br-int
  ])
    assert.ok(recipe.packages.includes(p), p);
  assert.equal(recipe.user, 'root');
  assert.equal(imageUser('nova-libvirt'), 'root');
  // Data plane: no unprivileged user to run it as under Pod Security "restricted".
  assert.equal(restrictedUser('nova-libvirt'), undefined);
  // Kolla's contract: dumb-init, kolla_start.
  const c = runtimeConfig(recipe, 'nova-libvirt');
  assert.deepEqual(c.Cmd, ['kolla_start']);
  assert.ok(c.Env?.includes('KOLLA_SERVICE_NAME=nova-libvirt'));
});

test('the kernel virt-type.sh boots is where the renderer looks for it; no default NAT network', () => {
  assert.ok(recipe.setup?.includes(`> ${kvmProbeKernel}`), recipe.setup);
  assert.match(recipe.setup!, /test -s \/usr\/share\/stackanetes\/kvm-probe\/vmlinuz/);
  assert.match(recipe.setup!, /rm -f \/etc\/libvirt\/qemu\/networks\/autostart\/default\.xml/);
});
