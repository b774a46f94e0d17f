// `stackanetes up`'s set-up for guests, run against a stand-in `openstack` command: on a new
// cloud it creates the image, flavor, networks, router and rules; on a cloud that has them it
// creates nothing (idempotent).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  bootHint,
  externalRange,
  guestSetup,
  setupScript,
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

/** Runs the script with a fake `openstack`: `existing` says whether the cloud has everything. */
function runSetup(existing: boolean): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'guest-setup-'));
  try {
    const calls = join(dir, 'calls');
    const fake = `#!/bin/bash
echo "$*" >> ${calls}
existing=${existing ? 1 : 0}
case "$*" in
  *" show "*"-c external_gateway_info"*) [ $existing = 1 ] && echo '{"network_id": "n1"}' || echo None ;;
  *"-c interfaces_info"*) [ $existing = 1 ] && echo '[{"subnet_id": "s-private"}]' || echo '[]' ;;
  "subnet show private-subnet -f value -c id") echo s-private ;;
  "project show admin -f value -c id") echo p-admin ;;
  "security group list"*) echo 'sg-1 default' ;;
  "security group rule list"*) [ $existing = 1 ] && printf 'None  egress\\nicmp  ingress\\ntcp 22:22 ingress\\n' || printf 'None  egress\\n' ;;
  "image list"*) [ $existing = 1 ] && echo img-1 ;;
  *" show "*) [ $existing = 1 ] || exit 1 ;;
esac
exit 0
`;
    writeFileSync(join(dir, 'openstack'), fake);
    chmodSync(join(dir, 'openstack'), 0o755);
    writeFileSync(join(dir, 'guest.raw'), 'disk');
    const r = spawnSync(
      'bash',
      ['-c', setupScript(loadExample('minimal').spec, image, join(dir, 'guest.raw'))],
      { encoding: 'utf8', env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } },
    );
    assert.equal(r.status, 0, r.stderr + r.stdout);
    return readFileSync(calls, 'utf8').trim().split('\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('on a new cloud: image, flavor, external and tenant networks, router, ping and SSH in', () => {
  const calls = runSetup(false);
  const made = calls.filter((c) => / (create|set|add) /.test(` ${c} `));
  const has = (re: RegExp) =>
    assert.ok(
      made.some((c) => re.test(c)),
      `${re} in\n${made.join('\n')}`,
    );
  has(
    /^image create stackanetes-guest --disk-format raw .*--public .*stackanetes_guest_sha256=abab/,
  );
  has(/^flavor create m1\.guest --public --vcpus 1 --ram 128 --disk 1$/);
  has(
    /^network create public --external --share --provider-network-type flat --provider-physical-network physnet1$/,
  );
  has(
    /^subnet create public-subnet --network public --subnet-range 172\.24\.4\.0\/24 --gateway 172\.24\.4\.1 --allocation-pool start=172\.24\.4\.10,end=172\.24\.4\.254 --no-dhcp$/,
  );
  has(
    new RegExp(
      `^subnet create private-subnet --network private --subnet-range ${guestSetup.subnetRange.replace(/\./g, '\\.')}`,
    ),
  );
  has(/^router set router1 --external-gateway public$/);
  has(/^router add subnet router1 private-subnet$/);
  has(/^security group rule create sg-1 --ingress --protocol icmp$/);
  has(/^security group rule create sg-1 --ingress --protocol tcp --dst-port 22$/);
});

test('on a cloud that has it all: nothing is created or changed', () => {
  const calls = runSetup(true);
  const made = calls.filter((c) => / (create|set|add|delete) /.test(` ${c} `));
  assert.deepEqual(made, []);
});

test('the hint tells how to reach a floating IP: from the namespace', () => {
  const hint = bootHint(loadExample('minimal').spec, 'openstack').join('\n');
  assert.match(
    hint,
    /server create --flavor m1\.guest --image stackanetes-guest --network private/,
  );
  assert.match(hint, /sudo ip netns exec stackanetes-ext ssh root@/);
});
