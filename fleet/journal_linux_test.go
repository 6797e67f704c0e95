package fleet

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted when the test ends. It skips
// the test when this process may not mount (not root, or no CAP_SYS_ADMIN in a container).
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a %s tmpfs on %s (%v): the full-disk test needs root with CAP_SYS_ADMIN", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file on dir until the file system is full and returns its name.
func fill(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := bytes.Repeat([]byte{0xEE}, 512)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return name
		}
	}
}

// A real full file system: appends fail once the disk is full, each failed append leaves the
// journal exactly as it was (no partial line), and after space is freed the next append works and
// every record that Append reported written is readable.
func TestJournalFullFilesystem(t *testing.T) {
	dir := mountTmpfs(t, "64k")
	path := filepath.Join(dir, "backups.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	// One small record, so the journal's last page has room left: the big append below then writes
	// part of its line into that room before the disk is full (a short write).
	var written []int
	if err := j.Append(testRecord(1, 8)); err != nil {
		t.Fatal(err)
	}
	written = append(written, 1)
	filler := fill(t, dir)

	before := must(os.ReadFile(path))
	failures := 0
	for i := 2; i < 6; i++ {
		err := j.Append(testRecord(i, 3000)) // a 6 KB line: more than the room left in the page
		if err == nil {
			written = append(written, i)
			continue
		}
		failures++
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("append %d: %v, want ENOSPC", i, err)
		}
		if got := must(os.ReadFile(path)); !bytes.Equal(got, before) {
			t.Fatalf("append %d failed (%v) and left the journal at %d bytes, want %d (no partial line)", i, err, len(got), len(before))
		}
	}
	if failures == 0 {
		t.Fatal("no append failed on a full file system")
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for i := 6; i < 8; i++ {
		if err := j.Append(testRecord(i, 3000)); err != nil {
			t.Fatalf("append %d after freeing space: %v", i, err)
		}
		written = append(written, i)
	}
	recs, err := ReadBackups(path)
	if err != nil {
		t.Fatal(err)
	}
	wantHosts(t, recs, written...)
}

// The write that the fix prevents: on the same full file system a plain O_APPEND write of the same
// line is cut short, leaving a partial line (the test above is not vacuous).
func TestFullFilesystemShortWrite(t *testing.T) {
	dir := mountTmpfs(t, "64k")
	path := filepath.Join(dir, "plain.jsonl")
	if err := os.WriteFile(path, recordLine(t, testRecord(1, 8)), 0o600); err != nil {
		t.Fatal(err)
	}
	fill(t, dir)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := f.Write(recordLine(t, testRecord(2, 3000)))
	if err == nil || n == 0 {
		t.Fatalf("write on a full tmpfs: %d bytes, %v; want a short write", n, err)
	}
	t.Logf("plain append on a full tmpfs: %d of %d bytes written, then %v", n, len(recordLine(t, testRecord(2, 3000))), err)
}
