#!/usr/bin/env bash
# Brings up a libvirtd serving qemu:///system for virt-tier's libvirt part
# and its tests (as root, idempotent). Debian 12 without
# libvirt-daemon-system (no systemd units here), so this does by hand what
# that package's units would: the users and groups libvirtd insists on, its
# state directories, hugetlbfs at /dev/hugepages (libvirtd only detects it
# at start), virtlogd, then libvirtd. See /work/shared/platform-facts.md.
#
#   scripts/setup-libvirt.sh          install (if missing) and start
#   scripts/setup-libvirt.sh --stop   stop the libvirtd/virtlogd this script started
#
# VIRT_TIER_LIBVIRT_FREE_HUGEPAGES (default 384: 768 MiB) is how many free
# 2 MiB hugepages the test guests need; the pool is raised, never lowered.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
state_dir=/run/virt-tier-setup
mkdir -p "$state_dir"

if [ "${1:-}" = "--stop" ]; then
  for d in libvirtd virtlogd; do
    if [ -f "$state_dir/$d.started" ]; then
      pid="$(cat "/run/$d.pid" 2>/dev/null || true)"
      [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
      rm -f "$state_dir/$d.started"
    fi
  done
  exit 0
fi

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
apt_install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev qemu-system-x86 busybox-static

# libvirtd refuses to start without the user/group its qemu.conf names and the kvm group.
getent group kvm >/dev/null || groupadd --system kvm
getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
getent passwd libvirt-qemu >/dev/null ||
  useradd --system --gid libvirt-qemu --groups kvm --home-dir /var/lib/libvirt --no-create-home --shell /usr/sbin/nologin libvirt-qemu
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt /run/libvirt /etc/libvirt/hooks

# /dev/kvm as Debian's udev rules leave it (root:kvm 0660). This machine has no udev and leaves it
# root:root 0600: QEMU's capability probe (run by libvirtd) opens it, the qemu user could not, so
# libvirtd found "KVM was enabled when probing, but it is not available now" at every lookup and
# re-probed QEMU (about 4 s, minutes under load) on every define, start and domcapabilities.
if [ -c /dev/kvm ] && [ "$(stat -c %G:%a /dev/kvm)" != kvm:660 ] && [ "$(stat -c %a /dev/kvm)" != 666 ]; then
  chgrp kvm /dev/kvm
  chmod 0660 /dev/kvm
fi

# hugetlbfs must be mounted before libvirtd starts: it looks for it once, at start.
mkdir -p /dev/hugepages
if ! awk '$2 == "/dev/hugepages" && $3 == "hugetlbfs" { found = 1 } END { exit !found }' /proc/mounts; then
  mount -t hugetlbfs hugetlbfs /dev/hugepages
  if pgrep -x libvirtd >/dev/null; then
    # a libvirtd started before the mount never sees it: restart it below
    kill "$(pgrep -x libvirtd)" || true
    for _ in $(seq 50); do pgrep -x libvirtd >/dev/null || break; sleep 0.1; done
  fi
fi
want_free="${VIRT_TIER_LIBVIRT_FREE_HUGEPAGES:-384}"
total="$(cat /proc/sys/vm/nr_hugepages)"
free="$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)"
if [ "$free" -lt "$want_free" ]; then
  echo $((total + want_free - free)) >/proc/sys/vm/nr_hugepages
  free="$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)"
  [ "$free" -ge "$want_free" ] || echo "setup-libvirt: warning: only $free free hugepages (wanted $want_free)" >&2
fi

if ! pgrep -x virtlogd >/dev/null; then
  virtlogd -d
  touch "$state_dir/virtlogd.started"
fi
if ! pgrep -x libvirtd >/dev/null; then
  libvirtd -d
  touch "$state_dir/libvirtd.started"
fi
for _ in $(seq 100); do
  if virsh -c qemu:///system uri >/dev/null 2>&1; then
    # the test guests' kernel (scripts/fetch-kernel.sh), fetched here so tests need no network
    bash "$root/scripts/fetch-kernel.sh" >/dev/null
    exit 0
  fi
  sleep 0.1
done
echo "setup-libvirt: libvirtd did not answer on qemu:///system within 10 s" >&2
exit 1
