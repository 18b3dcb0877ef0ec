#!/usr/bin/env bash
# Installs what the live-view test (test/integration/liveview*.test.ts) needs
# on a fresh machine, idempotently: Debian's chromium (headless, driven over
# CDP) and the playwright-core npm package (the driver only; it never
# downloads a browser of its own, the test points it at /usr/bin/chromium).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

if [ ! -f "$root/node_modules/playwright-core/package.json" ]; then
  (cd "$root" && npm install --no-audit --no-fund --save-dev playwright-core >/dev/null)
fi
echo "live view: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium missing'), playwright-core $(node -p "require('$root/node_modules/playwright-core/package.json').version")"
