package fleet_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/discover"
	"github.com/dcproxy/dcproxy/fleet/discover/sambatest"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// TestE2E_ActiveDirectory: against a real Samba AD DC provisioned by the test, discovery finds the
// DC and three simulated DCs (computer objects with SRV records: two sites, one read-only DC) with
// their sites; then fleet.Audit of the discovered simulated DCs, run as lab hosts named by their
// discovered dNSHostNames and keyed by the keytab Samba exports, with Kerberos from the AD's KDC
// (the Administrator's password: an AS exchange with Samba's KDC, tickets with a PAC): every host
// compliant, only Kerberos on the wire, sealed on HTTP. The Samba DC itself runs no WinRM and is
// left out of the audit. Skipped without samba or root, except on CI.
func TestE2E_ActiveDirectory(t *testing.T) {
	dc := sambatest.Start(t, sambatest.Options{})
	t.Logf("samba provision %v, start %v", dc.ProvisionTime.Round(time.Millisecond), dc.StartTime.Round(time.Millisecond))
	begin := time.Now()
	sims := map[string]string{ // FQDN -> site
		dc.AddSimulatedDC(t, sambatest.SimDC{Name: "dc02", Site: "Branch"}):                   "Branch",
		dc.AddSimulatedDC(t, sambatest.SimDC{Name: "rodc03", Site: "Branch", ReadOnly: true}): "Branch",
		dc.AddSimulatedDC(t, sambatest.SimDC{Name: "dc04"}):                                   sambatest.DefaultSite,
	}
	t.Logf("3 simulated DCs added in %v", time.Since(begin).Round(time.Millisecond))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := discover.Discover(ctx, discover.Options{
		Domain: dc.Domain, DNSServer: dc.Addr, User: dc.AdminUser, Password: dc.AdminPassword,
		TLS: &tls.Config{RootCAs: dc.CAPool, MinVersion: tls.VersionTLS12}, ResolveAddresses: true, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]inventory.Host{}
	for _, h := range res.Hosts {
		found[h.Name] = h
	}
	if h, ok := found[dc.HostName]; !ok || h.Site != sambatest.DefaultSite || h.Address != dc.Addr {
		t.Errorf("the Samba DC: %+v (found %v)", h, ok)
	}
	var audit []inventory.Host
	for name, site := range sims {
		h, ok := found[name]
		if !ok || h.Site != site || !strings.HasPrefix(h.Address, "127.53.") {
			t.Errorf("%s: %+v (found %v), want site %s and its A record", name, h, ok, site)
			continue
		}
		if strings.HasPrefix(name, "rodc") != strings.Contains(" "+strings.Join(h.Tags, " ")+" ", " rodc ") {
			t.Errorf("%s: tags %v", name, h.Tags)
		}
		audit = append(audit, h)
	}
	slices.SortFunc(audit, func(a, b inventory.Host) int { return strings.Compare(a.Name, b.Name) })
	if len(res.Hosts) != len(sims)+1 || len(res.Findings) != 0 || t.Failed() {
		t.Fatalf("discovered %d hosts (want %d), findings %+v", len(res.Hosts), len(sims)+1, res.Findings)
	}

	// The lab: one host per discovered DC, named by its dNSHostName, keyed by Samba's keytab.
	kt := filepath.Join(t.TempDir(), "http.keytab")
	var principals []string
	var fleetFile strings.Builder
	fmt.Fprintf(&fleetFile, "defaults:\n  user: '%s\\Administrator'\n  password: '%s'\n", dc.NetBIOSDomain, strings.ReplaceAll(dc.AdminPassword, "'", "''"))
	fleetFile.WriteString("  registry:\n    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}\n" +
		"    local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}\n" +
		"    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}\n" +
		"  network: {direct: false, proxies: {'proxy.lab.test:8080': ok}}\nhosts:\n")
	for i, h := range audit {
		principals = append(principals, "HTTP/"+h.Name)
		fmt.Fprintf(&fleetFile, "  - name: %s\n    site: %s\n", h.Name, h.Site)
		if i == 1 {
			fleetFile.WriteString("    https: true\n")
		}
	}
	dc.ExportKeytab(t, kt, principals...)
	spec, err := lab.ParseSpec([]byte(fleetFile.String()))
	if err != nil {
		t.Fatal(err)
	}
	w := newWire()
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.123.0.1"), PSStart: 10 * time.Millisecond, ProbeTime: 5 * time.Millisecond,
		Keytab: kt, Wrap: w.wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, l.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	// The discovered addresses are the AD's A records, where nothing listens here: map each name
	// to its lab host.
	members := map[string]*lab.Member{}
	for _, m := range l.Members {
		members[m.Spec.Name] = m
	}
	for i := range audit {
		m := members[audit[i].Name]
		https := m.HTTPS
		audit[i].Address, audit[i].Port, audit[i].HTTPS = m.Address, m.Port, &https
	}
	conf := dc.WriteKrb5Conf(t, filepath.Join(t.TempDir(), "krb5.conf"))
	target := func(h inventory.Host) (remote.Target, error) {
		tg := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, CAFile: ca, TLSServerName: h.Name,
			Auth: remote.AuthNegotiate, User: "Administrator", Password: dc.AdminPassword, Timeout: 10 * time.Second,
			Kerberos: remote.KerberosTarget{SPNHost: h.Name, Realm: dc.Realm, ConfigFile: conf, DisableNTLM: true}}
		tg.SetDefaults()
		return tg, tg.Validate()
	}
	cache := &krb.Cache{}
	defer cache.Close()
	rep := fleet.Audit(ctx, audit, fleet.Options{
		Concurrency: 3, HostTimeout: 20 * time.Second, Dialer: winrmclient.Dialer{Kerberos: cache}, Target: target,
		Probe: fleet.ProbeOptions{URL: "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com"},
	})
	for i, r := range rep.Hosts {
		m := members[audit[i].Name]
		if r.Status != fleet.StatusCompliant || r.Site != audit[i].Site {
			t.Errorf("%s: %s site %q %+v", r.Host, r.Status, r.Site, r.Error)
			continue
		}
		c := w.get(m.Spec.Name)
		if c.ntlm != 0 || c.ntlmSealed != 0 || c.kerberos == 0 || c.other != 0 || (m.HTTPS != (c.aes == 0)) {
			t.Errorf("%s (https %v): wire %+v: want Kerberos only, AES-sealed on HTTP", r.Host, m.HTTPS, c)
		}
	}
	if s := rep.Summary; s.Compliant != len(audit) {
		t.Errorf("summary %+v", s)
	}
}
