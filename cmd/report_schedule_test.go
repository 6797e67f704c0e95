package cmd

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

func scheduleDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "configs", "schedule"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// unitDirective returns the values of a directive in a unit file, continuation lines joined.
func unitDirective(t *testing.T, unit, key string) []string {
	t.Helper()
	joined := strings.ReplaceAll(unit, "\\\n", " ")
	var out []string
	for _, line := range strings.Split(joined, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
			out = append(out, strings.Join(strings.Fields(v), " "))
		}
	}
	return out
}

// TestSchedule_systemdVerify runs `systemd-analyze verify` on the service and timer (the service's
// binary replaced by an executable that exists here) and requires it to be silent, and checks the
// hardening with `systemd-analyze security --offline`. Skipped where systemd-analyze is not
// installed (Debian package systemd).
func TestSchedule_systemdVerify(t *testing.T) {
	bin, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Log("systemd-analyze not installed on CI: unit files not verified")
		}
		t.Skip("systemd-analyze not installed (Debian package systemd): unit files not verified")
	}
	src := scheduleDir(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"dcproxy-audit.service", "dcproxy-audit.timer"} {
		b, err := os.ReadFile(filepath.Join(src, name))
		if err != nil {
			t.Fatal(err)
		}
		b = bytes.ReplaceAll(b, []byte("/usr/local/bin/dcproxy"), []byte(self))
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "verify", "./dcproxy-audit.service", "./dcproxy-audit.timer")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	cmd = exec.CommandContext(ctx, bin, "security", "--offline=yes", "./dcproxy-audit.service")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for dcproxy-audit\.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Logf("systemd-analyze security --offline not usable here (%v): hardening not scored", err)
		return
	}
	if lvl, _ := strconv.ParseFloat(string(m[1]), 64); lvl > 2.0 {
		t.Errorf("exposure level %s, want at most 2.0 (OK):\n%s", m[1], out)
	}
}

