package fleet

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote"
)

// withSaved adds SavedLegacySettings (CURRENT_USER, LOCAL_SYSTEM, LOCAL_SERVICE) to vals, as a read
// with the option gives them.
func withSaved(vals Values, cu, ls, lsvc []byte) Values {
	out := Values{}
	for k, v := range vals {
		out[k] = v
	}
	out[SavedLegacyID(AccountCurrentUser)] = cu
	out[SavedLegacyID(AccountLocalSystem)] = ls
	out[SavedLegacyID(AccountLocalService)] = lsvc
	return out
}

func TestPlanFixSavedLegacy(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	refSaved := enc("proxy:8080", "<local>", "", 4)
	old := enc("old:3128", "", "", 2)
	undecodable := []byte{0x46, 0, 0, 0, 1}
	declared := &DeclaredReference{Proxy: "proxy:8080", Bypass: "<local>"}
	on := PlanOptions{SavedLegacySettings: true}
	type want struct {
		action  string
		desired []byte
		current []byte
		msg     string
		notice  bool
	}
	cases := []struct {
		name string
		hr   HostResult
		opt  PlanOptions
		dcs  [2]string // DefaultConnectionSettings actions: LOCAL_SYSTEM, LOCAL_SERVICE
		// saved: the SavedLegacySettings steps expected after them, in account order (nil: none).
		saved []want
	}{
		{"missing values get the reference's copy", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, refSaved, nil, refSaved), nil), on,
			[2]string{ActionWrite, ActionNone},
			[]want{{action: ActionWrite, desired: refSaved}, {action: ActionNone, msg: "matches"}}},
		{"differing saved copy of a matching account is written", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: ref, AccountLocalService: ref}, refSaved, refSaved, old), nil), on,
			[2]string{ActionNone, ActionNone},
			[]want{{action: ActionNone}, {action: ActionWrite, desired: refSaved, current: old}}},
		{"counter-only difference left alone", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, refSaved, enc("PROXY:8080", "<local>", "", 77), refSaved), nil), on,
			[2]string{ActionWrite, ActionNone},
			[]want{{action: ActionNone, msg: "matches"}, {action: ActionNone}}},
		{"reference without saved copy: accounts' left alone", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: old}, nil, old, nil), nil), on,
			[2]string{ActionWrite, ActionWrite},
			[]want{{action: ActionNone, msg: "left alone: the reference", notice: true}, {action: ActionNone, msg: "left alone", notice: true}}},
		{"undecodable reference saved copy refused", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, undecodable, nil, nil), nil), on,
			[2]string{ActionWrite, ActionNone},
			[]want{{action: ActionRefused, msg: "reference's SavedLegacySettings does not decode"}, {action: ActionRefused, msg: "does not decode"}}},
		{"undecodable account saved copy refused", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, refSaved, undecodable, old), nil), on,
			[2]string{ActionWrite, ActionNone},
			[]want{{action: ActionRefused, msg: "fix it by hand"}, {action: ActionWrite, desired: refSaved, current: old}}},
		{"refused account gets no saved step", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: undecodable, AccountLocalService: nil}, refSaved, nil, nil), nil), on,
			[2]string{ActionRefused, ActionWrite},
			[]want{{action: ActionWrite, desired: refSaved}}},
		{"declared reference encodes the saved copy", audited(withSaved(Values{AccountCurrentUser: nil, AccountLocalSystem: nil, AccountLocalService: old}, nil, nil, old), declared), PlanOptions{Reference: declared, SavedLegacySettings: true},
			[2]string{ActionWrite, ActionWrite},
			[]want{{action: ActionWrite, desired: enc("proxy:8080", "<local>", "", 0)}, {action: ActionWrite, desired: enc("proxy:8080", "<local>", "", 3), current: old}}},
		{"option on but not read", audited(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, nil), on,
			[2]string{ActionWrite, ActionNone},
			[]want{{action: ActionRefused, msg: "not read"}, {action: ActionRefused, msg: "not read"}}},
		{"option off: read values are ignored", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, refSaved, nil, old), nil), PlanOptions{},
			[2]string{ActionWrite, ActionNone}, nil},
		{"errored host: only the refusals", HostResult{Host: "dc1", Status: StatusError, Error: &HostError{Kind: "timeout", Message: "t"}}, on,
			[2]string{ActionRefused, ActionRefused}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plans := PlanFix(&Report{Hosts: []HostResult{tc.hr}}, tc.opt)
			steps := plans[0].Steps
			if len(steps) != 2+len(tc.saved) {
				t.Fatalf("%d steps, want %d: %+v", len(steps), 2+len(tc.saved), steps)
			}
			for i, a := range tc.dcs {
				if steps[i].Value != ValueName || steps[i].Action != a {
					t.Errorf("step %d: %s %s, want %s %s", i, steps[i].Value, steps[i].Action, ValueName, a)
				}
			}
			accts := []string{}
			for _, st := range steps[:2] {
				if st.Action != ActionRefused {
					accts = append(accts, st.Account)
				}
			}
			for i, w := range tc.saved {
				st := steps[2+i]
				if st.Value != SavedLegacyValue || st.Account != accts[i] || st.Key != AccountKey(st.Account) {
					t.Errorf("saved step %d names %s %s %s", i, st.Account, st.Key, st.Value)
				}
				if st.Action != w.action || st.Notice != w.notice || !strings.Contains(st.Message, w.msg) {
					t.Errorf("%s: %s notice=%v %q, want %s notice=%v %q", st.Account, st.Action, st.Notice, st.Message, w.action, w.notice, w.msg)
				}
				if st.Action == ActionWrite && (!bytes.Equal(st.Desired, w.desired) || !sameValue(st.Current, w.current)) {
					t.Errorf("%s: desired %X current %X, want %X %X", st.Account, st.Desired, st.Current, w.desired, w.current)
				}
				if st.Action != ActionWrite && st.Desired != nil {
					t.Errorf("%s: %s step carries bytes", st.Account, st.Action)
				}
				if st.ProbeOK {
					t.Errorf("%s: a SavedLegacySettings step claims a probe", st.Account)
				}
			}
		})
	}
}

