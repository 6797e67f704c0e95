// Package discover finds the domain controllers of an Active Directory domain and turns them into
// inventory hosts.
//
// One Discover call covers one domain with one credential (a forest with child domains takes one
// call per domain). It asks DNS for the DC locator records, `_ldap._tcp.dc._msdcs.<domain>` and,
// for every site found in the directory, `_ldap._tcp.<site>._sites.dc._msdcs.<domain>` (read-only
// DCs register only their site's records by default, MS-ADTS 6.3.2.3), through the system resolver
// or a given DNS server. It then binds to a DC over LDAPS (or LDAP with StartTLS) with a simple bind
// inside TLS and reads the DC computer objects of the domain partition: writable DCs
// (userAccountControl bit 0x2000, SERVER_TRUST_ACCOUNT) and read-only DCs (0x04000000,
// PARTIAL_SECRETS_ACCOUNT; primaryGroupID 521; msDS-isRODC), with dNSHostName, operatingSystem and
// operatingSystemVersion; a DC's site is the site of its server object under
// CN=Sites,CN=Configuration whose serverReference names the computer object.
//
// The directory is the source of truth for the hosts: every DC computer object with a dNSHostName
// becomes an inventory.Host. Disagreements between DNS and the directory are never dropped silently:
// a host named by an SRV record without a DC computer object, a DC computer object no SRV record
// names, a DC object without dNSHostName or without site are returned as Findings.
//
// Errors name the domain and the server and wrap one sentinel (ErrDNS, ErrNoSRV, ErrLDAPUnreachable,
// ErrTLS, ErrBind, ErrLDAP, ErrWrongDomain, ErrConfig); see errors.go.
package discover

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
)

