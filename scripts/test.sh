#!/usr/bin/env bash
# The whole test suite: set-up (installs what is missing, builds), then the
# unit, integration, security, testbed and conformance suites with node's test runner. Prints the
# total as "N passed, N failed, N skipped" last.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/setup.sh || { echo "setup failed"; exit 1; }

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
run_suite() {
  local name="$1" concurrency="$2"; shift 2
  local files
  files=$(find "$@" -name '*.test.js' 2>/dev/null | sort)
  if [ -z "$files" ]; then echo "== $name: no tests"; return; fi
  echo "== $name"
  # spec to the terminal, TAP to a file for the totals
  # shellcheck disable=SC2086
  node --test --test-concurrency="$concurrency" --test-timeout=600000 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$out/$name.tap" $files || status=1
}

suites="${VIRT_TIER_SUITES:-unit integration security testbed conformance}"
for s in $suites; do
  case "$s" in
    unit) run_suite unit 2 dist/test/unit ;;
    integration) run_suite integration 1 dist/test/integration ;;
    # attacks as an unprivileged user (setpriv nobody), real sockets and a real Chromium: docs/security.md
    security) run_suite security 1 dist/test/security ;;
    testbed) run_suite testbed 1 dist/test/testbed ;;
    # etmem's own llt cases through the real daemon and CLI, here and (NUMA cases) in one testbed boot
    conformance) run_suite conformance 1 dist/test/conformance ;;
  esac
done

pass=0; fail=0; skip=0
for f in "$out"/*.tap; do
  [ -e "$f" ] || continue
  p=$(grep -E '^# pass ' "$f" | tail -n1 | awk '{print $3}'); pass=$((pass + ${p:-0}))
  x=$(grep -E '^# fail ' "$f" | tail -n1 | awk '{print $3}'); fail=$((fail + ${x:-0}))
  k=$(grep -E '^# skipped ' "$f" | tail -n1 | awk '{print $3}'); skip=$((skip + ${k:-0}))
done
# Each failed test again, with its error, just above the totals: CI shows
# only the tail of a run that lasts an hour.
for f in "$out"/*.tap; do
  [ -e "$f" ] && awk -v suite="$(basename "$f" .tap)" -f scripts/tap-failures.awk "$f"
done
[ "$fail" -gt 0 ] && status=1
[ "$pass" -eq 0 ] && { echo "no test passed"; status=1; }
echo "$pass passed, $fail failed, $skip skipped"
exit $status
