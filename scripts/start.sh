#!/usr/bin/env bash
# The main job on a sensible default: sets up, then runs virt-tierd in the
# foreground on socket "virt-tier" with the default sample config loaded.
# Try it from another terminal: node bin/virt-tier.js project show
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh
# The loader requires a root-owned file of mode 0600 or 0400 (etmem's rule); samples in git are 0644.
conf="$(mktemp /tmp/virt-tier-default.XXXXXX.ini)"
install -m 0600 conf/default.ini "$conf"
echo "virt-tierd: socket \"virt-tier\", config $conf (Ctrl-C stops)"
exec node bin/virt-tierd.js -s "${VIRT_TIER_SOCKET:-virt-tier}" -l 1 --load "$conf"