// Resolver looks up the DNS records discovery needs. LookupSRV takes the full SRV name and returns
// its targets in the order to try them (priority, then weight); when the server answers that the
// name does not exist or has no records the error wraps ErrNoSRV (or is a *net.DNSError with
// IsNotFound), any other failure means the server could not be asked. LookupHost returns the
// addresses of a host name. Implementations are safe for concurrent use.
type Resolver interface {
	LookupSRV(ctx context.Context, name string) ([]*net.SRV, error)
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Scope of an LDAP search.
type Scope int

// Search scopes.
const (
	ScopeBase    Scope = iota // the base object only (the rootDSE)
	ScopeSubtree              // the base and everything below it
)

// Entry is one LDAP entry: its DN and its attributes, keyed by lower-case attribute name.
type Entry struct {
	DN    string
	Attrs map[string][]string
}

// Get returns the first value of attribute name (any case), or "".
func (e Entry) Get(name string) string {
	if v := e.Attrs[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Directory is an LDAP connection, already bound, to one DC. Search returns every entry matching
// filter under base (paging as needed; referrals to other partitions are ignored) with the
// requested attributes; an error is what the server or the connection gave, unclassified. Close
// ends the connection. A Directory is used by one goroutine at a time.
type Directory interface {
	Search(ctx context.Context, base string, scope Scope, filter string, attrs []string) ([]Entry, error)
	Close() error
}

// Connector opens a bound Directory on server ("host:port"). Its errors are classified by Discover
// (TLS, unreachable, bind refused); it may also return an *Error or wrap a sentinel itself.
type Connector func(ctx context.Context, server string) (Directory, error)

// Options configure one Discover call (one domain).
type Options struct {
	Domain string // DNS name of the domain, e.g. corp.example (required)

	// DNSServer is "host" or "host:port" (default port 53) of the DNS server to ask; "" uses the
	// system resolver. Host names of DCs (for the LDAP connection and ResolveAddresses) are resolved
	// through the same server.
	DNSServer string
	// LDAPServer is "host" or "host:port" of the DC to read the directory from; "" tries the SRV
	// targets in order (at most maxLDAPTries; with Site, the site's before the domain's) until one
	// binds.
	LDAPServer string
	// StartTLS connects to port 389 and upgrades with StartTLS instead of LDAPS on 636.
	StartTLS bool
	// TLS is the client TLS configuration (RootCAs, MinVersion); ServerName defaults to the host
	// name (or IP address) of the LDAP server. nil: system roots.
	TLS *tls.Config

	// User and Password for the simple bind (inside TLS only): "user@corp.example", "CORP\user" or a DN.
	User     string
	Password string

	// Site restricts the result to the DCs of one site and the SRV check to that site's records.
	Site string
	// Credential is written into each host's Credential field (the named credential the audit uses
	// for this domain); "" leaves it unset.
	Credential string
	// ResolveAddresses fills each host's Address with its first address from the resolver (IPv4
	// preferred), for names the machine's own resolver does not know (a DNSServer of the AD).
	// A name that does not resolve is reported as a FindingUnresolved and keeps Address = Name.
	ResolveAddresses bool

	// Timeout bounds every network operation (DNS query, TCP connect, TLS handshake, LDAP request);
	// default 10 s.
	Timeout time.Duration

	// Resolver and Connect replace the network for tests; nil: DNS through DNSServer or the system
	// resolver, LDAP through go-ldap.
	Resolver Resolver
	Connect  Connector
}

// maxLDAPTries bounds how many SRV targets are tried for the LDAP connection.
const maxLDAPTries = 5

// DC is one domain controller as the directory describes it.
type DC struct {
	Name            string   // dNSHostName, lower case, no trailing dot ("" when the object has none)
	DN              string   // the computer object
	SAMAccountName  string   // e.g. DC01$
	Site            string   // "" when no server object references it
	ReadOnly        bool     // read-only DC
	UAC             int64    // userAccountControl
	PrimaryGroupID  int      // 516 writable, 521 read-only
	OS              string   // operatingSystem
	OSVersion       string   // operatingSystemVersion
	SRV             []string // the SRV names that list it ("" when none)
	Address         string   // first address when Options.ResolveAddresses
	InDomainLocator bool     // listed by _ldap._tcp.dc._msdcs.<domain>
}

// Finding kinds.
const (
	// FindingSRVOnly: an SRV record names a host that no DC computer object has as dNSHostName
	// (a stale record, a demoted DC, or a DC object the account cannot read).
	FindingSRVOnly = "srv-without-dc-object"
	// FindingLDAPOnly: a DC computer object that no SRV record names (DNS registration missing; the
	// DC is still in the inventory, tagged no-srv).
	FindingLDAPOnly = "dc-object-without-srv"
	// FindingNotInDomainSRV: a writable DC listed only by site records, not by the domain-wide name.
	FindingNotInDomainSRV = "writable-dc-not-in-domain-srv"
	// FindingNoDNSHostName: a DC computer object without dNSHostName: it cannot be audited by name
	// and is not in the inventory.
	FindingNoDNSHostName = "dc-object-without-dnshostname"
	// FindingBadDNSHostName: a dNSHostName that is no host name (whitespace, a URL, a port); the DC
	// is handled like one without dNSHostName.
	FindingBadDNSHostName = "dc-object-with-bad-dnshostname"
	// FindingNoSite: no server object under CN=Sites references the DC; it is in the inventory
	// without site.
	FindingNoSite = "dc-without-site"
	// FindingDuplicate: two DC computer objects with the same dNSHostName; the first is kept.
	FindingDuplicate = "duplicate-dnshostname"
	// FindingUnresolved: ResolveAddresses was asked and the name has no address.
	FindingUnresolved = "unresolved"
	// FindingSiteSRVFailed: the DNS server failed to answer a site's SRV name (not "no records").
	FindingSiteSRVFailed = "site-srv-lookup-failed"
)

// Finding is one disagreement or gap discovery noticed. Host is the DC's name (or the DN when it
// has none).
type Finding struct {
	Domain string
	Kind   string
	Host   string
	Detail string
}

// String returns "DOMAIN: KIND: HOST: DETAIL".
func (f Finding) String() string {
	s := f.Domain + ": " + f.Kind + ": " + f.Host
	if f.Detail != "" {
		s += ": " + f.Detail
	}
	return s
}

// Result is what one Discover call found.
type Result struct {
	Domain     string
	DNSServer  string // the server asked, or "system resolver"
	LDAPServer string // host:port of the DC whose directory was read
	Sites      []string
	DCs        []DC             // every DC computer object, sorted by name (objects without name last)
	Hosts      []inventory.Host // the DCs with a name, as inventory hosts, sorted by name
	Findings   []Finding        // sorted by kind, then host
	SRVTargets map[string][]string
}

// Discover finds the DCs of one domain. The error is an *Error naming the domain and server; a
// DC-level problem is a Finding, not an error.
func Discover(ctx context.Context, o Options) (*Result, error) {
	o.Domain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(o.Domain), "."))
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	dnsName := o.DNSServer
	if dnsName == "" {
		dnsName = "system resolver"
	}
	res := o.Resolver
	var netRes *net.Resolver
	if res == nil {
		netRes = newNetResolver(o.DNSServer, o.Timeout)
		res = &netResolver{r: netRes, timeout: o.Timeout}
	}
	connect := o.Connect
	if connect == nil {
		connect = ldapConnector(&o, netRes)
	}
	r := &Result{Domain: o.Domain, DNSServer: dnsName, SRVTargets: map[string][]string{}}

	// 1. The domain-wide (or the site's) locator name: also the list of DCs to read LDAP from.
	first := domainSRV(o.Domain)
	if o.Site != "" {
		first = siteSRV(o.Site, o.Domain)
	}
	targets, err := lookupSRV(ctx, res, first)
	if err != nil {
		kind := classifyDNS(err)
		if kind == ErrDNS || (o.LDAPServer == "" && o.Site == "") {
			return nil, &Error{Domain: o.Domain, Op: "dns srv " + first + " via", Server: dnsName, Kind: kind, Err: unwrapDNS(err)}
		}
		// No records, but a DC was named or the domain's records may do: go on; the DCs of the
		// directory will be reported without SRV.
	}
	r.SRVTargets[first] = targets

	// 2. The directory: the given DC, else the SRV targets; with a site, its DCs first, then the
	// domain's (a site's DCs may all be unreachable from here, or it may have none).
	candidates := targets
	if o.LDAPServer != "" {
		candidates = []string{o.LDAPServer}
	} else if o.Site != "" {
		more, err := lookupSRV(ctx, res, domainSRV(o.Domain))
		if err != nil && len(candidates) == 0 {
			return nil, &Error{Domain: o.Domain, Op: "dns srv " + first + " and " + domainSRV(o.Domain) + " via", Server: dnsName,
				Kind: classifyDNS(err), Err: unwrapDNS(err)}
		}
		for _, m := range more {
			if !slices.Contains(candidates, m) {
				candidates = append(candidates, m)
			}
		}
	}
	dir, server, err := openDirectory(ctx, &o, connect, candidates)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	r.LDAPServer = server
	computers, servers, sites, err := readDirectory(ctx, &o, dir, server)
	if err != nil {
		return nil, err
	}
	r.Sites = sites

	// 3. The site locator names (all sites; with Site set, only that one was asked above).
	if o.Site == "" {
		lookupSiteSRVs(ctx, res, o.Domain, sites, r)
	}

	// 4. Map and compare.
	dcs, findings := mapDCs(o.Domain, computers, servers)
	if o.Site != "" {
		kept := dcs[:0]
		for _, dc := range dcs {
			if strings.EqualFold(dc.Site, o.Site) {
				kept = append(kept, dc)
			}
		}
		dcs = kept
		findings = keepFindingsOf(findings, dcs)
	}
	findings = append(findings, compareSRV(o.Domain, dcs, computers, r.SRVTargets, o.Site)...)
	if o.ResolveAddresses {
		findings = append(findings, resolveAddresses(ctx, res, o.Domain, dcs)...)
	}
	r.DCs = dcs
	r.Hosts = toHosts(o.Domain, o.Credential, dcs)
	findings = append(r.Findings, findings...) // site SRV lookups that failed
	sortFindings(findings)
	r.Findings = findings
	return r, nil
}

func (o *Options) check() error {
	bad := func(format string, a ...any) error {
		return &Error{Domain: o.Domain, Op: "options", Kind: ErrConfig, Err: fmt.Errorf(format, a...)}
	}
	if o.Domain == "" {
		return bad("no domain given")
	}
	if strings.IndexFunc(o.Domain, func(r rune) bool { return r <= ' ' || r == '/' || r == ':' || r == '@' || r == '\\' }) >= 0 ||
		strings.Contains(o.Domain, "..") || strings.HasPrefix(o.Domain, ".") {
		return bad("%q is not a DNS domain name", o.Domain)
	}
	for _, s := range []struct{ what, v string }{{"DNS server", o.DNSServer}, {"LDAP server", o.LDAPServer}} {
		if s.v == "" {
			continue
		}
		if _, _, err := splitServer(s.v, 1); err != nil {
			return bad("%s %q: %v", s.what, s.v, err)
		}
	}
	if o.Connect == nil && (o.User == "" || o.Password == "") {
		return bad("no user or password for the LDAP bind")
	}
	if strings.ContainsAny(o.Site, "\x00\r\n") {
		return bad("bad site name %q", o.Site)
	}
	return nil
}

// splitServer parses "host", "host:port", "[v6]:port" or a bare IPv6 address; port def if none.
func splitServer(s string, def int) (host string, port int, err error) {
	if ip := net.ParseIP(s); ip != nil {
		return s, def, nil
	}
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		if strings.Contains(s, ":") || strings.ContainsAny(s, "/[] ") {
			return "", 0, errors.New("want host or host:port")
		}
		return s, def, nil
	}
	n := 0
	if _, err := fmt.Sscanf(p, "%d", &n); err != nil || n < 1 || n > 65535 || fmt.Sprint(n) != p {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if h == "" {
		return "", 0, errors.New("empty host")
	}
	return h, n, nil
}

func domainSRV(domain string) string { return "_ldap._tcp.dc._msdcs." + domain }
func siteSRV(site, domain string) string {
	return "_ldap._tcp." + site + "._sites.dc._msdcs." + domain
}

// lookupSRV returns the lower-case targets of name without trailing dot, in the resolver's order.
func lookupSRV(ctx context.Context, res Resolver, name string) ([]string, error) {
	srvs, err := res.LookupSRV(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, s := range srvs {
		t := strings.ToLower(strings.TrimSuffix(s.Target, "."))
		if t == "" || seen[t] {
			continue // "." means "no service here" (RFC 2782)
		}
		seen[t] = true
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s has only empty targets", ErrNoSRV, name)
	}
	return out, nil
}

// unwrapDNS shortens a *net.DNSError to its cause (the Error already names the server and name).
func unwrapDNS(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return nil
		}
		return errors.New(de.Err)
	}
	if errors.Is(err, ErrNoSRV) {
		return nil
	}
	return err
}

