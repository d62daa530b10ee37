#!/usr/bin/env bash
# The demo: set-up, then a throwaway namespace lab showing closed → knock → open → expiry.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/node-runtime.sh
exec node bin/knockgate.js lab "$@"
