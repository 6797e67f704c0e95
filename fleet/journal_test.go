package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// testRecord is a valid backup record whose previous value has size bytes.
func testRecord(i, size int) BackupRecord {
	return BackupRecord{RunID: fmt.Sprintf("run-%d", i/10), Command: "fix", Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
		Host: fmt.Sprintf("dc%02d", i), Account: "LOCAL_SYSTEM", Key: `HKU\S-1-5-18\x`, Value: "DefaultConnectionSettings",
		Previous: strings.Repeat("A5", size), New: "46000000"}
}

func recordLine(t *testing.T, r BackupRecord) []byte {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// wantHosts checks that recs are exactly the records with these indexes, in order.
func wantHosts(t *testing.T, recs []BackupRecord, idx ...int) {
	t.Helper()
	var got, want []string
	for _, r := range recs {
		got = append(got, r.Host)
	}
	for _, i := range idx {
		want = append(want, fmt.Sprintf("dc%02d", i))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("records %v, want %v", got, want)
	}
}

func appendAll(t *testing.T, j *Journal, idx ...int) {
	t.Helper()
	for _, i := range idx {
		if err := j.Append(testRecord(i, 8)); err != nil {
			t.Fatal(err)
		}
	}
}

// A torn last line (a short write before a crash) is cut on open into a private side file, and the
// records appended after it start on their own line: every record before and after is restorable
// by the strict reader.
func TestOpenJournalCutsTornTail(t *testing.T) {
	stamp := time.Date(2026, 12, 1, 10, 15, 0, 123, time.UTC)
	orig := nowFunc
	nowFunc = func() time.Time { return stamp }
	t.Cleanup(func() { nowFunc = orig })

	path := filepath.Join(t.TempDir(), "backups.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, j, 1, 2)
	j.Close()
	torn := recordLine(t, testRecord(3, 8))[:57]
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(torn)
	f.Close()

	if j, err = OpenJournal(path); err != nil {
		t.Fatal(err)
	}
	tt := j.Torn()
	wantSide := path + ".torn-20261201T101500.000000123Z"
	if tt.SideFile != wantSide || tt.Bytes != int64(len(torn)) {
		t.Errorf("torn %+v, want %s with %d bytes", tt, wantSide, len(torn))
	}
	if side, err := os.ReadFile(wantSide); err != nil || !bytes.Equal(side, torn) {
		t.Errorf("side file %q, %v; want %q", side, err, torn)
	}
	if st, err := os.Stat(wantSide); err == nil && runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("side file mode %04o", st.Mode().Perm())
	}
	appendAll(t, j, 4, 5)
	j.Close()
	recs, err := ReadBackups(path)
	if err != nil {
		t.Fatal(err)
	}
	wantHosts(t, recs, 1, 2, 4, 5)

	// A clean file is left alone, and a second torn tail within the same nanosecond gets its own side file.
	if j, err = OpenJournal(path); err != nil || j.Torn() != (TornTail{}) {
		t.Fatalf("clean reopen: %+v, %v", j.Torn(), err)
	}
	j.Close()
	os.WriteFile(path, append(must(os.ReadFile(path)), "{\"run"...), 0o600)
	if j, err = OpenJournal(path); err != nil || j.Torn().SideFile != wantSide+"-2" {
		t.Fatalf("second tear: %+v, %v", j.Torn(), err)
	}
	j.Close()
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// A file without any newline is all torn: it is cut to zero bytes, everything kept in the side file.
func TestOpenJournalTornOnlyLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	if err := os.WriteFile(path, []byte(`{"time":"2026`), 0o600); err != nil {
		t.Fatal(err)
	}
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if j.Torn().Bytes != 13 {
		t.Errorf("torn %+v", j.Torn())
	}
	if st, _ := os.Stat(path); st.Size() != 0 {
		t.Errorf("journal still %d bytes", st.Size())
	}
}

// The mode check comes before any repair: a world-readable journal is refused and left as it is.
func TestOpenJournalModeBeforeRepair(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits on Windows")
	}
	path := filepath.Join(t.TempDir(), "backups.jsonl")
	content := append(recordLine(t, testRecord(1, 4)), `{"run_id":"r`...)
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenJournal(path); !errors.Is(err, ErrJournalMode) {
		t.Fatalf("open: %v", err)
	}
	if got := must(os.ReadFile(path)); !bytes.Equal(got, content) {
		t.Errorf("refused journal was changed: %q", got)
	}
	if m, _ := filepath.Glob(path + ".torn-*"); len(m) != 0 {
		t.Errorf("side files %v", m)
	}
}