// openDirectory connects and binds to the first candidate that works. A refused bind stops at once.
func openDirectory(ctx context.Context, o *Options, connect Connector, candidates []string) (Directory, string, error) {
	var errs []error
	for i, c := range candidates {
		if i == maxLDAPTries {
			break
		}
		port := 636
		if o.StartTLS {
			port = 389
		}
		host, p, err := splitServer(c, port)
		if err != nil {
			return nil, "", &Error{Domain: o.Domain, Op: "options", Kind: ErrConfig, Err: err}
		}
		server := net.JoinHostPort(host, fmt.Sprint(p))
		dir, err := connect(ctx, server)
		if err == nil {
			return dir, server, nil
		}
		var de *Error
		if !errors.As(err, &de) {
			de = &Error{Domain: o.Domain, Op: "ldap", Server: server, Kind: classifyLDAP("connect", err), Err: err}
		}
		if de.Kind == ErrBind || ctx.Err() != nil {
			return nil, "", de
		}
		errs = append(errs, de)
	}
	if len(errs) == 0 {
		return nil, "", &Error{Domain: o.Domain, Op: "ldap", Kind: ErrLDAPUnreachable, Err: errors.New("no DC to connect to")}
	}
	return nil, "", errors.Join(errs...)
}

// Attributes read from the directory.
var (
	computerAttrs = []string{"dNSHostName", "userAccountControl", "primaryGroupID", "msDS-isRODC", "operatingSystem",
		"operatingSystemVersion", "sAMAccountName"}
	serverAttrs = []string{"serverReference", "dNSHostName"}
)