func TestSavedLegacyIsNotCompliance(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	base := Values{AccountCurrentUser: ref, AccountLocalSystem: ref, AccountLocalService: ref}
	plain := audited(base, nil)
	read := audited(withSaved(base, nil, enc("old:3128", "", "", 1), []byte{1}), nil)
	if plain.Status != StatusCompliant || read.Status != plain.Status || len(read.Checks) != len(plain.Checks) {
		t.Fatalf("status %s/%s, %d/%d checks", plain.Status, read.Status, len(plain.Checks), len(read.Checks))
	}
	if plain.SavedLegacy != nil {
		t.Errorf("not read, yet reported: %+v", plain.SavedLegacy)
	}
	sl := read.SavedLegacy
	if len(sl) != 3 || sl[AccountCurrentUser].Present || sl[AccountLocalSystem].Proxy != "old:3128" || sl[AccountLocalService].DecodeError == "" {
		t.Errorf("saved legacy view %+v %+v %+v", sl[AccountCurrentUser], sl[AccountLocalSystem], sl[AccountLocalService])
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
		actions []string
		msg     string
	}{
		{"both values of an account come back", read,
			[]BackupRecord{rec(AccountLocalSystem, ValueName, old), rec(AccountLocalSystem, SavedLegacyValue, nil), rec(AccountLocalService, SavedLegacyValue, old)},
			[]string{ActionWrite, ActionDelete, ActionWrite}, ""},
		{"first record per value wins", read,
			[]BackupRecord{rec(AccountLocalSystem, SavedLegacyValue, old), rec(AccountLocalSystem, SavedLegacyValue, ref), rec(AccountLocalSystem, ValueName, ref)},
			[]string{ActionWrite, ActionNone}, ""},
		{"saved record without the read refused", audited(vals, nil),
			[]BackupRecord{rec(AccountLocalSystem, SavedLegacyValue, old)}, []string{ActionRefused}, "SavedLegacySettings (it was not read)"},
		{"other value names still refused", read,
			[]BackupRecord{rec(AccountLocalSystem, "ProxyServer", old), rec(AccountLocalSystem, "savedlegacysettings ", old)}, []string{ActionRefused, ActionRefused}, "never writes"},
		{"saved record of the current user refused", read,
			[]BackupRecord{rec(AccountCurrentUser, SavedLegacyValue, old)}, []string{ActionRefused}, "never writes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanRestore(&Report{Hosts: []HostResult{tc.hr}}, tc.recs, RestoreOptions{})[0]
			var got []string
			for _, s := range p.Steps {
				got = append(got, s.Action)
				if s.Action == ActionWrite && !bytes.Equal(s.Desired, old) {
					t.Errorf("%s %s: write of %X, want %X", s.Account, s.Value, s.Desired, old)
				}
				if s.Action == ActionRefused && !strings.Contains(s.Message, tc.msg) {
					t.Errorf("message %q lacks %q", s.Message, tc.msg)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.actions, ",") {
				t.Errorf("actions %v, want %v", got, tc.actions)
			}
		})
	}
}

