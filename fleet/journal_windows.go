//go:build windows

package fleet

import (
	"os"
	"syscall"
	"unsafe"
)

// journalOpenFlags: read-write without O_APPEND. Go opens an O_APPEND file on Windows with
// FILE_APPEND_DATA but without FILE_WRITE_DATA, and SetEndOfFile (the truncation after a failed
// append) and LockFileEx need the latter; appends are positioned by hand under the lock instead.
const journalOpenFlags = os.O_RDWR

// checkJournalMode: on Windows access is governed by the file's ACL, which os.FileInfo does not
// expose (as for password files, see cmd/private_windows.go).
func checkJournalMode(path string, st os.FileInfo) error { return nil }

// syncDir: Windows cannot open a directory for fsync through os.Open; NTFS journals its metadata.
func syncDir(dir string) error { return nil }

var (
	kernel32         = syscall.NewLazyDLL("kernel32.dll")
	procLockFileEx   = kernel32.NewProc("LockFileEx")
	procUnlockFileEx = kernel32.NewProc("UnlockFileEx")
)

const lockfileExclusiveLock = 0x2

// lockFile takes an exclusive lock (LockFileEx, waiting for it) on one byte far beyond any real end
// of file, so that the lock serialises dcproxy processes without blocking anyone's reads or writes
// of the records (Windows byte-range locks are mandatory); unlock releases it.
func lockFile(f *os.File) (unlock func(), err error) {
	h := syscall.Handle(f.Fd())
	ol := new(syscall.Overlapped)
	ol.Offset, ol.OffsetHigh = 0xFFFFFFFE, 0x7FFFFFFF
	r, _, e := procLockFileEx.Call(uintptr(h), lockfileExclusiveLock, 0, 1, 0, uintptr(unsafe.Pointer(ol)))
	if r == 0 {
		return nil, e
	}
	return func() {
		ol := new(syscall.Overlapped)
		ol.Offset, ol.OffsetHigh = 0xFFFFFFFE, 0x7FFFFFFF
		_, _, _ = procUnlockFileEx.Call(uintptr(h), 0, 1, 0, uintptr(unsafe.Pointer(ol)))
	}, nil
}

// appendAt writes b at off, the end of the file while the caller holds the lock.
func appendAt(f *os.File, b []byte, off int64) error {
	_, err := f.WriteAt(b, off)
	return err
}
