//go:build !windows

package cmd

import (
	"fmt"
	"os"
)

// checkPrivate refuses a secret file that group or others can read.
func checkPrivate(path string, st os.FileInfo) error {
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("password file %s: mode %04o lets group or others read it; run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	return nil
}
