package cmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// The scheduled case: --log-format json --log-file writes JSON lines to the file (also with
// --quiet, which only silences stderr), nothing of it reaches stderr, and no line holds the
// password, not even for the host that refused it.
func TestReport_jsonLogFile(t *testing.T) {
	inv, env := driftLab(t, "127.94.4.1")
	t.Chdir(t.TempDir())
	if env["DCPROXY_PASSWORD"] != lab.GenPassword {
		t.Fatalf("lab env: %v", env)
	}
	for _, quiet := range []bool{false, true} {
		logFile := filepath.Join(t.TempDir(), "dcproxy.log")
		args := []string{"audit", "-i", inv, "--timeout", "5s", "--retries", "1", "--format", "json",
			"--log-format", "json", "--log-file", logFile, "--log-level", "debug"}
		if quiet {
			args = append(args, "--quiet")
		}
		r := runApp(t, env, args...)
		if r.code != ExitNoncompliant|ExitHostErrors {
			t.Fatalf("quiet=%v: exit %d stderr %q", quiet, r.code, r.stderr)
		}
		if strings.Contains(r.stderr, `"level"`) || strings.Contains(r.stderr, "level=") {
			t.Errorf("quiet=%v: logs on stderr: %q", quiet, r.stderr)
		}
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		if st, _ := os.Stat(logFile); st.Mode().Perm() != 0o600 {
			t.Errorf("log file mode %v, want 0600", st.Mode().Perm())
		}
		lines, hosts := 0, map[string]bool{}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			lines++
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("quiet=%v: log line %d is not JSON: %q", quiet, lines, sc.Text())
			}
			for _, k := range []string{"time", "level", "msg"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("log line %d lacks %q: %q", lines, k, sc.Text())
				}
			}
			if h, ok := rec["host"].(string); ok {
				hosts[h] = true
			}
		}
		// debug logs one line per checked host; the unreachable and refused hosts are logged too.
		if lines < 8 || !hosts["dc01.lab.test"] || !hosts["dc06.lab.test"] || !hosts["dc07.lab.test"] {
			t.Errorf("quiet=%v: %d log lines, hosts %v:\n%s", quiet, lines, hosts, b)
		}
		if strings.Contains(string(b), lab.GenPassword) || strings.Contains(r.stderr, lab.GenPassword) || strings.Contains(r.stdout, lab.GenPassword) {
			t.Fatalf("quiet=%v: the password is in the logs or output", quiet)
		}
	}
}

// Progress goes to a terminal's stderr only: done/total, failures, elapsed and remaining; nothing
// when stderr is not a terminal or with --quiet; the line is cleared at the end.
func TestReport_progress(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, true, []string{"a", "b", "c"})
	p.update(1, fleet.HostResult{Host: "a", Status: fleet.StatusCompliant})
	p.mu.Lock()
	p.lastOut = time.Time{} // let the next update draw despite the redraw throttle
	p.mu.Unlock()
	p.update(2, fleet.HostResult{Host: "b", Status: fleet.StatusError})
	p.update(3, fleet.HostResult{Host: "c", Status: fleet.StatusNoncompliant}) // the last host always draws
	p.finish()
	out := buf.String()
	for _, want := range []string{"1/3 hosts, 0 need attention", "2/3 hosts, 1 need attention", "3/3 hosts, 2 need attention", " elapsed, ~", " left", "; waiting for b, c", "; waiting for c"} {
		if !strings.Contains(out, want) {
			t.Errorf("progress lacks %q: %q", want, out)
		}
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("progress line not cleared at the end: %q", out)
	}
	buf.Reset()
	off := newProgress(&buf, false, []string{"a"})
	off.update(1, fleet.HostResult{})
	off.finish()
	if buf.Len() != 0 {
		t.Errorf("progress off wrote %q", buf.String())
	}

	// Through the CLI: a terminal stderr gets it, --quiet and a pipe do not.
	inv, env := driftLab(t, "127.94.5.1")
	t.Chdir(t.TempDir())
	run := func(tty bool, extra ...string) string {
		devnull, _ := os.Open(os.DevNull)
		defer devnull.Close()
		var out, errb bytes.Buffer
		a := &app{ctx: context.Background(), stdin: devnull, stdout: &out, stderr: &errb, stderrTTY: tty,
			env: func(k string) string { return env[k] }}
		a.run(append([]string{"audit", "-i", inv, "--timeout", "5s", "--retries", "0", "--format", "json"}, extra...))
		return errb.String()
	}
	if s := run(true); !strings.Contains(s, "8/8 hosts, 5 need attention") {
		t.Errorf("terminal stderr: %q", s)
	}
	if s := run(true, "--quiet"); strings.Contains(s, "hosts,") {
		t.Errorf("--quiet drew progress: %q", s)
	}
	if s := run(false); strings.Contains(s, "hosts,") {
		t.Errorf("non-terminal stderr got progress: %q", s)
	}
}
