package discover

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dcproxy/dcproxy/fleet/inventory"
)

// fakeResolver answers SRV and host lookups from maps; a name that is absent is NXDOMAIN.
type fakeResolver struct {
	srv   map[string][]string
	hosts map[string][]string
	fail  map[string]error // name -> error to return
	mu    sync.Mutex
	asked []string
}

func (f *fakeResolver) LookupSRV(_ context.Context, name string) ([]*net.SRV, error) {
	f.mu.Lock()
	f.asked = append(f.asked, name)
	f.mu.Unlock()
	if err := f.fail[name]; err != nil {
		return nil, err
	}
	var ts []string
	ok := false
	for n, v := range f.srv { // DNS names compare case-insensitively
		if strings.EqualFold(n, name) {
			ts, ok = v, true
		}
	}
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	var out []*net.SRV
	for _, t := range ts {
		out = append(out, &net.SRV{Target: t + ".", Port: 389})
	}
	return out, nil
}

func (f *fakeResolver) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// fakeDir serves a tiny directory: entries per (base, filter) key.
type fakeDir struct {
	rootDSE   Entry
	computers []Entry
	servers   []Entry
	sites     []Entry
	searchErr error
	closed    bool
}

func (d *fakeDir) Search(_ context.Context, base string, scope Scope, filter string, _ []string) ([]Entry, error) {
	if d.searchErr != nil && scope != ScopeBase {
		return nil, d.searchErr
	}
	switch {
	case scope == ScopeBase && base == "":
		return []Entry{d.rootDSE}, nil
	case filter == dcFilter:
		return d.computers, nil
	case filter == "(objectClass=server)":
		return d.servers, nil
	case filter == "(objectClass=site)":
		return d.sites, nil
	}
	return nil, fmt.Errorf("fake: unexpected search %q %q", base, filter)
}

func (d *fakeDir) Close() error { d.closed = true; return nil }

func entry(dn string, kv ...string) Entry {
	e := Entry{DN: dn, Attrs: map[string][]string{}}
	for i := 0; i+1 < len(kv); i += 2 {
		k := strings.ToLower(kv[i])
		e.Attrs[k] = append(e.Attrs[k], kv[i+1])
	}
	return e
}

const (
	cfgDN = "CN=Configuration,DC=corp,DC=example"
	ouDC  = "OU=Domain Controllers,DC=corp,DC=example"
)

func serverObj(name, site, ref string) Entry {
	return entry("CN="+name+",CN=Servers,CN="+site+",CN=Sites,"+cfgDN, "serverReference", ref, "dNSHostName", strings.ToLower(name)+".corp.example")
}

