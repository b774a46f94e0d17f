// `stackanetes up`'s set-up for guests (src/openstack/guest-setup.py), run by the machine's python3
// against a stand-in for openstacksdk: on a new cloud it creates the image, flavor, networks,
// router and rules; run again it changes nothing (idempotent).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  bootHint,
  externalRange,
  guestSetup,
  needsImageFile,
  setupScript,
  setupSettings,
} from '../../../src/openstack/guest-setup.ts';
import { cloudOf, loadExample } from '../render/fixtures.ts';

const image = { diskSha256: 'ab'.repeat(32), kernelVersion: '6.12.118+deb13-cloud-amd64' };

test('the external subnet comes from the namespace address', () => {
  assert.deepEqual(externalRange(loadExample('minimal').spec), {
    cidr: '172.24.4.0/24',
    gateway: '172.24.4.1',
    poolStart: '172.24.4.10',
    poolEnd: '172.24.4.254',
    namespace: 'stackanetes-ext',
  });
  const spec = cloudOf({
    services: { neutron: { provider: { hostNamespace: { address: '10.99.8.129/25' } } } },
  }).spec;
  assert.deepEqual(externalRange(spec), {
    cidr: '10.99.8.128/25',
    gateway: '10.99.8.129',
    poolStart: '10.99.8.138',
    poolEnd: '10.99.8.254',
    namespace: 'stackanetes-ext',
  });
  assert.equal(externalRange(loadExample('production').spec), undefined, 'a physical network');
});

// A stand-in for openstacksdk (the `openstack` Python package): an in-memory cloud with the
// proxies and calls the script uses, its state in a JSON file, every change it makes logged.
const fakeSdk = `
import json, os, types
STATE = os.environ["FAKE_CLOUD"]
state = json.load(open(STATE)) if os.path.exists(STATE) else {}
def save(): json.dump(state, open(STATE, "w"))
def log(line):
    state.setdefault("log", []).append(line); save()
class R(dict):
    __getattr__ = dict.get
def items(kind): return [R(x) for x in state.setdefault(kind, [])]
def add(kind, **attrs):
    attrs.setdefault("id", f"{kind}-{len(state.setdefault(kind, [])) + 1}")
    state[kind].append(attrs); log(f"create {kind} " + json.dumps(attrs, sort_keys=True)); return R(attrs)
def find(kind, name): return next((x for x in items(kind) if x.name == name), None)
class Image:
    def images(self, name): return [x for x in items("image") if x.name == name]
    def update_image(self, img, **kw):
        for x in state["image"]:
            if x["id"] == img.id: x.update(kw)
        log(f"update image {img.id} " + json.dumps(kw, sort_keys=True))
    def create_image(self, name, filename, **kw):
        assert os.path.exists(filename), filename
        props = {k: kw.pop(k) for k in list(kw) if k not in ("disk_format", "container_format", "visibility", "wait", "validate_checksum")}
        return add("image", name=name, status="active", properties=props, **kw)
class Compute:
    def find_flavor(self, name, ignore_missing): return find("flavor", name)
    def create_flavor(self, **kw): return add("flavor", **kw)
class Network:
    def find_network(self, name, ignore_missing): return find("network", name)
    def create_network(self, **kw): return add("network", **kw)
    def find_subnet(self, name, ignore_missing): return find("subnet", name)
    def create_subnet(self, **kw): return add("subnet", **kw)
    def find_router(self, name, ignore_missing): return find("router", name)
    def create_router(self, **kw): return add("router", **kw)
    def update_router(self, router, **kw):
        for x in state["router"]:
            if x["id"] == router.id: x.update(kw)
        log(f"update router {router.name} " + json.dumps(kw, sort_keys=True))
    def ports(self, device_id): return [x for x in items("port") if x.device_id == device_id]
    def add_interface_to_router(self, router, subnet_id):
        add("port", device_id=router.id, fixed_ips=[{"subnet_id": subnet_id}])
    def security_groups(self, project_id):
        if not state.get("security_group"): state["security_group"] = [{"id": "sg-1", "name": "default", "project_id": project_id}]
        return [x for x in items("security_group") if x.project_id == project_id]
    def security_group_rules(self, security_group_id):
        return [x for x in items("rule") if x.security_group_id == security_group_id]
    def create_security_group_rule(self, **kw):
        kw.setdefault("port_range_min", None); kw.setdefault("port_range_max", None)
        return add("rule", **kw)
class Identity:
    def find_project(self, name, ignore_missing): return R(id="p-admin", name=name)
def connect():
    return types.SimpleNamespace(image=Image(), compute=Compute(), network=Network(), identity=Identity())
`;

/**
 * Runs the set-up script against the fake SDK on the cloud state in `dir` (kept between runs),
 * as setUpForGuests does: when it exits 3 (the image file is wanted), the file is "copied" and it
 * runs again. Returns what it changed and what it said.
 */
