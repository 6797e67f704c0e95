package cmd

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
)

// An 8-host lab fleet (lab.Generate order): dc01 healthy, dc02 LOCAL_SYSTEM missing, dc03
// LOCAL_SERVICE on an old proxy, dc04 counter only, dc05 PAC, dc06 unreachable, dc07 wrong
// password, dc08 German. No blackholed host, so a run takes well under a second.
func driftLab(t *testing.T, first string) (inv string, env map[string]string) {
	t.Helper()
	dir, _ := startLab(t, 8, first)
	return filepath.Join(dir, "inventory.yaml"), labEnv(t, dir)
}

func readReport(t *testing.T, path string) *fleet.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep fleet.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &rep
}

func writeReportJSON(t *testing.T, path string, rep *fleet.Report) {
	t.Helper()
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The nightly cycle: the first run has no baseline (everything is new), the next run against it
// finds everything persisting and exits 0 with --fail-on new, and 3 without it; a changed fleet
// shows new and resolved findings, and only the new ones set the bits.
func TestReport_baselineAndFailOnNew(t *testing.T) {
	inv, env := driftLab(t, "127.94.0.1")
	t.Chdir(t.TempDir())
	base := "latest.json"
	common := []string{"audit", "-i", inv, "--timeout", "5s", "--retries", "0"}

	r := runApp(t, env, append(common, "--baseline", base, "--fail-on", "new", "-o", base)...)
	if r.code != ExitNoncompliant|ExitHostErrors || !strings.Contains(r.stderr, "baseline latest.json does not exist") {
		t.Fatalf("first run: exit %d stderr %q", r.code, r.stderr)
	}
	first := readReport(t, base)
	if first.Baseline == nil || !first.Baseline.Missing || first.Baseline.File != base {
		t.Fatalf("first run baseline = %+v", first.Baseline)
	}
	if d := first.Summary.Drift; d == nil || d.Persisting != 0 || d.New == 0 || d.NewFail != 3 || d.NewError != 2 {
		t.Fatalf("first run drift = %+v", first.Summary.Drift)
	}

	// Same fleet, the first report as baseline (and overwritten: it is read before the audit).
	r = runApp(t, env, append(common, "--baseline", base, "--fail-on", "new", "-o", base)...)
	if r.code != ExitOK {
		t.Fatalf("second run with --fail-on new: exit %d stderr %q", r.code, r.stderr)
	}
	second := readReport(t, base)
	if d := second.Summary.Drift; d.New != 0 || d.Persisting != first.Summary.Drift.New || d.Resolved != 0 {
		t.Fatalf("second run drift = %+v (first %+v)", d, first.Summary.Drift)
	}
	if second.Baseline.Missing || !second.Baseline.StartedAt.Equal(first.StartedAt) {
		t.Fatalf("second run baseline = %+v", second.Baseline)
	}
	r = runApp(t, env, append(common, "--baseline", base, "--format", "json")...)
	if r.code != ExitNoncompliant|ExitHostErrors {
		t.Fatalf("--fail-on any (default): exit %d", r.code)
	}

	// An edited baseline: dc02 was compliant then (its finding is new now), dc01 had a finding
	// (resolved now), dc06 and dc07 errors persist.
	edited := readReport(t, base)
	for i := range edited.Hosts {
		h := &edited.Hosts[i]
		switch h.Host {
		case "dc01.lab.test":
			h.Status = fleet.StatusNoncompliant
			h.Checks[1].Status = fleet.CheckFail
		case "dc02.lab.test", "dc03.lab.test":
			h.Status = fleet.StatusCompliant
			for j := range h.Checks {
				if h.Checks[j].Status == fleet.CheckFail {
					h.Checks[j].Status = fleet.CheckPass
				}
			}
		}
	}
	writeReportJSON(t, "edited.json", edited)
	r = runApp(t, env, append(common, "--baseline", "edited.json", "--fail-on", "new", "--format", "table")...)
	if r.code != ExitNoncompliant {
		t.Fatalf("edited baseline: exit %d (want 1: new failures, no new errors) stderr %q\n%s", r.code, r.stderr, r.stdout)
	}
	for _, want := range []string{"new: LOCAL_SYSTEM: no value", "dc01.lab.test  " + edited.Hosts[0].Checks[1].ID + "  resolved", "4 new, 4 persisting, 1 resolved findings"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "new: auth") || strings.Contains(r.stdout, "new: unreachable") {
		t.Errorf("persisting errors marked new:\n%s", r.stdout)
	}
}

func TestReport_usageErrors(t *testing.T) {
	inv, env := driftLab(t, "127.94.1.1")
	t.Chdir(t.TempDir())
	if err := os.WriteFile("inventory-as-json.json", []byte(`{"hosts": ["dc1"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("v9.json", []byte(`{"schema": "dcproxy.report/v9", "hosts": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("v1.json", []byte(`{"schema": "dcproxy.report/v1", "hosts": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("broken.json", []byte(`{"schema": "dcproxy.report/v2", "hosts": [`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"fail-on new without baseline", []string{"--fail-on", "new"}, "--fail-on new needs --baseline"},
		{"bad fail-on", []string{"--fail-on", "some"}, `--fail-on "some": want any or new`},
		{"baseline of another schema", []string{"--baseline", "v9.json"}, `baseline is not a dcproxy.report/v2 report: its schema is "dcproxy.report/v9"`},
		{"baseline of schema v1", []string{"--baseline", "v1.json"}, "baseline v1.json is a dcproxy.report/v1 report (written before the sensor-aware audit)"},
		{"baseline not a report", []string{"--baseline", "inventory-as-json.json"}, `has no "schema" field`},
		{"baseline truncated", []string{"--baseline", "broken.json"}, "baseline is not valid report JSON"},
		{"baseline is a directory", []string{"--baseline", "."}, "baseline"},
		{"report without =", []string{"--report", "out.html"}, "want FORMAT=FILE"},
		{"report unknown format", []string{"--report", "pdf=out.pdf"}, `unknown report format "pdf"`},
		{"report twice to one file", []string{"--report", "json=a.json", "--report", "csv=a.json"}, "already an output"},
		{"report onto -o", []string{"-o", "a.json", "--report", "csv=./a.json"}, "already an output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runApp(t, env, append([]string{"audit", "-i", inv}, tc.args...)...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("exit %d stderr %q; want 64 and %q", r.code, r.stderr, tc.want)
			}
		})
	}
	if _, err := os.Stat("a.json"); err == nil {
		t.Error("a usage error still wrote a report")
	}
}

// One run writes the main report and every --report file, atomically, with {date} expanded.
func TestReport_severalFormats(t *testing.T) {
	inv, env := driftLab(t, "127.94.2.1")
	t.Chdir(t.TempDir())
	if err := os.Mkdir("out", 0o755); err != nil {
		t.Fatal(err)
	}
	r := runApp(t, env, "audit", "-i", inv, "--timeout", "5s", "--retries", "0", "--format", "table", "-o", "out/audit-{date}.txt",
		"--report", "json=out/audit-{date}.json", "--report", "HTML=out/audit.html", "--report", "md=out/ticket.md",
		"--report", "csv=out/audit.csv", "--report", "junit=out/junit.xml")
	if r.code != ExitNoncompliant|ExitHostErrors || r.stdout != "" {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	day := time.Now().Format("2006-01-02")
	checks := map[string]string{
		"audit-" + day + ".txt":  "8 hosts: 3 compliant, 3 noncompliant, 2 error",
		"audit-" + day + ".json": `"schema": "` + fleet.Schema + `"`,
		"audit.html":             "<!DOCTYPE html>",
		"ticket.md":              "## dcproxy audit: 3 of 8 domain controllers need action, 2 could not be checked",
		"audit.csv":              "run_id,started_at,host,address,site,status,acts",
		"junit.xml":              "<testsuites",
	}
	entries, _ := os.ReadDir("out")
	if len(entries) != len(checks) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("out/ holds %v (temporary files left behind?)", names)
	}
	for name, want := range checks {
		b, err := os.ReadFile(filepath.Join("out", name))
		if err != nil {
			t.Error(err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%.400s", name, want, b)
		}
	}
	var junit struct{ XMLName xml.Name }
	if b, _ := os.ReadFile("out/junit.xml"); xml.Unmarshal(b, &junit) != nil {
		t.Error("junit.xml does not parse")
	}
	// A report file that cannot be written is a run failure (70), after the others were written.
	r = runApp(t, env, "audit", "-i", inv, "--timeout", "5s", "--retries", "0", "-o", "ok.json", "--report", "csv=no-such-dir/x.csv")
	if r.code != ExitFailure || !strings.Contains(r.stderr, "no-such-dir/x.csv") {
		t.Fatalf("unwritable report: exit %d stderr %q", r.code, r.stderr)
	}
	if _, err := os.Stat("ok.json"); err != nil {
		t.Errorf("the main report was not written: %v", err)
	}
}

// exitCode with --fail-on new reads only the drift summary; without it every finding counts.
func TestReport_exitCodeFailOnNew(t *testing.T) {
	rep := &fleet.Report{Hosts: []fleet.HostResult{{Status: fleet.StatusNoncompliant}, {Status: fleet.StatusError}}}
	for _, tc := range []struct {
		failOnNew bool
		drift     *fleet.DriftSummary
		want      int
	}{
		{false, nil, 3},
		{false, &fleet.DriftSummary{}, 3}, // --fail-on any ignores drift
		{true, &fleet.DriftSummary{Persisting: 4}, 0},
		{true, &fleet.DriftSummary{New: 1, NewFail: 1}, 1},
		{true, &fleet.DriftSummary{New: 1, NewError: 1}, 2},
		{true, &fleet.DriftSummary{New: 2, NewFail: 1, NewError: 1}, 3},
	} {
		rep.Summary.Drift = tc.drift
		a := &app{stderr: &strings.Builder{}, report: rep, failOnNew: tc.failOnNew}
		if got := a.exitCode(nil); got != tc.want {
			t.Errorf("failOnNew=%v drift=%+v: exit %d, want %d", tc.failOnNew, tc.drift, got, tc.want)
		}
	}
	a := &app{stderr: &strings.Builder{}, report: rep, failOnNew: true}
	if got := a.exitCode(errDelivery); got != ExitFailure {
		t.Errorf("delivery failure: exit %d, want 70", got)
	}
}

func TestReport_expandPath(t *testing.T) {
	at := time.Date(2026, 11, 27, 2, 3, 4, 0, time.Local)
	for in, want := range map[string]string{
		"":                          "",
		"plain.json":                "plain.json",
		"r/audit-{date}.json":       "r/audit-2026-11-27.json",
		"{date}T{time}-{date}.html": "2026-11-27T020304-2026-11-27.html",
		"{unknown}.json":            "{unknown}.json",
	} {
		if got := expandPath(in, at); got != want {
			t.Errorf("expandPath(%q) = %q, want %q", in, got, want)
		}
	}
}