// corpDir is a domain with a writable DC in each of two sites, a read-only DC marked by each of
// the three markers, a DC without dNSHostName, a DC without server object, and a member server.
func corpDir() *fakeDir {
	return &fakeDir{
		rootDSE: entry("", "defaultNamingContext", "DC=corp,DC=example", "configurationNamingContext", cfgDN),
		computers: []Entry{
			entry("CN=DC1,"+ouDC, "dNSHostName", "DC1.corp.example.", "userAccountControl", "532480", "primaryGroupID", "516",
				"operatingSystem", "Windows Server 2022 Standard", "operatingSystemVersion", "10.0 (20348)", "msDS-isRODC", "FALSE"),
			entry("CN=DC2,"+ouDC, "dNSHostName", "dc2.corp.example", "userAccountControl", "532480", "primaryGroupID", "516",
				"operatingSystem", "Windows Server 2019 Datacenter", "operatingSystemVersion", "10.0 (17763)"),
			entry("CN=RO1,"+ouDC, "dNSHostName", "ro1.corp.example", "userAccountControl", "83890176", "primaryGroupID", "521"),
			entry("CN=RO2,"+ouDC, "dNSHostName", "ro2.corp.example", "userAccountControl", "4096", "primaryGroupID", "521"),
			entry("CN=RO3,"+ouDC, "dNSHostName", "ro3.corp.example", "userAccountControl", "4096", "msDS-isRODC", "TRUE"),
			entry("CN=NONAME,"+ouDC, "userAccountControl", "532480"),
			entry("CN=NOSITE,"+ouDC, "dNSHostName", "nosite.corp.example", "userAccountControl", "532480"),
			entry("CN=MEMBER,CN=Computers,DC=corp,DC=example", "dNSHostName", "member.corp.example", "userAccountControl", "4096", "primaryGroupID", "515"),
		},
		servers: []Entry{
			// serverReference spelled differently from the computer's DN: compared as DNs.
			serverObj("DC1", "HQ", "cn=dc1, ou=domain controllers,dc=CORP,dc=example"),
			serverObj("DC2", "Branch", "CN=DC2,"+ouDC),
			serverObj("RO1", "Branch", "CN=RO1,"+ouDC),
			serverObj("RO2", "Branch", "CN=RO2,"+ouDC),
			// no serverReference: matched by dNSHostName
			entry("CN=RO3,CN=Servers,CN=HQ,CN=Sites,"+cfgDN, "dNSHostName", "ro3.corp.example"),
			// not a server object of a site (wrong shape): ignored
			entry("CN=X,CN=Other,CN=HQ,CN=Sites,"+cfgDN, "serverReference", "CN=NOSITE,"+ouDC),
		},
		sites: []Entry{entry("CN=HQ,CN=Sites," + cfgDN), entry("CN=Branch,CN=Sites," + cfgDN), entry("CN=Empty,CN=Sites," + cfgDN)},
	}
}

func corpDNS() *fakeResolver {
	return &fakeResolver{
		srv: map[string][]string{
			"_ldap._tcp.dc._msdcs.corp.example":                  {"dc1.corp.example", "stale.corp.example", "nosite.corp.example", "dc2.corp.example"},
			"_ldap._tcp.HQ._sites.dc._msdcs.corp.example":        {"dc1.corp.example", "ro3.corp.example"},
			"_ldap._tcp.Branch._sites.dc._msdcs.corp.example":    {"dc2.corp.example", "ro1.corp.example", "dc1.corp.example"},
			"_ldap._tcp.Empty._sites.dc._msdcs.corp.example":     {"dc1.corp.example"}, // site coverage
			"_ldap._tcp.Branch2._sites.dc._msdcs.corp.example":   {"x.corp.example"},
			"_ldap._tcp.Elsewhere._sites.dc._msdcs.corp.example": {"y.corp.example"},
		},
		hosts: map[string][]string{"dc1.corp.example": {"fe80::1", "10.0.0.1"}, "dc2.corp.example": {"10.0.1.1"}},
	}
}

func kinds(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+" "+f.Host)
	}
	return out
}

