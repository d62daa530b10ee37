#!/usr/bin/env bash
# One-time set-up on Debian 12 as root: system packages, npm dependencies (including the libpcap
# addon in native/capture, built from source against libpcap-dev), and the compiled CLI. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  nftables iptables iproute2 libpcap-dev   # gates and capture
  knockd fwknop-client fwknop-server       # reference peers for interop tests and benchmarks
  nmap hping3 netcat-openbsd tcpdump procps iputils-ping # scanners, packet generators and inspection in tests
  redis-server                             # the shared store
  faketime                                 # test-only: daemons under a stepped or skewed wall clock (libfaketime)
  strace systemd                           # test-only: the unit's system-call filter checked against what the daemon calls; systemd-analyze
  dnsmasq-base radvd                       # a rogue DHCP server and a rogue IPv6 router for the guard's tests
  python3 make g++                         # node-gyp builds the libpcap addon
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The peers' own services must not start and grab interfaces or ports: tests start them by hand.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

CAPTURE_ADDON=node_modules/knockgate-capture/build/Release/knockgate_capture.node
UNIX_SOCKET_ADDON=node_modules/knockgate-unix-socket/build/Release/knockgate_unix_socket.node
NETDIAG_ADDON=node_modules/knockgate-capture/build/Release/knockgate_netdiag.node   # the guard's, same package
if [ ! -f "$CAPTURE_ADDON" ] || [ ! -f "$NETDIAG_ADDON" ] || [ ! -f "$UNIX_SOCKET_ADDON" ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# npm 11 skips unapproved install scripts silently; fail loudly instead of running without capture.
if [ ! -f "$CAPTURE_ADDON" ] || ! node -e 'require("knockgate-capture")'; then
  echo "setup: the libpcap addon (native/capture) did not build or load; check libpcap-dev, python3, make, g++ and allowScripts in package.json" >&2
  exit 1
fi
# The control socket's peer credentials and systemd readiness need the second addon.
if [ ! -f "$UNIX_SOCKET_ADDON" ] || ! node -e 'require("knockgate-unix-socket")'; then
  echo "setup: the Unix socket addon (native/unix-socket) did not build or load; check python3, make, g++ and allowScripts in package.json" >&2
  exit 1
fi
npm run -s build
