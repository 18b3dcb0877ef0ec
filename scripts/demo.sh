#!/usr/bin/env bash
# The demo: memory tiering you can watch. Sets up and builds (scripts/setup.sh),
# then boots the QEMU multi-NUMA testbed and runs virt-tierd with a cslide
# project on a synthetic VM inside it, streaming round-by-round placement
# to this terminal (about 1-2 minutes). See docs/demo.md.
#   bash scripts/demo.sh [--hot-mib 64] [--cold-mib 192] [--quota-mib 64]
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
