package report

import (
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
)

// driftFixture is the fixture compared with an earlier run of the same fleet in which dc02's
// LOCAL_SYSTEM failed (now resolved), dc03 was compliant (its findings are new), dc07 answered
// (its unreachable error is new) and everything else was as now (persisting).
func driftFixture(t *testing.T) *fleet.Report {
	t.Helper()
	prev := fixture()
	prev.StartedAt = time.Date(2024, 5, 13, 9, 30, 0, 0, time.UTC)
	prev.Hosts[1].Checks[0].Status = fleet.CheckFail
	prev.Hosts[1].Checks[0].Message = "LOCAL_SYSTEM: proxy \"proxy-old:3128\", want \"proxy:8080\""
	for i := range prev.Hosts[2].Checks {
		prev.Hosts[2].Checks[i].Status = fleet.CheckPass
	}
	prev.Hosts[6].Error = nil
	prev.Hosts[6].Status = fleet.StatusCompliant
	cur := fixture()
	if err := fleet.ApplyBaseline(cur, prev); err != nil {
		t.Fatal(err)
	}
	cur.Baseline.File = "/var/lib/dcproxy/reports/latest.json"
	return cur
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
	if d := rep.Summary.Drift; d == nil || d.New != 3 || d.Resolved != 1 || d.NewFail != 1 || d.NewError != 1 {
		t.Fatalf("fixture drift = %+v", rep.Summary.Drift)
	}
	table := render(t, "table", fixedOptions(), rep)
	for _, want := range []string{
		"new: LOCAL_SYSTEM: no value",                 // dc03, new
		"new: unreachable: connection refused",        // dc07, new
		"LOCAL_SERVICE: proxy-old:3128 != proxy:8080", // dc04, persisting: no prefix
		"dc02.corp.example  regcompare.local_system  resolved",
		"since the baseline of 2024-05-13 09:30:00 UTC: 3 new, 8 persisting, 1 resolved findings; new on 1 noncompliant host, 1 host in error",
	} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, "new: LOCAL_SERVICE: proxy-old") {
		t.Error("persisting finding marked new")
	}
	md := render(t, "markdown", Options{NewOnly: true}, rep)
	if !strings.HasPrefix(md, "## dcproxy fix: new findings on 2 of 10 domain controllers\n") {
		t.Errorf("new-only headline: %q", strings.SplitN(md, "\n", 2)[0])
	}
	md, _, _ = strings.Cut(md, "### Remediation")
	if !strings.Contains(md, "| dc03.corp.example |") || strings.Contains(md, "| dc04.corp.example |") ||
		!strings.Contains(md, "| dc07.corp.example |") || strings.Contains(md, "| dc06.corp.example |") {
		t.Errorf("new-only markdown lists the wrong hosts:\n%s", md)
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
	if out := render(t, "table", Options{}, first); !strings.Contains(out, "no baseline yet (first run): 11 new, 0 persisting, 0 resolved findings; new on 3 noncompliant hosts, 4 hosts in error") {
		t.Errorf("first-run drift line missing:\n%s", out)
	}
}
