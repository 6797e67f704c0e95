package discover

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/dcproxy/dcproxy/fleet/inventory"
)

// userAccountControl bits and primary groups of DC accounts (MS-ADTS 2.2.16, MS-SAMR 2.2.1.12).
const (
	uacServerTrust    = 0x00002000 // SERVER_TRUST_ACCOUNT: a writable DC
	uacPartialSecrets = 0x04000000 // PARTIAL_SECRETS_ACCOUNT: a read-only DC
	groupDCs          = 516        // Domain Controllers
	groupRODCs        = 521        // Read-only Domain Controllers
)

// mapDCs turns DC computer objects and the server objects under CN=Sites into DCs, sorted by name
// (objects without dNSHostName last, by DN). Entries that are not DCs by any of the markers are
// skipped (the LDAP filter already excludes them; a fake may not).
func mapDCs(domain string, computers, servers []Entry) ([]DC, []Finding) {
	siteByRef := map[string]string{}  // normalized serverReference DN -> site
	siteByName := map[string]string{} // server object's dNSHostName -> site (fallback)
	for _, s := range servers {
		site := siteOfServer(s.DN)
		if site == "" {
			continue
		}
		if ref := s.Get("serverReference"); ref != "" {
			siteByRef[normDN(ref)] = site
		}
		if n := hostName(s.Get("dNSHostName")); n != "" {
			siteByName[n] = site
		}
	}
	var dcs []DC
	var findings []Finding
	seen := map[string]string{}
	for _, c := range computers {
		uac, _ := strconv.ParseInt(strings.TrimSpace(c.Get("userAccountControl")), 10, 64)
		pg, _ := strconv.Atoi(strings.TrimSpace(c.Get("primaryGroupID")))
		isRODCAttr := strings.EqualFold(c.Get("msDS-isRODC"), "TRUE")
		readOnly := uac&uacPartialSecrets != 0 || pg == groupRODCs || isRODCAttr
		writable := uac&uacServerTrust != 0 && !readOnly
		if !readOnly && !writable {
			continue
		}
		dc := DC{
			Name: hostName(c.Get("dNSHostName")), DN: c.DN, SAMAccountName: c.Get("sAMAccountName"),
			ReadOnly: readOnly, UAC: uac, PrimaryGroupID: pg,
			OS: c.Get("operatingSystem"), OSVersion: c.Get("operatingSystemVersion"),
		}
		dc.Site = siteByRef[normDN(c.DN)]
		if dc.Site == "" && dc.Name != "" {
			dc.Site = siteByName[dc.Name]
		}
		if dc.Name != "" {
			if err := (inventory.Host{Name: dc.Name, Address: dc.Name}).Validate(); err != nil {
				findings = append(findings, Finding{Domain: domain, Kind: FindingBadDNSHostName, Host: c.DN,
					Detail: fmt.Sprintf("dNSHostName %q cannot be an inventory host (%v); it is not in the inventory", dc.Name, err)})
				dc.Name = ""
			}
		}
		if dc.Name == "" {
			findings = append(findings, Finding{Domain: domain, Kind: FindingNoDNSHostName, Host: c.DN,
				Detail: "the DC computer object has no dNSHostName; it is not in the inventory"})
		} else if first, dup := seen[dc.Name]; dup {
			findings = append(findings, Finding{Domain: domain, Kind: FindingDuplicate, Host: dc.Name,
				Detail: fmt.Sprintf("%s and %s have the same dNSHostName; the first is kept", first, c.DN)})
			continue
		} else {
			seen[dc.Name] = c.DN
		}
		if dc.Site == "" {
			findings = append(findings, Finding{Domain: domain, Kind: FindingNoSite, Host: orDN(dc),
				Detail: "no server object under CN=Sites references " + c.DN})
		}
		dcs = append(dcs, dc)
	}
	sort.SliceStable(dcs, func(i, j int) bool {
		a, b := dcs[i], dcs[j]
		if (a.Name == "") != (b.Name == "") {
			return a.Name != ""
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.DN < b.DN
	})
	return dcs, findings
}

func orDN(dc DC) string {
	if dc.Name != "" {
		return dc.Name
	}
	return dc.DN
}

// compareSRV records which SRV names list each DC and reports the disagreements: SRV targets that
// are no DC object, DC objects that no SRV name lists, and writable DCs missing from the
// domain-wide name (only when it was asked: site is ""). computers are all DC objects read (also
// those outside the site), so that a site's SRV naming a DC of another site (site coverage) is no
// finding.
func compareSRV(domain string, dcs []DC, computers []Entry, srv map[string][]string, site string) []Finding {
	var findings []Finding
	listed := map[string][]string{} // host -> SRV names
	names := make([]string, 0, len(srv))
	for n := range srv {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, t := range srv[n] {
			listed[t] = append(listed[t], n)
		}
	}
	known := map[string]bool{}
	for _, c := range computers {
		if n := hostName(c.Get("dNSHostName")); n != "" {
			known[n] = true
		}
	}
	general := domainSRV(domain)
	for i := range dcs {
		d := &dcs[i]
		if d.Name == "" {
			continue
		}
		d.SRV = listed[d.Name]
		for _, n := range d.SRV {
			if n == general {
				d.InDomainLocator = true
			}
		}
		switch {
		case len(d.SRV) == 0:
			where := "any DC locator SRV record"
			if site != "" {
				where = siteSRV(site, domain)
			}
			findings = append(findings, Finding{Domain: domain, Kind: FindingLDAPOnly, Host: d.Name,
				Detail: "DC computer object " + d.DN + " is not named by " + where})
		case site == "" && !d.ReadOnly && !d.InDomainLocator:
			findings = append(findings, Finding{Domain: domain, Kind: FindingNotInDomainSRV, Host: d.Name,
				Detail: "writable DC listed only by " + strings.Join(d.SRV, ", ") + ", not by " + general})
		}
	}
	hosts := make([]string, 0, len(listed))
	for h := range listed {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		if !known[h] {
			findings = append(findings, Finding{Domain: domain, Kind: FindingSRVOnly, Host: h,
				Detail: "named by " + strings.Join(listed[h], ", ") + " but no DC computer object has this dNSHostName"})
		}
	}
	return findings
}

// toHosts turns the named DCs into inventory hosts: Name = dNSHostName, Address = the resolved
// address (else the name), Site, Credential, Tags: domain:<domain>, rodc for read-only DCs,
// os:<operatingSystem> and osver:<operatingSystemVersion> (lower case, spaces and punctuation as
// '-'), no-srv when no SRV record names the DC, no-site when its site is unknown.
func toHosts(domain, credential string, dcs []DC) []inventory.Host {
	var out []inventory.Host
	for _, d := range dcs {
		if d.Name == "" {
			continue
		}
		h := inventory.Host{Name: d.Name, Address: d.Name, Site: d.Site, Credential: credential,
			Source: "discover " + domain + ": " + d.DN}
		if d.Address != "" {
			h.Address = d.Address
		}
		h.Tags = append(h.Tags, "domain:"+domain)
		if d.ReadOnly {
			h.Tags = append(h.Tags, "rodc")
		}
		if s := slug(d.OS); s != "" {
			h.Tags = append(h.Tags, "os:"+s)
		}
		if s := slug(d.OSVersion); s != "" {
			h.Tags = append(h.Tags, "osver:"+s)
		}
		if len(d.SRV) == 0 {
			h.Tags = append(h.Tags, "no-srv")
		}
		if d.Site == "" {
			h.Tags = append(h.Tags, "no-site")
		}
		out = append(out, h)
	}
	return out
}

// slug lower-cases s and replaces every run of characters other than a-z, 0-9, '.' and '_' by '-'
// ("Windows Server 2022 Standard" -> "windows-server-2022-standard", "10.0 (20348)" -> "10.0-20348").
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '.' || r == '_' {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

// hostName normalizes a DNS name: trimmed, lower case, no trailing dot.
func hostName(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

// domainDN returns the DN of a domain's partition: corp.example -> DC=corp,DC=example.
func domainDN(domain string) string {
	parts := strings.Split(domain, ".")
	for i, p := range parts {
		parts[i] = "DC=" + ldap.EscapeDN(p)
	}
	return strings.Join(parts, ",")
}

// normDN returns a comparable form of a DN (parsed and lower-cased); an unparsable DN compares as
// its lower-cased text.
func normDN(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	var parts []string
	for _, r := range p.RDNs {
		var as []string
		for _, a := range r.Attributes {
			as = append(as, strings.ToLower(a.Type)+"="+strings.ToLower(a.Value))
		}
		sort.Strings(as)
		parts = append(parts, strings.Join(as, "+"))
	}
	return strings.Join(parts, ",")
}

func sameDN(a, b string) bool { return a != "" && normDN(a) == normDN(b) }

// rdnValue returns the value of the first RDN of dn ("CN=Branch,CN=Sites,..." -> "Branch").
func rdnValue(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) == 0 || len(p.RDNs[0].Attributes) == 0 {
		return ""
	}
	return p.RDNs[0].Attributes[0].Value
}

// siteOfServer returns the site of a server object's DN:
// CN=<server>,CN=Servers,CN=<site>,CN=Sites,CN=Configuration,... -> <site>; "" for any other shape.
func siteOfServer(dn string) string {
	p, err := ldap.ParseDN(dn)
	if err != nil || len(p.RDNs) < 4 {
		return ""
	}
	val := func(i int) (typ, v string) {
		if len(p.RDNs[i].Attributes) != 1 {
			return "", ""
		}
		return strings.ToLower(p.RDNs[i].Attributes[0].Type), p.RDNs[i].Attributes[0].Value
	}
	t1, v1 := val(1)
	t2, v2 := val(2)
	t3, v3 := val(3)
	if t1 != "cn" || !strings.EqualFold(v1, "Servers") || t2 != "cn" || t3 != "cn" || !strings.EqualFold(v3, "Sites") {
		return ""
	}
	return v2
}
