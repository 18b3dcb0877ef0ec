#!/usr/bin/env bash
# Fetches the stock Debian 6.12 kernel the NUMA testbed and the libvirt test
# guests boot (DAMON vaddr, NUMA emulation, virtio/9p) into .cache/kernel/.
# Idempotent: prints the vmlinuz path and exits when already there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pkg="${VIRT_TIER_KERNEL_PKG:-linux-image-6.12.117+deb12-amd64-unsigned}"
dest="$root/.cache/kernel"
if ! ls "$dest"/boot/vmlinuz-* >/dev/null 2>&1; then
  mkdir -p "$dest" "$root/.cache/deb"
  if ! ls "$root/.cache/deb/${pkg}"_*.deb >/dev/null 2>&1; then
    (cd "$root/.cache/deb" && apt-get download "$pkg" >/dev/null 2>&1) || {
      apt-get update -qq >/dev/null && (cd "$root/.cache/deb" && apt-get download "$pkg" >/dev/null)
    }
  fi
  dpkg -x "$root/.cache/deb/${pkg}"_*.deb "$dest"
fi
ls "$dest"/boot/vmlinuz-* | head -n1
