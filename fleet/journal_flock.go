//go:build linux || darwin || dragonfly || freebsd || netbsd || openbsd || illumos

package fleet

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive advisory lock (flock) on f, waiting for it; unlock releases it. Other
// dcproxy processes appending to the same journal take the same lock, so a truncation after a
// failed append never cuts their records.
func lockFile(f *os.File) (unlock func(), err error) {
	fd := int(f.Fd())
	for {
		err = syscall.Flock(fd, syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return func() { _ = syscall.Flock(fd, syscall.LOCK_UN) }, nil
}
