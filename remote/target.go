package remote

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// CheckHost reports whether host can name a host in a URL: a DNS or NetBIOS name (letters, digits,
// '-', '_', '.'; letters and digits beyond ASCII too), an IPv4 address, or an IPv6 address, bare
// ("::1", "fe80::1%12") or in brackets ("[::1]"). Anything that would change the meaning of the URL
// built from it (a '#', '/', '?', '@', ':' outside an IPv6 address, '\', '%' outside a zone, space,
// control or format character, ...) is refused: "127.4.0.1#" must not quietly become a request to
// port 80. The error wraps ErrInvalidTarget and quotes host.
func CheckHost(host string) error {
	if host == "" {
		return fmt.Errorf("%w: empty host", ErrInvalidTarget)
	}
	if h, ok := ipv6Literal(host); ok {
		if _, err := netip.ParseAddr(h); err != nil {
			return fmt.Errorf("%w: host %q: not an IPv6 address", ErrInvalidTarget, host)
		}
		return nil
	}
	for _, r := range host {
		switch {
		case r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'):
		case r >= 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r)):
		case r == ':':
			return fmt.Errorf("%w: host %q: ':' outside an IPv6 address (give the port on its own)", ErrInvalidTarget, host)
		case r < 0x20 || r == 0x7f || !unicode.IsPrint(r):
			return fmt.Errorf("%w: host %q: control or invisible character %U not allowed in a host name", ErrInvalidTarget, host, r)
		default:
			return fmt.Errorf("%w: host %q: %q not allowed in a host name or address", ErrInvalidTarget, host, r)
		}
	}
	if strings.HasPrefix(host, ".") || strings.Contains(host, "..") {
		return fmt.Errorf("%w: host %q: empty label", ErrInvalidTarget, host)
	}
	return nil
}

// ipv6Literal returns host without brackets when it is meant as an IPv6 address: in brackets, or
// holding a ':' (a zone may follow '%').
func ipv6Literal(host string) (string, bool) {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		return host[1 : len(host)-1], true
	}
	if strings.Count(host, ":") >= 2 && !strings.ContainsAny(host, "[]/?#@ ") {
		return host, true
	}
	return host, false
}

// Addr returns host:port built with net.JoinHostPort: "dc01:5985", "[::1]:5986" (a bracketed Host
// is unwrapped first). Call SetDefaults first when Port may be 0.
func (t Target) Addr() string {
	h := t.Host
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	return net.JoinHostPort(h, strconv.Itoa(t.Port))
}

// URL returns the WS-Management endpoint of t, scheme://host:port/wsman, built as a url.URL from
// Addr. It is meaningful only for a target that Validate accepts.
func (t Target) URL() *url.URL {
	scheme := "http"
	if t.HTTPS {
		scheme = "https"
	}
	return &url.URL{Scheme: scheme, Host: t.Addr(), Path: "/wsman"}
}
