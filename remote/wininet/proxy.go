package wininet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ErrBadProxy is wrapped by every error about one entry of a proxy string; the message quotes the
// entry and says what is wrong with it.
var ErrBadProxy = errors.New("bad proxy entry")

// Default ports of a proxy entry that names none (wininet.h INTERNET_DEFAULT_HTTP_PORT and
// INTERNET_DEFAULT_SOCKS_PORT).
const (
	DefaultProxyPort = 80
	DefaultSOCKSPort = 1080
)

// ProxyEntry is one entry of a WinINet proxy string, "[<scheme>=][<scheme>://]<server>[:<port>]".
type ProxyEntry struct {
	// Scheme is the lower-cased key before '=' ("http", "https", "ftp", "socks", ...), "" for an
	// entry without one, which applies to every scheme that has no entry of its own.
	Scheme string
	Raw    string // the entry as written (trimmed), for messages
	Host   string // host name or IP address, without brackets ("" when Err is set)
	Port   int    // DefaultProxyPort (DefaultSOCKSPort for socks=) when the entry names none
	// Err is why the entry cannot be used: it wraps ErrBadProxy and quotes Raw. Host and Port are
	// then zero.
	Err error
}

// Addr is host:port built with net.JoinHostPort ("proxy:8080", "[::1]:8080"); "" when Err is set
// (or for the zero ProxyEntry).
func (e ProxyEntry) Addr() string {
	if e.Err != nil || e.Host == "" {
		return ""
	}
	return net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}

// ParseProxyList splits a WinINet proxy string (the Proxy field of Settings) into its entries, in
// order, each parsed on its own: one bad entry does not spoil the others.
//
// Entries are separated by ';' or white space (the INTERNET_PROXY_INFO documentation: "one or more
// of the following strings separated by semicolons or whitespace"); empty entries are dropped. White
// space around '=' is allowed ("https = b:443"). An entry is:
//
//   - "scheme=server" or "server" (the latter applies to every scheme without an entry of its own);
//   - server: an optional "scheme://" prefix (dropped) and an optional trailing '/', then the host
//     and an optional ":port" (1-65535; default 80, 1080 for socks=);
//   - host: a DNS name (labels of letters, digits, '-' and '_', as Windows host names may hold; a
//     trailing dot is allowed), an IPv4 address, or an IPv6 address, "[::1]:8080" with a port or
//     bare "::1" without one.
//
// Anything else, a '#', '/', '?', '@', space or control character in the server in particular, gives
// the entry an Err naming it.
func ParseProxyList(v string) []ProxyEntry {
	var out []ProxyEntry
	for _, raw := range splitProxy(v) {
		out = append(out, parseEntry(raw))
	}
	return out
}

// splitProxy splits on ';' and white space, gluing "key", "=", "value" tokens back together.
func splitProxy(v string) []string {
	var out []string
	for _, chunk := range strings.Split(v, ";") {
		toks := strings.FieldsFunc(chunk, isProxySpace)
		for i := 0; i < len(toks); i++ {
			e := toks[i]
			for i+1 < len(toks) && (strings.HasSuffix(e, "=") || strings.HasPrefix(toks[i+1], "=")) {
				i++
				e += toks[i]
			}
			out = append(out, e)
		}
	}
	return out
}

func isProxySpace(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' }

func parseEntry(raw string) ProxyEntry {
	e := ProxyEntry{Raw: raw}
	server := raw
	if k, v, ok := strings.Cut(raw, "="); ok {
		if k == "" {
			e.Err = fmt.Errorf("%w %q: no scheme before '='", ErrBadProxy, raw)
			return e
		}
		e.Scheme, server = strings.ToLower(k), v
	}
	host, port, err := parseServer(server, e.Scheme == "socks")
	if err != nil {
		e.Err = fmt.Errorf("%w %q: %s", ErrBadProxy, raw, err)
		return e
	}
	e.Host, e.Port = host, port
	return e
}

// parseServer parses "[scheme://]host[:port][/]".
func parseServer(s string, socks bool) (host string, port int, err error) {
	if i := strings.Index(s, "://"); i >= 0 {
		if !isScheme(s[:i]) {
			return "", 0, fmt.Errorf("%q is not a scheme", s[:i])
		}
		s = s[i+3:]
	}
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return "", 0, errors.New("no proxy server")
	}
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			return "", 0, fmt.Errorf("control character %U in the server", r)
		case r > 0x7e:
			return "", 0, fmt.Errorf("non-ASCII character %q in the server", r)
		case strings.ContainsRune("#/?@\\ =\"'<>", r):
			return "", 0, fmt.Errorf("%q in the server", r)
		}
	}
	port = DefaultProxyPort
	if socks {
		port = DefaultSOCKSPort
	}
	ps := ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, errors.New("'[' without ']'")
		}
		host, ps = s[1:end], s[end+1:]
		if ps != "" {
			if ps[0] != ':' {
				return "", 0, fmt.Errorf("%q after the IPv6 address", ps)
			}
			ps = ps[1:]
			if ps == "" {
				return "", 0, errors.New("empty port")
			}
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return "", 0, fmt.Errorf("%q is not an IPv6 address", host)
		}
	case strings.Count(s, ":") > 1:
		// unverified: a bare IPv6 address is taken whole, with the default port (a port needs the
		// brackets); WinINet's own parser has not been observed on this form.
		if a, err := netip.ParseAddr(s); err != nil || !a.Is6() || a.Zone() != "" {
			return "", 0, fmt.Errorf("%q is not an IPv6 address (write [address]:port)", s)
		}
		host = s
	default:
		var found bool
		host, ps, found = strings.Cut(s, ":")
		if found && ps == "" {
			// unverified: "host:" is refused rather than given the default port.
			return "", 0, errors.New("empty port")
		}
		if err := checkHostName(host); err != nil {
			return "", 0, err
		}
	}
	if ps != "" {
		n, err := strconv.Atoi(ps)
		if err != nil || n < 1 || n > 65535 || ps[0] == '+' || ps[0] == '-' {
			return "", 0, fmt.Errorf("port %q is not a number from 1 to 65535", ps)
		}
		port = n
	}
	if a, err := netip.ParseAddr(host); err == nil {
		host = a.String() // canonical form; Is4In6 and friends keep their meaning
	}
	return host, port, nil
}

