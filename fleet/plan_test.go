package fleet

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/wininet"
)

func enc(proxy, bypass, pac string, counter uint32) []byte {
	return wininet.New(proxy, bypass, pac, false, counter).Encode()
}

// audited builds the report entry an audit gives for these values (probe disabled).
func audited(vals Values, declared *DeclaredReference) HostResult {
	return evaluate(context.Background(), nil, HostResult{Host: "dc1"}, vals, Options{Reference: declared, Probe: ProbeOptions{Disabled: true}})
}

// bigValue is a decodable value of about 5.8 KB: its reg add line is longer than cmd.exe allows.
func bigValue(counter uint32) []byte {
	var hosts []string
	for i := 0; len(strings.Join(hosts, ";")) < 5800; i++ {
		hosts = append(hosts, "host"+strings.Repeat("x", 20)+string(rune('a'+i%26))+".lab.test")
	}
	return enc("proxy:8080", strings.Join(hosts, ";"), "", counter)
}

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

func TestPlanFix(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	pac := enc("", "", "http://wpad/proxy.pac", 2)
	direct := enc("", "", "", 3)
	declared := &DeclaredReference{Proxy: "proxy:8080", Bypass: "<local>"}
	type want struct {
		action  Action
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
		{"errored host refused", HostResult{Host: "dc1", Status: StatusError, Error: &HostError{Kind: ErrorKindUnreachable, Message: "connection refused"}}, PlanOptions{},
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
				wantOutcome := map[Action]Outcome{ActionWrite: OutcomePlanned, ActionNone: OutcomeUnchanged, ActionRefused: OutcomeSkipped}[plans[0].Steps[i].Action]
				if r.Outcome != wantOutcome {
					t.Errorf("row %d outcome %s, want %s", i, r.Outcome, wantOutcome)
				}
			}
		})
	}
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

func TestPlanFixSavedLegacy(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	refSaved := enc("proxy:8080", "<local>", "", 4)
	old := enc("old:3128", "", "", 2)
	undecodable := []byte{0x46, 0, 0, 0, 1}
	declared := &DeclaredReference{Proxy: "proxy:8080", Bypass: "<local>"}
	on := PlanOptions{SavedLegacySettings: true}
	type want struct {
		action  Action
		desired []byte
		current []byte
		msg     string
		notice  bool
	}
	cases := []struct {
		name string
		hr   HostResult
		opt  PlanOptions
		dcs  [2]Action // DefaultConnectionSettings actions: LOCAL_SYSTEM, LOCAL_SERVICE
		// saved: the SavedLegacySettings steps expected after them, in account order (nil: none).
		saved []want
	}{
		{"missing values get the reference's copy", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, refSaved, nil, refSaved), nil), on,
			[2]Action{ActionWrite, ActionNone},
			[]want{{action: ActionWrite, desired: refSaved}, {action: ActionNone, msg: "matches"}}},
		{"differing saved copy of a matching account is written", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: ref, AccountLocalService: ref}, refSaved, refSaved, old), nil), on,
			[2]Action{ActionNone, ActionNone},
			[]want{{action: ActionNone}, {action: ActionWrite, desired: refSaved, current: old}}},
		{"counter-only difference left alone", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, refSaved, enc("PROXY:8080", "<local>", "", 77), refSaved), nil), on,
			[2]Action{ActionWrite, ActionNone},
			[]want{{action: ActionNone, msg: "matches"}, {action: ActionNone}}},
		{"reference without saved copy: accounts' left alone", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: old}, nil, old, nil), nil), on,
			[2]Action{ActionWrite, ActionWrite},
			[]want{{action: ActionNone, msg: "left alone: the reference", notice: true}, {action: ActionNone, msg: "left alone", notice: true}}},
		{"undecodable reference saved copy refused", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, undecodable, nil, nil), nil), on,
			[2]Action{ActionWrite, ActionNone},
			[]want{{action: ActionRefused, msg: "reference's SavedLegacySettings does not decode"}, {action: ActionRefused, msg: "does not decode"}}},
		{"undecodable account saved copy refused", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, refSaved, undecodable, old), nil), on,
			[2]Action{ActionWrite, ActionNone},
			[]want{{action: ActionRefused, msg: "fix it by hand"}, {action: ActionWrite, desired: refSaved, current: old}}},
		{"refused account gets no saved step", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: undecodable, AccountLocalService: nil}, refSaved, nil, nil), nil), on,
			[2]Action{ActionRefused, ActionWrite},
			[]want{{action: ActionWrite, desired: refSaved}}},
		{"declared reference encodes the saved copy", audited(withSaved(Values{AccountCurrentUser: nil, AccountLocalSystem: nil, AccountLocalService: old}, nil, nil, old), declared), PlanOptions{Reference: declared, SavedLegacySettings: true},
			[2]Action{ActionWrite, ActionWrite},
			[]want{{action: ActionWrite, desired: enc("proxy:8080", "<local>", "", 0)}, {action: ActionWrite, desired: enc("proxy:8080", "<local>", "", 3), current: old}}},
		{"option on but not read", audited(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, nil), on,
			[2]Action{ActionWrite, ActionNone},
			[]want{{action: ActionRefused, msg: "not read"}, {action: ActionRefused, msg: "not read"}}},
		{"option off: read values are ignored", audited(withSaved(Values{AccountCurrentUser: ref, AccountLocalSystem: nil, AccountLocalService: ref}, refSaved, nil, old), nil), PlanOptions{},
			[2]Action{ActionWrite, ActionNone}, nil},
		{"errored host: only the refusals", HostResult{Host: "dc1", Status: StatusError, Error: &HostError{Kind: ErrorKindTimeout, Message: "t"}}, on,
			[2]Action{ActionRefused, ActionRefused}, nil},
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

