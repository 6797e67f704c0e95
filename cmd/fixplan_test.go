package cmd

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/report"
)

var updateGolden = flag.Bool("update", false, "rewrite cmd/testdata/*.golden from the current output")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *updateGolden {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (go test ./cmd -run %s -update): %v", t.Name(), err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test ./cmd -run %s -update, then review the diff)\n--- got ---\n%s", path, t.Name(), got)
	}
}

// planFixture is a fleet of eight hosts: two to write (one with a refused SavedLegacySettings
// note), one already matching, three refused because the sensor does not read WinINet (two
// SensorConfiguration.json proxies, one TelemetryProxyServer), one unreachable, one refused for
// an undecodable value.
func planFixture() (*fleet.Report, []fleet.HostPlan) {
	enc := func(proxy, bypass string) []byte {
		return wininet.Settings{Version: 0x46, Counter: 7, Flags: wininet.FlagDirect | wininet.FlagProxy, Proxy: proxy, Bypass: bypass}.Encode()
	}
	ref := enc("proxy.corp.example:8080", "<local>;*.corp.example")
	old := enc("proxy-old.corp.example:3128", "<local>")
	sys, svc := fleet.AccountLocalSystem, fleet.AccountLocalService
	step := func(acct string, action fleet.Action, cur, want []byte, msg string) fleet.Step {
		return fleet.Step{Account: acct, Key: fleet.AccountKey(acct), Value: fleet.ValueName, Action: action, Current: cur, Desired: want, Message: msg}
	}
	sensorRefusal := "not fixed: WinINet is not what the sensor uses here: the v2 sensor uses its own proxy http://p:8080 from SensorConfiguration.json; instead: Set-MDISensorProxyConfiguration"
	mdeRefusal := "not fixed: WinINet is not what the sensor uses here: the v3 sensor uses Defender for Endpoint's static proxy p:8080 (TelemetryProxyServer); instead: ..."
	hosts := []struct {
		name   string
		status fleet.HostStatus
		route  string
		err    *fleet.HostError
		steps  []fleet.Step
	}{
		{"dc01.corp.example", fleet.StatusNoncompliant, fleet.RouteWinINet, nil, []fleet.Step{
			step(sys, fleet.ActionWrite, nil, ref, "copy the reference"), step(svc, fleet.ActionNone, ref, nil, "matches the reference")}},
		{"dc02.corp.example", fleet.StatusCompliant, fleet.RouteWinINet, nil, []fleet.Step{
			step(sys, fleet.ActionNone, ref, nil, "matches the reference"), step(svc, fleet.ActionNone, ref, nil, "matches the reference")}},
		{"dc03.corp.example", fleet.StatusCompliant, fleet.RouteSensorJSON, nil, []fleet.Step{
			step(sys, fleet.ActionRefused, nil, nil, sensorRefusal), step(svc, fleet.ActionRefused, nil, nil, sensorRefusal)}},
		{"dc04-with-a-much-longer-name.branch.corp.example", fleet.StatusNoncompliant, fleet.RouteWinINet, nil, []fleet.Step{
			step(sys, fleet.ActionRefused, []byte{1, 2}, nil, "not fixed: the current value does not decode (2 bytes); fix it by hand"),
			step(svc, fleet.ActionWrite, old, ref, "copy the reference")}},
		{"dc05.corp.example", fleet.StatusError, "", &fleet.HostError{Kind: fleet.ErrorKindUnreachable, Message: "WinRM did not accept a connection"}, []fleet.Step{
			step(sys, fleet.ActionRefused, nil, nil, "not fixed: the audit could not check the host (unreachable): ..."),
			step(svc, fleet.ActionRefused, nil, nil, "not fixed: the audit could not check the host (unreachable): ...")}},
		{"dc06.corp.example", fleet.StatusCompliant, fleet.RouteSensorJSON, nil, []fleet.Step{
			step(sys, fleet.ActionRefused, nil, nil, sensorRefusal), step(svc, fleet.ActionRefused, nil, nil, sensorRefusal)}},
		{"dc07.corp.example", fleet.StatusCompliant, fleet.RouteMDEStatic, nil, []fleet.Step{
			step(sys, fleet.ActionRefused, nil, nil, mdeRefusal), step(svc, fleet.ActionRefused, nil, nil, mdeRefusal)}},
		{"dc08.corp.example", fleet.StatusNoncompliant, fleet.RouteWinINet, nil, []fleet.Step{
			step(sys, fleet.ActionRefused, []byte{9}, nil, "not fixed: the current value does not decode (1 bytes); fix it by hand"),
			step(svc, fleet.ActionNone, ref, nil, "matches the reference")}},
	}
	rep := &fleet.Report{Schema: "dcproxy.report/v1", Command: "fix", RunID: "20261127T020000Z-1a2b3c"}
	var plans []fleet.HostPlan
	for _, h := range hosts {
		hr := fleet.HostResult{Host: h.name, Status: h.status, Error: h.err, Checks: []fleet.Check{}}
		if h.route != "" {
			hr.Route = &fleet.Route{Source: h.route}
		}
		p := fleet.HostPlan{Host: h.name, Steps: h.steps}
		hr.Remediation = p.Remediation()
		rep.Hosts = append(rep.Hosts, hr)
		plans = append(plans, p)
	}
	for _, h := range rep.Hosts {
		rep.Summary.Hosts++
		switch h.Status {
		case fleet.StatusCompliant:
			rep.Summary.Compliant++
		case fleet.StatusNoncompliant:
			rep.Summary.Noncompliant++
		default:
			rep.Summary.Error++
		}
	}
	return rep, plans
}

