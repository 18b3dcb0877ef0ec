#!/usr/bin/env bash
# Builds the Debian package of virt-tier from this tree with dpkg-deb:
#   bash scripts/build-deb.sh [OUTDIR]      (default build/deb/; prints the .deb path)
# It compiles the TypeScript, uses the native addon built for the Node on
# this machine (build/Release/virt_tier.node; built if missing), and packs:
#   /usr/lib/virt-tier/                  package.json, bin/, dist/src/, the addon, hooks/, web/,
#                                        the production node_modules (package.json's closure)
#   /usr/bin/virt-tierd, /usr/bin/virt-tier   links to bin/*.js
#   /lib/systemd/system/virt-tierd.service    conf/virt-tierd.service
#   /etc/virt-tier/virt-tier.conf        conf/virt-tier.conf, 0600 root:root, a conffile
#   /usr/share/man/man{5,8}/             man/*.5, man/*.8 (gzip)
#   /usr/share/bash-completion/completions/   completion/virt-tier (for both programs)
#   /usr/share/doc/virt-tier/            README, copyright, examples/, dashboards/
# The maintainer scripts (conf/deb/) install the qemu hook with
# `virt-tier install-hook` on configure, enable the unit, and remove the hook
# on purge.
#
# Node: the addon and @unraid/libvirt use Node-API (ABI-stable across Node
# versions), so one build serves any Node >= 20: the package depends on
# `nodejs (>= 20)`. Debian 12's own nodejs is 18, so on Debian 12 that
# dependency is met by NodeSource's `nodejs` package (what this project's
# machines run: dpkg -S /usr/bin/node -> nodejs 20.x nodesource) or a
# backport; `dpkg -i` refuses the package when only Node 18 is there.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="${1:-$root/build/deb}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

version="$(node -p "require('./package.json').version")"
arch="$(dpkg --print-architecture)"
[ -f build/Release/virt_tier.node ] || npm run install --silent >/dev/null
npx --no-install tsc -p tsconfig.json

stage="$(mktemp -d "${TMPDIR:-/tmp}/virt-tier-deb.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
lib="$stage/usr/lib/virt-tier"
mkdir -p "$lib/bin" "$lib/dist" "$lib/build/Release" "$stage/usr/bin" "$stage/lib/systemd/system" \
  "$stage/etc/virt-tier" "$stage/usr/share/doc/virt-tier/examples" "$stage/usr/share/doc/virt-tier/dashboards" "$stage/DEBIAN"

cp package.json "$lib/"
cp bin/virt-tierd.js bin/virt-tier.js "$lib/bin/"
cp -r dist/src "$lib/dist/"
cp build/Release/virt_tier.node "$lib/build/Release/"
cp -r hooks web "$lib/"

# Production dependencies only: package.json's `dependencies`, followed
# package by package (node_modules also holds dev and extraneous packages).
node --input-type=module -e '
  import { readFileSync } from "node:fs";
  import path from "node:path";
  const seen = new Set();
  // @unraid/libvirt lists its build tools as dependencies; its dist/ imports
  // only xml2js and node:module (and loads its own .node), so these 24 MB
  // (tsx brings esbuild) stay out. The package test runs the installed daemon
  // with libvirt on, which loads the binding: a missing module fails it.
  const BUILD_ONLY = { "@unraid/libvirt": ["tsx", "@mapbox/node-pre-gyp"] };
  const visit = (fromDir, name) => {
    for (let dir = fromDir; ; dir = path.dirname(dir)) {
      const cand = path.join(dir, "node_modules", name);
      let pkg;
      try { pkg = JSON.parse(readFileSync(path.join(cand, "package.json"), "utf8")); } catch { if (dir === path.dirname(dir)) throw new Error("unresolved dependency " + name); continue; }
      if (seen.has(cand)) return;
      seen.add(cand);
      for (const d of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
        if ((BUILD_ONLY[pkg.name] ?? []).includes(d)) continue;
        try { visit(cand, d); } catch (e) { if (!(pkg.optionalDependencies ?? {})[d]) throw e; }
      }
      return;
    }
  };
  const root = process.cwd();
  for (const d of Object.keys(JSON.parse(readFileSync("package.json", "utf8")).dependencies)) visit(root, d);
  for (const p of [...seen].sort()) console.log(path.relative(root, p));
