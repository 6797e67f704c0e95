package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/discover/sambatest"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
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

	// audit --domain: no inventory file; the discovered DCs are audited with Kerberos from the
	// AD's own KDC (the Administrator's password: an AS exchange with Samba), NTLM off. Two
	// simulated DCs have their A records on lab hosts keyed by the keytab Samba exports for their
	// HTTP/ names; the lab's NTLM password differs from the AD's, so only Kerberos can log on, and
	// the SPN must come from the discovered name: the address is an IP (--dns resolves it).
	t.Run("audit --domain with Kerberos", func(t *testing.T) {
		addrs := map[string]string{"dc05": "127.99.0.5", "dc06": "127.99.0.6"}
		kt := filepath.Join(t.TempDir(), "http.keytab")
		var fleetFile strings.Builder
		fmt.Fprintf(&fleetFile, "defaults:\n  user: '%s\\Administrator'\n  password: 'not-the-AD-passw0rd'\n", dc.NetBIOSDomain)
		fleetFile.WriteString("  registry:\n    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}\n" +
			"    local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}\n" +
			"    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}\n" +
			"  network: {direct: false, proxies: {'proxy.lab.test:8080': ok}}\nhosts:\n")
		for _, n := range []string{"dc05", "dc06"} {
			fqdn := dc.AddSimulatedDC(t, sambatest.SimDC{Name: n, Site: "Branch", Address: addrs[n]})
			dc.ExportKeytab(t, kt, "HTTP/"+fqdn)
			fmt.Fprintf(&fleetFile, "  - name: %s\n    address: %s\n", fqdn, addrs[n])
		}
		spec, err := lab.ParseSpec([]byte(fleetFile.String()))
		if err != nil {
			t.Fatal(err)
		}
		l, err := lab.Start(spec, lab.Options{HTTPPort: 5985, HTTPSPort: 0, PSStart: 10 * time.Millisecond, ProbeTime: 5 * time.Millisecond, Keytab: kt})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		code, stdout, stderr := runCLI(t, env, "audit", "--domain", dc.Domain, "--dns", dc.Addr, "--ldap-ca-file", dc.CAFile,
			"--limit", "dc05,dc06", "--no-ntlm", "--realm", dc.Realm, "--kdc", dc.KDC(), "--probe-workspace", lab.DefaultWorkspace,
			"--format", "json", "--retries", "0", "--timeout", "20s")
		if code != 0 {
			t.Fatalf("exit %d: %s\n%s", code, stderr, stdout)
		}
		var rep fleet.Report
		if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
			t.Fatal(err)
		}
		if len(rep.Hosts) != 2 || rep.Hosts[0].Host != dc.FQDN("dc05") || rep.Hosts[1].Host != dc.FQDN("dc06") || rep.Hosts[0].Site != "Branch" ||
			rep.Hosts[0].Address != addrs["dc05"] || rep.Summary.Compliant != 2 {
			t.Errorf("report: %+v %+v", rep.Summary, rep.Hosts)
		}
		if !strings.Contains(stderr, "dcproxy: "+dc.Domain+": ") || !strings.Contains(stderr, "DCs found") || strings.Contains(stdout+stderr, dc.AdminPassword) {
			t.Errorf("stderr: %s", stderr)
		}
		// -i and --domain together are refused.
		if code, _, stderr := runCLI(t, env, "audit", "--domain", dc.Domain, "-i", "x.yaml"); code != ExitUsage || !strings.Contains(stderr, "not both") {
			t.Errorf("-i with --domain: exit %d %s", code, stderr)
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