// The service's command line is a working dcproxy invocation: run with its paths moved into a
// temporary directory against a lab fleet, the first run (no baseline yet) writes every report and
// exits 3, the second finds nothing new and exits 0; the ExecStartPre rotation deletes only old
// reports. Credentials come only from the LoadCredential file, as on the real host.
func TestSchedule_systemdCommandRuns(t *testing.T) {
	unitB, err := os.ReadFile(filepath.Join(scheduleDir(t), "dcproxy-audit.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(unitB)
	if got := unitDirective(t, unit, "LoadCredential"); len(got) != 1 || got[0] != "password:/etc/dcproxy/password" {
		t.Fatalf("LoadCredential = %q", got)
	}
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=dcproxy dcproxy/reports"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("service lacks %s", want)
		}
	}
	execs := unitDirective(t, unit, "ExecStart")
	pres := unitDirective(t, unit, "ExecStartPre")
	if len(execs) != 1 || len(pres) != 1 {
		t.Fatalf("ExecStart %q ExecStartPre %q", execs, pres)
	}
	inv, env := driftLab(t, "127.94.6.1")
	root := t.TempDir()
	etc, state, creds := filepath.Join(root, "etc"), filepath.Join(root, "state"), filepath.Join(root, "creds")
	for _, d := range []string{etc, filepath.Join(state, "reports"), creds} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	invB, _ := os.ReadFile(inv)
	mustWrite(t, filepath.Join(etc, "dcs.yaml"), invB, 0o644)
	mustWrite(t, filepath.Join(etc, "dcproxy.yaml"), []byte("user: '"+env["DCPROXY_USER"]+"'\ntimeout: 5s\nretries: 0\n"), 0o644)
	mustWrite(t, filepath.Join(creds, "password"), []byte(lab.GenPassword+"\n"), 0o400)
	move := strings.NewReplacer("/etc/dcproxy", etc, "/var/lib/dcproxy", state, "%d", creds)

	args := strings.Fields(move.Replace(execs[0]))
	if args[0] != "/usr/local/bin/dcproxy" {
		t.Fatalf("ExecStart runs %s", args[0])
	}
	t.Chdir(state)
	noSecrets := map[string]string{} // nothing from the environment: the unit has no Environment=
	r := runApp(t, noSecrets, args[1:]...)
	if r.code != ExitNoncompliant|ExitHostErrors {
		t.Fatalf("first run: exit %d stderr %q", r.code, r.stderr)
	}
	day := time.Now().Format("2006-01-02")
	for _, name := range []string{"latest.json", "audit-" + day + ".json", "audit-" + day + ".md", "audit-" + day + ".html"} {
		if _, err := os.Stat(filepath.Join(state, "reports", name)); err != nil {
			t.Errorf("report missing: %v", err)
		}
	}
	if r = runApp(t, noSecrets, args[1:]...); r.code != ExitOK {
		t.Fatalf("second run (nothing new): exit %d stderr %q", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, lab.GenPassword) {
		t.Fatal("password on stderr")
	}

	// ExecStartPre: the rotation removes reports older than 30 days and nothing else.
	if _, err := exec.LookPath("find"); err != nil {
		t.Skip("no find(1)")
	}
	old := filepath.Join(state, "reports", "audit-2020-01-01.json")
	keep := filepath.Join(state, "reports", "other.json")
	mustWrite(t, old, []byte("{}"), 0o644)
	mustWrite(t, keep, []byte("{}"), 0o644)
	long := time.Now().Add(-40 * 24 * time.Hour)
	for _, f := range []string{old, keep} {
		if err := os.Chtimes(f, long, long); err != nil {
			t.Fatal(err)
		}
	}
	pre := strings.Fields(move.Replace(pres[0]))
	if out, err := exec.Command(pre[0], pre[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v %s", pres[0], err, out)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("rotation kept a 40-day-old report")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Error("rotation deleted a file that is not a dated report")
	}
	if _, err := os.Stat(filepath.Join(state, "reports", "audit-"+day+".json")); err != nil {
		t.Error("rotation deleted today's report")
	}
}

func mustWrite(t *testing.T, name string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(name, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(name, mode); err != nil {
		t.Fatal(err)
	}
}

// taskXML is the part of the Task Scheduler schema (http://schemas.microsoft.com/windows/2004/02/mit/task)
// the example uses.
type taskXML struct {
	XMLName          xml.Name
	Version          string `xml:"version,attr"`
	URI              string `xml:"RegistrationInfo>URI"`
	Description      string `xml:"RegistrationInfo>Description"`
	CalendarTriggers []struct {
		StartBoundary string `xml:"StartBoundary"`
		Enabled       string `xml:"Enabled"`
		DaysInterval  int    `xml:"ScheduleByDay>DaysInterval"`
		RandomDelay   string `xml:"RandomDelay"`
	} `xml:"Triggers>CalendarTrigger"`
	Principals []struct {
		ID        string `xml:"id,attr"`
		UserID    string `xml:"UserId"`
		LogonType string `xml:"LogonType"`
		RunLevel  string `xml:"RunLevel"`
	} `xml:"Principals>Principal"`
	Settings struct {
		MultipleInstancesPolicy string `xml:"MultipleInstancesPolicy"`
		ExecutionTimeLimit      string `xml:"ExecutionTimeLimit"`
		StartWhenAvailable      string `xml:"StartWhenAvailable"`
		Enabled                 string `xml:"Enabled"`
	} `xml:"Settings"`
	Actions struct {
		Context string `xml:"Context,attr"`
		Exec    []struct {
			Command          string `xml:"Command"`
			Arguments        string `xml:"Arguments"`
			WorkingDirectory string `xml:"WorkingDirectory"`
		} `xml:"Exec"`
	} `xml:"Actions"`
}

const taskNS = "http://schemas.microsoft.com/windows/2004/02/mit/task"

// The Task Scheduler example parses as a task of the schema's namespace with a daily trigger, a
// least-privilege service-account principal, no password anywhere, and a dcproxy action whose
// arguments are a working dcproxy command line once its Windows paths are moved here.
func TestSchedule_windowsTaskXML(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(scheduleDir(t), "dcproxy-audit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(`<?xml version="1.0" encoding="UTF-8"?>`)) {
		t.Error("the task file must start with an XML declaration naming UTF-8")
	}
	var task taskXML
	if err := xml.Unmarshal(b, &task); err != nil {
		t.Fatal(err)
	}
	dur := regexp.MustCompile(`^P(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?$`)
	switch {
	case task.XMLName.Space != taskNS || task.XMLName.Local != "Task":
		t.Fatalf("root element %v", task.XMLName)
	case task.Version != "1.2" && task.Version != "1.3" && task.Version != "1.4":
		t.Errorf("task version %q", task.Version)
	case !strings.HasPrefix(task.URI, `\dcproxy\`):
		t.Errorf("URI %q", task.URI)
	case len(task.CalendarTriggers) != 1 || task.CalendarTriggers[0].DaysInterval != 1 || task.CalendarTriggers[0].Enabled != "true":
		t.Errorf("triggers %+v: want one daily calendar trigger", task.CalendarTriggers)
	case !dur.MatchString(task.CalendarTriggers[0].RandomDelay) || !dur.MatchString(task.Settings.ExecutionTimeLimit):
		t.Errorf("durations %q %q are not ISO 8601", task.CalendarTriggers[0].RandomDelay, task.Settings.ExecutionTimeLimit)
	case len(task.Principals) != 1 || task.Principals[0].ID != task.Actions.Context:
		t.Errorf("principals %+v, actions context %q", task.Principals, task.Actions.Context)
	case task.Principals[0].RunLevel != "LeastPrivilege" || !strings.HasSuffix(task.Principals[0].UserID, "$") ||
		task.Principals[0].LogonType != "Password":
		t.Errorf("principal %+v: want a gMSA (UserId ending in $, LogonType Password), least privilege", task.Principals[0])
	case task.Settings.MultipleInstancesPolicy != "IgnoreNew" || task.Settings.StartWhenAvailable != "true" || task.Settings.Enabled != "true":
		t.Errorf("settings %+v", task.Settings)
	case len(task.Actions.Exec) != 2 || !strings.HasSuffix(task.Actions.Exec[1].Command, `\dcproxy.exe`):
		t.Fatalf("actions %+v: want the rotation, then dcproxy", task.Actions.Exec)
	}
	if _, err := time.Parse("2006-01-02T15:04:05", task.CalendarTriggers[0].StartBoundary); err != nil {
		t.Errorf("StartBoundary: %v", err)
	}
	if rot := task.Actions.Exec[0]; !strings.HasSuffix(rot.Command, `\forfiles.exe`) || !strings.Contains(rot.Arguments, "/d -30") ||
		!strings.Contains(rot.Arguments, "/m audit-*") {
		t.Errorf("rotation action %+v", rot)
	}
	if strings.Contains(strings.ToLower(string(b)), "<password>") || strings.Contains(task.Actions.Exec[1].Arguments, "--password ") {
		t.Error("a password in the task definition")
	}

	// Run the action's command line against a lab, C:\ProgramData\dcproxy moved into a temp dir.
	inv, env := driftLab(t, "127.94.7.1")
	root := t.TempDir()
	for _, d := range []string{"secrets", "reports"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	invB, _ := os.ReadFile(inv)
	mustWrite(t, filepath.Join(root, "dcs.yaml"), invB, 0o644)
	mustWrite(t, filepath.Join(root, "dcproxy.yaml"), []byte("user: '"+env["DCPROXY_USER"]+"'\ntimeout: 5s\nretries: 0\n"), 0o644)
	mustWrite(t, filepath.Join(root, "secrets", "password.txt"), []byte(lab.GenPassword+"\r\n"), 0o600)
	var args []string
	for _, a := range strings.Fields(task.Actions.Exec[1].Arguments) {
		if strings.Contains(a, `C:\ProgramData\dcproxy\`) {
			a = strings.ReplaceAll(strings.ReplaceAll(a, `C:\ProgramData\dcproxy\`, root+"/"), `\`, "/")
		}
		args = append(args, a)
	}
	t.Chdir(root)
	r := runApp(t, map[string]string{}, args...)
	if r.code != ExitNoncompliant|ExitHostErrors {
		t.Fatalf("task action: exit %d stderr %q (args %q)", r.code, r.stderr, args)
	}
	day := time.Now().Format("2006-01-02")
	for _, name := range []string{"latest.json", "audit-" + day + ".json", "audit-" + day + ".md", "audit-" + day + ".html", "audit-" + day + ".log"} {
		if _, err := os.Stat(filepath.Join(root, "reports", name)); err != nil {
			t.Errorf("missing: %v", err)
		}
	}
	if r = runApp(t, map[string]string{}, args...); r.code != ExitOK {
		t.Fatalf("second run: exit %d stderr %q", r.code, r.stderr)
	}
}