func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// checkHostName accepts a DNS or NetBIOS-style name (letters, digits, '-', '_'; labels of 1-63
// characters not starting or ending with '-'; 253 characters at most; one trailing dot) or an IPv4
// address.
func checkHostName(h string) error {
	if h == "" {
		return errors.New("no host name")
	}
	name := strings.TrimSuffix(h, ".")
	if len(name) > 253 || name == "" {
		return fmt.Errorf("host name %q: length %d, want 1 to 253", h, len(h))
	}
	for _, l := range strings.Split(name, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Errorf("host name %q: empty label or label over 63 characters", h)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("host name %q: label %q starts or ends with '-'", h, l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("host name %q: %q not allowed", h, c)
			}
		}
	}
	return nil
}

// ProxyRoute is the manual proxy WinINet uses for one scheme.
type ProxyRoute struct {
	ProxyEntry
	// SOCKS: the route is a socks= entry. WinINet uses SOCKS only for a scheme that has neither an
	// entry of its own nor a default entry (it cannot reach it otherwise); the caller should say so,
	// and cannot probe it as an HTTP proxy (an HTTP CONNECT probe does not speak SOCKS).
	SOCKS bool
}

// ProxyRouteFor returns the route WinINet takes for scheme ("http", "https", ...; case-insensitive)
// under the manual proxy of s. PAC and auto-detect are not evaluated (see Mode), nor is the bypass
// list (see Bypassed).
//
//   - ok is false (and err nil) when FlagProxy is not set or no entry applies: a direct connection.
//   - Otherwise the entry that applies is, in this order: the first "scheme=" entry for scheme; the
//     first entry without a scheme; the first "socks=" entry (route.SOCKS set). An entry whose value
//     is empty ("https=") is skipped. Only the entry that applies is judged: a bad entry for another
//     scheme does not matter.
//   - err, wrapping ErrBadProxy and quoting the entry, when the entry that applies cannot be parsed;
//     the caller fails only the check of this account and scheme, ok is then true and route.Raw names
//     the entry.
//
// route.Addr() is the host:port to probe, built with net.JoinHostPort.
func ProxyRouteFor(s Settings, scheme string) (route ProxyRoute, ok bool, err error) {
	if s.Flags&FlagProxy == 0 {
		return ProxyRoute{}, false, nil
	}
	scheme = strings.ToLower(strings.TrimSpace(scheme))
	var own, generic, socks *ProxyEntry
	entries := ParseProxyList(s.Proxy)
	for i := range entries {
		e := &entries[i]
		if strings.HasSuffix(e.Raw, "=") {
			continue // "https=": no server for this scheme
		}
		switch {
		case e.Scheme == scheme && own == nil:
			own = e
		case e.Scheme == "" && generic == nil:
			generic = e
		case e.Scheme == "socks" && socks == nil:
			socks = e
		}
	}
	switch {
	case own != nil:
		route = ProxyRoute{ProxyEntry: *own, SOCKS: scheme == "socks"}
	case generic != nil:
		route = ProxyRoute{ProxyEntry: *generic}
	case socks != nil:
		route = ProxyRoute{ProxyEntry: *socks, SOCKS: true}
	default:
		return ProxyRoute{}, false, nil
	}
	return route, true, route.Err
}

// ProxyFor returns the HTTP proxy WinINet uses for scheme as host:port (net.JoinHostPort; port 80
// when the entry names none). ok is false when FlagProxy is not set, when no entry applies, or when
// only a socks= entry does (an HTTP proxy client cannot use it). For an entry that cannot be parsed,
// ok is true and hostport is the server as written (so that a caller's own validation reports it);
// ProxyRouteFor says what is wrong and reports SOCKS routes.
func ProxyFor(s Settings, scheme string) (hostport string, ok bool) {
	r, ok, err := ProxyRouteFor(s, scheme)
	switch {
	case !ok || r.SOCKS:
		return "", false
	case err != nil:
		server := r.Raw
		if _, v, found := strings.Cut(server, "="); found {
			server = v
		}
		return stripScheme(server), true
	}
	return r.Addr(), true
}

func stripScheme(v string) string {
	if i := strings.Index(v, "://"); i >= 0 {
		v = v[i+3:]
	}
	return strings.TrimSuffix(v, "/")
}
