//go:build unix

package cmd

import (
	"fmt"
	"syscall"
)

// raiseFileLimit lifts the soft open-files limit to the hard limit: a lab of N hosts holds N
// listeners plus their connections.
func raiseFileLimit() error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return fmt.Errorf("open-files limit: %w", err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			return fmt.Errorf("raise open-files limit to %d: %w", l.Max, err)
		}
	}
	return nil
}
