#!/usr/bin/env bash
# fresh-root.sh SUITE DEST: a fresh minimal Debian root (bookworm, trixie, …) in DEST, as
# `debootstrap --variant=minbase` makes it, plus man-db (to read man pages in it). The first run
# keeps the bootstrapped root as a tarball under $KNOCKGATE_CACHE (default /var/cache/knockgate-dev),
# outside any work tree; later runs unpack that (seconds instead of a download and a debootstrap).
# Run commands in it with in-root.sh.
set -euo pipefail
suite="$1" dest="$2"
arch="$(dpkg --print-architecture)"
cache="${KNOCKGATE_CACHE:-/var/cache/knockgate-dev}/debootstrap"
tarball="$cache/$suite-minbase-$arch.tar"
if [ ! -f "$tarball" ]; then
  command -v debootstrap >/dev/null || { echo "fresh-root: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 3; }
  mkdir -p "$cache"
  tmp="$(mktemp -d "$cache/.bootstrap-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "fresh-root: debootstrap $suite (first run only; cached as $tarball)" >&2
  if ! debootstrap --variant=minbase --include=man-db --arch="$arch" "$suite" "$tmp/root" \
    "${KNOCKGATE_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >"$tmp/log" 2>&1; then
    tail -n 20 "$tmp/log" >&2
    exit 4
  fi
  tar -C "$tmp/root" -cf "$tmp/root.tar" .
  mv "$tmp/root.tar" "$tarball"
fi
mkdir -p "$dest"
tar -C "$dest" -xf "$tarball"
cp /etc/resolv.conf "$dest/etc/resolv.conf"
# As in a container build: no service starts while packages are installed in the root.
printf '#!/bin/sh\nexit 101\n' > "$dest/usr/sbin/policy-rc.d" && chmod +x "$dest/usr/sbin/policy-rc.d"
