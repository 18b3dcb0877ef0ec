#!/usr/bin/env bash
# What the native addon, its tests and the page-stats benchmark need on a
# fresh Debian 12 machine: a C/C++ compiler (addon, pattern-child.c, the
# C reference), mkswap/swapon (util-linux: the zram swap test), numactl
# (topology test). Loads zram when its control is missing.
# Idempotent; uses apt_install from scripts/setup.sh when run from there.
set -euo pipefail

if ! declare -F apt_install >/dev/null; then
  apt_updated=0
  apt_install() {
    local missing=()
    for p in "$@"; do
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  }
fi

apt_install gcc g++ make python3 util-linux numactl

# zram for the swap tests: built in or a module (platform-facts.md: present here).
if [ ! -d /sys/class/zram-control ]; then
  if ! command -v modprobe >/dev/null; then apt_install kmod; fi
  modprobe zram num_devices=0 2>/dev/null || echo "setup-native: zram not available; the zram swap test will fail" >&2
fi
