#!/usr/bin/env bash
# The multi-NUMA testbed's needs (test/testbed/, docs/testbed.md): QEMU
# (TCG), a static busybox for the initramfs, xz to unpack the 9p modules,
# numactl (migratepages, the mover benchmark's baseline) and the stock
# Debian 6.12 kernel in .cache/kernel. Idempotent; apt-get runs only for
# missing packages, `apt-get update` at most once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

missing=()
for p in qemu-system-x86 busybox-static xz-utils numactl coreutils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash "$root/scripts/fetch-kernel.sh" >/dev/null
echo "setup-testbed: qemu $(qemu-system-x86_64 --version | head -n1 | awk '{print $4}'), kernel $(basename "$(bash "$root/scripts/fetch-kernel.sh")")"
