#!/usr/bin/env bash
# What the host-service parts need (issue 14: package, man pages, completion,
# `virt-tier top`, dashboards), idempotently: dpkg-dev tools to build the
# .deb, mandoc to lint the man pages, tmux to drive `virt-tier top` in a real
# terminal, bash-completion's bash, systemd's systemd-analyze to verify the
# unit, and promtool. promtool comes from Debian's prometheus package, but
# installing that package would also enable and start a Prometheus server on
# :9090, so it is downloaded and only promtool is unpacked into .cache/prometheus.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"
apt_install dpkg-dev fakeroot mandoc tmux bash systemd

dest="$root/.cache/prometheus"
if [ ! -x "$dest/usr/bin/promtool" ]; then
  mkdir -p "$dest" "$root/.cache/deb"
  if ! ls "$root/.cache/deb"/prometheus_*.deb >/dev/null 2>&1; then
    (cd "$root/.cache/deb" && apt-get download prometheus >/dev/null 2>&1) || {
      apt-get update -qq >/dev/null && (cd "$root/.cache/deb" && apt-get download prometheus >/dev/null)
    }
  fi
  dpkg-deb --fsys-tarfile "$root/.cache/deb"/prometheus_*.deb | tar -x -C "$dest" ./usr/bin/promtool
fi
echo "setup-service: mandoc $(dpkg-query -W -f='${Version}' mandoc), tmux $(tmux -V | awk '{print $2}'), $("$dest/usr/bin/promtool" --version 2>&1 | head -n1)"
