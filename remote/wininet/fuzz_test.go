package wininet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics and that Encode is its exact inverse, and that Describe,
// Mode, String, Equivalent, ProxyFor and Bypassed cope with whatever Decode accepts.
func FuzzDecode(f *testing.F) {
	ex, _ := hex.DecodeString(workedExampleHex)
	f.Add(ex)
	f.Add(New("http=a:1;https=b:2", "<local>;*.x", "http://w/p.pac", true, 3).Encode())
	f.Add(make([]byte, 24))
	f.Add([]byte{0x46, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := Describe(b)
		s, err := Decode(b)
		if err != nil {
			if !strings.Contains(d, "error: ") {
				t.Fatalf("Describe hides the decode error: %s", d)
			}
			return
		}
		if got := s.Encode(); !bytes.Equal(got, b) {
			t.Fatalf("round trip:\n got %X\nwant %X", got, b)
		}
		if !s.Equivalent(s) {
			t.Fatal("not equivalent to itself")
		}
		_ = s.Mode() + s.String()
		ProxyFor(s, "https")
		Bypassed(s, s.Proxy)
	})
}

// FuzzParseHex checks that ParseHex never panics and that every accepted input's bytes survive a
// round trip through the two canonical forms (reg query hex and spaced bytes).
func FuzzParseHex(f *testing.F) {
	f.Add(workedExampleHex)
	f.Add(workedExampleReg)
	f.Add("    DefaultConnectionSettings    REG_BINARY    46000000")
	f.Add("46 00 00 00")
	f.Add(`"HexBlob"=hex(3):01,\` + "\n  02")
	f.Add("0x4600")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ParseHex(s)
		if err != nil {
			return
		}
		if len(b) == 0 {
			t.Fatal("accepted input with no bytes")
		}
		for _, form := range []string{strings.ToUpper(hex.EncodeToString(b)), spaceEvery2(hex.EncodeToString(b))} {
			got, err := ParseHex(form)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("canonical form %q: %X, %v", form, got, err)
			}
		}
	})
}

// FuzzParseProxy checks the proxy-string parser (seed corpus: testdata/fuzz/FuzzParseProxy): it never
// panics; every entry it accepts has a host free of the characters that would change a URL's meaning,
// a port from 1 to 65535, and an Addr that net.SplitHostPort and a second parse give back unchanged;
// every entry it refuses has an error wrapping ErrBadProxy that quotes it; and ProxyRouteFor returns
// one of the entries.
func FuzzParseProxy(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		entries := ParseProxyList(v)
		for _, e := range entries {
			if e.Err != nil {
				if !errors.Is(e.Err, ErrBadProxy) || !strings.Contains(e.Err.Error(), strconv.Quote(e.Raw)) || e.Addr() != "" {
					t.Fatalf("entry %q: error %v, addr %q", e.Raw, e.Err, e.Addr())
				}
				continue
			}
			if e.Host == "" || strings.ContainsAny(e.Host, "#/?@ \t\r\n[]") || e.Port < 1 || e.Port > 65535 {
				t.Fatalf("entry %q accepted as host %q port %d", e.Raw, e.Host, e.Port)
			}
			h, p, err := net.SplitHostPort(e.Addr())
			if err != nil || h != e.Host || p != strconv.Itoa(e.Port) {
				t.Fatalf("entry %q: Addr %q splits into %q %q %v", e.Raw, e.Addr(), h, p, err)
			}
			again := ParseProxyList(e.Addr())
			if len(again) != 1 || again[0].Err != nil || again[0].Addr() != e.Addr() {
				t.Fatalf("entry %q: Addr %q parses again as %+v", e.Raw, e.Addr(), again)
			}
		}
		r, ok, err := ProxyRouteFor(New(v, "", "", false, 0), "https")
		if !ok {
			if err != nil {
				t.Fatalf("no route but error %v", err)
			}
			return
		}
		found := false
		for _, e := range entries {
			found = found || e.Raw == r.Raw
		}
		if !found || (err == nil) != (r.Err == nil) {
			t.Fatalf("route %+v (err %v) is not one of the entries", r, err)
		}
	})
}
