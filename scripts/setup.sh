#!/usr/bin/env bash
# Installs everything virt-tier needs on a fresh Debian 12 machine (as root),
# then builds it: Debian packages (only those missing), npm dependencies,
# the native addon and the TypeScript. Idempotent; each part's own script
# (scripts/setup-*.sh) adds what that part needs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

# The addon's and @unraid/libvirt's builds need a compiler and libvirt's headers.
apt_install g++ make python3 pkg-config libvirt-dev
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
# npm ci builds the addon (the root package's install script); rebuild only if sources changed since.
if [ ! -f build/Release/virt_tier.node ] || [ -n "$(find native binding.gyp -newer build/Release/virt_tier.node 2>/dev/null | head -n1)" ]; then
  npm run install --silent >/dev/null
fi
# Each part's own needs (libvirtd, the testbed's QEMU and kernel, chromium), after npm ci so they see node_modules.
for part in scripts/setup-*.sh; do
  [ -e "$part" ] || continue
  echo "setup: $part"
  bash "$part"
done
npx --no-install tsc -p tsconfig.json
echo "setup: done"