// dcFilter selects writable DCs (SERVER_TRUST_ACCOUNT) and read-only DCs (PARTIAL_SECRETS_ACCOUNT,
// or the Read-only Domain Controllers primary group).
const dcFilter = "(&(objectCategory=computer)(|(userAccountControl:1.2.840.113556.1.4.803:=8192)" +
	"(userAccountControl:1.2.840.113556.1.4.803:=67108864)(primaryGroupID=521)))"

// readDirectory reads the rootDSE, the DC computer objects, the server objects and the sites.
func readDirectory(ctx context.Context, o *Options, dir Directory, server string) (computers, servers []Entry, sites []string, err error) {
	fail := func(what string, e error) error {
		return &Error{Domain: o.Domain, Op: "ldap search " + what + " on", Server: server, Kind: classifyLDAP("search", e), Err: e}
	}
	root, err := dir.Search(ctx, "", ScopeBase, "(objectClass=*)", []string{"defaultNamingContext", "configurationNamingContext"})
	if err != nil {
		return nil, nil, nil, fail("rootDSE", err)
	}
	if len(root) != 1 {
		return nil, nil, nil, fail("rootDSE", fmt.Errorf("%d entries", len(root)))
	}
	base, config := root[0].Get("defaultNamingContext"), root[0].Get("configurationNamingContext")
	if want := domainDN(o.Domain); !sameDN(base, want) {
		return nil, nil, nil, &Error{Domain: o.Domain, Op: "ldap", Server: server, Kind: ErrWrongDomain,
			Err: fmt.Errorf("its domain partition is %q, want %q", base, want)}
	}
	if config == "" {
		return nil, nil, nil, fail("rootDSE", errors.New("no configurationNamingContext"))
	}
	if computers, err = dir.Search(ctx, base, ScopeSubtree, dcFilter, computerAttrs); err != nil {
		return nil, nil, nil, fail("DC computer objects", err)
	}
	sitesDN := "CN=Sites," + config
	if servers, err = dir.Search(ctx, sitesDN, ScopeSubtree, "(objectClass=server)", serverAttrs); err != nil {
		return nil, nil, nil, fail("server objects", err)
	}
	siteEntries, err := dir.Search(ctx, sitesDN, ScopeSubtree, "(objectClass=site)", []string{"cn"})
	if err != nil {
		return nil, nil, nil, fail("sites", err)
	}
	for _, e := range siteEntries {
		if n := rdnValue(e.DN); n != "" {
			sites = append(sites, n)
		}
	}
	sort.Strings(sites)
	return computers, servers, sites, nil
}

