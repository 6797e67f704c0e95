package cmd

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
)

// targetsFor builds the targets of an inventory (YAML text) with a configuration file and an
// environment, as prepareAudit does; stdin is not a terminal, so a needed password that no
// variable or file gives is an error, never a prompt.
func targetsFor(t *testing.T, cfgFile, inv string, env map[string]string) (map[string]remote.Target, string, error) {
	t.Helper()
	dir := t.TempDir()
	cf := filepath.Join(dir, "dcproxy.yaml")
	if err := os.WriteFile(cf, []byte(cfgFile), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cf, nil, func(k string) string { return env[k] })
	if err != nil {
		return nil, "", err
	}
	hosts, err := inventory.Parse("inv.yaml", strings.NewReader(inv), "yaml")
	if err != nil {
		t.Fatal(err)
	}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	var stderr bytes.Buffer
	a := &app{stdin: devnull, stderr: &stderr, env: func(k string) string { return env[k] }}
	build, err := a.targetBuilder(cfg, hosts, false)
	if err != nil {
		return nil, stderr.String(), err
	}
	out := map[string]remote.Target{}
	for _, h := range hosts {
		tg, err := build(h)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		out[h.Name] = tg
	}
	return out, stderr.String(), nil
}

// Credentials and Kerberos settings per host: a ticket cache needs neither user nor password (no
// prompt), the SPN is the inventory name when the host is dialed by address, a per-host auth
// overrides the configuration, and KRB5CCNAME of another cache type is named in a warning.
func TestTargets_kerberosSettings(t *testing.T) {
	cc := filepath.Join(t.TempDir(), "krb5cc")
	if err := os.WriteFile(cc, []byte("not read here"), 0o600); err != nil {
		t.Fatal(err)
	}
	inv := `hosts:
  - {name: dc01.corp.example, address: 10.0.0.11}
  - {name: dc02.corp.example}
  - {name: dc03, address: dc03-mgmt.corp.example, spn_host: dc03.corp.example}
  - {name: dc04.corp.example, address: 10.0.0.14, auth: ntlm}
`
	env := map[string]string{"KRB5CCNAME": "FILE:" + cc, "KRB5_CONFIG": "/etc/krb5-test.conf", "DCPROXY_PASSWORD": ""}
	// The NTLM host needs a password: none given, so the run stops before any traffic.
	if _, _, err := targetsFor(t, "realm: CORP.EXAMPLE\n", inv, env); err == nil || !strings.Contains(err.Error(), "no user") {
		t.Fatalf("ntlm host without user: %v", err)
	}
	inv3 := strings.Join(strings.Split(inv, "\n")[:4], "\n") + "\n" // the three negotiate hosts
	ts, stderr, err := targetsFor(t, "realm: CORP.EXAMPLE\nkdc: [kdc1.corp.example]\nntlm: false\n", inv3, env)
	if err != nil {
		t.Fatalf("ticket cache: %v (%s)", err, stderr)
	}
	for name, want := range map[string]string{"dc01.corp.example": "dc01.corp.example", "dc02.corp.example": "dc02.corp.example", "dc03": "dc03.corp.example"} {
		tg := ts[name]
		if tg.Auth != remote.AuthNegotiate || tg.User != "" || tg.Password != "" || tg.Kerberos.CCache != cc || tg.SPNHostName() != want ||
			tg.Kerberos.Realm != "CORP.EXAMPLE" || strings.Join(tg.Kerberos.KDCs, ",") != "kdc1.corp.example" || !tg.Kerberos.DisableNTLM ||
			tg.Kerberos.ConfigFile != "/etc/krb5-test.conf" {
			t.Errorf("%s: %+v (SPN host %s, want %s)", name, tg, tg.SPNHostName(), want)
		}
	}
	if ts["dc01.corp.example"].Host != "10.0.0.11" || ts["dc03"].Host != "dc03-mgmt.corp.example" {
		t.Errorf("dialed hosts: %s %s", ts["dc01.corp.example"].Host, ts["dc03"].Host)
	}
	if stderr != "" {
		t.Errorf("warnings: %s", stderr)
	}
	// With a password too, the NTLM host is fine and the password is the Kerberos credential
	// (not the ticket cache); dc04's auth ntlm overrides the configuration's negotiate.
	env["DCPROXY_PASSWORD"] = "pw-1"
	ts, _, err = targetsFor(t, "user: 'auditor@CORP.EXAMPLE'\n", inv, env)
	if err != nil {
		t.Fatal(err)
	}
	if tg := ts["dc04.corp.example"]; tg.Auth != remote.AuthNTLM || tg.Password != "pw-1" || tg.Kerberos.Realm != "" || tg.Kerberos.SPNHost != "" {
		t.Errorf("dc04: %+v", tg)
	}
	if tg := ts["dc01.corp.example"]; tg.Kerberos.CCache != "" || tg.Password != "pw-1" || tg.User != "auditor@CORP.EXAMPLE" {
		t.Errorf("dc01 with a password: %+v", tg)
	}
	// Another cache type than FILE: is said, and then a password is needed.
	_, _, err = targetsFor(t, "user: a\n", inv3, map[string]string{"KRB5CCNAME": "KEYRING:persistent:1000"})
	if err == nil || !strings.Contains(err.Error(), "no password for a") || !strings.Contains(err.Error(), "kinit") {
		t.Fatalf("keyring: %v", err)
	}
	_, stderr, _ = targetsFor(t, "user: a\n", inv3, map[string]string{"KRB5CCNAME": "KEYRING:persistent:1000", "DCPROXY_PASSWORD": "p"})
	if !strings.Contains(stderr, "KRB5CCNAME=KEYRING:persistent:1000: dcproxy reads FILE: caches only") {
		t.Errorf("keyring warning: %q", stderr)
	}
}

