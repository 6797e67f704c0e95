package fleet

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

func enc(proxy, bypass, pac string, counter uint32) []byte {
	return wininet.New(proxy, bypass, pac, false, counter).Encode()
}

// audited builds the report entry an audit gives for these values (probe disabled).
func audited(vals Values, declared *DeclaredReference) HostResult {
	return evaluate(context.Background(), nil, HostResult{Host: "dc1"}, vals, Options{Reference: declared, Probe: ProbeOptions{Disabled: true}})
}

func TestPlanFix(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	pac := enc("", "", "http://wpad/proxy.pac", 2)
	direct := enc("", "", "", 3)
	declared := &DeclaredReference{Proxy: "proxy:8080", Bypass: "<local>"}
	type want struct {
		action  string
		desired []byte
		current []byte
		msg     string
	}
	cases := []struct {
		name     string
		hr       HostResult
		opt      PlanOptions
		ls, lsvc want
	}{
		{"missing value", audited(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, nil), PlanOptions{},
			want{action: ActionWrite, desired: ref}, want{action: ActionNone}},
		{"differing value", audited(Values{AccountCurrentUser: ref, AccountLocalSystem: ref, AccountLocalService: enc("old:3128", "", "", 9)}, nil), PlanOptions{},
			want{action: ActionNone}, want{action: ActionWrite, desired: ref, current: enc("old:3128", "", "", 9)}},
		{"counter only: nothing to write", audited(Values{AccountCurrentUser: ref, AccountLocalSystem: enc("proxy:8080", "<local>", "", 99), AccountLocalService: enc("PROXY:8080", "<LOCAL>", "", 1)}, nil), PlanOptions{},
			want{action: ActionNone}, want{action: ActionNone}},
		{"direct-only reference refused", audited(Values{AccountCurrentUser: direct, AccountLocalSystem: ref, AccountLocalService: nil}, nil), PlanOptions{},
			want{action: ActionRefused, msg: "direct"}, want{action: ActionRefused, msg: "direct"}},
		{"direct-only reference allowed", audited(Values{AccountCurrentUser: direct, AccountLocalSystem: ref, AccountLocalService: direct}, nil), PlanOptions{AllowDirect: true},
			want{action: ActionWrite, desired: direct, current: ref}, want{action: ActionNone}},
		{"PAC reference copied", audited(Values{AccountCurrentUser: pac, AccountLocalSystem: nil, AccountLocalService: ref}, nil), PlanOptions{},
			want{action: ActionWrite, desired: pac}, want{action: ActionWrite, desired: pac, current: ref}},
		{"errored host refused", HostResult{Host: "dc1", Status: StatusError, Error: &HostError{Kind: "unreachable", Message: "connection refused"}}, PlanOptions{},
			want{action: ActionRefused, msg: "unreachable"}, want{action: ActionRefused, msg: "unreachable"}},
		{"missing reference refused", audited(Values{AccountCurrentUser: nil, AccountLocalSystem: nil, AccountLocalService: nil}, nil), PlanOptions{},
			want{action: ActionRefused, msg: "reference"}, want{action: ActionRefused, msg: "reference"}},
		{"undecodable value refused", audited(Values{AccountCurrentUser: ref, AccountLocalSystem: []byte{0x46, 0, 0, 0, 1}, AccountLocalService: nil}, nil), PlanOptions{},
			want{action: ActionRefused, msg: "does not decode"}, want{action: ActionWrite, desired: ref}},
		{"declared reference encodes bytes", audited(Values{AccountCurrentUser: nil, AccountLocalSystem: nil, AccountLocalService: enc("old:3128", "", "", 4)}, declared), PlanOptions{Reference: declared},
			want{action: ActionWrite, desired: enc("proxy:8080", "<local>", "", 0)}, want{action: ActionWrite, desired: enc("proxy:8080", "<local>", "", 5), current: enc("old:3128", "", "", 4)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Report{Hosts: []HostResult{tc.hr}}
			plans := PlanFix(rep, tc.opt)
			if len(plans) != 1 || len(plans[0].Steps) != 2 {
				t.Fatalf("plans %+v", plans)
			}
			for i, w := range []want{tc.ls, tc.lsvc} {
				st := plans[0].Steps[i]
				if st.Account != ServiceAccounts[i] || st.Key != AccountKey(st.Account) || st.Value != ValueName {
					t.Errorf("step %d names %s %s %s", i, st.Account, st.Key, st.Value)
				}
				if st.Action != w.action {
					t.Errorf("%s: action %s (%s), want %s", st.Account, st.Action, st.Message, w.action)
				}
				if w.action == ActionWrite && (!bytes.Equal(st.Desired, w.desired) || !sameValue(st.Current, w.current)) {
					t.Errorf("%s: desired %X current %X, want %X %X", st.Account, st.Desired, st.Current, w.desired, w.current)
				}
				if w.action != ActionWrite && st.Desired != nil {
					t.Errorf("%s: %s step carries bytes", st.Account, st.Action)
				}
				if !strings.Contains(st.Message, w.msg) {
					t.Errorf("%s: message %q lacks %q", st.Account, st.Message, w.msg)
				}
			}
			rows := plans[0].Remediation()
			for i, r := range rows {
				wantOutcome := map[string]string{ActionWrite: OutcomePlanned, ActionNone: OutcomeUnchanged, ActionRefused: OutcomeSkipped}[plans[0].Steps[i].Action]
				if r.Outcome != wantOutcome {
					t.Errorf("row %d outcome %s, want %s", i, r.Outcome, wantOutcome)
				}
			}
		})
	}
}

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
		actions []string
	}{
		{"absent comes back as a delete, a value as a write", hr, []BackupRecord{rec(AccountLocalSystem, nil), rec(AccountLocalService, old)}, []string{ActionDelete, ActionWrite}},
		{"already restored", hr, []BackupRecord{rec(AccountLocalSystem, ref)}, []string{ActionNone}},
		{"first record of an account wins", hr, []BackupRecord{rec(AccountLocalSystem, old), rec(AccountLocalSystem, ref)}, []string{ActionWrite}},
		{"foreign key refused", hr, []BackupRecord{{RunID: "r1", Host: "dc1", Account: AccountLocalSystem, Key: `HKLM\SOFTWARE\Evil`, Value: ValueName, Absent: true}}, []string{ActionRefused}},
		{"errored host refused", HostResult{Host: "dc1", Status: StatusError, Error: &HostError{Kind: "auth", Message: "denied"}}, []BackupRecord{rec(AccountLocalSystem, nil)}, []string{ActionRefused}},
		{"other host's records ignored", hr, []BackupRecord{{RunID: "r1", Host: "dc2", Account: AccountLocalSystem, Key: AccountKey(AccountLocalSystem), Value: ValueName, Absent: true}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plans := PlanRestore(&Report{Hosts: []HostResult{tc.hr}}, tc.recs, RestoreOptions{})
			var got []string
			for _, s := range plans[0].Steps {
				got = append(got, s.Action)
				if s.Action == ActionWrite && !bytes.Equal(s.Desired, old) {
					t.Errorf("write of %X, want the recorded %X", s.Desired, old)
				}
				if s.Action == ActionDelete && s.Desired != nil {
					t.Errorf("delete carries bytes")
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.actions, ",") {
				t.Errorf("actions %v, want %v", got, tc.actions)
			}
		})
	}
}

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

