package discover_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dcproxy/dcproxy/fleet/discover"
	"github.com/dcproxy/dcproxy/fleet/discover/sambatest"
)

// Discovery against a real Samba AD DC: the DC itself, simulated DCs added as computer objects with
// their DNS records (a second site, a read-only DC), a stale SRV record without computer object and a
// DC object without SRV records.
func TestSambaDiscovery(t *testing.T) {
	dc := sambatest.Start(t, sambatest.Options{})
	t.Logf("samba provision %v, start %v", dc.ProvisionTime.Round(time.Millisecond), dc.StartTime.Round(time.Millisecond))
	begin := time.Now()
	dc02 := dc.AddSimulatedDC(t, sambatest.SimDC{Name: "dc02", Site: "Branch"})
	rodc := dc.AddSimulatedDC(t, sambatest.SimDC{Name: "rodc03", Site: "Branch", ReadOnly: true, OS: "Windows Server 2019 Standard", OSVersion: "10.0 (17763)"})
	dc04 := dc.AddSimulatedDC(t, sambatest.SimDC{Name: "dc04"})
	ghost := dc.AddSimulatedDC(t, sambatest.SimDC{Name: "ghost05", NoComputerObject: true})
	nosrv := dc.AddSimulatedDC(t, sambatest.SimDC{Name: "nosrv06", NoSRV: true})
	t.Logf("5 simulated DCs added in %v", time.Since(begin).Round(time.Millisecond))

	base := discover.Options{
		Domain: dc.Domain, DNSServer: dc.Addr, User: dc.AdminUser, Password: dc.AdminPassword,
		TLS: &tls.Config{RootCAs: dc.CAPool, MinVersion: tls.VersionTLS12}, Timeout: 10 * time.Second,
	}
	ctx := context.Background()

	t.Run("domain", func(t *testing.T) {
		o := base
		o.ResolveAddresses = true
		o.Credential = "lab"
		start := time.Now()
		r, err := discover.Discover(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("discovery took %v (LDAP %s)", time.Since(start).Round(time.Millisecond), r.LDAPServer)
		if r.LDAPServer != net.JoinHostPort(dc.HostName, "636") {
			t.Errorf("LDAP server %s: the only SRV target that answers is %s", r.LDAPServer, dc.HostName)
		}
		type row struct{ site, tags string }
		got := map[string]row{}
		for _, h := range r.Hosts {
			got[h.Name] = row{h.Site, strings.Join(h.Tags, " ")}
			if h.Credential != "lab" || h.Address == h.Name || net.ParseIP(h.Address) == nil {
				t.Errorf("%s: credential %q address %q (want lab and an IP address)", h.Name, h.Credential, h.Address)
			}
		}
		def := sambatest.DefaultSite
		want := map[string]row{
			dc.HostName: {def, "domain:lab.test os:samba osver:" + slugOf(t, dc)},
			dc02:        {"Branch", "domain:lab.test os:windows-server-2022-standard osver:10.0-20348"},
			rodc:        {"Branch", "domain:lab.test rodc os:windows-server-2019-standard osver:10.0-17763"},
			dc04:        {def, "domain:lab.test os:windows-server-2022-standard osver:10.0-20348"},
			nosrv:       {def, "domain:lab.test os:windows-server-2022-standard osver:10.0-20348 no-srv"},
		}
		if len(got) != len(want) {
			t.Errorf("hosts %v, want %v", got, want)
		}
		for n, w := range want {
			if g, ok := got[n]; !ok || g != w {
				t.Errorf("host %s = %+v (found %v), want %+v", n, g, ok, w)
			}
		}
		var fs []string
		for _, f := range r.Findings {
			fs = append(fs, f.Kind+" "+f.Host)
		}
		wantF := []string{discover.FindingLDAPOnly + " " + nosrv, discover.FindingSRVOnly + " " + ghost}
		if !slices.Equal(fs, wantF) {
			t.Errorf("findings %q, want %q", fs, wantF)
		}
		if !slices.Contains(r.Sites, "Branch") || !slices.Contains(r.Sites, def) {
			t.Errorf("sites %v", r.Sites)
		}
		for _, d := range r.DCs {
			if d.Name == rodc && (d.PrimaryGroupID != 521 || d.InDomainLocator || len(d.SRV) != 1) {
				t.Errorf("RODC %+v: want primaryGroupID 521, only in its site's SRV", d)
			}
		}
	})

	t.Run("site and StartTLS and given server", func(t *testing.T) {
		o := base
		o.Site = "Branch"
		o.StartTLS = true
		o.LDAPServer = dc.Addr // by IP address: the certificate carries it
		r, err := discover.Discover(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, h := range r.Hosts {
			names = append(names, h.Name)
		}
		if want := []string{dc02, rodc}; !slices.Equal(names, want) || len(r.Findings) != 0 {
			t.Errorf("site Branch: hosts %v findings %v, want %v and none", names, r.Findings, want)
		}
		if r.LDAPServer != net.JoinHostPort(dc.Addr, "389") {
			t.Errorf("LDAP server %s", r.LDAPServer)
		}
	})

	t.Run("errors", func(t *testing.T) {
		check := func(t *testing.T, o discover.Options, kind error, parts ...string) {
			t.Helper()
			_, err := discover.Discover(ctx, o)
			if !errors.Is(err, kind) {
				t.Fatalf("err %v, want %v", err, kind)
			}
			for _, p := range append(parts, o.Domain) {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("err %q does not name %q", err, p)
				}
			}
			if strings.Contains(err.Error(), dc.AdminPassword) || (o.Password != "" && strings.Contains(err.Error(), o.Password)) {
				t.Errorf("err %q contains the password", err)
			}
		}
		o := base
		o.Password = "Wrong-Passw0rd!"
		check(t, o, discover.ErrBind, dc.HostName+":636", dc.AdminUser, "49")

		o = base
		free := dc.NextAddress() // nothing listens there: ICMP port unreachable
		o.DNSServer = free
		o.Timeout = 3 * time.Second
		check(t, o, discover.ErrDNS, free)

		o = base
		o.Domain = "sub." + dc.Domain // inside the DC's zone: NXDOMAIN
		check(t, o, discover.ErrNoSRV, "_ldap._tcp.dc._msdcs.sub."+dc.Domain, dc.Addr)

		o.LDAPServer = dc.HostName // the DC answers for lab.test, not for sub.lab.test
		check(t, o, discover.ErrWrongDomain, "DC=lab,DC=test")

		o = base
		o.TLS = nil // the system roots do not know the test CA
		check(t, o, discover.ErrTLS, dc.HostName+":636", "certificate")

		o = base
		o.LDAPServer = free // nothing listens
		check(t, o, discover.ErrLDAPUnreachable, free+":636")
	})

	t.Run("keytab", func(t *testing.T) {
		kt := t.TempDir() + "/http.keytab"
		dc.ExportKeytab(t, kt, "HTTP/"+dc02, "HTTP/"+rodc)
	})
}

// slugOf is the osver tag of the Samba DC's own operatingSystemVersion ("4.17.12-Debian").
func slugOf(t *testing.T, dc *sambatest.DC) string {
	t.Helper()
	c := dc.LDAP(t)
	res, err := c.Search(newSearch(dc.BaseDN, "(dNSHostName="+dc.HostName+")"))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search %s: %v", dc.HostName, err)
	}
	v := strings.ToLower(res.Entries[0].GetAttributeValue("operatingSystemVersion"))
	if v == "" {
		t.Fatal("the Samba DC has no operatingSystemVersion")
	}
	return v
}