// Kerberos that cannot work is a usage error before any traffic, naming the inventory line: a host
// known only by its IP address when Kerberos is forced (auth kerberos, or ntlm: false), a per-host
// auth ntlm under ntlm: false. A host with a name and an address is fine. Under negotiate with NTLM allowed, such a host uses NTLM, and the
// run says so once.
func TestTargets_kerberosRefusals(t *testing.T) {
	env := map[string]string{"DCPROXY_USER": "auditor@CORP.EXAMPLE", "DCPROXY_PASSWORD": "pw-1"}
	inv := "hosts:\n  - {name: dc01.corp.example}\n  - {name: 10.0.0.12}\n  - {name: dc03, address: 10.0.0.13}\n"
	for _, cfg := range []string{"auth: kerberos\n", "ntlm: false\n"} {
		_, _, err := targetsFor(t, cfg, inv, env)
		if err == nil || !strings.Contains(err.Error(), "Kerberos needs each DC's DNS name") || !strings.Contains(err.Error(), "inv.yaml:3 (10.0.0.12)") ||
			strings.Contains(err.Error(), "inv.yaml:2") || strings.Contains(err.Error(), "inv.yaml:4") {
			t.Errorf("%q: %v", cfg, err)
		}
	}
	if _, _, err := targetsFor(t, "ntlm: false\n", "hosts:\n  - {name: dc01.corp.example, auth: ntlm}\n", env); err == nil ||
		!strings.Contains(err.Error(), "inv.yaml:2: host dc01.corp.example: auth ntlm, but ntlm: false forbids NTLM") {
		t.Errorf("auth ntlm with ntlm false: %v", err)
	}
	// A per-host auth kerberos is checked like the configuration's.
	if _, _, err := targetsFor(t, "", "hosts:\n  - {name: dc01.corp.example}\n  - {name: 10.0.0.12, auth: kerberos}\n", env); err == nil ||
		!strings.Contains(err.Error(), "inv.yaml:3 (10.0.0.12)") {
		t.Errorf("per-host kerberos: %v", err)
	}
	ts, stderr, err := targetsFor(t, "", inv, env)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, "hosts given by IP address use NTLM") || !strings.HasSuffix(stderr, "): 10.0.0.12\n") {
		t.Errorf("warning: %q", stderr)
	}
	// A short name is a DNS name too (AD registers HOST/DC03 beside HOST/dc03.corp.example).
	if ts["dc03"].SPNHostName() != "dc03" || ts["10.0.0.12"].Auth != remote.AuthNegotiate || ts["dc01.corp.example"].SPNHostName() != "dc01.corp.example" {
		t.Errorf("SPN hosts %q %q", ts["dc03"].SPNHostName(), ts["dc01.corp.example"].SPNHostName())
	}
}
