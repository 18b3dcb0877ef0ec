#!/usr/bin/env bash
# Installs what the live-view test (test/integration/liveview*.test.ts) needs
# on a fresh machine, idempotently: Debian's chromium (headless, driven over
# CDP) and the playwright-core npm package (the driver only; it never
# downloads a browser of its own, the test points it at /usr/bin/chromium).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
apt_install chromium

if [ ! -f "$root/node_modules/playwright-core/package.json" ]; then
  (cd "$root" && npm install --no-audit --no-fund --save-dev playwright-core >/dev/null)
fi
echo "live view: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium missing'), playwright-core $(node -p "require('$root/node_modules/playwright-core/package.json').version")"
