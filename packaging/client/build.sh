#!/usr/bin/env bash
# npm run package:client: release/knockgate-<version>.tgz, the CLI for an operator's laptop
# (Linux or macOS): `npm install -g ./knockgate-<version>.tgz` on Node.js 22.12+ or 24. It holds
# the compiled code and pins every dependency (npm-shrinkwrap.json, from the lock file); it
# leaves out the libpcap addon, which only serve, lab and guard load, so installing needs
# neither libpcap nor a compiler and runs no install script.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/node-runtime.sh
source packaging/common.sh

version="$(node -p 'require("./package.json").version')"
work="$RELEASE_DIR/build/client"
pkg="$work/knockgate"
rm -rf "$work" && mkdir -p "$pkg"
build_dist "$work/dist"
find "$work/dist" -name '*.map' -delete
rm -rf "$work/dist/cli/reference"   # a build step, not run-time code
cp -r "$work/dist" bin examples README.md "$pkg/"
cp package-lock.json "$pkg/"
# The published manifest: what installing needs, nothing about building or testing it here.
node -e '
  const fs = require("fs"), pkg = JSON.parse(fs.readFileSync("package.json", "utf8"));
  for (const key of ["scripts", "devDependencies", "optionalDependencies", "allowScripts"]) delete pkg[key];
  pkg.files.push("npm-shrinkwrap.json");
  fs.writeFileSync(process.argv[1], JSON.stringify(pkg, null, 2) + "\n");
' "$pkg/package.json"
# The lock file trimmed to that manifest (same versions), published as the shrinkwrap.
(cd "$pkg" && npm install --package-lock-only --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null && npm shrinkwrap --loglevel=error >/dev/null)
mkdir -p "$RELEASE_DIR"
(cd "$pkg" && npm pack --pack-destination "$RELEASE_DIR" --loglevel=error >/dev/null)
echo "package:client: $RELEASE_DIR/knockgate-$version.tgz ($(du -h "$RELEASE_DIR/knockgate-$version.tgz" | cut -f1))"