// cannedRunner answers every command line with the same output and records the lines.
type cannedRunner struct {
	out   remote.Output
	lines []string
}

func (c *cannedRunner) Run(_ context.Context, line string) (remote.Output, error) {
	c.lines = append(c.lines, line)
	return c.out, nil
}
func (c *cannedRunner) Close(context.Context) error { return nil }

func TestMutateGateRefusesWriteBeforeBackup(t *testing.T) {
	r := &cannedRunner{}
	x := &hostRun{runner: r, recorded: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
	if _, err := x.mutate(context.Background(), AccountLocalSystem, "reg add x"); err == nil || len(r.lines) != 0 {
		t.Fatalf("write before backup record: err %v, ran %q", err, r.lines)
	}
	x.recorded[AccountLocalSystem] = true
	if _, err := x.mutate(context.Background(), AccountLocalSystem, "reg add x"); err != nil || len(r.lines) != 1 {
		t.Fatalf("write after backup record: err %v, ran %q", err, r.lines)
	}
}

func TestHostBackupMarkers(t *testing.T) {
	plan := HostPlan{Host: "dc1", Steps: []Step{
		{Account: AccountLocalSystem, Key: AccountKey(AccountLocalSystem), Value: ValueName, Action: ActionWrite},
		{Account: AccountLocalService, Key: AccountKey(AccountLocalService), Value: ValueName, Action: ActionWrite},
	}}
	cases := []struct {
		name   string
		stdout string
		files  int
		err    string
	}{
		{"both exported", "@@dcproxy:root:D:\\WINNT\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n@@dcproxy:b1:key\r\n@@dcproxy:b1:ok\r\n", 2, ""},
		{"missing key has nothing to export", "@@dcproxy:root:C:\\Windows\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n@@dcproxy:b1:fail\r\n", 1, ""},
		{"export failed", "@@dcproxy:root:C:\\Windows\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:fail\r\n@@dcproxy:b1:key\r\n@@dcproxy:b1:ok\r\n", 0, "reg export"},
		{"unexpanded SystemRoot", "@@dcproxy:root:%SystemRoot%\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n@@dcproxy:b1:key\r\n@@dcproxy:b1:ok\r\n", 0, "SystemRoot"},
		{"truncated", "@@dcproxy:root:C:\\Windows\r\n@@dcproxy:b0:key\r\n@@dcproxy:b0:ok\r\n", 0, "no result marker"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &cannedRunner{out: remote.Output{Stdout: []byte(tc.stdout)}}
			x := &hostRun{opt: &ApplyOptions{RunID: "20260101T000000Z-abcdef"}, plan: plan, runner: r, recorded: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
			files, err := x.hostBackup(context.Background(), []int{0, 1})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || len(files) != tc.files {
				t.Fatalf("files %v, err %v", files, err)
			}
			if f := files[AccountLocalSystem]; !strings.HasPrefix(f, strings.SplitN(tc.stdout[len("@@dcproxy:root:"):], "\r", 2)[0]+`\Temp\dcproxy\DefaultConnectionSettings-S-1-5-18-20260101T000000Z-abcdef.reg`) {
				t.Errorf("file %q", f)
			}
			if len(r.lines) != 1 || !strings.Contains(r.lines[0], `mkdir "%SystemRoot%\Temp\dcproxy" 2>nul`) || !strings.Contains(r.lines[0], `reg export "HKU\S-1-5-19\`) {
				t.Errorf("command line %q", r.lines)
			}
		})
	}
}
