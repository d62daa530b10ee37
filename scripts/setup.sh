#!/usr/bin/env bash
# Set-up of a development and test machine (Debian 12, as root): Debian packages, knockgate's
# Node.js runtime (scripts/node-runtime.sh), npm dependencies (including the libpcap addon in
# native/capture, built from source against libpcap-dev and this runtime's headers), and the
# compiled CLI. Safe to run again. A production host needs none of this: it installs the Debian
# package (`npm run package`, README "Install on a bastion").
set -euo pipefail
cd "$(dirname "$0")/.."

# What the daemon needs at run time: the Debian package depends on exactly these (nftables brings
# libnftnl11 and libmnl0, which the netlink addon links).
RUN_PACKAGES=(nftables libpcap0.8 libnftnl11 libmnl0)
# What building needs: node-gyp compiles the libpcap addon and the netlink one (native/nftset).
BUILD_PACKAGES=(libpcap-dev libnftnl-dev libmnl-dev python3 make g++)
# Test peers and tools, never on a production host.
TEST_PACKAGES=(
  iptables iproute2                          # the iptables gate; namespaces and veth pairs
  knockd fwknop-client fwknop-server         # reference peers for interop tests and benchmarks
  nmap hping3 netcat-openbsd tcpdump procps iputils-ping # scanners, packet generators and inspection in tests
  curl                                       # signed IAM calls to moto_server (AWS error test); /metrics scrapes in the bench
  redis-server redis-tools                   # the shared store; redis-cli builds the Cluster (Sentinel is redis-server --sentinel)
  openssl                                    # a private CA and server certificate for the rediss:// fleet test
  openssh-server openssh-client              # real sshd and ssh for `knockgate connect` as a ProxyCommand
  faketime                                   # daemons under a stepped or skewed wall clock (libfaketime)
  strace systemd                             # the unit's system-call filter checked against what the daemon calls; systemd-analyze
  dnsmasq-base radvd                         # a rogue DHCP server and a rogue IPv6 router for the guard's tests
  debootstrap dpkg-dev man-db zip unzip zsh  # the packaging tests: a fresh Debian root, the .deb, man, the Lambda zip, completions
)

missing=()
for pkg in "${RUN_PACKAGES[@]}" "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The peers' own services must not start and grab interfaces or ports: tests start them by hand.
  # policy-rc.d says so for this install only; a file the host already had is put back afterwards.
  policy=/usr/sbin/policy-rc.d
  saved=""
  if [ -e "$policy" ] || [ -L "$policy" ]; then
    saved="$(mktemp)"
    cp -a "$policy" "$saved"
  fi
  restore_policy() {
    if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\nexit 101\n' > "$policy.knockgate" && chmod +x "$policy.knockgate" && mv -f "$policy.knockgate" "$policy"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  restore_policy
  trap - EXIT
fi

source scripts/node-runtime.sh

CAPTURE_ADDON=node_modules/knockgate-capture/build/Release/knockgate_capture.node
capture_loads() { [ -f "$CAPTURE_ADDON" ] && node -e 'require("knockgate-capture")' 2>/dev/null; }
unix_socket_loads() { node -e 'require("knockgate-unix-socket")' 2>/dev/null; }
nftset_loads() { node -e 'require("knockgate-nftset")' 2>/dev/null; }
# A new lock file, an addon built for another Node (ABI), or addon sources changed since the last
# install (node_modules holds copies of native/*, built then) mean installing again.
native_changed() { [ -n "$(find native -type f -not -path '*/build/*' -newer node_modules/.package-lock.json 2>/dev/null | head -1)" ]; }
if ! capture_loads || ! unix_socket_loads || ! nftset_loads || [ package-lock.json -nt node_modules/.package-lock.json ] || native_changed; then
  npm ci --no-audit --no-fund
fi
# npm 11 skips unapproved install scripts silently; fail loudly instead of running without capture.
if ! capture_loads; then
  echo "setup: the libpcap addon (native/capture) did not build or load on Node $(node --version); check libpcap-dev, python3, make, g++ and allowScripts in package.json" >&2
  exit 1
fi
# The control socket's peer credentials and systemd readiness need the second addon.
if ! unix_socket_loads; then
  echo "setup: the Unix socket addon (native/unix-socket) did not build or load; check python3, make, g++ and allowScripts in package.json" >&2
  exit 1
fi
# Grants over netlink (native/nftset); without it the nftables gate falls back to nft -i, slower.
if ! nftset_loads; then
  echo "setup: the netlink addon (native/nftset) did not build or load; check libnftnl-dev, libmnl-dev, python3, make, g++ and allowScripts in package.json" >&2
  exit 1
fi
npm run -s build