func TestFixApplies(t *testing.T) {
	cases := []struct {
		name   string
		route  *Route
		ok     bool
		reason []string
	}{
		{"no route decided", nil, false, []string{"could not decide"}},
		{"seed rule", &Route{Source: RouteWinINet, Decision: "no sensor yet"}, true, nil},
		{"sensor json", &Route{Source: RouteSensorJSON, Decision: "the v2 sensor uses its own proxy http://p:8080", Instead: "Set-MDISensorProxyConfiguration -ProxyUrl 'http://p:8080'"},
			false, []string{"the v2 sensor uses its own proxy http://p:8080", "; instead: Set-MDISensorProxyConfiguration -ProxyUrl 'http://p:8080'"}},
		{"per machine", &Route{Source: RouteWinINetMachine, Decision: "ProxySettingsPerUser=0", Instead: "set HKLM"}, false, []string{"ProxySettingsPerUser=0", "instead: set HKLM"}},
		{"mde static", &Route{Source: RouteMDEStatic, Decision: "v3 uses TelemetryProxyServer", Instead: "set the TelemetryProxyServer policy"}, false, []string{"v3 uses", "instead: set the TelemetryProxyServer"}},
		{"winhttp", &Route{Source: RouteWinHTTP}, false, []string{"its route is winhttp"}},
		{"direct", &Route{Source: RouteDirect, Decision: "direct"}, false, []string{"direct"}},
	}
	for _, tc := range cases {
		ok, reason := fixApplies(&HostResult{Route: tc.route})
		if ok != tc.ok {
			t.Errorf("%s: ok %v, want %v (%s)", tc.name, ok, tc.ok, reason)
		}
		for _, w := range tc.reason {
			if !strings.Contains(reason, w) {
				t.Errorf("%s: reason %q lacks %q", tc.name, reason, w)
			}
		}
		if tc.ok && reason != "" {
			t.Errorf("%s: reason %q for a host fix applies to", tc.name, reason)
		}
	}
}

// A fix refuses, with the reason, every service account of a host whose sensor does not use the
// per-account WinINet values, however far those values are from the reference; nothing else on
// the host changes the plan.
func TestPlanFixRefusesOtherRoutes(t *testing.T) {
	for _, rt := range []*Route{nil, {Source: RouteSensorJSON, Decision: "json", Instead: "Set-MDISensorProxyConfiguration -ProxyUrl 'http://p:8080'"}, {Source: RouteMDEStatic, Decision: "mde"}} {
		hr := audited(Values{AccountCurrentUser: enc("proxy:8080", "<local>", "", 5), AccountLocalSystem: nil, AccountLocalService: nil}, nil)
		if hr.Route == nil || hr.Route.Source != RouteWinINet {
			t.Fatalf("fixture: the audit's route is %+v, want wininet", hr.Route)
		}
		if p := planFixHost(&hr, PlanOptions{}); p.Writes() != 2 {
			t.Fatalf("fixture: %d writes, want 2", p.Writes())
		}
		hr.Route = rt
		p := planFixHost(&hr, PlanOptions{})
		if p.Writes() != 0 || len(p.Steps) != len(ServiceAccounts) {
			t.Fatalf("route %+v: %d writes in %+v", rt, p.Writes(), p.Steps)
		}
		_, reason := fixApplies(&hr)
		for _, st := range p.Steps {
			if st.Action != ActionRefused || st.Message != reason {
				t.Errorf("route %+v: %s %s %q, want refused %q", rt, st.Account, st.Action, st.Message, reason)
			}
		}
	}
}
