package wininet

import (
	"bytes"
	"encoding/hex"
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
