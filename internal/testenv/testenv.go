// Package testenv holds test helpers shared by dcproxy's packages.
package testenv

import (
	"os"
	"testing"
)

// OnCI reports whether the tests run on CI (.ci/run exports CI=true, as most CI systems do).
func OnCI() bool {
	v := os.Getenv("CI")
	return v != "" && v != "0" && v != "false"
}

// SkipOrFail skips the test when a prerequisite is missing on a developer's machine, and fails it
// on CI, where every prerequisite must be installed (scripts/test-deps.sh): a test that silently
// skips on CI proves nothing.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if OnCI() {
		t.Fatalf("prerequisite missing on CI: "+format, args...)
	}
	t.Skipf(format, args...)
}