// A failed append (here a simulated short write, then a failed fsync) is truncated back: the next
// record starts on its own line and every record written is readable.
func TestJournalAppendFailureTruncatesBack(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backups.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	appendAll(t, j, 1)
	before := must(os.ReadFile(path))

	orig := appendFunc
	t.Cleanup(func() { appendFunc = orig })
	short := errors.New("no space left on device (simulated)")
	appendFunc = func(f *os.File, b []byte, off int64) error {
		if err := orig(f, b[:len(b)/2], off); err != nil {
			return err
		}
		return short
	}
	err = j.Append(testRecord(2, 8))
	if !errors.Is(err, short) || !strings.Contains(err.Error(), fmt.Sprintf("truncated back to %d bytes", len(before))) {
		t.Errorf("append error: %v", err)
	}
	if got := must(os.ReadFile(path)); !bytes.Equal(got, before) {
		t.Errorf("after the failed append the journal is %q, want %q", got, before)
	}
	appendFunc = orig
	appendAll(t, j, 3)
	recs, err := ReadBackups(path)
	if err != nil {
		t.Fatal(err)
	}
	wantHosts(t, recs, 1, 3)
}

// Two journals open on the same file (two dcproxy runs) append concurrently: every line is whole.
func TestJournalConcurrentOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backups.jsonl")
	var wg sync.WaitGroup
	const per = 100
	for w := range 2 {
		j, err := OpenJournal(path)
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range per {
				if err := j.Append(testRecord(w*per+i, 40)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	recs, err := ReadBackups(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2*per {
		t.Errorf("%d records, want %d", len(recs), 2*per)
	}
}

// What versions without repair left behind: a torn record joined by the next append. The strict
// reader names the line; the tolerant reader keeps every other record, recovers the record that was
// joined, and warns naming the file and the line.
func TestBackupReaderTornJoinedLine(t *testing.T) {
	var content []byte
	content = append(content, recordLine(t, testRecord(1, 8))...)
	content = append(content, recordLine(t, testRecord(2, 300))[:200]...) // torn inside the hex
	content = append(content, recordLine(t, testRecord(3, 8))...)         // joined to it
	content = append(content, recordLine(t, testRecord(4, 8))...)
	content = append(content, "not json at all\n"...)
	content = append(content, recordLine(t, testRecord(5, 8))...)
	full := recordLine(t, testRecord(6, 8))
	content = append(content, full[:len(full)-1]...) // torn exactly before its newline
	content = append(content, recordLine(t, testRecord(7, 8))...)
	content = append(content, recordLine(t, testRecord(8, 8))[:30]...) // torn last line
	path := filepath.Join(t.TempDir(), "backups.jsonl")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}

	if _, err := ReadBackups(path); !errors.Is(err, ErrBackupFile) || !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("strict read: %v", err)
	}
	var warns []BackupWarning
	recs, err := BackupReader{Warn: func(w BackupWarning) { warns = append(warns, w) }}.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	wantHosts(t, recs, 1, 3, 4, 5, 7)
	var lines []string
	for _, w := range warns {
		if w.File != path {
			t.Errorf("warning without the file name: %+v", w)
		}
		lines = append(lines, fmt.Sprint(w.Line))
	}
	if strings.Join(lines, ",") != "2,4,6,7" {
		t.Errorf("warnings on lines %v, want 2,4,6,7: %v", lines, warns)
	}
	if len(warns) == 4 {
		if s := warns[0].String(); !strings.HasPrefix(s, path+" line 2: the first ") || !strings.Contains(s, "host dc03") {
			t.Errorf("warning %q", s)
		}
		if !strings.Contains(warns[1].Reason, "damaged record skipped") {
			t.Errorf("warning %q", warns[1])
		}
		// Line 6 is record 6 followed by record 7: record 6's write never completed, record 7's did.
		if !strings.Contains(warns[2].Reason, "host dc07") {
			t.Errorf("warning %q", warns[2])
		}
		if !strings.Contains(warns[3].Reason, "incomplete last line (30 bytes") {
			t.Errorf("warning %q", warns[3])
		}
	}
}

// The tolerant reader bounds the work on a hostile line and never keeps an invalid record.
func TestBackupReaderLongAndHostileLines(t *testing.T) {
	var content []byte
	content = append(content, recordLine(t, testRecord(1, 8))...)
	content = append(content, bytes.Repeat([]byte(`{"run_id":`), 200_000)...) // 2 MB, over the line limit
	content = append(content, '\n')
	content = append(content, bytes.Repeat([]byte(`{"run_id":`), 5_000)...) // under it, many starts, none valid
	content = append(content, '\n')
	bad := recordLine(t, testRecord(9, 8))
	bad = bytes.Replace(bad, []byte(`"previous":"A5`), []byte(`"previous":"Z5`), 1)
	content = append(content, bad...) // valid JSON, invalid record
	content = append(content, recordLine(t, testRecord(2, 8))...)
	var warns []string
	recs, err := BackupReader{Warn: func(w BackupWarning) { warns = append(warns, w.String()) }}.Parse(bytes.NewReader(content), "")
	if err != nil {
		t.Fatal(err)
	}
	wantHosts(t, recs, 1, 2)
	if len(warns) != 3 || !strings.HasPrefix(warns[0], "line 2: longer than") || !strings.HasPrefix(warns[1], "line 3: damaged") ||
		!strings.HasPrefix(warns[2], "line 4: damaged") {
		t.Errorf("warnings %q", warns)
	}
	if _, err := ParseBackups(bytes.NewReader(content)); !errors.Is(err, ErrBackupFile) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("strict: %v", err)
	}
}

