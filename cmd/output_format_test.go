package cmd

import (
	"os"
	"strings"
	"testing"
)

// The report's format follows -o's extension; a contradicting --format and "-o json" are refused.
func TestPickFormat(t *testing.T) {
	for _, tc := range []struct {
		format, output string
		tty            bool
		want, wantErr  string
	}{
		{"", "", true, "table", ""},
		{"", "", false, "json", ""},
		{"", "report.html", false, "html", ""},
		{"", "r.HTM", true, "html", ""},
		{"", "ticket.md", false, "markdown", ""},
		{"", "audit.csv", false, "csv", ""},
		{"", "junit.xml", false, "junit", ""},
		{"", "audit.txt", false, "table", ""},
		{"", "report.json", false, "json", ""},
		{"", "report.out", false, "json", ""},
		{"csv-checks", "a.csv", false, "csv-checks", ""},
		{"json", "report.html", false, "", "--format json but -o report.html has the extension of html"},
		{"", "json", false, "", "did you mean --format json (or -o report.json)?"},
		{"", "html", false, "", "did you mean --format html"},
	} {
		got, err := pickFormat(&Config{Format: tc.format, Output: tc.output}, tc.tty)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q -o %q: %v, want %q", tc.format, tc.output, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q -o %q tty %v: %q %v, want %q", tc.format, tc.output, tc.tty, got, err, tc.want)
		}
	}
}

// End to end: -o report.html writes HTML, and the JSON report carries the tool version and the
// run's metadata.
func TestAudit_formatFromExtensionAndRunMetadata(t *testing.T) {
	dir, _ := startLab(t, 2, "127.93.2.1")
	env := labEnv(t, dir)
	t.Chdir(t.TempDir())
	r := runApp(t, env, "audit", "-i", dir, "--timeout", "5s", "-o", "report.html", "--report", "json=r.json")
	b, err := os.ReadFile("report.html")
	if err != nil || !strings.HasPrefix(string(b), "<!DOCTYPE html>") {
		t.Fatalf("report.html: %v %.60q (stderr %q)", err, b, r.stderr)
	}
	j, _ := os.ReadFile("r.json")
	for _, want := range []string{`"tool": {"name":"dcproxy","version":`, `"run": {"operator":`, `"reference_source":"current_user"`, `"probe_target":"https://`, `"inventory":"` + dir + `"`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("json lacks %s:\n%.400s", want, j)
		}
	}
	if !strings.Contains(r.stderr, "wrote report.html, r.json") {
		t.Errorf("closing line: %q", r.stderr)
	}
	if r := runApp(t, env, "audit", "-i", dir, "-o", "json"); r.code != ExitUsage || !strings.Contains(r.stderr, "--format json") {
		t.Errorf("-o json: exit %d stderr %q", r.code, r.stderr)
	}
}

func TestVersion(t *testing.T) {
	r := runApp(t, nil, "--version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "dcproxy version ") || strings.TrimSpace(strings.TrimPrefix(r.stdout, "dcproxy version ")) == "" {
		t.Fatalf("%+v", r)
	}
}

// --limit takes short names; fix's --host matches names only, never a site or a tag.
func TestLimitShortNamesAndHostNamesOnly(t *testing.T) {
	dir, _ := startLab(t, 3, "127.93.3.1")
	env := labEnv(t, dir)
	t.Chdir(t.TempDir())
	r := runApp(t, env, "audit", "-i", dir, "--limit", "dc02", "--format", "json")
	if !strings.Contains(r.stdout, `"host": "dc02.lab.test"`) || strings.Contains(r.stdout, "dc01.lab.test") {
		t.Fatalf("--limit dc02: %q %q", r.stdout, r.stderr)
	}
	hosts, err := nameHosts(nil, nil)
	if err != nil || hosts != nil {
		t.Fatal("no patterns must keep the hosts")
	}
	r = runApp(t, env, "fix", "-i", dir, "--host", "dc03.lab.test", "--format", "json", "--backup", "b.jsonl")
	if strings.Contains(r.stdout, "dc01.lab.test") || !strings.Contains(r.stdout, "dc03.lab.test") {
		t.Fatalf("fix --host: %q %q", r.stdout, r.stderr)
	}
}
