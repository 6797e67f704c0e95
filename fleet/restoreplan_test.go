package fleet

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestPlanRestore(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	old := enc("old:3128", "", "", 2)
	hr := audited(Values{AccountCurrentUser: ref, AccountLocalSystem: ref, AccountLocalService: ref}, nil)
	rec := func(acct string, prev []byte) BackupRecord {
		r := BackupRecord{RunID: "r1", Command: "fix", Host: "DC1", Account: acct, Key: AccountKey(acct), Value: ValueName, Absent: prev == nil}
		if prev != nil {
			r.Previous = hexUpper(prev)
		}
		return r
	}
	cases := []struct {
		name    string
		hr      HostResult
		recs    []BackupRecord
		actions []Action
	}{
		{"absent comes back as a delete, a value as a write", hr, []BackupRecord{rec(AccountLocalSystem, nil), rec(AccountLocalService, old)}, []Action{ActionDelete, ActionWrite}},
		{"already restored", hr, []BackupRecord{rec(AccountLocalSystem, ref)}, []Action{ActionNone}},
		{"first record of an account wins", hr, []BackupRecord{rec(AccountLocalSystem, old), rec(AccountLocalSystem, ref)}, []Action{ActionWrite}},
		{"foreign key refused", hr, []BackupRecord{{RunID: "r1", Host: "dc1", Account: AccountLocalSystem, Key: `HKLM\SOFTWARE\Evil`, Value: ValueName, Absent: true}}, []Action{ActionRefused}},
		{"errored host refused", HostResult{Host: "dc1", Status: StatusError, Error: &HostError{Kind: ErrorKindAuth, Message: "denied"}}, []BackupRecord{rec(AccountLocalSystem, nil)}, []Action{ActionRefused}},
		{"other host's records ignored", hr, []BackupRecord{{RunID: "r1", Host: "dc2", Account: AccountLocalSystem, Key: AccountKey(AccountLocalSystem), Value: ValueName, Absent: true}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plans := PlanRestore(&Report{Hosts: []HostResult{tc.hr}}, tc.recs, RestoreOptions{})
			var got []Action
			for _, s := range plans[0].Steps {
				got = append(got, s.Action)
				if s.Action == ActionWrite && !bytes.Equal(s.Desired, old) {
					t.Errorf("write of %X, want the recorded %X", s.Desired, old)
				}
				if s.Action == ActionDelete && s.Desired != nil {
					t.Errorf("delete carries bytes")
				}
			}
			if !slices.Equal(got, tc.actions) {
				t.Errorf("actions %v, want %v", got, tc.actions)
			}
		})
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
		action  Action
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
	if noRef.Error == nil || noRef.Error.Kind != ErrorKindReference {
		t.Fatalf("audit without reference: %+v", noRef.Error)
	}
	st := PlanRestore(&Report{Hosts: []HostResult{noRef}}, []BackupRecord{rec}, RestoreOptions{})[0].Steps[0]
	if st.Action != ActionWrite || !bytes.Equal(st.Current, ref) || !bytes.Equal(st.Desired, old) {
		t.Errorf("reference error: %s %q current %X", st.Action, st.Message, st.Current)
	}
	for _, kind := range []ErrorKind{ErrorKindAuth, ErrorKindTLS, ErrorKindUnreachable, ErrorKindTimeout, ErrorKindProtocol, ErrorKindCanceled} {
		hr := HostResult{Host: "dc1", Status: StatusError, Error: &HostError{Kind: kind, Message: "x"}}
		st := PlanRestore(&Report{Hosts: []HostResult{hr}}, []BackupRecord{rec}, RestoreOptions{Force: true})[0].Steps[0]
		if st.Action != ActionRefused || !strings.Contains(st.Message, "could not check the host ("+string(kind)+")") {
			t.Errorf("%s: %s %q", kind, st.Action, st.Message)
		}
	}
}

func TestPlanRestoreSavedLegacy(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	old := enc("old:3128", "", "", 2)
	vals := Values{AccountCurrentUser: ref, AccountLocalSystem: ref, AccountLocalService: ref}
	read := audited(withSaved(vals, ref, ref, ref), nil)
	rec := func(acct, value string, prev []byte) BackupRecord {
		r := BackupRecord{RunID: "r1", Command: "fix", Host: "dc1", Account: acct, Key: AccountKey(acct), Value: value, Absent: prev == nil}
		if prev != nil {
			r.Previous = hexUpper(prev)
		}
		return r
	}
	cases := []struct {
		name    string
		hr      HostResult
		recs    []BackupRecord
		actions []Action
		msg     string
	}{
		{"both values of an account come back", read,
			[]BackupRecord{rec(AccountLocalSystem, ValueName, old), rec(AccountLocalSystem, SavedLegacyValue, nil), rec(AccountLocalService, SavedLegacyValue, old)},
			[]Action{ActionWrite, ActionDelete, ActionWrite}, ""},
		{"first record per value wins", read,
			[]BackupRecord{rec(AccountLocalSystem, SavedLegacyValue, old), rec(AccountLocalSystem, SavedLegacyValue, ref), rec(AccountLocalSystem, ValueName, ref)},
			[]Action{ActionWrite, ActionNone}, ""},
		{"saved record without the read refused", audited(vals, nil),
			[]BackupRecord{rec(AccountLocalSystem, SavedLegacyValue, old)}, []Action{ActionRefused}, "SavedLegacySettings (it was not read)"},
		{"other value names still refused", read,
			[]BackupRecord{rec(AccountLocalSystem, "ProxyServer", old), rec(AccountLocalSystem, "savedlegacysettings ", old)}, []Action{ActionRefused, ActionRefused}, "never writes"},
		{"saved record of the current user refused", read,
			[]BackupRecord{rec(AccountCurrentUser, SavedLegacyValue, old)}, []Action{ActionRefused}, "never writes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanRestore(&Report{Hosts: []HostResult{tc.hr}}, tc.recs, RestoreOptions{})[0]
			var got []Action
			for _, s := range p.Steps {
				got = append(got, s.Action)
				if s.Action == ActionWrite && !bytes.Equal(s.Desired, old) {
					t.Errorf("%s %s: write of %X, want %X", s.Account, s.Value, s.Desired, old)
				}
				if s.Action == ActionRefused && !strings.Contains(s.Message, tc.msg) {
					t.Errorf("message %q lacks %q", s.Message, tc.msg)
				}
			}
			if !slices.Equal(got, tc.actions) {
				t.Errorf("actions %v, want %v", got, tc.actions)
			}
		})
	}
}