// FuzzBackupReader: the tolerant reader never fails on content, keeps only valid records, warns for
// every line it drops, and agrees with the strict reader wherever that one succeeds.
func FuzzBackupReader(f *testing.F) {
	rec := func(i int) string {
		b, _ := json.Marshal(testRecord(i, 4))
		return string(b) + "\n"
	}
	f.Add(rec(1) + rec(2))
	f.Add(rec(1) + rec(2)[:40] + rec(3))
	f.Add(rec(1) + strings.TrimSuffix(rec(2), "\n") + rec(3) + rec(4)[:9])
	f.Add("garbage\n" + rec(1) + "{}\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		var warns []BackupWarning
		recs, err := BackupReader{Warn: func(w BackupWarning) { warns = append(warns, w) }}.Parse(strings.NewReader(in), "f")
		if err != nil {
			t.Fatalf("tolerant reader failed: %v", err)
		}
		for _, r := range recs {
			if _, perr := parseRecord(recordLineOf(r)); perr != nil {
				t.Fatalf("kept invalid record %+v: %v", r, perr)
			}
		}
		lines := strings.Count(in, "\n") + 1
		for _, w := range warns {
			if w.File != "f" || w.Line < 1 || w.Line > lines || w.Reason == "" {
				t.Fatalf("bad warning %+v", w)
			}
		}
		strict, serr := ParseBackups(strings.NewReader(in))
		if serr == nil && len(strict) != len(recs) {
			t.Fatalf("strict read %d records, tolerant %d", len(strict), len(recs))
		}
		if serr != nil && len(warns) == 0 {
			t.Fatalf("strict reader failed (%v) but the tolerant one warned of nothing", serr)
		}
	})
}

func recordLineOf(r BackupRecord) []byte {
	b, _ := json.Marshal(r)
	return append(b, '\n')
}
