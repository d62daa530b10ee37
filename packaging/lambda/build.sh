#!/usr/bin/env bash
# npm run package:lambda: release/knockgate-lambda.zip, the code deploy/aws/template.yaml deploys
# (CodeUri): the compiled package with its production dependencies and nothing native, so it
# runs on the template's arm64 Lambdas. Built on the Node.js of .node-version, which must be the
# major version of the template's default Runtime.
#
# KNOCKGATE_LAMBDA_FILES=DIR adds DIR's files under files/ in the zip, for an SSH-key door's
# authorized_keys or trusted_user_ca: the function reads them at /var/task/files/NAME (Lambda
# unpacks the zip at its task root, /var/task). Lambda runs as a user that owns no file, so they
# go in world-readable; a door key file is refused for that reason: give it as door_key_text in
# KNOCKGATE_CONFIG (docs/aws.md, "SSH-key doors").
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/node-runtime.sh
source packaging/common.sh

declared="$(sed -n '/^  Runtime:/,/^  [A-Za-z]/s/^ *Default: nodejs\([0-9]*\)\.x$/\1/p' deploy/aws/template.yaml)"
if [ "$declared" != "${KNOCKGATE_NODE_VERSION%%.*}" ]; then
  echo "package:lambda: deploy/aws/template.yaml declares nodejs${declared:-?}.x but .node-version is $KNOCKGATE_NODE_VERSION: make them one major version" >&2
  exit 1
fi
if ! command -v zip >/dev/null; then
  echo "package:lambda: installing zip"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends zip >/dev/null
fi

work="$RELEASE_DIR/build/lambda"
bundle="$work/bundle"
rm -rf "$work" && mkdir -p "$work"
build_dist "$work/dist"
stage_app "$work/dist" "$bundle" without-capture
rm -rf "$bundle/bin" "$bundle/dist/cli/reference"
if [ -n "${KNOCKGATE_LAMBDA_FILES:-}" ]; then
  if [ ! -d "$KNOCKGATE_LAMBDA_FILES" ]; then
    echo "package:lambda: KNOCKGATE_LAMBDA_FILES=$KNOCKGATE_LAMBDA_FILES is not a directory" >&2
    exit 1
  fi
  if grep -rlq DOOR_PRIVATE_KEY_BASE64 "$KNOCKGATE_LAMBDA_FILES"; then
    echo "package:lambda: $(grep -rl DOOR_PRIVATE_KEY_BASE64 "$KNOCKGATE_LAMBDA_FILES" | head -1) is a door key: every file in the zip is world-readable, so give it as door_key_text in KNOCKGATE_CONFIG instead" >&2
    exit 1
  fi
  mkdir -p "$bundle/files"
  cp -rL "$KNOCKGATE_LAMBDA_FILES"/. "$bundle/files/"
  chmod -R u=rwX,go=rX "$bundle/files"
fi
# A link or a native file would not survive the zip or not run on arm64: none may be left.
stray="$(find "$bundle" -type l -o -name '*.node')"
if [ -n "$stray" ]; then
  echo "package:lambda: the bundle must be self-contained, but has: $stray" >&2
  exit 1
fi
mkdir -p "$RELEASE_DIR"
rm -f "$RELEASE_DIR/knockgate-lambda.zip"
(cd "$bundle" && zip -q -r -X "$RELEASE_DIR/knockgate-lambda.zip" .)
echo "package:lambda: $RELEASE_DIR/knockgate-lambda.zip ($(du -h "$RELEASE_DIR/knockgate-lambda.zip" | cut -f1), nodejs$declared.x)"
