// The guest image, built (or found cached) and booted under QEMU with TCG, as Nova's libvirt
// driver boots it with `virt_type = qemu`: from its raw disk (SeaBIOS → syslinux → kernel →
// initramfs), eth0 gets a lease by DHCP; then, from its kernel and initramfs with the metadata
// service's address on the command line, it reads a metadata service served here on 127.0.0.1
// (hostname, SSH key, user data), answers SSH with that key, and powers off on the ACPI power
// button (Nova's graceful stop). QEMU's user-mode network is
// restricted: the guest reaches nothing but the forwarded metadata port.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildGuestImage, guestMarkers, type GuestImage } from '../../../src/images/guest.ts';
import { freePort, release } from './helpers.ts';

const has = (bin: string) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const skip = process.getuid?.() !== 0 ? 'building the guest image needs root (apt-get)' : false;

let img: GuestImage;
let dir: string;
const children: ChildProcess[] = [];

/** Starts QEMU (TCG) and resolves to a function reading its console so far. */
function qemu(args: string[]): { console: () => string; child: ChildProcess } {
  let out = '';
  const child = spawn(
    'qemu-system-x86_64',
    ['-accel', 'tcg', '-m', '256', '-nographic', '-no-reboot', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
  children.push(child);
  return { console: () => out, child };
}

async function waitFor(read: () => string, text: string, seconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    if (read().includes(text)) return;
    await sleep(500);
  }
  const tail = read().split('\n').slice(-25).join('\n');
  throw new Error(`no "${text}" on the console within ${seconds} s; last lines:\n${tail}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

describe('the guest image under QEMU (TCG)', { skip, timeout: 20 * 60_000 }, () => {
  before(async () => {
    if (!has('qemu-system-x86_64')) {
      const r = spawnSync(
        'apt-get',
        ['install', '-y', '-q', '--no-install-recommends', 'qemu-system-x86'],
        {
          stdio: 'inherit',
          env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
        },
      );
      assert.equal(r.status, 0, 'apt-get install qemu-system-x86');
    }
    img = await buildGuestImage({
      release,
      onProgress: (m) => process.stderr.write(`  guest: ${m}\n`),
    });
    dir = await mkdtemp(join(tmpdir(), 'stackanetes-guest-'));
  });

  after(async () => {
    for (const c of children) await stop(c);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('boots from its raw disk and gets a DHCP lease on eth0', async () => {
    const vm = qemu([
      '-drive',
      `file=${img.disk},format=raw,if=virtio,snapshot=on`,
      '-nic',
      'user,model=virtio-net-pci,restrict=on',
    ]);
    await waitFor(vm.console, guestMarkers.init, 300);
    await waitFor(vm.console, `${guestMarkers.dhcp} eth0 10.0.2.15/24`, 120);
    assert.match(vm.console(), /Linux version .*cloud-amd64/, "Debian's cloud kernel");
    await stop(vm.child);
  });

  test('reads hostname, SSH key and user data from the metadata service; SSH answers with that key', async () => {
    const key = join(dir, 'key');
    const canSsh = has('ssh') && has('ssh-keygen');
    let publicKey =
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForGuestImageTestOnly00000000000 test';
    if (canSsh) {
      spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
      publicKey = (await readFile(`${key}.pub`, 'utf8')).trim();
    }
    const requests: string[] = [];
    const md: Record<string, string> = {
      '/latest/meta-data/instance-id': 'i-00000001',
      '/latest/meta-data/hostname': 'guest-test.novalocal',
      '/latest/meta-data/public-keys/0/openssh-key': `${publicKey}\n`,
      '/latest/user-data': '#!/bin/sh\necho user-data-ran > /dev/console\n',
      '/latest/meta-data/local-ipv4': '10.0.2.15',
    };
    const mdPort = await freePort();
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        requests.push(`${req.method} ${req.url}${body ? ` ${body}` : ''}`);
        const v = md[req.url ?? ''];
        if (req.method === 'POST') res.end('');
        else if (v === undefined) res.writeHead(404).end();
        else res.end(v);
      });
    }).listen(mdPort, '127.0.0.1');
    // QEMU runs this for each connection the guest opens to 10.0.2.100:80.
    const pipe = join(dir, 'pipe.mjs');
    await writeFile(
      pipe,
      `import { connect } from 'node:net';\nconst s = connect(${mdPort}, '127.0.0.1');\nprocess.stdin.pipe(s); s.pipe(process.stdout); s.on('close', () => process.exit(0));\n`,
    );
    await chmod(pipe, 0o644);
    const sshPort = await freePort();
    const monitor = join(dir, 'monitor.sock');
    try {
      const vm = qemu([
        '-monitor',
        `unix:${monitor},server,nowait`,
        '-kernel',
        img.kernel,
        '-initrd',
        img.initrd,
        '-append',
        'console=ttyS0 panic=10 stackanetes.metadata=http://10.0.2.100',
        '-nic',
        `user,model=virtio-net-pci,restrict=on,hostfwd=tcp:127.0.0.1:${sshPort}-:22,guestfwd=tcp:10.0.2.100:80-cmd:${process.execPath} ${pipe}`,
      ]);
      await waitFor(vm.console, guestMarkers.ready, 300);
      const out = vm.console();
      assert.ok(out.includes(`${guestMarkers.hostname} guest-test`), 'hostname from metadata');
      assert.ok(out.includes(`${guestMarkers.sshKey} ssh-ed25519 installed for root`), 'SSH key');
      assert.ok(out.includes('user-data-ran'), 'the user-data script ran');
      assert.ok(requests.includes('GET /latest/meta-data/public-keys/0/openssh-key'));
      if (!canSsh) {
        console.log('# no ssh client on this machine: SSH login not tried');
        return;
      }
      // Asynchronously: the metadata server answering the guest's curl runs in this process.
      const ssh = await new Promise<{ status: number | null; stdout: string; stderr: string }>(
        (resolve) => {
          const child = spawn(
            'ssh',
            [
              '-i',
              key,
              '-p',
              String(sshPort),
              '-o',
              'StrictHostKeyChecking=no',
              '-o',
              'UserKnownHostsFile=/dev/null',
              '-o',
              'ConnectTimeout=30',
              'root@127.0.0.1',
              // What Tempest runs: its prologue, hostname, the metadata service through curl (GET
              // and POST), udhcpc's pid file.
              'set -eu -o pipefail; PATH=$PATH:/sbin; hostname; curl http://10.0.2.100/latest/meta-data/local-ipv4; echo; curl -X POST -d secret http://10.0.2.100/openstack/2013-10-17/password; sudo cat /var/run/udhcpc.eth0.pid',
            ],
            { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 },
          );
          let stdout = '';
          let stderr = '';
          child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('close', (status) => resolve({ status, stdout, stderr }));
        },
      );
      assert.equal(ssh.status, 0, `ssh: ${ssh.stderr}`);
      const lines = ssh.stdout.trim().split('\n');
      assert.equal(lines[0], 'guest-test');
      assert.equal(lines[1], '10.0.2.15');
      assert.match(lines[2] ?? '', /^\d+$/, "udhcpc's pid file");
      assert.ok(requests.includes('POST /openstack/2013-10-17/password secret'), 'curl -X POST -d');
      // Nova's graceful stop presses the ACPI power button: the guest powers itself off.
      const exited = new Promise<void>((r) => vm.child.once('exit', () => r()));
      const m = connect(monitor);
      await new Promise<void>((r) => m.once('connect', () => r()));
      m.end('system_powerdown\n');
      await Promise.race([
        exited,
        sleep(90_000).then(() => assert.fail('the guest did not power off within 90 s')),
      ]);
      assert.ok(vm.console().includes('power button: powering off'));
    } finally {
      server.close();
    }
  });
});
