package cmd

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

func labRegistries(l *lab.Lab) map[string]map[string][]registry.Value {
	out := map[string]map[string][]registry.Value{}
	for _, m := range l.Members {
		if m.Host != nil {
			out[m.Spec.Name] = m.Host.Registry().Snapshot()
		}
	}
	return out
}

func readFixReport(t *testing.T, path string) fleet.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep fleet.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep
}

// TestFixCLI runs fix (dry run, refused without --yes, --apply), a second fix and restore through
// the command line against a generated lab fleet.
func TestFixCLI(t *testing.T) {
	dir, l := startLab(t, 9, "127.94.1.1")
	env := labEnv(t, dir)
	state := t.TempDir()
	env["XDG_STATE_HOME"] = state
	t.Chdir(t.TempDir())
	inv := filepath.Join(dir, "inventory.yaml")
	before := labRegistries(l)
	common := []string{"-i", inv, "--timeout", "3s", "--retries", "0"}
	backups := filepath.Join(state, "dcproxy", "backups.jsonl")

	// Dry run: the plan with hex on stderr, planned rows in the report, nothing written.
	r := runApp(t, env, append([]string{"fix", "--format", "json"}, common...)...)
	if r.code != ExitNoncompliant|ExitHostErrors {
		t.Fatalf("dry run: exit %d, stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "new hex:     46000000") || !strings.Contains(r.stderr, "dry run, nothing written") || !strings.Contains(r.stderr, "refused: ") ||
		!strings.Contains(r.stderr, "3 values on 3 hosts") {
		t.Errorf("dry run plan: %s", r.stderr)
	}
	var rep fleet.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatal(err)
	}
	planned := 0
	for _, h := range rep.Hosts {
		for _, m := range h.Remediation {
			if m.Outcome == fleet.OutcomePlanned {
				planned++
			}
		}
	}
	if rep.Command != "fix" || planned != 3 { // missing-system, differing, german (LOCAL_SERVICE)
		t.Errorf("dry run report: command %q, %d planned writes", rep.Command, planned)
	}
	if !reflect.DeepEqual(before, labRegistries(l)) {
		t.Fatal("dry run changed a registry")
	}
	if _, err := os.Stat(backups); err == nil {
		t.Error("dry run created the backup file")
	}

	// --apply without a terminal needs --yes.
	r = runApp(t, env, append([]string{"fix", "--apply"}, common...)...)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--yes") {
		t.Fatalf("--apply without --yes: exit %d %s", r.code, r.stderr)
	}

	// --apply --yes: the fixable hosts become compliant, only host errors remain (exit 2).
	out := filepath.Join(t.TempDir(), "fix.json")
	r = runApp(t, env, append([]string{"fix", "--apply", "--yes", "-o", out}, common...)...)
	if r.code != ExitHostErrors {
		t.Fatalf("apply: exit %d, stderr %s", r.code, r.stderr)
	}
	rep = readFixReport(t, out)
	verified := 0
	for _, h := range rep.Hosts {
		for _, m := range h.Remediation {
			if m.Outcome == fleet.OutcomeVerified {
				verified++
				if m.Backup == "" || !strings.HasPrefix(m.Backup, `C:\ProgramData\dcproxy\backup\`) {
					t.Errorf("%s %s: on-host backup %q", h.Host, m.Account, m.Backup)
				}
			}
		}
	}
	if verified != 3 || rep.RunID == "" {
		t.Errorf("apply: %d verified writes, run %q; stderr %s", verified, rep.RunID, r.stderr)
	}
	recs, err := fleet.ReadBackups(backups)
	if err != nil || len(recs) != 3 {
		t.Fatalf("backup file (default location): %d records, %v", len(recs), err)
	}
	if st, err := os.Stat(backups); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode: %v %v", st.Mode(), err)
	}
	alog, err := os.ReadFile(filepath.Join(state, "dcproxy", "audit.jsonl"))
	if err != nil || bytes.Count(alog, []byte("\n")) != 3 || !bytes.Contains(alog, []byte(`"operator":`)) || !bytes.Contains(alog, []byte(lab.GenUser[4:])) {
		t.Errorf("audit log: %v\n%s", err, alog)
	}

	// A second fix has nothing to do.
	r = runApp(t, env, append([]string{"fix", "--apply", "--yes", "--format", "json"}, common...)...)
	if r.code != ExitHostErrors || !strings.Contains(r.stderr, "nothing to do") {
		t.Errorf("second fix: exit %d %s", r.code, r.stderr)
	}

	// restore (latest fix run by default) brings every registry back byte for byte.
	r = runApp(t, env, "restore", "-i", inv, "--timeout", "3s", "--retries", "0", "--apply", "--yes", "--format", "json")
	if r.code != ExitNoncompliant {
		t.Errorf("restore: exit %d, stderr %s", r.code, r.stderr)
	}
	if !reflect.DeepEqual(before, labRegistries(l)) {
		t.Errorf("restore did not bring the fleet back to its pre-fix state; stderr %s", r.stderr)
	}
	// restore of an unknown run is a usage error.
	r = runApp(t, env, "restore", "-i", inv, "--run", "nope")
	if r.code != ExitUsage {
		t.Errorf("restore --run nope: exit %d %s", r.code, r.stderr)
	}
}

const sigintFleet = `
defaults:
  user: 'LAB\auditor'
  password: 'Lab-Passw0rd!'
  exec_time: 150ms
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_system: absent
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
  network: {direct: false, proxies: {'proxy.lab.test:8080': ok}}
hosts:
  - {name: dc01.lab.test}
  - {name: dc02.lab.test}
  - {name: dc03.lab.test}
  - {name: dc04.lab.test}
  - {name: dc05.lab.test}
  - {name: dc06.lab.test}
  - {name: dc07.lab.test}
  - {name: dc08.lab.test}
  - {name: dc09.lab.test}
  - {name: dc10.lab.test}
`

// TestFixCLI_sigint sends SIGINT to `dcproxy fix --apply --yes` once it has written its first backup
// record: every host whose value changed has its backup record, hosts in flight finished their
// verification, and the report says the run was interrupted.
func TestFixCLI_sigint(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "dcproxy")
	if b, err := exec.Command(gobin, "build", "-o", bin, "github.com/dcproxy/dcproxy/cmd/dcproxy").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, b)
	}
	spec, err := lab.ParseSpec([]byte(sigintFleet))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.94.2.1"), PSStart: 50 * time.Millisecond, ProbeTime: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	dir := t.TempDir()
	if err := writeLabFiles(l, dir); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	backups, report := filepath.Join(work, "backups.jsonl"), filepath.Join(work, "fix.json")
	cmd := exec.Command(bin, "fix", "-i", filepath.Join(dir, "inventory.yaml"), "--apply", "--yes", "--backup", backups,
		"--fix-concurrency", "2", "--retries", "0", "-o", report, "-q")
	cmd.Env = []string{"DCPROXY_USER=" + lab.GenUser, "DCPROXY_PASSWORD=" + lab.GenPassword, "HOME=" + work, "PATH=" + os.Getenv("PATH")}
	cmd.Dir = work
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
wait:
	for {
		select {
		case err := <-done:
			t.Fatalf("fix ended before any backup record: %v\n%s", err, stderr.String())
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("no backup record after 60s\n%s", stderr.String())
		case <-time.After(20 * time.Millisecond):
			if b, _ := os.ReadFile(backups); bytes.Count(b, []byte("\n")) >= 1 {
				break wait
			}
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("fix did not stop after SIGINT\n%s", stderr.String())
	}

	recs, err := fleet.ReadBackups(backups)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, r := range recs {
		recorded[r.Host+"/"+r.Account] = true
		if !r.Absent {
			t.Errorf("record %+v: LOCAL_SYSTEM was absent on every host", r)
		}
	}
	written := 0
	for _, m := range l.Members {
		if _, ok := m.Host.Registry().Value(`HKEY_USERS\S-1-5-18\`+fleet.ConnectionsKey, fleet.ValueName); ok {
			written++
			if !recorded[m.Spec.Name+"/"+fleet.AccountLocalSystem] {
				t.Errorf("%s was written without a backup record", m.Spec.Name)
			}
		}
	}
	rep := readFixReport(t, report)
	if !rep.Interrupted {
		t.Errorf("report not marked interrupted; stderr %s", stderr.String())
	}
	skipped := 0
	for _, h := range rep.Hosts {
		for _, m := range h.Remediation {
			switch m.Outcome {
			case fleet.OutcomeVerified, fleet.OutcomeUnchanged:
			case fleet.OutcomeSkipped:
				skipped++
				if !strings.Contains(m.Message, "interrupted") {
					t.Errorf("%s: skipped without saying why: %q", h.Host, m.Message)
				}
			default:
				t.Errorf("%s %s: outcome %s (%s): a host was left between backup and verification", h.Host, m.Account, m.Outcome, m.Message)
			}
		}
	}
	if written == 0 || skipped == 0 || written+skipped != len(l.Members) {
		t.Errorf("%d hosts written, %d skipped of %d: the run was not interrupted mid-way", written, skipped, len(l.Members))
	}
}
