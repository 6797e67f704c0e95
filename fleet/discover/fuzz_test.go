package discover

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
)

// Whatever a directory returns (names, DNs, flags, OS strings), discovery does not panic, every
// host it returns is a valid inventory host, and the inventory it writes reads back with the same
// hosts.
func FuzzDiscoverEntries(f *testing.F) {
	f.Add("dc1.corp.example", "532480", "516", "CN=DC1,OU=Domain Controllers,DC=corp,DC=example",
		"CN=DC1,CN=Servers,HQ,CN=Sites,CN=Configuration,DC=corp,DC=example", "Windows Server 2022 Standard", "10.0 (20348)", "FALSE")
	f.Add("RO1.corp.example.", "83890176", "521", "CN=RO1,OU=Domain Controllers,DC=corp,DC=example",
		"CN=RO1,CN=Servers,CN=Site\\, one,CN=Sites,CN=Configuration,DC=corp,DC=example", "", "", "TRUE")
	f.Add("bad name", "8192", "x", "CN=X\\", "CN=,CN=Servers", "#os: 'x'", "\n", "")
	f.Fuzz(func(t *testing.T, name, uac, pg, dn, serverDN, os, osver, rodc string) {
		dir := &fakeDir{
			rootDSE:   entry("", "defaultNamingContext", "DC=corp,DC=example", "configurationNamingContext", cfgDN),
			computers: []Entry{entry(dn, "dNSHostName", name, "userAccountControl", uac, "primaryGroupID", pg, "operatingSystem", os, "operatingSystemVersion", osver, "msDS-isRODC", rodc)},
			servers:   []Entry{entry(serverDN, "serverReference", dn, "dNSHostName", name)},
			sites:     []Entry{entry(serverDN)},
		}
		dns := &fakeResolver{srv: map[string][]string{"_ldap._tcp.dc._msdcs.corp.example": {"dc1.corp.example"}}}
		r, err := Discover(context.Background(), Options{Domain: "corp.example", Resolver: dns, Credential: "c",
			Connect: func(context.Context, string) (Directory, error) { return dir, nil }})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range r.Hosts {
			if err := h.Validate(); err != nil {
				t.Fatalf("host %+v: %v", h, err)
			}
		}
		if len(r.Hosts) == 0 {
			return
		}
		var buf bytes.Buffer
		if err := WriteInventory(&buf, []*Result{r}, time.Unix(0, 0)); err != nil {
			t.Fatal(err)
		}
		hosts, err := inventory.Parse("fuzz.yaml", strings.NewReader(buf.String()), "yaml")
		if err != nil {
			t.Fatalf("%v\n%s", err, buf.String())
		}
		if len(hosts) != len(r.Hosts) || hosts[0].Name != r.Hosts[0].Name || hosts[0].Site != r.Hosts[0].Site ||
			strings.Join(hosts[0].Tags, " ") != strings.Join(r.Hosts[0].Tags, " ") {
			t.Fatalf("read back %+v, wrote %+v\n%s", hosts, r.Hosts, buf.String())
		}
	})
}
