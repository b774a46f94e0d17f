// The guest image builder's pure parts (building and booting it: test/integration/images/guest.test.ts).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  guestCommandLine,
  guestFiles,
  guestInputKey,
  guestMarkers,
  moduleDepends,
  parseDependsRecurse,
  parseLddList,
  syslinuxConfig,
} from '../../../src/images/guest.ts';
import type { AptSource } from '../../../src/images/rootfs.ts';

const assets = new URL('../../../src/images/assets/guest/', import.meta.url).pathname;
const src: AptSource = {
  mirror: 'http://deb.debian.org/debian',
  securityMirror: 'http://deb.debian.org/debian-security',
  suite: 'trixie',
  extraSuites: [],
};

test('syslinux boots the kernel at once with the initramfs and a serial console', () => {
  const cfg = syslinuxConfig();
  assert.match(cfg, /^DEFAULT guest$/m);
  assert.match(cfg, /^PROMPT 0$/m, 'no boot prompt waits for a key');
  assert.match(cfg, /KERNEL \/vmlinuz/);
  assert.match(cfg, /INITRD \/initrd\.img/);
  assert.match(cfg, new RegExp(`APPEND ${guestCommandLine}`));
  // Nova's console log is the serial port: it must be the last console (/dev/console).
  assert.match(guestCommandLine, /console=ttyS0[^ ]*$|console=ttyS0,115200 panic/);
  assert.ok(
    guestCommandLine.lastIndexOf('console=ttyS0') > guestCommandLine.lastIndexOf('console=tty0'),
  );
});

test('module dependencies are read from the .modinfo depends= field', () => {
  const ko = Buffer.from(
    '\x7fELF....\0license=GPL\0depends=net_failover,failover\0name=virtio_net\0',
  );
  assert.deepEqual(moduleDepends(ko), ['net_failover', 'failover']);
  assert.deepEqual(moduleDepends(Buffer.from('\0depends=\0name=button\0')), []);
  assert.deepEqual(moduleDepends(Buffer.from('no modinfo at all')), []);
});

test('ld.so --list output gives the libraries inside the unpacked tree', () => {
  const root = '/tmp/t';
  const out = [
    '\tlinux-vdso.so.1 (0x00007ffd)',
    '\tlibtomcrypt.so.1 => /tmp/t/usr/lib/x86_64-linux-gnu/libtomcrypt.so.1 (0x00007f01)',
    '\tlibc.so.6 => /tmp/t/usr/lib/x86_64-linux-gnu/libc.so.6 (0x00007f02)',
    '\t/tmp/t/usr/lib64/ld-linux-x86-64.so.2 (0x00007f03)',
  ].join('\n');
  assert.deepEqual(parseLddList(out, root), [
    '/usr/lib/x86_64-linux-gnu/libc.so.6',
    '/usr/lib/x86_64-linux-gnu/libtomcrypt.so.1',
    '/usr/lib64/ld-linux-x86-64.so.2',
  ]);
});

test('apt-cache depends --recurse: real package names only, each once', () => {
  const out = [
    'dropbear-bin',
    '  Depends: libc6',
    '  Depends: zlib1g',
    'libc6',
    '  Depends: libgcc-s1',
    'zlib1g',
    '  Depends: libc6',
    '<debconf-2.0>',
    'libgcc-s1',
  ].join('\n');
  assert.deepEqual(parseDependsRecurse(out), ['dropbear-bin', 'libc6', 'libgcc-s1', 'zlib1g']);
});

test('the cache key changes with what goes in, not with when', async () => {
  const a = await guestInputKey(src, '2025.1');
  assert.equal(await guestInputKey(src, '2025.1'), a, 'same inputs, same key');
  assert.notEqual(await guestInputKey({ ...src, suite: 'sid' }, '2025.1'), a);
  assert.notEqual(
    await guestInputKey({ ...src, mirror: 'http://mirror.test/debian' }, '2025.1'),
    a,
  );
});

test("the guest's scripts write the markers the tests wait for", () => {
  const read = (a: string) => readFileSync(join(assets, a), 'utf8');
  assert.ok(guestFiles['/etc/rc.boot'] && guestFiles['/usr/share/udhcpc/default.script']);
  // say() in rc.boot and the DHCP script prefixes `stackanetes-guest: `.
  assert.match(read('rc.boot'), /say\(\) \{ echo "stackanetes-guest: \$\*" > \/dev\/console; \}/);
  assert.match(
    read('udhcpc.script'),
    /say\(\) \{ echo "stackanetes-guest: \$\*" > \/dev\/console; \}/,
  );
  assert.ok(read('init').includes(`echo '${guestMarkers.init}' > /dev/console`));
  assert.ok(read('rc.boot').includes('say "metadata hostname $h"'));
  assert.ok(read('rc.boot').includes('say "metadata ssh-key '));
  assert.ok(read('rc.ready').includes(`echo '${guestMarkers.ready}' > /dev/console`));
  assert.match(read('inittab'), /::once:\/etc\/rc\.ready/, 'ready once dropbear listens');
  // acpid logs where it can write (it respawns forever when it cannot open its log).
  assert.match(read('inittab'), /acpid -f -c \/etc\/acpi -l \/run\//);
  assert.equal(guestMarkers.dhcp, 'stackanetes-guest: dhcp bound');
  // Tempest renews the lease with SIGUSR1 to the pid in /var/run/udhcpc.<nic>.pid.
  assert.match(read('rc.boot'), /-p \/run\/udhcpc\.eth0\.pid/);
});

// The DHCP event script run by sh as udhcpc runs it (environment of a lease), with `ip` recorded
// instead of run and the console and resolv.conf as files here.
test('a lease with classless static routes (as OVN gives) is written to the console as "dhcp bound" with its address, and applied', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stackanetes-udhcpc-'));
  try {
    const script = readFileSync(join(assets, 'udhcpc.script'), 'utf8')
      .replaceAll('/dev/console', join(dir, 'console'))
      .replaceAll('/etc/resolv.conf', join(dir, 'resolv.conf'));
    writeFileSync(join(dir, 'script'), script);
    writeFileSync(join(dir, 'ip'), `#!/bin/sh\necho "ip $*" >> '${join(dir, 'ip.log')}'\n`);
    chmodSync(join(dir, 'ip'), 0o755);
    execFileSync('sh', [join(dir, 'script'), 'bound'], {
      env: {
        PATH: `${dir}:/usr/bin:/bin`,
        interface: 'eth0',
        ip: '192.168.100.21',
        mask: '24',
        mtu: '1442',
        router: '192.168.100.1',
        serverid: '192.168.100.1',
        dns: '192.168.100.2',
        staticroutes: '169.254.169.254/32 192.168.100.2 0.0.0.0/0 192.168.100.1',
      },
    });
    const console = readFileSync(join(dir, 'console'), 'utf8');
    assert.ok(
      console.includes(`${guestMarkers.dhcp} eth0 192.168.100.21/24 `),
      `console: ${console}`,
    );
    const ip = readFileSync(join(dir, 'ip.log'), 'utf8');
    assert.match(ip, /^ip addr add 192\.168\.100\.21\/24 dev eth0$/m);
    assert.match(ip, /^ip route replace 169\.254\.169\.254\/32 via 192\.168\.100\.2 dev eth0$/m);
    assert.match(ip, /^ip route replace 0\.0\.0\.0\/0 via 192\.168\.100\.1 dev eth0$/m);
    assert.equal(readFileSync(join(dir, 'resolv.conf'), 'utf8'), 'nameserver 192.168.100.2\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
