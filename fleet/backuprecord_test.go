package fleet

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestParseBackups(t *testing.T) {
	good := `{"run_id":"r1","command":"fix","time":"2026-01-01T00:00:00Z","host":"dc1","account":"LOCAL_SYSTEM","key":"HKU\\S-1-5-18\\x","value":"DefaultConnectionSettings","absent":false,"previous":"4600"}` + "\n"
	absent := `{"run_id":"r1","command":"fix","time":"2026-01-01T00:00:00Z","host":"dc1","account":"LOCAL_SERVICE","key":"k","value":"v","absent":true}` + "\n"
	cases := []struct {
		name string
		in   string
		n    int
		bad  bool
	}{
		{"two records and a blank line", good + "\n" + absent, 2, false},
		{"torn last line ignored", good + absent[:40], 1, false},
		{"garbage in the middle", good + "not json\n" + absent, 0, true},
		{"unknown field", strings.Replace(good, `"absent"`, `"absnet"`, 1), 0, true},
		{"bad hex", strings.Replace(good, "4600", "46Z0", 1), 0, true},
		{"absent with bytes", strings.Replace(good, `"absent":false`, `"absent":true`, 1), 0, true},
		{"missing host", strings.Replace(good, `"host":"dc1"`, `"host":""`, 1), 0, true},
	}
	for _, tc := range cases {
		recs, err := ParseBackups(strings.NewReader(tc.in))
		if (err != nil) != tc.bad || len(recs) != tc.n {
			t.Errorf("%s: %d records, err %v; want %d, error %v", tc.name, len(recs), err, tc.n, tc.bad)
		}
	}
	recs, _ := ParseBackups(strings.NewReader(good + absent))
	if b, _ := recs[0].PreviousBytes(); !bytes.Equal(b, []byte{0x46, 0}) {
		t.Errorf("previous %X", b)
	}
	if b, _ := recs[1].PreviousBytes(); b != nil {
		t.Errorf("absent record gives %X", b)
	}
	if LatestRun(append(recs, BackupRecord{RunID: "r2", Command: "restore"}), "fix") != "r1" {
		t.Errorf("LatestRun")
	}
}

func FuzzParseBackups(f *testing.F) {
	f.Add(`{"run_id":"r1","command":"fix","time":"2026-01-01T00:00:00Z","host":"dc1","account":"LOCAL_SYSTEM","key":"k","value":"v","absent":false,"previous":"4600"}` + "\n")
	f.Add(`{"run_id":"r1","host":"h","account":"a","key":"k","absent":true}` + "\n{\"run_id\"")
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		recs, err := ParseBackups(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.RunID == "" || r.Host == "" || r.Account == "" || r.Key == "" {
				t.Fatalf("accepted incomplete record %+v", r)
			}
			b, err := r.PreviousBytes()
			if err != nil || (r.Absent && b != nil) || (!r.Absent && b == nil) {
				t.Fatalf("record %+v: previous %X, %v", r, b, err)
			}
		}
	})
}

func TestBackupRecordNewBytes(t *testing.T) {
	line := `{"run_id":"r","command":"fix","time":"2026-01-01T00:00:00Z","host":"h","account":"LOCAL_SYSTEM","key":"HKU\\S-1-5-18","value":"DefaultConnectionSettings","absent":true,"new":"XYZ"}` + "\n"
	if _, err := ParseBackups(strings.NewReader(line)); !errors.Is(err, ErrBackupFile) {
		t.Errorf("non-hex new: %v", err)
	}
	for _, tc := range []struct {
		rec   BackupRecord
		b     []byte
		known bool
	}{
		{BackupRecord{Command: "fix", New: "0A0B"}, []byte{10, 11}, true},
		{BackupRecord{Command: "restore"}, nil, true},
		{BackupRecord{Command: "fix"}, nil, false},
	} {
		b, known, err := tc.rec.WrittenBytes()
		if err != nil || known != tc.known || !sameValue(b, tc.b) {
			t.Errorf("%+v: %X %v %v", tc.rec, b, known, err)
		}
	}
}

func TestOpenJournalDurableAndPrivate(t *testing.T) {
	var synced []string
	orig := syncDirFunc
	syncDirFunc = func(dir string) error { synced = append(synced, dir); return orig(dir) }
	t.Cleanup(func() { syncDirFunc = orig })

	root := t.TempDir()
	path := filepath.Join(root, "state", "dcproxy", "backups.jsonl")
	j, err := OpenJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	want := map[string]bool{root: true, filepath.Join(root, "state"): true, filepath.Join(root, "state", "dcproxy"): true}
	for _, d := range synced {
		delete(want, d)
	}
	if len(want) != 0 {
		t.Errorf("directories not fsynced: %v (synced %v)", want, synced)
	}
	// Reopening an existing private file creates nothing: no fsync needed.
	synced = nil
	if j, err = OpenJournal(path); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if len(synced) != 0 {
		t.Errorf("reopen fsynced %v", synced)
	}
	if runtime.GOOS == "windows" {
		return
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = OpenJournal(path)
	if !errors.Is(err, ErrJournalMode) || !strings.Contains(err.Error(), "chmod 600 "+path) {
		t.Errorf("loose mode: %v", err)
	}
	if err := CheckJournalFile(path); !errors.Is(err, ErrJournalMode) {
		t.Errorf("CheckJournalFile: %v", err)
	}
	if err := CheckJournalFile(filepath.Join(root, "none.jsonl")); err != nil {
		t.Errorf("missing file: %v", err)
	}
}
