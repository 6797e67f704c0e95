package remote

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// Every host Validate accepts yields a URL that parses back to the same host and port; every host
// that would change the URL's meaning is refused with an error that quotes it.
func TestTargetHostAndURL(t *testing.T) {
	good := []struct {
		host  string
		https bool
		url   string
	}{
		{"dc01", false, "http://dc01:5985/wsman"},
		{"dc01.corp.example", true, "https://dc01.corp.example:5986/wsman"},
		{"DC_01.corp-2.example", false, "http://DC_01.corp-2.example:5985/wsman"},
		{"127.4.0.1", false, "http://127.4.0.1:5985/wsman"},
		{"::1", false, "http://[::1]:5985/wsman"},
		{"[::1]", true, "https://[::1]:5986/wsman"},
		{"2001:db8::5", false, "http://[2001:db8::5]:5985/wsman"},
		{"fe80::1%12", false, "http://[fe80::1%2512]:5985/wsman"},
		{"dc-münchen.corp", false, "http://dc-m%C3%BCnchen.corp:5985/wsman"},
	}
	for _, c := range good {
		tg := Target{Host: c.host, HTTPS: c.https, User: "a"}
		tg.SetDefaults()
		if err := tg.Validate(); err != nil {
			t.Errorf("%q: %v", c.host, err)
			continue
		}
		u := tg.URL()
		if u.String() != c.url {
			t.Errorf("%q: URL %s, want %s", c.host, u, c.url)
		}
		back, err := url.Parse(u.String())
		wantHost := strings.TrimSuffix(strings.TrimPrefix(c.host, "["), "]")
		if err != nil || back.Hostname() != wantHost || back.Port() != strconv.Itoa(tg.Port) || back.Path != "/wsman" {
			t.Errorf("%q: %s parses back as host %q port %q path %q (%v)", c.host, u, back.Hostname(), back.Port(), back.Path, err)
		}
		if want := u.Scheme + "://" + back.Host; !strings.ContainsAny(c.host, "%ü") && tg.String() != want {
			t.Errorf("%q: String %s, want %s", c.host, tg.String(), want)
		}
	}

	bad := map[string]string{
		"127.4.0.1#":     `'#'`,
		"dc01/x":         `'/'`,
		"dc01?x":         `'?'`,
		"user@dc01":      `'@'`,
		"dc 01":          `' '`,
		" dc01":          `' '`,
		"dc01\t":         "U+0009",
		"dc01\n":         "U+000A",
		"dc\x00":         "U+0000",
		"dc\x7f":         "U+007F",
		"dc\u202e10":     "U+202E",
		"dc\u2066x":      "U+2066",
		"dc01:5985":      "':' outside an IPv6 address",
		"[::1":           `'['`,
		"[dc01]":         "not an IPv6 address",
		"[::1]:5985":     `'['`,
		"dc%41":          `'%'`,
		`dc\x`:           `'\\'`,
		".dc":            "empty label",
		"a..b":           "empty label",
		"":               "empty host",
		"::1#":           `"::1#"`,
		"http://dc01":    "':'",
		"dc01.example;x": `';'`,
	}
	for host, why := range bad {
		tg := Target{Host: host, Port: 5985, User: "a", Auth: AuthNTLM}
		err := tg.Validate()
		if !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), why) ||
			(host != "" && !strings.Contains(err.Error(), strconv.Quote(host))) {
			t.Errorf("%q: %v; want an error quoting the host and saying %s", host, err, why)
		}
	}
}
