#!/bin/bash
# npm run conformance -- --peer knockd [--quick] [--only REGEX]: build the daemon and the harness, then run it.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run --silent build
npx tsc -p test/conformance/tsconfig.json
# The harness's copy of src/lab finds the CLI at ../../bin from its own location; point that at the real bin/.
ln -sfn ../../bin dist/conformance/bin
# …and the declared differences from where the sources keep them.
ln -sfn "$PWD/test/conformance/deliberate-differences.toml" dist/conformance/test/conformance/deliberate-differences.toml
exec node dist/conformance/test/conformance/main.js "$@"
