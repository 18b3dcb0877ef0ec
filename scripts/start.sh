#!/usr/bin/env bash
# The main job on a sensible default: sets up, then runs virt-tierd in the
# foreground on socket "virt-tier" with the default sample config loaded and
# its project started (etmem's `project start`: loading alone starts
# nothing), so the default task tiers any process named virt-tier-demo.
# Try it from another terminal: node bin/virt-tier.js project show
#   VIRT_TIER_SOCKET=NAME     another socket name
#   VIRT_TIER_SKIP_SETUP=1    the checkout is set up and built already
#   VIRT_TIER_LOG_LEVEL=0..3  daemon log level (default 1, info)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ "${VIRT_TIER_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup.sh
fi
socket="${VIRT_TIER_SOCKET:-virt-tier}"
# The loader requires a root-owned file of mode 0600 or 0400 (etmem's rule); samples in git are 0644.
conf="$(mktemp /tmp/virt-tier-default.XXXXXX.ini)"
install -m 0600 conf/default.ini "$conf"
echo "virt-tierd: socket \"$socket\", config $conf (Ctrl-C stops)"
# Run through the shebang: it carries the daemon's V8 flags (a small young generation).
./bin/virt-tierd.js -s "$socket" -l "${VIRT_TIER_LOG_LEVEL:-1}" --load "$conf" &
daemon=$!
trap 'kill -TERM "$daemon" 2>/dev/null || true; wait "$daemon"; rm -f "$conf"; exit 0' INT TERM
# Wait until it answers, then start the project the config defines.
for _ in $(seq 1 100); do
  if node bin/virt-tier.js project show -s "$socket" >/dev/null 2>&1; then break; fi
  kill -0 "$daemon" 2>/dev/null || { wait "$daemon"; exit $?; }
  sleep 0.2
done
node bin/virt-tier.js project start -n demo -s "$socket"
echo "virt-tierd: project demo started (tracker: node bin/virt-tier.js host-validate)"
status=0
wait "$daemon" || status=$?
rm -f "$conf"
exit "$status"
