package wininet

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestProxyRouteFor: the route WinINet takes for https under each form of proxy string Windows
// accepts, and a per-entry error naming the entry for the ones it does not.
func TestProxyRouteFor(t *testing.T) {
	cases := []struct {
		name, proxy string
		addr        string // want route.Addr(); "" with ok false: direct
		socks       bool
		bad         string // want an error quoting this entry
	}{
		{"host and port", "proxy.corp.example:8080", "proxy.corp.example:8080", false, ""},
		{"no port: 80", "proxy", "proxy:80", false, ""},
		{"no port, trailing dot", "proxy.corp.", "proxy.corp.:80", false, ""},
		{"underscore in name", "web_proxy.corp_1.example:3128", "web_proxy.corp_1.example:3128", false, ""},
		{"IPv4", "10.0.0.5:3128", "10.0.0.5:3128", false, ""},
		{"IPv6 with port", "[::1]:8080", "[::1]:8080", false, ""},
		{"IPv6 without port", "[2001:db8::5]", "[2001:db8::5]:80", false, ""},
		{"bare IPv6", "2001:db8::5", "[2001:db8::5]:80", false, ""},
		{"IPv6 canonicalised", "[2001:DB8:0:0::5]:81", "[2001:db8::5]:81", false, ""},
		{"per scheme", "http=a:80;https=b:443", "b:443", false, ""},
		{"per scheme, upper case", "HTTP=a:80;HTTPS=b:443", "b:443", false, ""},
		{"https only", "https=b:443", "b:443", false, ""},
		{"http only: direct", "http=a:80", "", false, ""},
		{"ftp and http only: direct", "ftp=f:21;http=a:80", "", false, ""},
		{"mixed, default first", "d:3128;https=b:443", "b:443", false, ""},
		{"mixed, default last", "http=a:80;d:3128", "d:3128", false, ""},
		{"empty https entry skipped", "https=;d:3128", "d:3128", false, ""},
		{"empty https entry alone", "https=", "", false, ""},
		{"first https entry wins", "https=b:1;https=c:2", "b:1", false, ""},
		{"socks only", "socks=s:1080", "s:1080", true, ""},
		{"socks without port: 1080", "socks=s", "s:1080", true, ""},
		{"socks with http only", "http=a:80;socks=s:1081", "s:1081", true, ""},
		{"https wins over socks", "socks=s:1080;https=b:443", "b:443", false, ""},
		{"default wins over socks", "socks=s:1080;d:8080", "d:8080", false, ""},
		{"surrounding spaces", "  http=a:80 ;  https=b:443  ", "b:443", false, ""},
		{"spaces around =", "http = a:80; https = b:443", "b:443", false, ""},
		{"space separated", "http=a:80 https=b:443", "b:443", false, ""},
		{"tab and newline", "http=a:80\thttps=b:443\r\n", "b:443", false, ""},
		{"scheme prefix and slash", "https=http://b:443/", "b:443", false, ""},
		{"scheme prefix on default", "http://d:8080", "d:8080", false, ""},
		{"empty: direct", "", "", false, ""},
		{"only separators: direct", " ; ;; ", "", false, ""},
		{"bad entry for another scheme is ignored", "http=a:99999;https=b:443", "b:443", false, ""},

		{"port out of range", "https=b:99999", "", false, "https=b:99999"},
		{"port zero", "b:0", "", false, "b:0"},
		{"port not a number", "b:80a", "", false, "b:80a"},
		{"signed port", "b:+80", "", false, "b:+80"},
		{"empty port", "b:", "", false, "b:"},
		{"hash", "https=b#:443", "", false, "https=b#:443"},
		{"user info", "user:pw@b:8080", "", false, "user:pw@b:8080"},
		{"query", "b:80?x", "", false, "b:80?x"},
		{"path", "b/x:80", "", false, "b/x:80"},
		{"control character", "b\x01:80", "", false, "b\x01:80"},
		{"non-ASCII", "prøxy:80", "", false, "prøxy:80"},
		{"label starting with -", "-b:80", "", false, "-b:80"},
		{"empty label", "a..b:80", "", false, "a..b:80"},
		{"no host", ":8080", "", false, ":8080"},
		{"unclosed bracket", "[::1:8080", "", false, "[::1:8080"},
		{"junk after bracket", "[::1]x", "", false, "[::1]x"},
		{"not IPv6 in brackets", "[proxy]:80", "", false, "[proxy]:80"},
		{"bare IPv6 with zone", "fe80::1%eth0", "", false, "fe80::1%eth0"},
		{"too many colons", "a:b:c", "", false, "a:b:c"},
		{"empty scheme", "=b:80", "", false, "=b:80"},
		{"bad scheme prefix", "1x://b:80", "", false, "1x://b:80"},
		{"bad socks fallback", "http=a:80;socks=s:0", "", true, "socks=s:0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, ok, err := ProxyRouteFor(New(c.proxy, "", "", false, 0), "https")
			if c.bad != "" {
				if !errors.Is(err, ErrBadProxy) || !strings.Contains(err.Error(), strconv.Quote(c.bad)) || !ok || r.Raw != c.bad {
					t.Fatalf("route %+v ok %v err %v; want an error quoting %q", r, ok, err, c.bad)
				}
				if r.Addr() != "" || r.SOCKS != c.socks {
					t.Errorf("bad route: addr %q socks %v", r.Addr(), r.SOCKS)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if ok != (c.addr != "") || r.Addr() != c.addr || r.SOCKS != c.socks {
				t.Errorf("route %q (ok %v, socks %v); want %q (socks %v)", r.Addr(), ok, r.SOCKS, c.addr, c.socks)
			}
		})
	}
	s := New("proxy:8080", "", "", false, 0)
	s.Flags &^= FlagProxy
	if _, ok, err := ProxyRouteFor(s, "https"); ok || err != nil {
		t.Errorf("proxy flag off: ok %v err %v", ok, err)
	}
}

// The other schemes pick their own entries; socks= applies to itself.
func TestProxyRouteForSchemes(t *testing.T) {
	s := New("http=a:80;https=b:443;ftp=f:21;socks=s:1080", "", "", false, 0)
	for scheme, want := range map[string]string{"http": "a:80", "HTTPS": "b:443", "ftp": "f:21", "socks": "s:1080", "gopher": "s:1080"} {
		r, ok, err := ProxyRouteFor(s, scheme)
		if !ok || err != nil || r.Addr() != want {
			t.Errorf("%s: %q %v %v; want %q", scheme, r.Addr(), ok, err, want)
		}
		if r.SOCKS != (want == "s:1080") {
			t.Errorf("%s: socks %v", scheme, r.SOCKS)
		}
	}
}

// ProxyFor keeps its contract for HTTP proxy clients: normalised host:port, no SOCKS, and the server
// as written for a bad entry (so that the caller's own validation names it).
func TestProxyForForms(t *testing.T) {
	for proxy, want := range map[string]string{
		"proxy":               "proxy:80",
		"[::1]:8080":          "[::1]:8080",
		"socks=s:1080":        "",
		"https=b:99999":       "b:99999",
		"https=http://b#:1/":  "b#:1",
		"http=a:1; web_p:312": "web_p:312",
	} {
		got, ok := ProxyFor(New(proxy, "", "", false, 0), "https")
		if got != want || ok != (want != "") {
			t.Errorf("ProxyFor(%q) = %q, %v; want %q", proxy, got, ok, want)
		}
	}
}

// Each entry is judged alone, in order, with its scheme lower-cased.
func TestParseProxyList(t *testing.T) {
	es := ParseProxyList(" HTTP=a ; https=b:99999 socks=[::1]:1080;;d_1:8080 ")
	var got []string
	for _, e := range es {
		s := e.Scheme + "|" + e.Raw + "|" + e.Addr()
		if e.Err != nil {
			s += "|error"
		}
		got = append(got, s)
	}
	want := []string{"http|HTTP=a|a:80", "https|https=b:99999||error", "socks|socks=[::1]:1080|[::1]:1080", "|d_1:8080|d_1:8080"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
