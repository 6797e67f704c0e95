package wininet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// workedExampleHex is the reg query data of reference section 5 (85 bytes).
const workedExampleHex = "4600000005000000030000001600000070726F78792E6578616D706C652E636F6D3A38303830070000003C6C6F63616C3E000000000000000000000000000000000000000000000000000000000000000000000000"

// workedExampleReg is the reg export form of the same value (reference section 5, CRLF as written by Windows).
const workedExampleReg = "\"DefaultConnectionSettings\"=hex:46,00,00,00,05,00,00,00,03,00,00,00,16,00,00,\\\r\n" +
	"  00,70,72,6f,78,79,2e,65,78,61,6d,70,6c,65,2e,63,6f,6d,3a,38,30,38,30,07,00,\\\r\n" +
	"  00,00,3c,6c,6f,63,61,6c,3e,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,\\\r\n" +
	"  00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00,00\r\n"

func workedExample(t *testing.T) []byte {
	t.Helper()
	b, err := hex.DecodeString(workedExampleHex)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 85 {
		t.Fatalf("worked example is %d bytes, want 85", len(b))
	}
	return b
}

func TestWorkedExample(t *testing.T) {
	b := workedExample(t)
	s, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != 0x46 || s.Counter != 5 || s.Flags != 3 || s.Proxy != "proxy.example.com:8080" ||
		s.Bypass != "<local>" || s.AutoConfigURL != "" || !bytes.Equal(s.Tail, make([]byte, 32)) {
		t.Fatalf("decoded %+v", s)
	}
	if got := s.Encode(); !bytes.Equal(got, b) {
		t.Fatalf("re-encode differs:\n got %X\nwant %X", got, b)
	}
	// New builds the same bytes the UI would write.
	if got := New("proxy.example.com:8080", "<local>", "", false, 5).Encode(); !bytes.Equal(got, b) {
		t.Fatalf("New differs:\n got %X\nwant %X", got, b)
	}
	if s.Mode() != "proxy" || !s.KnownVersion() || s.VersionName() != "IE7+" {
		t.Fatalf("mode %q known %v name %q", s.Mode(), s.KnownVersion(), s.VersionName())
	}
	want := `proxy "proxy.example.com:8080" bypass "<local>" (version 0x46 counter 5 flags 0x3)`
	if s.String() != want {
		t.Fatalf("String() = %q, want %q", s.String(), want)
	}
}

func TestParseHexForms(t *testing.T) {
	want := workedExample(t)
	spaced := spaceEvery2(workedExampleHex)
	cases := map[string]string{
		"reg query data":                   workedExampleHex,
		"lower case":                       strings.ToLower(workedExampleHex),
		"reg query line":                   "    DefaultConnectionSettings    REG_BINARY    " + workedExampleHex + "\r\n",
		"reg export":                       workedExampleReg,
		"reg export LF only":               strings.ReplaceAll(workedExampleReg, "\r\n", "\n"),
		"hex: without name":                workedExampleReg[strings.Index(workedExampleReg, "hex:"):],
		"spaces between bytes":             spaced,
		"0x prefix":                        "0x" + workedExampleHex,
		"groups of 4 bytes":                "46000000 05000000\t03000000\n" + workedExampleHex[24:],
		"continuation with trailing blank": strings.Replace(workedExampleReg, "\\\r\n", "\\ \r\n", 1),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := ParseHex(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %X", got)
			}
		})
	}
}

func spaceEvery2(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 2 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i : i+2])
	}
	return b.String()
}

func TestParseHexOtherTypes(t *testing.T) {
	got, err := ParseHex(`"X"=hex(3):de,AD`)
	if err != nil || !bytes.Equal(got, []byte{0xde, 0xad}) {
		t.Fatalf("got %X, %v", got, err)
	}
	// A value name containing "hex" must not be mistaken for the prefix.
	got, err = ParseHex(`"HexBlob"=hex:01,02`)
	if err != nil || !bytes.Equal(got, []byte{1, 2}) {
		t.Fatalf("got %X, %v", got, err)
	}
}

func TestParseHexErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "bad hex: no hex digits"},
		{"hex:", "bad hex: no hex digits"},
		{"460", "bad hex: offset 0: odd number of hex digits (3) in group"},
		{"46 0 00", "bad hex: offset 3: odd number of hex digits (1) in group"},
		{"46,0g", "bad hex: offset 4: unexpected character 'g'"},
		{"46\\00", "bad hex: offset 2: backslash not at a line end"},
		{"46;00", "bad hex: offset 2: unexpected character ';'"},
	}
	for _, c := range cases {
		_, err := ParseHex(c.in)
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrBadHex) {
			t.Errorf("ParseHex(%q) error = %v, want %q", c.in, err, c.want)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	ex := workedExample(t)
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "malformed connection settings: 0 bytes, need at least 24 (version, counter, flags, three lengths)"},
		{"header only", ex[:12], "malformed connection settings: offset 12: proxy length field missing (0 bytes left, need 4)"},
		{"proxy cut", ex[:30], "malformed connection settings: offset 12: proxy length 22 exceeds the 14 bytes left"},
		{"bypass length cut", ex[:40], "malformed connection settings: offset 38: bypass length field missing (2 bytes left, need 4)"},
		{"pac length missing", ex[:49], "malformed connection settings: offset 49: auto-config URL length field missing (0 bytes left, need 4)"},
		{"huge length", append(append([]byte{}, ex[:12]...), 0xff, 0xff, 0xff, 0xff), "malformed connection settings: offset 12: proxy length 4294967295 exceeds the 0 bytes left"},
	}
	for _, c := range cases {
		_, err := Decode(c.in)
		if err == nil || err.Error() != c.want || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: error = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestDecodeEdges(t *testing.T) {
	// Minimal blob, no tail: Tail stays nil and the round trip is exact.
	min := make([]byte, 24)
	min[0] = 0x28
	s, err := Decode(min)
	if err != nil || s.Tail != nil || s.VersionName() != "WinHTTP" || s.Mode() != "direct" {
		t.Fatalf("%+v %v", s, err)
	}
	if !bytes.Equal(s.Encode(), min) {
		t.Fatal("round trip")
	}
	// Unknown version decodes but is reported.
	min[0] = 0x99
	s, err = Decode(min)
	if err != nil || s.KnownVersion() || s.VersionName() != "unknown 0x99" {
		t.Fatalf("%+v %v", s, err)
	}
	// Non-UTF-8 bytes survive a round trip.
	odd := New("pr\xffoxy:1", "a;\x00b", "http://x/\xfe", true, 7)
	odd.Tail = []byte{1, 2, 3}
	s, err = Decode(odd.Encode())
	if err != nil || !bytes.Equal(s.Encode(), odd.Encode()) || s.Proxy != odd.Proxy {
		t.Fatalf("%+v %v", s, err)
	}
}

func TestNewFlagsAndMode(t *testing.T) {
	cases := []struct {
		proxy, pac string
		auto       bool
		flags      uint32
		mode       string
	}{
		{"", "", false, 0x01, "direct"},
		{"p:1", "", false, 0x03, "proxy"},
		{"", "http://w/p.pac", false, 0x05, "pac"},
		{"", "", true, 0x09, "autodetect"},
		{"p:1", "", true, 0x0B, "proxy+autodetect"},
		{"", "http://w/p.pac", true, 0x0D, "pac+autodetect"},
		{"p:1", "http://w/p.pac", false, 0x07, "proxy+pac"},
		{"p:1", "http://w/p.pac", true, 0x0F, "proxy+pac+autodetect"},
	}
	for _, c := range cases {
		s := New(c.proxy, "", c.pac, c.auto, 0)
		if s.Flags != c.flags || s.Mode() != c.mode || len(s.Tail) != 32 || s.Version != 0x46 {
			t.Errorf("New(%q,%q,%v): flags 0x%X mode %q", c.proxy, c.pac, c.auto, s.Flags, s.Mode())
		}
	}
	if got := FlagNames(0x1F); got != "DIRECT|PROXY|AUTO_PROXY_URL|AUTO_DETECT|0x10" {
		t.Errorf("FlagNames = %q", got)
	}
	if got := FlagNames(0); got != "none" {
		t.Errorf("FlagNames(0) = %q", got)
	}
}

func TestEquivalent(t *testing.T) {
	base := New("proxy.example.com:8080", "<local>;*.corp.example", "", false, 5)
	mod := func(f func(*Settings)) Settings {
		s := base
		s.Tail = append([]byte(nil), base.Tail...)
		f(&s)
		return s
	}
	cases := []struct {
		name string
		o    Settings
		want bool
	}{
		{"identical", base, true},
		{"counter, version, tail differ", mod(func(s *Settings) { s.Counter = 99; s.Version = 0x3C; s.Tail = nil }), true},
		{"direct bit cleared", mod(func(s *Settings) { s.Flags &^= FlagDirect }), true},
		{"unknown bit", mod(func(s *Settings) { s.Flags |= 0x100 }), true},
		{"proxy case", mod(func(s *Settings) { s.Proxy = "PROXY.example.COM:8080" }), true},
		{"bypass reordered, spaced, cased, dup", mod(func(s *Settings) { s.Bypass = " *.CORP.example ; <LOCAL>;;<local>" }), true},
		{"bypass entry missing", mod(func(s *Settings) { s.Bypass = "<local>" }), false},
		{"bypass extra entry", mod(func(s *Settings) { s.Bypass += ";10.*" }), false},
		{"proxy port", mod(func(s *Settings) { s.Proxy = "proxy.example.com:3128" }), false},
		{"proxy off", mod(func(s *Settings) { s.Flags &^= FlagProxy }), false},
		{"autodetect on", mod(func(s *Settings) { s.Flags |= FlagAutoDetect }), false},
		{"inert PAC string", mod(func(s *Settings) { s.AutoConfigURL = "http://x/y.pac" }), true},
	}
	for _, c := range cases {
		if got := base.Equivalent(c.o); got != c.want {
			t.Errorf("%s: Equivalent = %v, want %v", c.name, got, c.want)
		}
		if got := c.o.Equivalent(base); got != c.want {
			t.Errorf("%s: not symmetric", c.name)
		}
	}
	// Proxy off on both sides: proxy strings are inert.
	a, b := New("", "", "", false, 1), New("", "", "", false, 2)
	a.Proxy, b.Proxy = "a:1", "b:2"
	if !a.Equivalent(b) {
		t.Error("inert proxy strings compared")
	}
	// PAC URLs are compared when the PAC flag is on, case-sensitively.
	p1, p2 := New("", "", "http://w/Proxy.pac", false, 0), New("", "", "http://w/proxy.pac", false, 0)
	if p1.Equivalent(p2) || !p1.Equivalent(New("", "", " http://w/Proxy.pac ", false, 9)) {
		t.Error("PAC comparison")
	}
}

func TestProxyFor(t *testing.T) {
	cases := []struct {
		proxy, scheme, want string
		ok                  bool
	}{
		{"proxy:8080", "http", "proxy:8080", true},
		{"proxy:8080", "https", "proxy:8080", true},
		{"http=h1:80;https=h2:443", "http", "h1:80", true},
		{"http=h1:80;https=h2:443", "HTTPS", "h2:443", true},
		{"http=h1:80;https=h2:443", "ftp", "", false},
		{"http=h1:80; default:3128", "https", "default:3128", true},
		{"default:3128;https=h2:443", "https", "h2:443", true},
		{"https=http://h2:443/", "https", "h2:443", true},
		{"", "http", "", false},
	}
	for _, c := range cases {
		got, ok := ProxyFor(New(c.proxy, "", "", false, 0), c.scheme)
		if got != c.want || ok != c.ok {
			t.Errorf("ProxyFor(%q, %q) = %q, %v; want %q, %v", c.proxy, c.scheme, got, ok, c.want, c.ok)
		}
	}
	s := New("proxy:8080", "", "", false, 0)
	s.Flags &^= FlagProxy
	if _, ok := ProxyFor(s, "http"); ok {
		t.Error("proxy flag off must give ok=false")
	}
}

func TestBypassed(t *testing.T) {
	s := New("p:1", "<local>; *.corp.example;10.*;http://exact.example.org;*intra*", "", false, 0)
	cases := map[string]bool{
		"dc01":                true,
		"DC01":                true,
		"localhost":           true,
		"dc01.corp.example":   true,
		"DC01.Corp.Example":   true,
		"corp.example":        false, // "*.corp.example" needs a label before the dot
		"10.1.2.3":            true,
		"110.1.2.3":           false,
		"exact.example.org":   true,
		"x.exact.example.org": false,
		"myintranet.example":  true,
		"example.com":         false,
		"127.0.0.1":           false, // unverified implicit loopback rule not modelled
		"[fe80::1]":           false,
		"":                    false,
	}
	for host, want := range cases {
		if got := Bypassed(s, host); got != want {
			t.Errorf("Bypassed(%q) = %v, want %v", host, got, want)
		}
	}
	if !Bypassed(New("p:1", "fe80::1", "", false, 0), "[fe80::1]") {
		t.Error("bracketed IPv6 host")
	}
	if Bypassed(New("p:1", "", "", false, 0), "dc01") {
		t.Error("empty list bypasses nothing")
	}
}

func TestGlobMatch(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abcd", false},
		{"**a", "ba", true}, {"*a*b*", "xxaxxbxx", true}, {"*a*b", "xxaxxbxxa", false}, {"", "", true}, {"", "a", false},
	}
	for _, c := range cases {
		if got := globMatch(c.p, c.s); got != c.want {
			t.Errorf("globMatch(%q,%q) = %v", c.p, c.s, got)
		}
	}
}

