//go:build !windows && !(linux || darwin || dragonfly || freebsd || netbsd || openbsd || illumos)

package fleet

import "os"

// lockFile: no flock on this system; a journal must not be shared by concurrent dcproxy runs here.
func lockFile(f *os.File) (unlock func(), err error) { return func() {}, nil }