func TestDiscoverMapping(t *testing.T) {
	dir := corpDir()
	var connected []string
	r, err := Discover(context.Background(), Options{
		Domain: "Corp.Example.", Credential: "corp", ResolveAddresses: true, Resolver: corpDNS(),
		Connect: func(_ context.Context, server string) (Directory, error) {
			connected = append(connected, server)
			return dir, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !dir.closed {
		t.Error("directory not closed")
	}
	if want := []string{"dc1.corp.example:636"}; !reflect.DeepEqual(connected, want) {
		t.Errorf("connected to %v, want %v (first SRV target, LDAPS port)", connected, want)
	}
	type row struct{ name, addr, site, tags, cred string }
	var got []row
	for _, h := range r.Hosts {
		got = append(got, row{h.Name, h.Address, h.Site, strings.Join(h.Tags, " "), h.Credential})
	}
	want := []row{
		{"dc1.corp.example", "10.0.0.1", "HQ", "domain:corp.example os:windows-server-2022-standard osver:10.0-20348", "corp"},
		{"dc2.corp.example", "10.0.1.1", "Branch", "domain:corp.example os:windows-server-2019-datacenter osver:10.0-17763", "corp"},
		{"nosite.corp.example", "nosite.corp.example", "", "domain:corp.example no-site", "corp"},
		{"ro1.corp.example", "ro1.corp.example", "Branch", "domain:corp.example rodc", "corp"},
		{"ro2.corp.example", "ro2.corp.example", "Branch", "domain:corp.example rodc no-srv", "corp"},
		{"ro3.corp.example", "ro3.corp.example", "HQ", "domain:corp.example rodc", "corp"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hosts:\n got %v\nwant %v", got, want)
	}
	for _, h := range r.Hosts {
		if err := h.Validate(); err != nil {
			t.Errorf("host %s invalid: %v", h.Name, err)
		}
	}
	wantF := []string{
		"dc-object-without-dnshostname CN=NONAME," + ouDC,
		"dc-object-without-srv ro2.corp.example",
		"dc-without-site CN=NONAME," + ouDC,
		"dc-without-site nosite.corp.example",
		"srv-without-dc-object stale.corp.example",
		"unresolved nosite.corp.example",
		"unresolved ro1.corp.example",
		"unresolved ro2.corp.example",
		"unresolved ro3.corp.example",
	}
	if g := kinds(r.Findings); !reflect.DeepEqual(g, wantF) {
		t.Errorf("findings:\n got %q\nwant %q", g, wantF)
	}
	if !slices.Equal(r.Sites, []string{"Branch", "Empty", "HQ"}) {
		t.Errorf("sites %v", r.Sites)
	}
	// The DN of the DC without name stays visible in DCs.
	if n := len(r.DCs); n != 7 || r.DCs[6].DN != "CN=NONAME,"+ouDC {
		t.Errorf("DCs: %d, last %+v", n, r.DCs[n-1])
	}
	for _, d := range r.DCs {
		if d.Name == "dc1.corp.example" && (!d.InDomainLocator || len(d.SRV) != 4) {
			t.Errorf("dc1 SRV names %v (in domain locator %v)", d.SRV, d.InDomainLocator)
		}
	}
}

// A writable DC only in its site's records is reported; with Site set only that site is asked
// and kept, and a site's SRV naming a DC of another site (site coverage) is no finding.
func TestDiscoverSiteAndDomainLocator(t *testing.T) {
	dir := corpDir()
	dns := corpDNS()
	dns.srv["_ldap._tcp.dc._msdcs.corp.example"] = []string{"dc1.corp.example"}
	conn := func(context.Context, string) (Directory, error) { return dir, nil }
	r, err := Discover(context.Background(), Options{Domain: "corp.example", Resolver: dns, Connect: conn})
	if err != nil {
		t.Fatal(err)
	}
	if g := kinds(r.Findings); !slices.Contains(g, "writable-dc-not-in-domain-srv dc2.corp.example") ||
		!slices.Contains(g, "dc-object-without-srv nosite.corp.example") || slices.Contains(g, "writable-dc-not-in-domain-srv ro1.corp.example") {
		t.Errorf("findings %q", g)
	}

	dns = corpDNS()
	r, err = Discover(context.Background(), Options{Domain: "corp.example", Site: "branch", Resolver: dns, Connect: conn})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, h := range r.Hosts {
		names = append(names, h.Name)
	}
	if want := []string{"dc2.corp.example", "ro1.corp.example", "ro2.corp.example"}; !slices.Equal(names, want) {
		t.Errorf("site Branch: hosts %v, want %v", names, want)
	}
	// dc1 (HQ) in Branch's SRV is site coverage; ro2 is in no Branch record.
	if g, want := kinds(r.Findings), []string{"dc-object-without-srv ro2.corp.example"}; !slices.Equal(g, want) {
		t.Errorf("site Branch: findings %q, want %q", g, want)
	}
	// The site's name first; the domain's only for more DCs to read LDAP from (its stale target is
	// not compared).
	if want := []string{"_ldap._tcp.branch._sites.dc._msdcs.corp.example", "_ldap._tcp.dc._msdcs.corp.example"}; !slices.Equal(dns.asked, want) {
		t.Errorf("site Branch asked %v, want %v", dns.asked, want)
	}

	// A site without records and a site's DCs unreachable: the domain's DCs serve LDAP.
	var tried []string
	r, err = Discover(context.Background(), Options{Domain: "corp.example", Site: "Empty2", Resolver: corpDNS(),
		Connect: func(_ context.Context, s string) (Directory, error) {
			tried = append(tried, s)
			return dir, nil
		}})
	if err != nil || len(r.Hosts) != 0 || !slices.Equal(tried, []string{"dc1.corp.example:636"}) {
		t.Errorf("site without records: err %v, hosts %v, tried %v", err, r.Hosts, tried)
	}
}

func TestDiscoverErrors(t *testing.T) {
	ctx := context.Background()
	okDir := func(context.Context, string) (Directory, error) { return corpDir(), nil }
	bindRefused := ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("80090308: LdapErr: DSID-0C09030B, comment: AcceptSecurityContext error, data 52e"))
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	tlsErr := ldap.NewError(ldap.ErrorNetwork, &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}})

	t.Run("dns unreachable", func(t *testing.T) {
		dns := &fakeResolver{fail: map[string]error{"_ldap._tcp.dc._msdcs.corp.example": &net.DNSError{Err: "read udp 127.0.0.1:53: connection refused", Server: "10.9.9.9:53"}}}
		_, err := Discover(ctx, Options{Domain: "corp.example", DNSServer: "10.9.9.9", Resolver: dns, Connect: okDir})
		wantErr(t, err, ErrDNS, "discover corp.example: dns srv _ldap._tcp.dc._msdcs.corp.example via 10.9.9.9: DNS server unreachable or failing: read udp 127.0.0.1:53: connection refused")
	})
	t.Run("no srv", func(t *testing.T) {
		_, err := Discover(ctx, Options{Domain: "corp.example", Resolver: &fakeResolver{}, Connect: okDir})
		wantErr(t, err, ErrNoSRV, "discover corp.example: dns srv _ldap._tcp.dc._msdcs.corp.example via system resolver: no SRV records")
	})
	t.Run("no srv but ldap server given", func(t *testing.T) {
		r, err := Discover(ctx, Options{Domain: "corp.example", LDAPServer: "dc9.corp.example:1636", Resolver: &fakeResolver{}, Connect: okDir})
		if err != nil {
			t.Fatal(err)
		}
		if r.LDAPServer != "dc9.corp.example:1636" || !slices.Contains(kinds(r.Findings), "dc-object-without-srv dc1.corp.example") {
			t.Errorf("server %s findings %q", r.LDAPServer, kinds(r.Findings))
		}
	})
	t.Run("bind refused stops at the first DC", func(t *testing.T) {
		var tried []string
		_, err := Discover(ctx, Options{Domain: "corp.example", Resolver: corpDNS(), Connect: func(_ context.Context, s string) (Directory, error) {
			tried = append(tried, s)
			return nil, bindRefused
		}})
		wantErr(t, err, ErrBind, "discover corp.example: ldap dc1.corp.example:636: LDAP bind refused: LDAP Result Code 49")
		if len(tried) != 1 {
			t.Errorf("tried %v: a refused bind must not be retried on other DCs", tried)
		}
	})
	t.Run("unreachable and tls failures try the next DC", func(t *testing.T) {
		var tried []string
		r, err := Discover(ctx, Options{Domain: "corp.example", StartTLS: true, Resolver: corpDNS(), Connect: func(_ context.Context, s string) (Directory, error) {
			tried = append(tried, s)
			switch len(tried) {
			case 1:
				return nil, refused
			case 2:
				return nil, tlsErr
			}
			return corpDir(), nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"dc1.corp.example:389", "stale.corp.example:389", "nosite.corp.example:389"}; !slices.Equal(tried, want) || r.LDAPServer != want[2] {
			t.Errorf("tried %v (used %s), want %v", tried, r.LDAPServer, want)
		}
	})
	t.Run("all DCs fail", func(t *testing.T) {
		_, err := Discover(ctx, Options{Domain: "corp.example", Resolver: corpDNS(), Connect: func(_ context.Context, s string) (Directory, error) {
			if strings.HasPrefix(s, "dc1") {
				return nil, tlsErr
			}
			return nil, refused
		}})
		if !errors.Is(err, ErrTLS) || !errors.Is(err, ErrLDAPUnreachable) {
			t.Fatalf("err %v: want both ErrTLS and ErrLDAPUnreachable", err)
		}
		for _, s := range []string{"ldap dc1.corp.example:636: TLS failure", "ldap stale.corp.example:636: LDAP server unreachable"} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("err %q lacks %q", err, s)
			}
		}
	})
	t.Run("wrong domain", func(t *testing.T) {
		dir := corpDir()
		_, err := Discover(ctx, Options{Domain: "child.corp.example", LDAPServer: "dc1.corp.example", Resolver: &fakeResolver{},
			Connect: func(context.Context, string) (Directory, error) { return dir, nil }})
		wantErr(t, err, ErrWrongDomain, `discover child.corp.example: ldap dc1.corp.example:636: LDAP server is not a domain controller of this domain: its domain partition is "DC=corp,DC=example", want "DC=child,DC=corp,DC=example"`)
		if !dir.closed {
			t.Error("directory not closed after an error")
		}
	})
	t.Run("search refused", func(t *testing.T) {
		dir := corpDir()
		dir.searchErr = ldap.NewError(ldap.LDAPResultInsufficientAccessRights, errors.New("00002098: SecErr"))
		_, err := Discover(ctx, Options{Domain: "corp.example", Resolver: corpDNS(), Connect: func(context.Context, string) (Directory, error) { return dir, nil }})
		wantErr(t, err, ErrLDAP, "discover corp.example: ldap search DC computer objects on dc1.corp.example:636: LDAP search failed: LDAP Result Code 50")
	})
	t.Run("site lookup failing is a finding", func(t *testing.T) {
		dns := corpDNS()
		dns.fail = map[string]error{"_ldap._tcp.HQ._sites.dc._msdcs.corp.example": &net.DNSError{Err: "server misbehaving", IsTemporary: true}}
		r, err := Discover(ctx, Options{Domain: "corp.example", Resolver: dns, Connect: okDir})
		if err != nil {
			t.Fatal(err)
		}
		if g := kinds(r.Findings); !slices.Contains(g, "site-srv-lookup-failed _ldap._tcp.HQ._sites.dc._msdcs.corp.example") {
			t.Errorf("findings %q", g)
		}
	})
	t.Run("options", func(t *testing.T) {
		for _, o := range []Options{
			{},
			{Domain: "corp example"},
			{Domain: "corp.example", DNSServer: "10.0.0.1:99999", Connect: okDir},
			{Domain: "corp.example", LDAPServer: "ldaps://dc1", Connect: okDir},
			{Domain: "corp.example", User: "u"}, // no password
		} {
			_, err := Discover(ctx, o)
			if !errors.Is(err, ErrConfig) {
				t.Errorf("%+v: err %v, want ErrConfig", o, err)
			}
		}
	})
}

func wantErr(t *testing.T, err, kind error, prefix string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("err %v: want %v", err, kind)
	}
	var de *Error
	if !errors.As(err, &de) {
		t.Fatalf("err %T is not *Error", err)
	}
	if !strings.HasPrefix(err.Error(), prefix) {
		t.Errorf("err\n %q\nwant prefix\n %q", err, prefix)
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		op   string
		err  error
		want error
	}{
		{"connect", &net.OpError{Op: "dial", Err: errors.New("refused")}, ErrLDAPUnreachable},
		{"connect", ldap.NewError(ldap.ErrorNetwork, x509.HostnameError{Host: "x"}), ErrTLS},
		{"connect", ldap.NewError(ldap.ErrorNetwork, tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), ErrTLS},
		{"connect", ldap.NewError(ldap.ErrorNetwork, tls.AlertError(40)), ErrTLS},
		{"bind", ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("52e")), ErrBind},
		{"bind", ldap.NewError(ldap.LDAPResultStrongAuthRequired, errors.New("strong")), ErrBind},
		{"bind", ldap.NewError(ldap.ErrorNetwork, errors.New("EOF")), ErrLDAPUnreachable},
		{"search", ldap.NewError(ldap.LDAPResultInsufficientAccessRights, errors.New("x")), ErrLDAP},
		{"search", fmt.Errorf("wrapped: %w", ErrWrongDomain), ErrWrongDomain},
	} {
		if got := classifyLDAP(c.op, c.err); got != c.want {
			t.Errorf("classifyLDAP(%s, %v) = %v, want %v", c.op, c.err, got, c.want)
		}
	}
	if classifyDNS(&net.DNSError{IsNotFound: true}) != ErrNoSRV || classifyDNS(&net.DNSError{IsTimeout: true}) != ErrDNS ||
		classifyDNS(errors.New("x")) != ErrDNS {
		t.Error("classifyDNS")
	}
}