func TestDescribe(t *testing.T) {
	got := Describe(workedExample(t))
	want := `connection settings, 85 bytes
  off   0  version      0x00000046  IE7+
  off   4  counter      5
  off   8  flags        0x00000003  DIRECT|PROXY
  off  12  proxy_len    22 bytes
  off  16  proxy        "proxy.example.com:8080"
  off  38  bypass_len   7 bytes
  off  42  bypass       "<local>"
  off  49  pac_url_len  0 bytes
  off  53  pac_url      ""
  off  53  tail         32 bytes, all zero
  mode: proxy
  http proxy: proxy.example.com:8080
  https proxy: proxy.example.com:8080
`
	if got != want {
		t.Fatalf("Describe:\n%s\nwant:\n%s", got, want)
	}
	bad := Describe(workedExample(t)[:30])
	if !strings.Contains(bad, "  off  12  proxy_len    22 bytes\n") ||
		!strings.HasSuffix(bad, "  error: malformed connection settings: offset 12: proxy length 22 exceeds the 14 bytes left\n") {
		t.Fatalf("Describe(truncated):\n%s", bad)
	}
	odd := New("", "", "", false, 0)
	odd.Version, odd.Tail = 7, []byte{0xAB}
	if d := Describe(odd.Encode()); !strings.Contains(d, "tail         1 bytes: ab\n") || !strings.Contains(d, "warning: unknown version 0x7") {
		t.Fatalf("Describe(odd):\n%s", d)
	}
}
