#!/usr/bin/env bash
# The whole suite: set-up, type check, then every test (unit and namespace end-to-end) as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tsc --noEmit -p .
# Module structure: no import cycle in src/ (type-only imports count: a cycle of types is still a
# tangle), the core imports nothing outside src/core, and config/model.ts stays types only.
npx dpdm --no-warning --no-tree --no-progress --exit-code circular:1 'src/**/*.ts'
if grep -rnE "from '(\.\./)+(config|daemon|gates|sensors|store|guard|log|cli|aws|client|lab)/" src/core; then
  echo 'src/core must not import outside the core (above)' >&2; exit 1
fi
if grep -nE "^import [^t]|^import \{|^export (const|let|function|class|default)" src/config/model.ts; then
  echo 'src/config/model.ts holds types only and imports only types (above)' >&2; exit 1
fi
status=0
npx vitest run --reporter=default --reporter=json --outputFile=.vitest-results.json "$@" || status=$?
# A closing line any CI reads, whatever the runner: "N passed, N failed, N skipped".
node -e '
  const r = JSON.parse(require("fs").readFileSync(".vitest-results.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit $status
