package fleet

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/reg"
)

// bigValue is a decodable value of about 5.8 KB: its reg add line is longer than cmd.exe allows.
func bigValue(counter uint32) []byte {
	var hosts []string
	for i := 0; len(strings.Join(hosts, ";")) < 5800; i++ {
		hosts = append(hosts, "host"+strings.Repeat("x", 20)+string(rune('a'+i%26))+".lab.test")
	}
	return enc("proxy:8080", strings.Join(hosts, ";"), "", counter)
}

func TestPlanRefusesCommandLinesTooLong(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	big := bigValue(3)
	if n := reg.CommandLength(reg.AddBinaryCommand(AccountKey(AccountLocalSystem), ValueName, big)); n <= reg.MaxCommandLine {
		t.Fatalf("test value gives a %d-character line, want more than %d", n, reg.MaxCommandLine)
	}
	// A large reference cannot be written; a large current value could never be put back.
	p := PlanFix(&Report{Hosts: []HostResult{audited(Values{AccountCurrentUser: big, AccountLocalSystem: nil, AccountLocalService: ref}, nil)}}, PlanOptions{})[0]
	if st := p.Steps[0]; st.Action != ActionRefused || !strings.Contains(st.Message, "value to write is") || !strings.Contains(st.Message, "8191") || st.Desired != nil {
		t.Errorf("large reference: %+v", st)
	}
	if p.Writes() != 0 {
		t.Errorf("large reference: %d writes planned", p.Writes())
	}
	p = PlanFix(&Report{Hosts: []HostResult{audited(Values{AccountCurrentUser: ref, AccountLocalSystem: big, AccountLocalService: nil}, nil)}}, PlanOptions{})[0]
	if st := p.Steps[0]; st.Action != ActionRefused || !strings.Contains(st.Message, "current value is") || !strings.Contains(st.Message, "bytes") {
		t.Errorf("large current value: %+v", st)
	}
	if st := p.Steps[1]; st.Action != ActionWrite {
		t.Errorf("small value beside a large one: %+v", st)
	}
	// Restore: a large previous value cannot be put back.
	hr := audited(Values{AccountCurrentUser: ref, AccountLocalSystem: ref, AccountLocalService: ref}, nil)
	rec := BackupRecord{RunID: "r1", Command: "fix", Host: "dc1", Account: AccountLocalSystem, Key: AccountKey(AccountLocalSystem), Value: ValueName,
		Previous: hexUpper(big), New: hexUpper(ref)}
	st := PlanRestore(&Report{Hosts: []HostResult{hr}}, []BackupRecord{rec}, RestoreOptions{})[0].Steps[0]
	if st.Action != ActionRefused || !strings.HasPrefix(st.Message, "not restored: the value to write is") {
		t.Errorf("large previous value: %+v", st)
	}
}

