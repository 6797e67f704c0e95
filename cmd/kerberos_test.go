package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/remote/krb/krbtest"
	"github.com/dcproxy/dcproxy/remote/remotetest"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

const (
	krbAuditor = "auditor"
	krbPass    = "Krb-Audit-Passw0rd!"
)

// startKerberosLab runs `dcproxy lab --keytab` (the hosts' HTTP/ keys from a real MIT KDC) until
// the test ends and returns its directory.
func startKerberosLab(t *testing.T, kdc *krbtest.KDC) string {
	t.Helper()
	kt := filepath.Join(kdc.Dir, "hosts.keytab")
	kdc.Kadmin("addprinc -randkey HTTP/dc01.lab.test", "addprinc -randkey HTTP/dc02.lab.test", "ktadd -k "+kt+" HTTP/dc01.lab.test HTTP/dc02.lab.test")
	fleetFile := filepath.Join(t.TempDir(), "fleet.yaml")
	spec := remotetest.LabFleet("{direct: false, proxies: {'proxy.lab.test:8080': ok}}", `
  - name: dc01.lab.test
    address: 127.96.0.1
  - name: dc02.lab.test
    address: 127.96.0.2
    locale: de-DE
`)
	if err := os.WriteFile(fleetFile, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "lab")
	ctx, cancel := context.WithCancel(context.Background())
	devnull, _ := os.Open(os.DevNull)
	var stderr bytes.Buffer
	a := &app{ctx: ctx, stdin: devnull, stdout: &bytes.Buffer{}, stderr: &stderr, env: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() {
		done <- a.run([]string{"lab", "--fleet", fleetFile, "--keytab", kt, "--out", out, "--http-port", "0", "--https-port", "0", "--ps-start", "10ms", "--probe-time", "5ms"})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		devnull.Close()
	})
	for {
		if _, err := os.Stat(filepath.Join(out, lab.ReadyFile)); err == nil {
			return out
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("lab exited %d before ready: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestAuditCLI_kerberos: `dcproxy lab --keytab` with keys from a real MIT KDC, audited through the
// CLI with Kerberos only (--auth kerberos / --no-ntlm): from a kinit ticket cache (no user, no
// password, no prompt: stdin is not a terminal), from a client keytab, and from a password with
// --realm and --kdc (no krb5.conf). A wrong password is refused at the KDC without reaching the
// report's text; a host given by IP address is refused before any traffic.
func TestAuditCLI_kerberos(t *testing.T) {
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
	kdc := krbtest.Start(t, krbtest.Options{})
	kdc.AddUser(krbAuditor, krbPass)
	dir := startKerberosLab(t, kdc)
	inv := filepath.Join(dir, "inventory.yaml")
	ws := labEnv(t, dir)["DCPROXY_PROBE_WORKSPACE"]
	if ws != lab.DefaultWorkspace {
		t.Fatalf("lab.env workspace %q, want %q", ws, lab.DefaultWorkspace)
	}
	t.Chdir(t.TempDir())

	audit := func(t *testing.T, env map[string]string, args ...string) (*fleet.Report, runResult) {
		t.Helper()
		env["DCPROXY_PROBE_WORKSPACE"] = ws
		r := runApp(t, env, append([]string{"audit", "-i", inv, "--format", "json", "--retries", "0", "--timeout", "20s"}, args...)...)
		var rep fleet.Report
		if r.code < ExitUsage {
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatalf("exit %d: report: %v\n%s\n%s", r.code, err, r.stdout, r.stderr)
			}
		}
		return &rep, r
	}
	compliant := func(t *testing.T, rep *fleet.Report, r runResult) {
		t.Helper()
		if r.code != ExitOK || len(rep.Hosts) != 2 {
			t.Fatalf("exit %d, %d hosts: %+v\nstderr %s", r.code, len(rep.Hosts), rep.Hosts, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, krbPass) {
			t.Fatal("the password is in the output")
		}
	}

	t.Run("ticket cache", func(t *testing.T) {
		cc := kdc.Kinit(krbAuditor+"@"+kdc.Realm, krbPass, "")
		rep, r := audit(t, map[string]string{"KRB5CCNAME": "FILE:" + cc, "KRB5_CONFIG": kdc.Conf}, "--auth", "kerberos", "--no-ntlm")
		compliant(t, rep, r)
		if strings.Contains(r.stderr, "Password for") {
			t.Errorf("prompted: %s", r.stderr)
		}
	})
	t.Run("keytab", func(t *testing.T) {
		kt := kdc.Keytab(krbAuditor)
		if err := os.Chmod(kt, 0o644); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"DCPROXY_USER": krbAuditor + "@" + kdc.Realm, "KRB5_CONFIG": kdc.Conf}
		if _, r := audit(t, env, "--keytab-file", kt, "--no-ntlm"); r.code != ExitUsage || !strings.Contains(r.stderr, "keytab file "+kt+": mode 0644 lets group or others read it") {
			t.Fatalf("readable keytab: exit %d %s", r.code, r.stderr)
		}
		if err := os.Chmod(kt, 0o600); err != nil {
			t.Fatal(err)
		}
		rep, r := audit(t, env, "--keytab-file", kt, "--no-ntlm")
		compliant(t, rep, r)
	})
	t.Run("password with realm and kdc flags", func(t *testing.T) {
		env := map[string]string{"DCPROXY_USER": krbAuditor, "DCPROXY_PASSWORD": krbPass}
		rep, r := audit(t, env, "--auth", "kerberos", "--realm", kdc.Realm, "--kdc", kdc.Addr())
		compliant(t, rep, r)
		// Without the realm a password cannot be used with Kerberos: said before any traffic.
		_, r = audit(t, env, "--auth", "kerberos", "--kdc", kdc.Addr())
		if r.code != ExitUsage || !strings.Contains(r.stderr, "Kerberos with a password needs the realm") {
			t.Fatalf("no realm: exit %d %s", r.code, r.stderr)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		env := map[string]string{"DCPROXY_USER": krbAuditor, "DCPROXY_PASSWORD": "Not-The-Passw0rd"}
		rep, r := audit(t, env, "--auth", "kerberos", "--realm", kdc.Realm, "--kdc", kdc.Addr())
		if r.code != ExitFleetWide && r.code != ExitHostErrors {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		for _, h := range rep.Hosts {
			if h.Error == nil || h.Error.Kind != fleet.ErrorKindAuth {
				t.Errorf("%s: %+v, want an auth error", h.Host, h.Error)
			}
		}
		if strings.Contains(r.stdout+r.stderr, "Not-The-Passw0rd") {
			t.Fatal("the password is in the output")
		}
	})
	t.Run("IP address", func(t *testing.T) {
		if err := os.WriteFile("ip.txt", []byte("127.96.0.1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r := runApp(t, map[string]string{"DCPROXY_USER": krbAuditor, "DCPROXY_PASSWORD": krbPass}, "audit", "-i", "ip.txt", "--auth", "kerberos", "--realm", kdc.Realm)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "Kerberos needs each DC's DNS name") || !strings.Contains(r.stderr, "ip.txt:1 (127.96.0.1)") ||
			!strings.Contains(r.stderr, "name: dc01.corp.example, address: 10.0.0.11") {
			t.Fatalf("exit %d %s", r.code, r.stderr)
		}
	})
}
