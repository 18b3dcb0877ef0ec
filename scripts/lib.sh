# Shared by the setup scripts (source it): apt_install PKG... installs the
# Debian packages that are not installed yet, running `apt-get update` at
# most once per setup (the flag is exported to the part scripts).
apt_updated="${apt_updated:-0}"
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; export apt_updated; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