' | while read -r rel; do
  mkdir -p "$lib/$(dirname "$rel")"
  cp -a "$rel" "$lib/$rel"
done
# Build leftovers of dependencies' own native builds are not needed at run time.
find "$lib/node_modules" -type d \( -name obj.target -o -name .deps \) -prune -exec rm -rf {} +

ln -s ../lib/virt-tier/bin/virt-tierd.js "$stage/usr/bin/virt-tierd"
ln -s ../lib/virt-tier/bin/virt-tier.js "$stage/usr/bin/virt-tier"
cp conf/virt-tierd.service "$stage/lib/systemd/system/"
cp conf/virt-tier.conf "$stage/etc/virt-tier/"
cp conf/slide.ini conf/cslide.ini conf/thirdparty.ini conf/virt-tier.yaml "$stage/usr/share/doc/virt-tier/examples/"
cp README.md "$stage/usr/share/doc/virt-tier/"
for f in conf/grafana-dashboard.json conf/prometheus-alerts.yml; do
  [ -f "$f" ] && cp "$f" "$stage/usr/share/doc/virt-tier/dashboards/"
done
for page in man/*.[1-8]; do
  [ -f "$page" ] || continue
  sec="${page##*.}"
  mkdir -p "$stage/usr/share/man/man$sec"
  gzip -9n < "$page" > "$stage/usr/share/man/man$sec/$(basename "$page").gz"
done
if [ -f completion/virt-tier ]; then
  mkdir -p "$stage/usr/share/bash-completion/completions"
  cp completion/virt-tier "$stage/usr/share/bash-completion/completions/virt-tier"
  ln -s virt-tier "$stage/usr/share/bash-completion/completions/virt-tierd"
fi
cat > "$stage/usr/share/doc/virt-tier/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: virt-tier
License: $(node -p "require('./package.json').license")
Comment: bundled Node modules under /usr/lib/virt-tier/node_modules carry their own licenses in their directories.
EOF

# Modes: files 0644, directories and programs 0755, the config 0600 (etmem's rule).
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod 0644 {} +
chmod 0755 "$lib/bin/virt-tierd.js" "$lib/bin/virt-tier.js" "$lib/hooks/qemu"
find "$lib/node_modules" -type f -name '*.node' -exec chmod 0755 {} +
chmod 0600 "$stage/etc/virt-tier/virt-tier.conf"

install -m 0755 conf/deb/postinst conf/deb/prerm conf/deb/postrm "$stage/DEBIAN/"
echo /etc/virt-tier/virt-tier.conf > "$stage/DEBIAN/conffiles"
size_kb="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
cat > "$stage/DEBIAN/control" <<EOF
Package: virt-tier
Version: $version
Architecture: $arch
Maintainer: virt-tier developers <virt-tier@localhost>
Installed-Size: $size_kb
Depends: nodejs (>= 20), libvirt0 (>= 6.5), libc6, libstdc++6, libgcc-s1
Recommends: libvirt-daemon-system, numactl
Section: admin
Priority: optional
Homepage: https://github.com/virt-tier/virt-tier
Description: memory tiering daemon for KVM/libvirt hosts (etmem-compatible)
 virt-tierd keeps the hot pages of libvirt guests in DRAM and moves cold
 ones to memory-only NUMA nodes (Optane/AEP, CXL) or swap. It reads
 openEuler etmem's configuration file and answers etmem's CLI verbs; the
 virt-tier CLI adds virsh-style verbs for guests by name.
EOF

deb="$out/virt-tier_${version}_${arch}.deb"
# gzip: xz takes minutes on a loaded 2-core machine for a few MB saved.
dpkg-deb --root-owner-group -Zgzip --build "$stage" "$deb" >/dev/null
echo "$deb"
