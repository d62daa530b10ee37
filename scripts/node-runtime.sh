# Sourced by setup.sh, test.sh, lab.sh, bench/run.sh and the packaging scripts: puts knockgate's
# Node.js runtime (the exact version in .node-version, an LTS line still supported) first on
# PATH, fetching it once from the npm registry, where Node's own release binaries and headers are
# published as node-linux-<arch>. The Debian package carries the same binary.
# Exports NODE_RUNTIME_DIR (bin/node, include/node) and npm_config_nodedir, so node-gyp builds the
# libpcap addon against this runtime's headers instead of the system Node's.

KNOCKGATE_NODE_VERSION="$(tr -d '[:space:]' < "$(dirname "${BASH_SOURCE[0]}")/../.node-version")"
case "$(uname -m)" in
  x86_64) KNOCKGATE_NODE_ARCH=x64 ;;
  aarch64) KNOCKGATE_NODE_ARCH=arm64 ;;
  *) echo "node-runtime: no Node.js $KNOCKGATE_NODE_VERSION build for $(uname -m)" >&2; return 1 ;;
esac
# Outside the work tree, so fresh clones and worktrees on one machine share one download.
NODE_RUNTIME_DIR="${KNOCKGATE_CACHE:-/var/cache/knockgate-dev}/node-v$KNOCKGATE_NODE_VERSION-linux-$KNOCKGATE_NODE_ARCH"

if [ "$("$NODE_RUNTIME_DIR/bin/node" --version 2>/dev/null)" != "v$KNOCKGATE_NODE_VERSION" ]; then
  echo "node-runtime: fetching node-linux-$KNOCKGATE_NODE_ARCH@$KNOCKGATE_NODE_VERSION from the npm registry"
  _kg_tmp="$(mktemp -d)"
  # npm pack checks the tarball against the registry's integrity hash; it needs only some Node to run.
  (cd "$_kg_tmp" && npm pack --silent "node-linux-$KNOCKGATE_NODE_ARCH@$KNOCKGATE_NODE_VERSION" >/dev/null) &&
    tar -xzf "$_kg_tmp"/node-linux-*.tgz -C "$_kg_tmp" &&
    mkdir -p "$(dirname "$NODE_RUNTIME_DIR")" && rm -rf "$NODE_RUNTIME_DIR" &&
    mv "$_kg_tmp/package" "$NODE_RUNTIME_DIR" && chmod -R a+rX "$NODE_RUNTIME_DIR"
  _kg_status=$?
  rm -rf "$_kg_tmp"
  if [ $_kg_status -ne 0 ] || [ "$("$NODE_RUNTIME_DIR/bin/node" --version 2>/dev/null)" != "v$KNOCKGATE_NODE_VERSION" ]; then
    echo "node-runtime: could not install Node.js $KNOCKGATE_NODE_VERSION into $NODE_RUNTIME_DIR" >&2
    return 1
  fi
  unset _kg_tmp _kg_status
fi
export NODE_RUNTIME_DIR KNOCKGATE_NODE_VERSION KNOCKGATE_NODE_ARCH
export PATH="$NODE_RUNTIME_DIR/bin:$PATH"
export npm_config_nodedir="$NODE_RUNTIME_DIR"