// TestReadValuesOneLine: one reg query line per host, 4 queries without the option, 7 with it.
func TestReadValuesOneLine(t *testing.T) {
	for _, saved := range []bool{false, true} {
		r := &cannedRunner{out: remote.Output{Stdout: []byte("")}}
		_, _ = readValues(context.Background(), r, saved)
		if len(r.lines) != 1 {
			t.Fatalf("saved=%v: %d command lines", saved, len(r.lines))
		}
		n, want := strings.Count(r.lines[0], "reg query "), 4
		if saved {
			want = 7
		}
		if n != want || strings.Contains(r.lines[0], SavedLegacyValue) != saved {
			t.Errorf("saved=%v: %d queries (want %d): %s", saved, n, want, r.lines[0])
		}
		if saved && strings.Count(r.lines[0], `/v "`+SavedLegacyValue+`"`) != 3 {
			t.Errorf("saved: %s", r.lines[0])
		}
	}
}

func TestGateIsPerValue(t *testing.T) {
	r := &cannedRunner{}
	x := &hostRun{runner: r, recorded: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
	dcs := Step{Account: AccountLocalSystem, Value: ValueName}
	sl := Step{Account: AccountLocalSystem, Value: SavedLegacyValue}
	x.recorded[dcs.id()] = true
	if _, err := x.mutate(context.Background(), sl.id(), "reg add x"); err == nil || len(r.lines) != 0 {
		t.Fatalf("SavedLegacySettings written on the DefaultConnectionSettings record: err %v, ran %q", err, r.lines)
	}
	x.recorded[sl.id()] = true
	if _, err := x.mutate(context.Background(), sl.id(), "reg add x"); err != nil || len(r.lines) != 1 {
		t.Fatalf("after its own record: err %v, ran %q", err, r.lines)
	}
}

func TestHostBackupOneExportPerAccount(t *testing.T) {
	k := AccountKey(AccountLocalSystem)
	plan := HostPlan{Host: "dc1", Steps: []Step{
		{Account: AccountLocalSystem, Key: k, Value: ValueName, Action: ActionWrite},
		{Account: AccountLocalSystem, Key: k, Value: SavedLegacyValue, Action: ActionWrite},
	}}
	r := &cannedRunner{out: remote.Output{Stdout: []byte("@@dcproxy:root:C:\\Windows\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n")}}
	x := &hostRun{opt: &ApplyOptions{RunID: "20260101T000000Z-abcdef"}, plan: plan, runner: r, recorded: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
	files, err := x.hostBackup(context.Background(), []int{0, 1})
	if err != nil || len(files) != 1 || files[AccountLocalSystem] == "" {
		t.Fatalf("files %v, err %v", files, err)
	}
	if n := strings.Count(r.lines[0], "reg export "); n != 1 {
		t.Errorf("%d exports of one key: %s", n, r.lines[0])
	}
}