func newSearch(base, filter string) *ldap.SearchRequest {
	return ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, []string{"operatingSystemVersion"}, nil)
}

// BenchmarkSambaDiscovery measures one discovery (SRV of the domain and every site, LDAPS bind,
// three searches) against a real Samba AD DC with three simulated DCs in two sites:
// go test -run XXX -bench SambaDiscovery ./fleet/discover/
func BenchmarkSambaDiscovery(b *testing.B) {
	dc := sambatest.Start(b, sambatest.Options{})
	dc.AddSimulatedDC(b, sambatest.SimDC{Name: "dc02", Site: "Branch"})
	dc.AddSimulatedDC(b, sambatest.SimDC{Name: "rodc03", Site: "Branch", ReadOnly: true})
	dc.AddSimulatedDC(b, sambatest.SimDC{Name: "dc04"})
	o := discover.Options{
		Domain: dc.Domain, DNSServer: dc.Addr, LDAPServer: dc.HostName, User: dc.AdminUser, Password: dc.AdminPassword,
		TLS: &tls.Config{RootCAs: dc.CAPool, MinVersion: tls.VersionTLS12}, ResolveAddresses: true,
	}
	b.ResetTimer()
	for b.Loop() {
		r, err := discover.Discover(context.Background(), o)
		if err != nil || len(r.Hosts) != 4 {
			b.Fatalf("err %v, %d hosts", err, len(r.Hosts))
		}
	}
}
