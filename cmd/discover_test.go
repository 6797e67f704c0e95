package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/fleet/discover/sambatest"
	"github.com/dcproxy/dcproxy/fleet/inventory"
)

// runCLI runs dcproxy with args and an environment map; stdin is /dev/null (no prompt).
func runCLI(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	var so, se bytes.Buffer
	a := &app{ctx: context.Background(), stdin: devnull, stdout: &so, stderr: &se, env: func(k string) string { return env[k] }}
	code = a.run(args)
	return code, so.String(), se.String()
}

// dcproxy discover against a real Samba AD DC: the inventory it writes is what audit -i reads, the
// SRV/LDAP mismatches are warnings, named credentials per domain, and the failures are clear.
func TestDiscoverCommand(t *testing.T) {
	dc := sambatest.Start(t, sambatest.Options{})
	dc02 := dc.AddSimulatedDC(t, sambatest.SimDC{Name: "dc02", Site: "Branch"})
	rodc := dc.AddSimulatedDC(t, sambatest.SimDC{Name: "rodc03", Site: "Branch", ReadOnly: true})
	ghost := dc.AddSimulatedDC(t, sambatest.SimDC{Name: "ghost04", NoComputerObject: true})
	dir := t.TempDir()
	env := map[string]string{"DCPROXY_USER": dc.AdminUser, "DCPROXY_PASSWORD": dc.AdminPassword}

	t.Run("writes the inventory audit reads", func(t *testing.T) {
		out := filepath.Join(dir, "dcs.yaml")
		code, stdout, stderr := runCLI(t, env, "discover", "--domain", dc.Domain, "--dns", dc.Addr, "--ldap-ca-file", dc.CAFile, "-o", out)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if stdout != "" {
			t.Errorf("stdout %q with -o", stdout)
		}
		if !strings.Contains(stderr, "dcproxy: warning: "+dc.Domain+": srv-without-dc-object: "+ghost) {
			t.Errorf("no warning for %s:\n%s", ghost, stderr)
		}
		if strings.Contains(stderr, dc.AdminPassword) {
			t.Error("stderr contains the password")
		}
		hosts, err := inventory.Load(out)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]inventory.Host{}
		for _, h := range hosts {
			got[h.Name] = h
		}
		if len(got) != 3 || got[dc02].Site != "Branch" || got[rodc].Site != "Branch" || !slices.Contains(got[rodc].Tags, "rodc") ||
			got[dc.HostName].Site != sambatest.DefaultSite || got[dc.HostName].Address != dc.Addr {
			t.Errorf("inventory hosts %+v", hosts)
		}
		text, _ := os.ReadFile(out)
		if !strings.Contains(string(text), "warning: "+dc.Domain+": srv-without-dc-object: "+ghost) {
			t.Errorf("inventory does not keep the finding:\n%s", text)
		}
		// audit -i reads it: every discovered DC is a host of the report (nothing serves WinRM
		// there, so each is a host error: exit status 2, or 4 when all fail alike).
		code, stdout, stderr = runCLI(t, env, "audit", "-i", out, "--format", "json", "--no-probe", "--retries", "0", "--timeout", "5s")
		if code != ExitHostErrors && code != ExitFleetWide {
			t.Fatalf("audit exit %d, want %d or %d: %s", code, ExitHostErrors, ExitFleetWide, stderr)
		}
		var rep struct {
			Hosts []struct {
				Host string `json:"host"`
				Site string `json:"site"`
			} `json:"hosts"`
		}
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatalf("report: %v\n%s", err, stdout)
		}
		if len(rep.Hosts) != 3 {
			t.Errorf("audit report hosts %+v, want the 3 discovered DCs", rep.Hosts)
		}
	})

	t.Run("named credential per domain, stdout", func(t *testing.T) {
		cfgFile := filepath.Join(dir, "dcproxy.yaml")
		cfg := "credentials:\n  lab:\n    user: '" + dc.AdminUser + "'\n    password_env: LAB_BIND_PW\n"
		if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		code, stdout, stderr := runCLI(t, map[string]string{"LAB_BIND_PW": dc.AdminPassword},
			"discover", "--config", cfgFile, "--domain", dc.Domain+"=lab", "--dns", dc.Addr, "--ldap-ca-file", dc.CAFile, "--site", "Branch", "--starttls", "-q")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if stderr != "" {
			t.Errorf("-q printed %q", stderr)
		}
		hosts, err := inventory.Parse("stdout", strings.NewReader(stdout), "yaml")
		if err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
		var names []string
		for _, h := range hosts {
			names = append(names, h.Name)
			if h.Credential != "lab" {
				t.Errorf("%s: credential %q, want lab", h.Name, h.Credential)
			}
		}
		if want := []string{dc02, rodc}; !slices.Equal(names, want) {
			t.Errorf("site Branch: %v, want %v", names, want)
		}
	})

	t.Run("failures", func(t *testing.T) {
		out := filepath.Join(dir, "fail.yaml")
		wrong := map[string]string{"DCPROXY_USER": dc.AdminUser, "DCPROXY_PASSWORD": "Not-The-Passw0rd"}
		code, _, stderr := runCLI(t, wrong, "discover", "--domain", dc.Domain, "--dns", dc.Addr, "--ldap-ca-file", dc.CAFile, "-o", out)
		if code != ExitFailure || !strings.Contains(stderr, "discover "+dc.Domain+": ldap ") || !strings.Contains(stderr, "LDAP bind refused") ||
			strings.Contains(stderr, "Not-The-Passw0rd") {
			t.Errorf("wrong password: exit %d: %s", code, stderr)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("an inventory was written after a failure: %v", err)
		}
		for _, c := range []struct {
			env  map[string]string
			args []string
			msg  string
		}{
			{map[string]string{"DCPROXY_USER": dc.AdminUser}, []string{"--domain", dc.Domain}, "no password"},
			{env, []string{"--domain", dc.Domain + "=nosuch"}, `credential "nosuch" is not defined`},
			{env, []string{"--domain", "a.test", "--domain", "b.test", "--ldap-server", "x"}, "--ldap-server names one DC"},
			{env, []string{"--dns", dc.Addr}, "no domain: give --domain"},
			{env, []string{"--domain", dc.Domain, "--dns", "ldap://x"}, "invalid discovery options"},
		} {
			code, _, stderr := runCLI(t, c.env, append([]string{"discover"}, c.args...)...)
			if code != ExitUsage || !strings.Contains(stderr, c.msg) {
				t.Errorf("%v: exit %d %q, want %d and %q", c.args, code, stderr, ExitUsage, c.msg)
			}
		}
	})
}
