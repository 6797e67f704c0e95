package report

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
)

// driftFixture is the fixture compared with an earlier run of the same fleet, made from the same
// real results: in the baseline dc15's LOCAL_SYSTEM check passed (now failing: new), dc13 was
// compliant (its three findings are new), dc07 answered (its unreachable error is new), and dc03
// still had its missing LOCAL_SYSTEM value (the audit before the fix; resolved now). Everything else
// was as now (persisting).
func driftFixture(t *testing.T) *fleet.Report {
	t.Helper()
	prev := fixture()
	prev.StartedAt = time.Date(2024, 5, 13, 9, 30, 0, 0, time.UTC)
	prev.RunID = "20240513T093000Z-1c0d"
	dc03 := host(t, prev, "dc03.corp.example")
	c := check(t, dc03, "registry.local_system")
	c.Status, c.Actor, c.Message = fleet.CheckFail, fleet.ActorFix, "no proxy set for LocalSystem (the sensor's updater): its requests go direct (LOCAL_SYSTEM has no DefaultConnectionSettings)"
	dc03.Status = fleet.StatusNoncompliant
	dc13 := host(t, prev, "dc13.corp.example")
	for i := range dc13.Checks {
		if dc13.Checks[i].Status == fleet.CheckFail {
			dc13.Checks[i].Status, dc13.Checks[i].Actor = fleet.CheckPass, ""
		}
	}
	dc13.Status = fleet.StatusCompliant
	dc15 := host(t, prev, "dc15.corp.example")
	c = check(t, dc15, "registry.local_system")
	c.Status, c.Actor = fleet.CheckPass, ""
	dc15.Status = fleet.StatusCompliant
	dc07 := host(t, prev, "dc07.corp.example")
	dc07.Error, dc07.Status = nil, fleet.StatusCompliant
	cur := fixture()
	if err := fleet.ApplyBaseline(cur, prev); err != nil {
		t.Fatal(err)
	}
	cur.Baseline.File = "/var/lib/dcproxy/reports/latest.json"
	return cur
}

// findings counts the failed and errored checks and the host errors of rep (what drift tracks).
func findings(rep *fleet.Report) int {
	n := 0
	for _, h := range rep.Hosts {
		if h.Error != nil {
			n++
		}
		for _, c := range h.Checks {
			if c.Status == fleet.CheckFail || c.Status == fleet.CheckError {
				n++
			}
		}
	}
	return n
}

func TestGoldenDrift(t *testing.T) {
	rep := driftFixture(t)
	newOnly := fixedOptions()
	newOnly.NewOnly = true
	for _, tc := range []struct {
		name, format string
		opt          Options
	}{
		{"drift_table", "table", fixedOptions()},
		{"drift_markdown", "markdown", fixedOptions()},
		{"drift_markdown_newonly", "markdown", newOnly},
		{"drift_csv", "csv", fixedOptions()},
		{"drift_csv_checks", "csv-checks", fixedOptions()},
		{"drift_json", "json", fixedOptions()},
		{"drift_html", "html", fixedOptions()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, tc.name, render(t, tc.format, tc.opt, rep))
		})
	}
}

// The drift the renderers show is the classification of ApplyBaseline.
func TestDriftShown(t *testing.T) {
	rep := driftFixture(t)
	total := findings(rep)
	if d := rep.Summary.Drift; d == nil || d.New != 5 || d.Persisting != total-5 || d.Resolved != 1 || d.NewFail != 2 || d.NewError != 1 {
		t.Fatalf("fixture drift = %+v (%d findings)", rep.Summary.Drift, total)
	}
	table := render(t, "table", fixedOptions(), rep)
	for _, want := range []string{
		"new: LOCAL_SYSTEM: json.lab.test:3128 != proxy.lab.test:8080",     // dc15, new
		"new: tls.root: the sensor's trusted root DigiCert Global Root G2", // dc13, new
		"new: unreachable: WinRM did not accept a connection",              // dc07, new
		"  LOCAL_SERVICE: old.lab.test:3128 != proxy.lab.test:8080",        // dc04, persisting: no prefix
		"dc03.corp.example  registry.local_system  resolved",
		fmt.Sprintf("since the baseline of 2024-05-13 09:30:00 UTC: 5 new, %d persisting, 1 resolved findings; new on 2 noncompliant hosts, 1 host in error", total-5),
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	for _, persisting := range []string{"new: LOCAL_SERVICE: old.lab.test", "new: auth:", "new: LOCAL_SERVICE: no value"} {
		if strings.Contains(table, persisting) {
			t.Errorf("persisting finding marked new: %q", persisting)
		}
	}
	md := render(t, "markdown", Options{NewOnly: true}, rep)
	if !strings.HasPrefix(md, "## dcproxy fix: new findings on 3 of 16 domain controllers\n") {
		t.Errorf("new-only headline: %q", strings.SplitN(md, "\n", 2)[0])
	}
	md, _, _ = strings.Cut(md, "### Remediation")
	for h, want := range map[string]bool{"dc13": true, "dc15": true, "dc07": true, "dc04": false, "dc06": false, "dc-fra-01": false} {
		if got := strings.Contains(md, "| "+h+".corp.example |"); got != want {
			t.Errorf("new-only markdown lists %s: %v, want %v:\n%s", h, got, want, md)
		}
	}
	if !strings.Contains(md, "### Resolved since the baseline (1)") {
		t.Errorf("markdown lacks the resolved section:\n%s", md)
	}
	// Without a baseline NewOnly changes nothing.
	plain := fixture()
	if a, b := render(t, "markdown", Options{NewOnly: true}, plain), render(t, "markdown", Options{}, plain); a != b {
		t.Error("NewOnly without a baseline changed the markdown")
	}
	// First run: the baseline file did not exist.
	first := fixture()
	if err := fleet.ApplyBaseline(first, nil); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("no baseline yet (first run): %d new, 0 persisting, 0 resolved findings; new on 6 noncompliant hosts, 4 hosts in error", findings(first))
	if out := render(t, "table", Options{}, first); !strings.Contains(out, want) {
		t.Errorf("first-run drift line %q missing:\n%s", want, out)
	}
}
