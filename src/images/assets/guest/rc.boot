#!/bin/sh
# Boot script of the Stackanetes guest image (busybox init's sysinit): eth0 by DHCP, then the
# metadata service (hostname, SSH public key, user data), then an SSH host key. Every step
# writes a line starting with `stackanetes-guest:` to the console, which `openstack console log
# show` returns: the markers the end-to-end tests read.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "stackanetes-guest: $*" > /dev/console; }

hostname stackanetes-guest
ip link set lo up

# The metadata service's address; `stackanetes.metadata=URL` on the kernel command line
# replaces it (for trying the image outside a cloud).
md=http://169.254.169.254
for arg in $(cat /proc/cmdline); do
  case "$arg" in stackanetes.metadata=*) md="${arg#stackanetes.metadata=}" ;; esac
done

if ip link show eth0 >/dev/null 2>&1; then
  ip link set eth0 up
  # Backgrounds itself once it has a lease (or after 20 tries) and keeps renewing it; tempest
  # renews the lease with SIGUSR1 to the pid in this file.
  udhcpc -i eth0 -s /usr/share/udhcpc/default.script -p /run/udhcpc.eth0.pid -b -t 20 -T 3
else
  say 'no eth0'
fi

# GET from the metadata service, retried: the OVN metadata agent may still be starting.
mdget() {
  i=0
  while [ $i -lt 30 ]; do
    if wget -q -T 5 -O "$2" "$md/$1" 2>/dev/null; then return 0; fi
    i=$((i + 1))
    sleep 2
  done
  return 1
}

mkdir -p /root/.ssh /etc/dropbear
chmod 0700 /root/.ssh
if mdget latest/meta-data/instance-id /run/instance-id; then
  say "metadata instance-id $(cat /run/instance-id)"
  if mdget latest/meta-data/hostname /run/hostname; then
    # Nova gives the FQDN (name.novalocal): the host name is its first label.
    h="$(cut -d. -f1 < /run/hostname)"
    hostname "$h"
    echo "$h" > /etc/hostname
    say "metadata hostname $h"
  fi
  if wget -q -T 5 -O /run/keys "$md/latest/meta-data/public-keys/0/openssh-key" 2>/dev/null \
    && [ -s /run/keys ]; then
    cat /run/keys > /root/.ssh/authorized_keys
    chmod 0600 /root/.ssh/authorized_keys
    say "metadata ssh-key $(awk '{ print $1 }' /run/keys | head -n 1) installed for root"
  else
    say 'metadata ssh-key none'
  fi
  if wget -q -T 5 -O /run/user-data "$md/latest/user-data" 2>/dev/null && [ -s /run/user-data ]; then
    say "metadata user-data $(wc -c < /run/user-data) bytes"
    if head -n 1 /run/user-data | grep -q '^#!'; then
      chmod 0700 /run/user-data
      /run/user-data > /run/user-data.log 2>&1
      say "user-data exited $?"
    fi
  else
    say 'metadata user-data none'
  fi
else
  say "metadata unreachable at $md"
fi

dropbearkey -t ed25519 -f /etc/dropbear/dropbear_ed25519_host_key > /run/hostkey 2>/dev/null
say "ssh host key $(grep -o 'SHA256:[^ ]*' /run/hostkey | head -n 1)"
# busybox init starts dropbear next; /etc/rc.ready says `ready` once it listens.
