package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

const twoDomainFleet = `
defaults:
  user: 'LAB\auditor'
  password: 'lab-pw'
  ps_start: 10ms
  probe_time: 5ms
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}
    local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}
  network: {proxies: {'proxy.lab.test:8080': ok}}
hosts:
  - name: dc01.lab.test
  - name: dc01.child.lab.test
    user: 'CHILD\auditor'
    password: 'child-pw'
`

// TestNamedCredentials: a forest with two domains; the child DC is audited with its own account,
// whose password comes from the environment variable the configuration names.
func TestNamedCredentials(t *testing.T) {
	spec, err := lab.ParseSpec([]byte(twoDomainFleet))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.95.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	dir := t.TempDir()
	t.Chdir(dir)
	inv := fmt.Sprintf("hosts:\n  - {name: dc01.lab.test, address: %s, port: %d}\n  - {name: dc01.child.lab.test, address: %s, port: %d, credential: child}\n",
		l.Members[0].Address, l.Members[0].Port, l.Members[1].Address, l.Members[1].Port)
	if err := os.WriteFile("inv.yaml", []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := "user: 'LAB\\auditor'\ncredentials:\n  child:\n    user: 'CHILD\\auditor'\n    password_env: CHILD_PW\n"
	if err := os.WriteFile("dcproxy.yaml", []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DCPROXY_PASSWORD": "lab-pw", "CHILD_PW": "child-pw"}
	r := runApp(t, env, "audit", "-i", "inv.yaml", "--format", "json", "--probe-workspace", lab.DefaultWorkspace)
	if r.code != ExitOK {
		t.Fatalf("exit %d stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
	// Without the child's password the run refuses to start, naming the credential.
	delete(env, "CHILD_PW")
	r = runApp(t, env, "audit", "-i", "inv.yaml")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "credential child") || !strings.Contains(r.stderr, "CHILD_PW") {
		t.Fatalf("missing child password: exit %d stderr %q", r.code, r.stderr)
	}
	// An undefined credential is a usage error naming the inventory line.
	if err := os.WriteFile("inv2.yaml", []byte("hosts:\n  - {name: x, credential: nope}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = runApp(t, map[string]string{"DCPROXY_PASSWORD": "lab-pw"}, "audit", "-i", "inv2.yaml")
	if r.code != ExitUsage || !strings.Contains(r.stderr, `credential "nope" is not defined`) || !strings.Contains(r.stderr, "inv2.yaml:2") {
		t.Fatalf("undefined credential: exit %d stderr %q", r.code, r.stderr)
	}
}

// TestAuditCLI_interruptWritesReport: cancelling the run (Ctrl-C) still writes the report of what
// finished, marks the rest canceled, and exits 130 as shells expect after Ctrl-C.
func TestAuditCLI_interruptWritesReport(t *testing.T) {
	spec, err := lab.ParseSpec([]byte(twoDomainFleet + "  - name: dc02.lab.test\n    exec_time: 30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.95.1.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	t.Chdir(t.TempDir())
	inv := fmt.Sprintf("hosts:\n  - {name: dc01.lab.test, address: %s, port: %d}\n  - {name: dc02.lab.test, address: %s, port: %d}\n",
		l.Members[0].Address, l.Members[0].Port, l.Members[2].Address, l.Members[2].Port)
	if err := os.WriteFile("inv.yaml", []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	var stdout, stderr bytes.Buffer
	a := &app{ctx: ctx, stdin: devnull, stdout: &stdout, stderr: &stderr,
		env: func(k string) string {
			return map[string]string{"DCPROXY_USER": `LAB\auditor`, "DCPROXY_PASSWORD": "lab-pw"}[k]
		}}
	done := make(chan int)
	go func() {
		done <- a.run([]string{"audit", "-i", "inv.yaml", "--format", "json", "-o", "out.json", "--concurrency", "1", "--probe-workspace", lab.DefaultWorkspace})
	}()
	// Cancel once the first host is done and the slow one is in flight (its shell exists).
	for l.Members[2].Host.ShellCount() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	code := <-done
	if code != ExitInterrupted {
		t.Fatalf("exit %d stderr %q", code, stderr.String())
	}
	b, err := os.ReadFile("out.json")
	if err != nil {
		t.Fatal(err)
	}
	var rep fleet.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if !rep.Interrupted || rep.Hosts[0].Status != fleet.StatusCompliant || rep.Hosts[1].Error == nil || rep.Hosts[1].Error.Kind != fleet.ErrorKindCanceled {
		t.Fatalf("report: interrupted=%v %+v %+v", rep.Interrupted, rep.Hosts[0].Status, rep.Hosts[1].Error)
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Fatalf("stderr %q", stderr.String())
	}
}
