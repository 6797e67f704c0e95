//go:build windows

package fleet

import "os"

// checkJournalMode: on Windows access is governed by the file's ACL, which os.FileInfo does not
// expose (as for password files, see cmd/private_windows.go).
func checkJournalMode(path string, st os.FileInfo) error { return nil }

// syncDir: Windows cannot open a directory for fsync through os.Open; NTFS journals its metadata.
func syncDir(dir string) error { return nil }
