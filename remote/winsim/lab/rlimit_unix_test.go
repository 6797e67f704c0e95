//go:build unix

package lab

import (
	"syscall"
	"testing"
)

// raiseNoFile lifts the soft open-files limit towards want (at most the hard limit) for a test
// that opens many listeners, and skips nothing: a limit that stays too low fails the test later.
func raiseNoFile(t *testing.T, want uint64) {
	t.Helper()
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Logf("getrlimit: %v", err)
		return
	}
	if l.Cur >= want {
		return
	}
	l.Cur = min(want, l.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		t.Logf("setrlimit: %v", err)
	}
}
