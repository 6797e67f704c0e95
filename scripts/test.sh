#!/usr/bin/env bash
# The test command of the README: installs the test dependencies if missing, then runs every Go test
# with the race detector. Extra arguments go to `go test` (e.g. -run TestAudit -v).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-deps.sh
# The race detector needs cgo and a C compiler; without one the tests still run, without it.
race=-race
if [ "$(go env CGO_ENABLED)" != 1 ] || ! command -v "$(go env CC)" >/dev/null 2>&1; then
  echo "test.sh: no C compiler for cgo: running without -race" >&2
  race=
fi
exec go test $race -timeout 20m "$@" ./...
