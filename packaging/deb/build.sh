#!/usr/bin/env bash
# npm run package: builds release/knockgate_<version>_<arch>.deb with dpkg-deb and dpkg-shlibdeps.
# The package carries the Node.js runtime of .node-version (Debian 12 ships Node 18 and Debian 13
# Node 20, both past their end of life), the compiled CLI, its production dependencies and the
# libpcap addon; it depends only on what runs it: libpcap, nftables, and the C libraries the
# runtime links (found by dpkg-shlibdeps). Needs a set-up tree (scripts/setup.sh).
#   KNOCKGATE_DEB_VERSION  the package version (default: package.json's)
#   KNOCKGATE_DEB_COMPRESS dpkg-deb's -Z (default xz)
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/node-runtime.sh
source packaging/common.sh

if ! command -v dpkg-shlibdeps >/dev/null; then
  echo "package: installing dpkg-dev (dpkg-shlibdeps)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
fi

version="${KNOCKGATE_DEB_VERSION:-$(node -p 'require("./package.json").version')}"
arch="$(dpkg --print-architecture)"
work="$RELEASE_DIR/build/deb"
root="$work/root"
app="$root/usr/lib/knockgate"
rm -rf "$work" && mkdir -p "$work"

build_dist "$work/dist"
stage_app "$work/dist" "$app" with-capture
# A package built as another version says so in --version too.
node -e '
  const fs = require("fs"), p = process.argv[1], pkg = JSON.parse(fs.readFileSync(p, "utf8"));
  pkg.version = process.argv[2];
  fs.writeFileSync(p, JSON.stringify(pkg, null, 2) + "\n");
' "$app/package.json" "$version"
install -D -m 0755 "$NODE_RUNTIME_DIR/bin/node" "$app/runtime/node"
# As dh_strip does: the symbols are for debugging Node itself (18 MiB of 121).
strip --strip-unneeded --remove-section=.comment "$app/runtime/node"
install -D -m 0644 "$NODE_RUNTIME_DIR/LICENSE" "$app/runtime/LICENSE"
install -D -m 0755 packaging/deb/knockgate "$root/usr/bin/knockgate"

# What an operator reads and edits.
install -D -m 0644 deploy/knockgate.service "$root/usr/lib/systemd/system/knockgate.service"
install -D -m 0640 examples/knockgate.toml "$root/etc/knockgate/knockgate.toml"
doc="$root/usr/share/doc/knockgate"
install -D -m 0644 examples/knockgate.toml "$doc/examples/knockgate.toml"
install -D -m 0644 examples/knockd.conf "$doc/examples/knockd.conf"
install -D -m 0644 deploy/knockgate-knockd-conf.conf "$doc/examples/knockd-conf.conf"
for f in README.md docs/*.md; do gzip -9n -c "$f" > "$doc/$(basename "$f").gz"; done
{ cat packaging/deb/copyright; echo; echo "Files: usr/lib/knockgate/runtime/node"; echo "License: Node.js (MIT and the licenses of its bundled components, below)"; echo; sed 's/^$/./; s/^/ /' "$NODE_RUNTIME_DIR/LICENSE"; } > "$doc/copyright"

# Man page and completions rendered from this build's --help, so they cannot drift from it.
ref="$work/reference"
"$app/runtime/node" "$app/dist/cli/reference/write-reference.js" "$ref" "$(git log -1 --format=%cs 2>/dev/null || date -u +%F)"
rm -rf "$app/dist/cli/reference"   # a build step, not run-time code
mkdir -p "$root/usr/share/man/man1" && gzip -9n -c "$ref/knockgate.1" > "$root/usr/share/man/man1/knockgate.1.gz"
install -D -m 0644 "$ref/knockgate.bash" "$root/usr/share/bash-completion/completions/knockgate"
install -D -m 0644 "$ref/_knockgate" "$root/usr/share/zsh/vendor-completions/_knockgate"

# Control files: library dependencies as dpkg-shlibdeps finds them in the ELF files (Node and the addon's modules).
mkdir -p "$work/debian" "$root/DEBIAN"
: > "$work/debian/control"
shlibs="$(cd "$work" && dpkg-shlibdeps -O --warnings=0 "root/usr/lib/knockgate/runtime/node" root/usr/lib/knockgate/native/*/build/Release/*.node | sed -n 's/^shlibs:Depends=//p')"
installed_kib="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SHLIBS@/$shlibs/" -e "s/@INSTALLED_SIZE@/$installed_kib/" \
  packaging/deb/control > "$root/DEBIAN/control"
echo /etc/knockgate/knockgate.toml > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do install -m 0755 "packaging/deb/$script" "$root/DEBIAN/$script"; done

mkdir -p "$RELEASE_DIR"
out="$RELEASE_DIR/knockgate_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"${KNOCKGATE_DEB_COMPRESS:-xz}" --threads-max="$(nproc)" --build "$root" "$out" >/dev/null
echo "package: $out ($(du -h "$out" | cut -f1), installs $((installed_kib / 1024)) MiB)"
