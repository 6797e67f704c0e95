package probe

import (
	"regexp"
	"strings"
	"testing"
)

// The patterns the matchers of match.go stand for: the oracle of the tests below.
var matchers = []struct {
	name string
	re   *regexp.Regexp
	fn   func(string) bool
}{
	{"errName", regexp.MustCompile(`^[A-Za-z]{0,64}$`), isErrName},
	{"route", regexp.MustCompile(`^(direct|proxy \S{1,300}:[0-9]{1,5})$`), isRoute},
	{"cert", regexp.MustCompile(`^[ -~]*$`), printableASCII},
	{"routeID", regexp.MustCompile(`^[A-Z_]+$`), isRouteID},
	{"thumbprint", regexp.MustCompile(`^[0-9A-F]{40}$`), isThumbprint},
	{"hostName", regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$`), isHostName},
	{"drivePath", regexp.MustCompile(`^[A-Za-z]:\\[^'"%` + "`" + `<>|?*]*$`), isDrivePath},
}

var matchSeeds = []string{
	"", "direct", "Direct", "direct ", "proxy a:1", "proxy a:", "proxy :80", "proxy a:123456", "proxy a:b:8080",
	"proxy [::1]:8080", "proxy a b:80", "proxy a\tb:80", "proxy a\vb:80", "proxy ü:80", "proxy \xff:80",
	"proxy " + strings.Repeat("x", 300) + ":80", "proxy " + strings.Repeat("x", 301) + ":80",
	"proxy " + strings.Repeat("é", 300) + ":80", "proxy " + strings.Repeat("é", 301) + ":80",
	"Timeout", "NameResolutionFailure", "Timeout1", strings.Repeat("a", 64), strings.Repeat("a", 65), "@", "[", "`", "{",
	"CN=Microsoft RSA TLS CA 02, O=Microsoft Corporation", "tab\t", "del\x7f", "é",
	"CURRENT_USER", "LOCAL_SYSTEM", "local_system", "_", "A1",
	"DF3C24F9BFD666761B268073FE06D1CC8D4F82A4", "df3c24f9bfd666761b268073fe06d1cc8d4f82a4", "DF3C24F9BFD666761B268073FE06D1CC8D4F82A",
	"proxy.corp.example", "proxy_1.corp", "-a", "a-", "a.-b", "a..b", ".a", "a.", "a-b.c_d", "10.0.0.1", "xn--bcher-kva.example", "a b",
	`C:\Program Files\Azure Advanced Threat Protection Sensor\2.250.18972.18405\SensorConfiguration.json`,
	`c:\x`, `C:`, `C:\`, `C:/x`, `1:\x`, `C:\a'b`, `C:\a"b`, `C:\a%b`, "C:\\a`b", `C:\a<b`, `C:\a|b`, `C:\a?b`, `C:\a*b`, "C:\\é", "C:\\\xff",
}

// TestMatchersEqualTheirPatterns: each hand-written matcher answers as its regular expression on
// the seeds (valid and invalid examples of every pattern).
func TestMatchersEqualTheirPatterns(t *testing.T) {
	for _, m := range matchers {
		for _, s := range matchSeeds {
			if got, want := m.fn(s), m.re.MatchString(s); got != want {
				t.Errorf("%s(%q) = %v, regexp says %v", m.name, s, got, want)
			}
		}
	}
}

// FuzzMatchers: the matchers agree with their regular expressions on any input.
func FuzzMatchers(f *testing.F) {
	for _, s := range matchSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range matchers {
			for _, in := range []string{s, "proxy " + s, "C:\\" + s} {
				if got, want := m.fn(in), m.re.MatchString(in); got != want {
					t.Fatalf("%s(%q) = %v, regexp says %v", m.name, in, got, want)
				}
			}
		}
	})
}
