package cmd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readLogRecords parses a JSON log file and returns its records with the given msg.
func readLogRecords(t *testing.T, path, msg string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestRunLogSummaries: a JSON log file gets one "run started" record (command, version,
// inventory, host count, concurrency, operator) and one "run finished" record (hosts by status,
// duration, files written, the exit status the process returns), at the default log level warn;
// fix --apply names its backup file and audit log among the files. A usage error before any host
// is known writes neither, and a text log on stderr at level warn stays quiet.
func TestRunLogSummaries(t *testing.T) {
	dir, _ := startLab(t, 9, "127.94.21.1")
	env := labEnv(t, dir)
	state := t.TempDir()
	env["XDG_STATE_HOME"] = state
	t.Chdir(t.TempDir())
	inv := filepath.Join(dir, "inventory.yaml")

	logFile := filepath.Join(t.TempDir(), "run.log")
	out := filepath.Join(t.TempDir(), "audit.json")
	r := runApp(t, env, "audit", "-i", inv, "--timeout", "3s", "--retries", "0", "--concurrency", "4",
		"-o", out, "--log-format", "json", "--log-file", logFile)
	if r.code != ExitNoncompliant|ExitHostErrors {
		t.Fatalf("audit: exit %d, stderr %s", r.code, r.stderr)
	}
	starts, ends := readLogRecords(t, logFile, "run started"), readLogRecords(t, logFile, "run finished")
	if len(starts) != 1 || len(ends) != 1 {
		t.Fatalf("%d start and %d finish records", len(starts), len(ends))
	}
	s := starts[0]
	if s["level"] != "INFO" || s["command"] != "audit" || s["version"] != version() || s["inventory"] != inv ||
		s["hosts"] != float64(9) || s["concurrency"] != float64(4) || !strings.Contains(s["operator"].(string), " as ") {
		t.Errorf("start record %v", s)
	}
	rep := readFixReport(t, out)
	f := ends[0]
	hosts, _ := f["hosts"].(map[string]any)
	if f["command"] != "audit" || f["exit_code"] != float64(r.code) || hosts == nil ||
		hosts["total"] != float64(9) || hosts["compliant"] != float64(rep.Summary.Compliant) ||
		hosts["noncompliant"] != float64(rep.Summary.Noncompliant) || hosts["error"] != float64(rep.Summary.Error) ||
		f["interrupted"] != false {
		t.Errorf("finish record %v (report summary %+v)", f, rep.Summary)
	}
	if d, ok := f["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("finish record duration %v", f["duration_ms"])
	}
	if files, _ := f["files"].([]any); len(files) != 1 || files[0] != out {
		t.Errorf("finish record files %v, want [%s]", f["files"], out)
	}
	b, _ := os.ReadFile(logFile)
	if strings.Contains(string(b), env["DCPROXY_PASSWORD"]) {
		t.Error("the log holds the password")
	}

	// fix --apply: the journals are files written; the exit status is the one after the writes.
	fixLog := filepath.Join(t.TempDir(), "fix.log")
	r = runApp(t, env, "fix", "-i", inv, "--timeout", "3s", "--retries", "0", "--apply", "--yes", "--format", "json",
		"--log-format", "json", "--log-file", fixLog)
	starts, ends = readLogRecords(t, fixLog, "run started"), readLogRecords(t, fixLog, "run finished")
	if len(starts) != 1 || len(ends) != 1 || starts[0]["command"] != "fix" || starts[0]["fix_concurrency"] == nil {
		t.Fatalf("fix: start %v finish %v (stderr %s)", starts, ends, r.stderr)
	}
	var files []string
	for _, x := range ends[0]["files"].([]any) {
		files = append(files, x.(string))
	}
	backups := filepath.Join(state, "dcproxy", "backups.jsonl")
	if !slices.Contains(files, backups) || !slices.Contains(files, filepath.Join(state, "dcproxy", "audit.jsonl")) ||
		ends[0]["exit_code"] != float64(r.code) {
		t.Errorf("fix finish record %v, exit %d", ends[0], r.code)
	}

	// A usage error: no run, no summaries (the file is created, but stays empty).
	badLog := filepath.Join(t.TempDir(), "bad.log")
	r = runApp(t, env, "audit", "-i", filepath.Join(dir, "nope.yaml"), "--log-format", "json", "--log-file", badLog)
	if r.code != ExitUsage {
		t.Fatalf("missing inventory: exit %d", r.code)
	}
	if b, err := os.ReadFile(badLog); err == nil && len(b) > 0 {
		t.Errorf("usage error logged %q", b)
	}

	// Text logs on stderr at the default level (the fix above repaired some hosts: exit 2 now): the summaries are info records and stay out.
	r = runApp(t, env, "audit", "-i", inv, "--timeout", "3s", "--retries", "0", "--format", "json")
	if strings.Contains(r.stderr, "run started") || strings.Contains(r.stderr, "run finished") {
		t.Errorf("summaries on stderr at level warn: %s", r.stderr)
	}
	// ... and at level info they are there.
	r = runApp(t, env, "audit", "-i", inv, "--timeout", "3s", "--retries", "0", "--format", "json", "--log-level", "info")
	if !strings.Contains(r.stderr, `msg="run started" command=audit`) || !strings.Contains(r.stderr, `msg="run finished" command=audit exit_code=`+strconv.Itoa(r.code)+" ") {
		t.Errorf("text summaries at level info: %s", r.stderr)
	}
}
