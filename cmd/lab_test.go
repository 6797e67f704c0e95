package cmd

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// TestLabCommand runs `dcproxy lab` until its files and ready marker exist, audits it through the CLI
// with only lab.env and the inventory, then stops it with a cancel (SIGINT in the real binary).
func TestLabCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "lab")
	fleetFile := filepath.Join(t.TempDir(), "fleet.yaml")
	spec := `
defaults:
  user: 'LAB\auditor'
  password: 'pw-1'
  https: true
  ps_start: 10ms
  probe_time: 5ms
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}
    local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}
  network: {proxies: {'proxy.lab.test:8080': ok}}
hosts:
  - name: dc01.lab.test
    address: 127.94.0.1
  - name: dc02.lab.test
    address: 127.94.0.2
    locale: de-DE
    registry: {local_system: absent}
`
	if err := os.WriteFile(fleetFile, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	var stderr bytes.Buffer
	a := &app{ctx: ctx, stdin: devnull, stdout: &bytes.Buffer{}, stderr: &stderr, env: func(string) string { return "" }}
	done := make(chan int)
	go func() {
		done <- a.run([]string{"lab", "--fleet", fleetFile, "--out", out, "--http-port", "0", "--https-port", "0"})
	}()
	ready := filepath.Join(out, lab.ReadyFile)
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case code := <-done:
			t.Fatalf("lab exited %d before ready: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	hosts, err := inventory.Load(filepath.Join(out, "inventory.yaml"))
	if err != nil || len(hosts) != 2 || hosts[0].Address != "127.94.0.1" || hosts[1].HTTPS == nil || !*hosts[1].HTTPS {
		t.Fatalf("inventory: %v %+v", err, hosts)
	}
	env := labEnv(t, out)
	if env["DCPROXY_CA_FILE"] == "" || env["DCPROXY_PASSWORD"] != "pw-1" || env["DCPROXY_PROBE_WORKSPACE"] != lab.DefaultWorkspace {
		t.Fatalf("lab.env: %v", env)
	}
	if st, err := os.Stat(filepath.Join(out, lab.EnvFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("lab.env mode: %v %v", st.Mode(), err)
	}
	t.Chdir(t.TempDir())
	r := runApp(t, env, "audit", "-i", filepath.Join(out, "inventory.yaml"), "--format", "json")
	if r.code != ExitNoncompliant || !strings.Contains(r.stdout, `"status": "noncompliant"`) {
		t.Fatalf("audit of the lab: exit %d stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("lab exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(ready); !os.IsNotExist(err) {
		t.Fatalf("ready file left behind: %v", err)
	}
}