function runSetup(dir: string): { changes: string[]; said: string[] } {
  const file = join(dir, 'guest.raw');
  const state = join(dir, 'cloud.json');
  const before = existsSync(state) ? (JSON.parse(readFileSync(state, 'utf8')).log ?? []).length : 0;
  const settings = JSON.stringify(setupSettings(loadExample('minimal').spec, image, file));
  const env = { ...process.env, PYTHONPATH: join(dir, 'sdk'), FAKE_CLOUD: state };
  const said: string[] = [];
  let r = spawnSync('python3', ['-c', setupScript, settings], { encoding: 'utf8', env });
  if (r.status === needsImageFile) {
    said.push(...r.stdout.trim().split('\n'));
    writeFileSync(file, 'disk');
    r = spawnSync('python3', ['-c', setupScript, settings], { encoding: 'utf8', env });
  }
  assert.equal(r.status, 0, r.stderr + r.stdout);
  said.push(...r.stdout.trim().split('\n'));
  assert.equal(existsSync(file), false, 'the copied image file is removed');
  return { changes: JSON.parse(readFileSync(state, 'utf8')).log.slice(before), said };
}

test('on a new cloud: image, flavor, external and tenant networks, router, ping and SSH in; run again: nothing changes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'guest-setup-'));
  try {
    mkdirSync(join(dir, 'sdk', 'openstack'), { recursive: true });
    writeFileSync(join(dir, 'sdk', 'openstack', '__init__.py'), fakeSdk);
    const { changes, said } = runSetup(dir);
    const has = (re: RegExp) =>
      assert.ok(
        changes.some((c) => re.test(c)),
        `${re} in\n${changes.join('\n')}`,
      );
    has(
      /^create image .*"kernel_version": "6\.12\.118\+deb13-cloud-amd64".*"stackanetes_guest_sha256": "abab/,
    );
    has(/^create image .*"disk_format": "raw".*"visibility": "public"/);
    has(
      /^create flavor \{"disk": 1, "id": "flavor-1", "is_public": true, "name": "m1\.guest", "ram": 128, "vcpus": 1\}$/,
    );
    has(
      /^create network .*"is_router_external": true, "is_shared": true, "name": "public", "provider_network_type": "flat", "provider_physical_network": "physnet1"/,
    );
    has(
      /^create subnet \{"allocation_pools": \[\{"end": "172\.24\.4\.254", "start": "172\.24\.4\.10"\}\], "cidr": "172\.24\.4\.0\/24", "gateway_ip": "172\.24\.4\.1", "id": "subnet-1", "ip_version": 4, "is_dhcp_enabled": false, "name": "public-subnet"/,
    );
    has(
      new RegExp(
        `^create subnet \\{"cidr": "${guestSetup.subnetRange.replace(/\./g, '\\.').replace('/', '\\/')}", "id": "subnet-2", "ip_version": 4, "name": "private-subnet", "network_id": "network-2"\\}$`,
      ),
    );
    has(/^update router router1 \{"external_gateway_info": \{"network_id": "network-1"\}\}$/);
    has(/^create port \{"device_id": "router-1", "fixed_ips": \[\{"subnet_id": "subnet-2"\}\]/);
    has(/^create rule .*"direction": "ingress".*"protocol": "icmp".*"security_group_id": "sg-1"/);
    has(/^create rule .*"port_range_max": 22, "port_range_min": 22, "protocol": "tcp"/);
    assert.deepEqual(said, [
      'image stackanetes-guest: to upload',
      'image stackanetes-guest: uploaded',
      'flavor m1.guest: created',
      'network public: created (flat, physnet1)',
      'subnet public-subnet: 172.24.4.0/24, floating IPs 172.24.4.10-172.24.4.254',
      'network private: created',
      `subnet private-subnet: ${guestSetup.subnetRange}`,
      'router router1: created',
      'router router1: gateway on public',
      'router router1: interface on private-subnet',
      'security group default: ICMP in',
      'security group default: SSH in',
    ]);
    const again = runSetup(dir);
    assert.deepEqual(again.changes, []);
    assert.match(again.said[0]!, /^image stackanetes-guest: already there \(image-1\)$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a new build of the guest image replaces the old one, which is renamed, not deleted', () => {
  const dir = mkdtempSync(join(tmpdir(), 'guest-setup-'));
  try {
    mkdirSync(join(dir, 'sdk', 'openstack'), { recursive: true });
    writeFileSync(join(dir, 'sdk', 'openstack', '__init__.py'), fakeSdk);
    writeFileSync(
      join(dir, 'cloud.json'),
      JSON.stringify({
        image: [
          {
            id: 'img-0',
            name: 'stackanetes-guest',
            status: 'active',
            properties: { stackanetes_guest_sha256: 'cd'.repeat(32) },
          },
        ],
      }),
    );
    const { changes } = runSetup(dir);
    assert.equal(changes[0], 'update image img-0 {"name": "stackanetes-guest-old-img-0"}');
    assert.match(changes[1]!, /^create image .*"stackanetes_guest_sha256": "abab/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the hint tells how to reach a floating IP: from the namespace', () => {
  const hint = bootHint(loadExample('minimal').spec, 'openstack').join('\n');
  assert.match(
    hint,
    /server create --flavor m1\.guest --image stackanetes-guest --network private/,
  );
  assert.match(hint, /sudo ip netns exec stackanetes-ext ssh root@/);
});
