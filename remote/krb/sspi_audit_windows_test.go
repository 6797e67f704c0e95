//go:build windows

package krb_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// TestSSPIAudit: a whole audit of a simulated fleet with the current logon (no user, no password, no
// ticket cache given: winrmclient uses krb.CurrentLogon): dc01 over HTTPS (Kerberos logon, no
// sealing) and dc02 over HTTP (every message sealed with EncryptMessage/DecryptMessage). The keytab
// (DCPROXY_SSPI_KEYTAB) holds HTTP/dc01.lab.test and HTTP/dc02.lab.test; the logon is
// DCPROXY_SSPI_CLIENT (see sspi_windows_test.go and TestSSPIUnderWine).
//
// Under Wine, dc02 fails as sealing does there (TestSSPISeal): the test checks that it fails for that
// reason, as a protocol error that names the SSPI call, not as a wrong password.
func TestSSPIAudit(t *testing.T) {
	kt, client := os.Getenv("DCPROXY_SSPI_KEYTAB"), os.Getenv("DCPROXY_SSPI_CLIENT")
	if kt == "" || client == "" {
		t.Skip("needs DCPROXY_SSPI_KEYTAB and DCPROXY_SSPI_CLIENT (see TestSSPIUnderWine)")
	}
	user, realm, _ := strings.Cut(client, "@")
	domain := strings.ToLower(realm)
	netbios, _, _ := strings.Cut(realm, ".")
	// The Go process must not find a ticket cache itself: the logon comes from SSPI only. (Wine's
	// MIT library reads the Unix environment, which this does not change.)
	t.Setenv("KRB5CCNAME", "")

	spec, err := lab.ParseSpec([]byte("defaults:\n  user: '" + netbios + `\` + user + "'\n  password: 'unused-by-kerberos-1'\n" +
		"  registry:\n    current_user: {proxy: 'proxy." + domain + ":8080', bypass: '<local>', counter: 5}\n" +
		"    local_system: {proxy: 'proxy." + domain + ":8080', bypass: '<local>', counter: 5}\n" +
		"    local_service: {proxy: 'proxy." + domain + ":8080', bypass: '<local>', counter: 5}\n" +
		"  network: {direct: false, proxies: {'proxy." + domain + ":8080': ok}}\nhosts:\n" +
		"  - name: dc01." + domain + "\n    https: true\n  - name: dc02." + domain + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.124.0.1"), PSStart: 10 * time.Millisecond,
		ProbeTime: 5 * time.Millisecond, Keytab: kt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	// Not t.TempDir: under Wine 8, Go's removal of a directory tree fails ("unlinkat ...: Invalid function").
	f, err := os.CreateTemp("", "dcproxy-sspi-ca-*.pem")
	if err != nil {
		t.Fatal(err)
	}
	ca := f.Name()
	t.Cleanup(func() { _ = os.Remove(ca) })
	_, err = f.Write(l.CAPEM)
	if err := errors.Join(err, f.Close()); err != nil {
		t.Fatal(err)
	}
	var hosts []inventory.Host
	for _, m := range l.Members {
		https := m.HTTPS
		hosts = append(hosts, inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &https})
	}
	target := func(h inventory.Host) (remote.Target, error) {
		tg := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, CAFile: ca, TLSServerName: h.Name,
			Auth: remote.AuthKerberos, Timeout: 10 * time.Second, Kerberos: remote.KerberosTarget{SPNHost: h.Name}}
		tg.SetDefaults()
		return tg, tg.Validate()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep := fleet.Audit(ctx, hosts, fleet.Options{Concurrency: 2, HostTimeout: 20 * time.Second, Dialer: winrmclient.Dialer{},
		Target: target, Probe: fleet.ProbeOptions{URL: "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com"}})
	wine := syscall.NewLazyDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
	for _, r := range rep.Hosts {
		t.Logf("%s: %s %+v", r.Host, r.Status, r.Error)
		switch {
		case r.Status == fleet.StatusCompliant:
		case wine && strings.HasPrefix(r.Host, "dc02.") && r.Error != nil && strings.Contains(r.Error.Detail+r.Error.Message, "SSPI EncryptMessage"):
			t.Logf("Wine: %s cannot be sealed (as TestSSPISeal)", r.Host)
			if r.Error.Kind != fleet.ErrorKindProtocol {
				t.Errorf("%s: a sealing failure reported as kind %q, want protocol", r.Host, r.Error.Kind)
			}
		default:
			t.Errorf("%s: %s %+v, want compliant", r.Host, r.Status, r.Error)
		}
	}
}
