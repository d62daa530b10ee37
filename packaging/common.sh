# Sourced by the packaging scripts (after scripts/node-runtime.sh).
# Where they write: release/ unless KNOCKGATE_RELEASE_DIR says otherwise (the tests use their
# own, so a suite run leaves a release built by hand alone). Work trees go in its build/.
RELEASE_DIR="$(realpath -m "${KNOCKGATE_RELEASE_DIR:-release}")"

# build_dist OUT: compiles the CLI into OUT (not dist/, which tests running meanwhile use).
build_dist() {
  rm -rf "$1" && npx tsc -p tsconfig.build.json --outDir "$1"
}

# stage_app DIST DEST with-capture|without-capture copies the compiled CLI (DIST as DEST/dist,
# bin/, package.json, the lock file) into DEST and installs its production
# dependencies there from the lock file, without running any install script. with-capture adds the
# native addons as built by scripts/setup.sh against the runtime in .node-version (only its
# loader and the .node file: no sources, no build tree); without-capture leaves the optional
# dependency out entirely, so nothing in DEST links to it.
stage_app() {
  local dist="$1" dest="$2" capture="$3"
  rm -rf "$dest" && mkdir -p "$dest"
  cp -r bin package.json package-lock.json "$dest/"
  cp -r "$dist" "$dest/dist"
  find "$dest/dist" -name '*.map' -delete
  if [ "$capture" = with-capture ]; then
    # The daemon's native addons (capture with the guard's netdiag; grants over netlink; the Unix socket calls): each
    # package's loader and its .node modules, nothing of the build tree.
    local native release addon
    for native in native/capture native/nftset native/unix-socket; do
      release="$native/build/Release"
      if ! node -e "require('./$native')" 2>/dev/null; then
        echo "stage_app: the addon in $release is missing or not built for Node $(node --version); run scripts/setup.sh" >&2
        return 1
      fi
      for addon in "$release"/*.node; do install -D -m 0644 "$addon" "$dest/$addon"; done
      cp "$native/package.json" "$native/index.js" "$dest/$native/"
    done
    (cd "$dest" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  else
    (cd "$dest" && npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  fi
  # The lock was for installing; .bin holds links to dependencies' own commands, which nothing here runs.
  rm -rf "$dest/package-lock.json" "$dest/node_modules/.package-lock.json" "$dest/node_modules/.bin"
  # Type declarations and source maps are for editors and debuggers, not for running.
  find "$dest/node_modules" -type d -name dist-types -prune -exec rm -rf {} +
  find "$dest/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '*.map' \) -delete
}
