#!/usr/bin/env bash
# The demo: memory tiering you can watch. Sets up and builds (scripts/setup.sh),
# then boots the QEMU multi-NUMA testbed with libvirtd inside, installs the
# qemu hook, runs virt-tierd --auto-domains and starts two real libvirt
# guests with cslide policies in their domain XML, streaming each guest's
# placement round by round to this terminal and rendering the live view to
# demo-output/liveview.png (a few minutes). See docs/demo.md.
#   bash scripts/demo.sh [--quota-mib 16]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# setup.sh installs what is missing and builds everything, demo/ included.
if [ "${VIRT_TIER_DEMO_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup.sh >&2
else
  npx --no-install tsc -p tsconfig.json
fi
exec node dist/demo/host.js "$@"
