#!/usr/bin/env bash
# The multi-NUMA testbed's needs (test/testbed/, docs/testbed.md): QEMU
# (TCG), a static busybox for the initramfs, xz to unpack the 9p modules,
# numactl (migratepages, the mover benchmark's baseline), libvirtd with its
# QEMU driver and virsh (the testbed's `libvirt: true` option runs them
# inside, from this host's packages over the read-only share) and the stock
# Debian 6.12 kernel in .cache/kernel. Idempotent; apt-get runs only for
# missing packages, `apt-get update` at most once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
apt_install qemu-system-x86 busybox-static xz-utils numactl coreutils libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
bash "$root/scripts/fetch-kernel.sh" >/dev/null
echo "setup-testbed: qemu $(qemu-system-x86_64 --version | head -n1 | awk '{print $4}'), libvirt $(libvirtd --version | awk '{print $NF}'), kernel $(basename "$(bash "$root/scripts/fetch-kernel.sh")")"