// lookupSiteSRVs asks every site's locator name, 8 at a time. "No records" is normal (a site
// without DCs); a failing server is a finding.
func lookupSiteSRVs(ctx context.Context, res Resolver, domain string, sites []string, r *Result) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, s := range sites {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			name := siteSRV(s, domain)
			t, err := lookupSRV(ctx, res, name)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				r.SRVTargets[name] = t
			case classifyDNS(err) == ErrDNS:
				r.Findings = append(r.Findings, Finding{Domain: domain, Kind: FindingSiteSRVFailed, Host: name,
					Detail: fmt.Sprintf("%v (DNS server %s)", unwrapDNS(err), r.DNSServer)})
			}
		}()
	}
	wg.Wait()
}

// keepFindingsOf keeps the findings about the given DCs (used with a site filter).
func keepFindingsOf(fs []Finding, dcs []DC) []Finding {
	names := map[string]bool{}
	for _, d := range dcs {
		names[d.Name] = true
	}
	var out []Finding
	for _, f := range fs {
		if names[f.Host] {
			out = append(out, f)
		}
	}
	return out
}

// resolveAddresses fills DC.Address; names without address become findings.
func resolveAddresses(ctx context.Context, res Resolver, domain string, dcs []DC) []Finding {
	var out []Finding
	for i := range dcs {
		if dcs[i].Name == "" {
			continue
		}
		addrs, err := res.LookupHost(ctx, dcs[i].Name)
		if err != nil || len(addrs) == 0 {
			detail := "no address"
			if err != nil {
				detail = fmt.Sprint(unwrapDNSDetail(err))
			}
			out = append(out, Finding{Domain: domain, Kind: FindingUnresolved, Host: dcs[i].Name, Detail: detail})
			continue
		}
		dcs[i].Address = pickAddress(addrs)
	}
	return out
}

func unwrapDNSDetail(err error) string {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return "no such host"
		}
		return de.Err
	}
	return err.Error()
}

// pickAddress returns the first IPv4 address, else the first address.
func pickAddress(addrs []string) string {
	for _, a := range addrs {
		if ip := net.ParseIP(a); ip != nil && ip.To4() != nil {
			return a
		}
	}
	return addrs[0]
}

func sortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Kind != fs[j].Kind {
			return fs[i].Kind < fs[j].Kind
		}
		return fs[i].Host < fs[j].Host
	})
}
