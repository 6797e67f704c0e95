package sambatest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
)

// DefaultSite is the site every new AD has.
const DefaultSite = "Default-First-Site-Name"

// userAccountControl values of DC accounts as Windows sets them (MS-ADTS 2.2.16).
const (
	// UACWritableDC = SERVER_TRUST_ACCOUNT | TRUSTED_FOR_DELEGATION (0x82000).
	UACWritableDC = 532480
	// UACReadOnlyDC = PARTIAL_SECRETS_ACCOUNT | TRUSTED_TO_AUTH_FOR_DELEGATION | WORKSTATION_TRUST_ACCOUNT (0x5001000).
	UACReadOnlyDC = 83890176
)

// SimDC describes a simulated domain controller: a computer object shaped like a DC's and the DNS
// records its netlogon would register. Nothing runs on its address.
type SimDC struct {
	Name      string // short host name, e.g. "dc02" (the FQDN is Name.<domain>)
	Address   string // its A record; default DC.NextAddress()
	Site      string // default DefaultSite; created when missing
	ReadOnly  bool   // read-only DC: UACReadOnlyDC (primaryGroupID 521), site SRV records only
	OS        string // operatingSystem; default "Windows Server 2022 Standard"
	OSVersion string // operatingSystemVersion; default "10.0 (20348)"

	NoComputerObject bool // DNS records only: a stale registration (a demoted DC)
	NoSRV            bool // computer object only: no SRV records (its registration is missing)
	NoServerObject   bool // no server object under CN=Sites: the DC has no site
}

// AddSite creates a site (samba-tool sites create) unless it exists.
func (dc *DC) AddSite(t testing.TB, name string) {
	t.Helper()
	dc.mu.Lock()
	defer dc.mu.Unlock()
	c := dc.LDAP(t)
	res, err := c.Search(ldap.NewSearchRequest("CN=Sites,"+dc.ConfigDN, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectClass=site)(cn="+ldap.EscapeFilter(name)+"))", []string{"cn"}, nil))
	if err != nil {
		t.Fatalf("sambatest: search site %s: %v", name, err)
	}
	if len(res.Entries) > 0 {
		return
	}
	dc.Tool(t, "sites", "create", name)
}

// AddDNS adds a record with samba-tool dns add (authenticated as Administrator through PASSWD):
// zone "lab.test" or "_msdcs.lab.test", name relative to the zone ("dc02", "_ldap._tcp.dc"), type
// "A" or "SRV", data "127.53.1.3" or "dc02.lab.test 389 0 100".
func (dc *DC) AddDNS(t testing.TB, zone, name, typ, data string) {
	t.Helper()
	dc.Tool(t, "dns", "add", dc.Addr, zone, name, typ, data, "-U", "Administrator")
}

// FQDN returns name.<domain>.
func (dc *DC) FQDN(name string) string { return strings.ToLower(name) + "." + dc.Domain }

// AddSimulatedDC creates a simulated DC as the package comment describes and returns its FQDN.
func (dc *DC) AddSimulatedDC(t testing.TB, s SimDC) string {
	t.Helper()
	if s.Name == "" {
		t.Fatal("sambatest: SimDC without Name")
	}
	if s.Address == "" {
		s.Address = dc.NextAddress()
	}
	if s.Site == "" {
		s.Site = DefaultSite
	}
	if s.OS == "" {
		s.OS = "Windows Server 2022 Standard"
	}
	if s.OSVersion == "" {
		s.OSVersion = "10.0 (20348)"
	}
	fqdn := dc.FQDN(s.Name)
	if !s.NoComputerObject {
		dc.AddSite(t, s.Site)
		dc.addComputer(t, s, fqdn)
	}
	dc.AddDNS(t, dc.Domain, strings.ToLower(s.Name), "A", s.Address)
	if !s.NoSRV {
		target := fqdn + " 389 0 100"
		if !s.ReadOnly { // RODCs register only their site's records by default (MS-ADTS 6.3.2.3)
			dc.AddDNS(t, "_msdcs."+dc.Domain, "_ldap._tcp.dc", "SRV", target)
		}
		dc.AddDNS(t, "_msdcs."+dc.Domain, "_ldap._tcp."+s.Site+"._sites.dc", "SRV", target)
	}
	return fqdn
}

// addComputer creates the computer object with keys and shapes it like a DC's.
func (dc *DC) addComputer(t testing.TB, s SimDC, fqdn string) {
	t.Helper()
	ou := "OU=Domain Controllers"
	dc.Tool(t, "computer", "add", s.Name, "--prepare-oldjoin", "--computerou="+ou, "--service-principal-name=HTTP/"+fqdn)
	dn := "CN=" + strings.ToUpper(s.Name) + "," + ou + "," + dc.BaseDN
	c := dc.LDAP(t)
	uac := UACWritableDC
	if s.ReadOnly {
		uac = UACReadOnlyDC
	}
	m := ldap.NewModifyRequest(dn, nil)
	m.Replace("dNSHostName", []string{fqdn})
	m.Replace("operatingSystem", []string{s.OS})
	m.Replace("operatingSystemVersion", []string{s.OSVersion})
	m.Replace("msDS-SupportedEncryptionTypes", []string{"24"}) // AES only; else the keys are RC4 only
	m.Replace("userAccountControl", []string{fmt.Sprint(uac)})
	if err := c.Modify(m); err != nil {
		t.Fatalf("sambatest: make %s a DC: %v", dn, err)
	}
	if s.NoServerObject {
		return
	}
	srv := ldap.NewAddRequest("CN="+strings.ToUpper(s.Name)+",CN=Servers,CN="+ldap.EscapeDN(s.Site)+",CN=Sites,"+dc.ConfigDN, nil)
	srv.Attribute("objectClass", []string{"top", "server"})
	srv.Attribute("serverReference", []string{dn})
	srv.Attribute("dNSHostName", []string{fqdn})
	if err := c.Add(srv); err != nil {
		t.Fatalf("sambatest: server object of %s in site %s: %v", fqdn, s.Site, err)
	}
}
