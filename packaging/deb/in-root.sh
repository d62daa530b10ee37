#!/usr/bin/env bash
# in-root.sh ROOT COMMAND...: runs COMMAND chrooted in ROOT with its own /proc and /sys (the host's
# interfaces, which `knockgate check` looks for), in a private mount
# namespace, so nothing stays mounted when it ends, however it ends.
set -euo pipefail
root="$1"
shift
exec unshare --mount --propagation private --fork -- sh -c 'mount -t proc proc "$0/proc" && mount -t sysfs sysfs "$0/sys" && exec chroot "$0" "$@"' "$root" \
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