func TestSlugAndDN(t *testing.T) {
	for in, want := range map[string]string{
		"Windows Server 2022 Standard": "windows-server-2022-standard", "10.0 (20348)": "10.0-20348",
		"Samba": "samba", "4.17.12-Debian": "4.17.12-debian", "  ": "", "Windows Server® 2008 R2": "windows-server-2008-r2",
	} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
	if domainDN("a.b.c") != "DC=a,DC=b,DC=c" || !sameDN("dc=A, DC=b", "DC=a,DC=B") || sameDN("", "") {
		t.Error("domainDN/sameDN")
	}
	if siteOfServer("CN=DC1,CN=Servers,CN=Site\\, One,CN=Sites,CN=Configuration,DC=x") != "Site, One" {
		t.Error("siteOfServer with an escaped comma")
	}
}

// The inventory written is what inventory.Parse reads back: same names, addresses, sites, tags and
// credentials; the findings are in comments.
func TestWriteInventoryRoundTrip(t *testing.T) {
	r1, err := Discover(context.Background(), Options{Domain: "corp.example", Credential: "corp", ResolveAddresses: true,
		Resolver: corpDNS(), Connect: func(context.Context, string) (Directory, error) { return corpDir(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	r2 := &Result{Domain: "child.corp.example", DNSServer: "10.0.0.1", LDAPServer: "cdc1.child.corp.example:636",
		Hosts:    []inventory.Host{{Name: "cdc1.child.corp.example", Address: "cdc1.child.corp.example", Site: "HQ", Tags: []string{"domain:child.corp.example"}, Credential: "child"}},
		Findings: []Finding{{Domain: "child.corp.example", Kind: FindingSRVOnly, Host: "old.child.corp.example", Detail: "line\nbreak: x"}}}
	var buf bytes.Buffer
	if err := WriteInventory(&buf, []*Result{r1, r2}, time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	hosts, err := inventory.Parse("dcs.yaml", strings.NewReader(text), "yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	want := append(append([]inventory.Host{}, r1.Hosts...), r2.Hosts...)
	if len(hosts) != len(want) {
		t.Fatalf("%d hosts read back, want %d\n%s", len(hosts), len(want), text)
	}
	for i, h := range hosts {
		w := want[i]
		if h.Name != w.Name || h.Address != w.Address || h.Site != w.Site || !slices.Equal(h.Tags, w.Tags) || h.Credential != w.Credential {
			t.Errorf("host %d: read %+v, want %+v", i, h, w)
		}
	}
	for _, s := range []string{"#   warning: corp.example: srv-without-dc-object: stale.corp.example", "#   warning: child.corp.example: srv-without-dc-object: old.child.corp.example: line break: x",
		"# domain corp.example: 6 DCs (DNS system resolver, LDAP dc1.corp.example:636)"} {
		if !strings.Contains(text, s) {
			t.Errorf("inventory lacks %q:\n%s", s, text)
		}
	}
	if err := WriteInventory(&buf, []*Result{{Domain: "x"}}, time.Now()); err == nil {
		t.Error("an inventory without hosts was written")
	}
}