func TestPlanRestoreChangedSince(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)     // Y: what run r1 wrote
	old := enc("old:3128", "", "", 2)              // X: the value before r1
	later := enc("later:3128", "<local>", "", 7)   // Z: set after r1
	bumped := enc("proxy:8080", "<local>", "", 42) // Y with the counter bumped by WinINet
	rec := func(command string, prev, wrote []byte) BackupRecord {
		r := BackupRecord{RunID: "r1", Command: command, Host: "dc1", Account: AccountLocalSystem, Key: AccountKey(AccountLocalSystem), Value: ValueName,
			Absent: prev == nil}
		if prev != nil {
			r.Previous = hexUpper(prev)
		}
		if wrote != nil {
			r.New = hexUpper(wrote)
		}
		return r
	}
	cases := []struct {
		name    string
		current []byte
		rec     BackupRecord
		force   bool
		action  string
		msg     string
	}{
		{"still what the run wrote", ref, rec("fix", old, ref), false, ActionWrite, "put back"},
		{"counter bumped since", bumped, rec("fix", old, ref), false, ActionWrite, "put back"},
		{"already restored", old, rec("fix", old, ref), false, ActionNone, "already holds"},
		{"changed by a later run", later, rec("fix", old, ref), false, ActionRefused, "changed since run r1"},
		{"changed, --force", later, rec("fix", old, ref), true, ActionWrite, "--force"},
		{"deleted since", nil, rec("fix", old, ref), false, ActionRefused, "restore the later run first"},
		{"absent before, changed since", later, rec("fix", nil, ref), false, ActionRefused, "changed since"},
		{"absent before, still the run's", ref, rec("fix", nil, ref), false, ActionDelete, "absent before"},
		{"restore record that deleted, value set since", later, rec("restore", ref, nil), false, ActionRefused, "changed since"},
		{"restore record that deleted, still absent", nil, rec("restore", ref, nil), false, ActionWrite, "put back"},
		{"record without new bytes: no check", later, rec("fix", old, nil), false, ActionWrite, "put back"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hr := audited(Values{AccountCurrentUser: ref, AccountLocalSystem: tc.current, AccountLocalService: ref}, nil)
			st := PlanRestore(&Report{Hosts: []HostResult{hr}}, []BackupRecord{tc.rec}, RestoreOptions{Force: tc.force})[0].Steps[0]
			if st.Action != tc.action || !strings.Contains(st.Message, tc.msg) {
				t.Errorf("%s %q, want %s containing %q", st.Action, st.Message, tc.action, tc.msg)
			}
		})
	}
}

func TestPlanRestoreErrorKinds(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	old := enc("old:3128", "", "", 2)
	rec := BackupRecord{RunID: "r1", Command: "fix", Host: "dc1", Account: AccountLocalService, Key: AccountKey(AccountLocalService), Value: ValueName,
		Previous: hexUpper(old), New: hexUpper(ref)}
	// The operator's HKCU has no proxy: the audit stops at the reference, the restore does not need it.
	noRef := audited(Values{AccountCurrentUser: nil, AccountLocalSystem: ref, AccountLocalService: ref}, nil)
	if noRef.Error == nil || noRef.Error.Kind != "reference" {
		t.Fatalf("audit without reference: %+v", noRef.Error)
	}
	st := PlanRestore(&Report{Hosts: []HostResult{noRef}}, []BackupRecord{rec}, RestoreOptions{})[0].Steps[0]
	if st.Action != ActionWrite || !bytes.Equal(st.Current, ref) || !bytes.Equal(st.Desired, old) {
		t.Errorf("reference error: %s %q current %X", st.Action, st.Message, st.Current)
	}
	for _, kind := range []string{"auth", "tls", "unreachable", "timeout", "protocol", "canceled"} {
		hr := HostResult{Host: "dc1", Status: StatusError, Error: &HostError{Kind: kind, Message: "x"}}
		st := PlanRestore(&Report{Hosts: []HostResult{hr}}, []BackupRecord{rec}, RestoreOptions{Force: true})[0].Steps[0]
		if st.Action != ActionRefused || !strings.Contains(st.Message, "could not check the host ("+kind+")") {
			t.Errorf("%s: %s %q", kind, st.Action, st.Message)
		}
	}
}

func TestPlanFixExpectsReference(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	p := PlanFix(&Report{Hosts: []HostResult{audited(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, nil)}}, PlanOptions{})[0]
	if got, ok := p.Expect[AccountCurrentUser]; !ok || !bytes.Equal(got, ref) {
		t.Errorf("expect %v", p.Expect)
	}
	declared := &DeclaredReference{Proxy: "proxy:8080", Bypass: "<local>"}
	p = PlanFix(&Report{Hosts: []HostResult{audited(Values{AccountCurrentUser: nil, AccountLocalSystem: nil, AccountLocalService: ref}, declared)}}, PlanOptions{Reference: declared})[0]
	if p.Writes() != 1 || p.Expect != nil {
		t.Errorf("declared reference: %d writes, expect %v", p.Writes(), p.Expect)
	}
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
