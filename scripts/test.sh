#!/usr/bin/env bash
# The whole suite: set-up, type check, then every test (unit and namespace end-to-end) as root,
# on knockgate's own Node.js runtime (.node-version).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/node-runtime.sh
npx tsc --noEmit -p .
status=0
npx vitest run --reporter=default --reporter=json --outputFile=.vitest-results.json "$@" || status=$?
# A closing line any CI reads, whatever the runner: "N passed, N failed, N skipped".
node -e '
  const r = JSON.parse(require("fs").readFileSync(".vitest-results.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit $status