// TestFixPlanGolden: the plan and the table cut to the hosts written, on terminals 80 and 120
// columns wide (every line fits), and piped (nothing cut, the bytes in hex).
func TestFixPlanGolden(t *testing.T) {
	for _, width := range []int{80, 120, 0} {
		rep, plans := planFixture()
		v := newPlanView("fix", rep.RunID, rep, plans)
		var b bytes.Buffer
		v.render(&b, width, width == 0)
		if width > 0 {
			cut := touchedReport(rep, v)
			if cut == nil {
				t.Fatal("the table is not cut")
			}
			r, err := report.New(report.FormatTable, report.Options{TTY: true, Width: width})
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString("--- stdout ---\n")
			if err := r.Render(&b, cut); err != nil {
				t.Fatal(err)
			}
			b.WriteString(v.notShownLine(width) + "\n")
		}
		got := b.String()
		name := "fixplan_piped"
		if width > 0 {
			name = "fixplan_width" + map[int]string{80: "80", 120: "120"}[width]
			for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if twwidth.Width(l) > width {
					t.Errorf("width %d: line of %d columns: %q", width, twwidth.Width(l), l)
				}
			}
		}
		golden(t, name, got)

		// What the plan must say, whatever the width.
		if v.hosts() != 2 || len(v.writes) != 2 || v.match != 1 {
			t.Errorf("hosts %d writes %d match %d", v.hosts(), len(v.writes), v.match)
		}
		if !strings.Contains(got, "2 values on 2 hosts") || !strings.Contains(got, "6 other hosts not touched") {
			t.Errorf("width %d: counts missing:\n%s", width, got)
		}
		if !strings.Contains(got, "2 hosts refused: the sensor uses its own proxy (SensorConfiguration.json)") {
			t.Errorf("width %d: the two sensor-json hosts are not grouped:\n%s", width, got)
		}
		if width > 0 {
			table := got[strings.Index(got, "--- stdout ---"):]
			for _, h := range []string{"dc02", "dc03", "dc05", "dc06", "dc07", "dc08"} {
				if strings.Contains(table, h) {
					t.Errorf("width %d: the table shows %s, which is not written:\n%s", width, h, table)
				}
			}
			if !strings.Contains(table, "dc01.corp.example") || !strings.Contains(table, "dc04") {
				t.Errorf("width %d: the table lacks a host written:\n%s", width, table)
			}
		}
		if width == 0 && !strings.Contains(got, "new hex:     46000000") {
			t.Errorf("piped plan without the bytes:\n%s", got)
		}
	}
}

