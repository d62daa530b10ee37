#!/bin/bash
# npm run bench [-- --quick]: build the daemon (dist/) and the harness (dist/bench/), then run it.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same Node.js runtime as the tests and the Debian package (.node-version).
source scripts/node-runtime.sh
npm run --silent build
npx tsc -p bench/tsconfig.json
# The harness's copy of src/lab finds the CLI at ../../bin from its own location; point that at the real bin/.
ln -sfn ../../bin dist/bench/bin
exec node dist/bench/bench/main.js "$@"
