//go:build !windows

package fleet

import (
	"fmt"
	"os"
)

// journalOpenFlags: O_APPEND, so that every write lands at the end even next to a writer that does
// not take the lock.
const journalOpenFlags = os.O_WRONLY | os.O_APPEND

// checkJournalMode refuses a journal that group or others can read.
func checkJournalMode(path string, st os.FileInfo) error {
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s: mode %04o lets group or others read it; run chmod 600 %s", ErrJournalMode, path, st.Mode().Perm(), path)
	}
	return nil
}

// syncDir fsyncs a directory so that the entries created in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// appendAt writes b at the end of f, which is off while the caller holds the file lock (O_APPEND).
func appendAt(f *os.File, b []byte, off int64) error {
	_, err := f.Write(b)
	return err
}
