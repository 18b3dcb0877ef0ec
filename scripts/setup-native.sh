#!/usr/bin/env bash
# What the native addon, its tests and the page-stats benchmark need on a
# fresh Debian 12 machine: a C/C++ compiler (addon, pattern-child.c, the
# C reference), mkswap/swapon (util-linux: the zram swap test), numactl
# (topology test). Loads zram when its control is missing.
# Idempotent (apt_install from scripts/lib.sh).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"

apt_install gcc g++ make python3 util-linux numactl

# zram for the swap tests: built in or a module (platform-facts.md: present here).
if [ ! -d /sys/class/zram-control ]; then
  if ! command -v modprobe >/dev/null; then apt_install kmod; fi
  modprobe zram num_devices=0 2>/dev/null || echo "setup-native: zram not available; the zram swap test will fail" >&2
fi
