#!/usr/bin/env bash
# The test command of the README: installs the test dependencies if missing, then runs every Go test
# with the race detector. Extra arguments go to `go test` (e.g. -run TestAudit -v).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
exec go test -race -timeout 20m "$@" ./...