func TestRefusalReasonGroups(t *testing.T) {
	rep, plans := planFixture()
	v := newPlanView("fix", "r", rep, plans)
	got := map[string][]string{}
	for _, g := range v.refused {
		got[g.reason] = g.hosts
	}
	want := map[string]int{
		"the sensor uses its own proxy (SensorConfiguration.json)":                    2,
		"the sensor uses Defender for Endpoint's static proxy (TelemetryProxyServer)": 1,
		"unreachable (WinRM did not accept a connection)":                             1,
		"the current value does not decode":                                           1,
	}
	for reason, n := range want {
		if len(got[reason]) != n {
			t.Errorf("%q: hosts %v, want %d", reason, got[reason], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("groups %v", got)
	}
	if v.refused[0].reason != "the sensor uses its own proxy (SensorConfiguration.json)" {
		t.Errorf("largest group not first: %v", v.refused)
	}
}

func TestCompactValue(t *testing.T) {
	cases := []struct {
		s    wininet.Settings
		want string
	}{
		{wininet.Settings{Version: 0x46, Flags: wininet.FlagDirect}, "direct"},
		{wininet.Settings{Version: 0x46, Flags: wininet.FlagDirect | wininet.FlagProxy, Proxy: "p:8080", Bypass: "<local>"}, "p:8080 bypass <local>"},
		{wininet.Settings{Version: 0x46, Flags: wininet.FlagDirect | wininet.FlagAutoConfig | wininet.FlagAutoDetect, AutoConfigURL: "http://wpad/x.pac"}, "pac http://wpad/x.pac, autodetect"},
		{wininet.Settings{Version: 0x46, Flags: wininet.FlagProxy, Proxy: "a\nb:1"}, "a b:1"},
	}
	for _, tc := range cases {
		if got := compactValue(tc.s.Encode()); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.s, got, tc.want)
		}
	}
	if got := compactValue(nil); got != "absent" {
		t.Errorf("nil: %q", got)
	}
	if got := compactValue([]byte{1, 2, 3}); got != "undecodable (3 bytes)" {
		t.Errorf("short: %q", got)
	}
}

// The write progress counts hosts written and those whose writes did not verify (a host is one
// of them when any of its writes was rolled back, failed or skipped; unchanged rows do not count).
func TestWriteProgress(t *testing.T) {
	var buf bytes.Buffer
	p := newWriteProgress(&buf, true, []string{"a", "b"})
	rows := func(outcomes ...fleet.Outcome) []fleet.Remediation {
		var r []fleet.Remediation
		for _, o := range outcomes {
			action := fleet.ActionWrite
			if o == fleet.OutcomeUnchanged {
				action = fleet.ActionNone
			}
			r = append(r, fleet.Remediation{Action: action, Outcome: o})
		}
		return r
	}
	p.update(1, fleet.HostResult{Host: "a", Status: fleet.StatusError, Remediation: rows(fleet.OutcomeVerified, fleet.OutcomeUnchanged)})
	p.update(2, fleet.HostResult{Host: "b", Status: fleet.StatusCompliant, Remediation: rows(fleet.OutcomeVerified, fleet.OutcomeRolledBack)})
	p.finish()
	out := buf.String()
	for _, want := range []string{"1/2 hosts written, 0 not verified", "2/2 hosts written, 1 not verified", "; waiting for b"} {
		if !strings.Contains(out, want) {
			t.Errorf("write progress lacks %q: %q", want, out)
		}
	}
}
