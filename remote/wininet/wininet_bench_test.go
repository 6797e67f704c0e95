package wininet

import (
	"encoding/hex"
	"testing"
)

// BenchmarkDecode decodes a DefaultConnectionSettings value (proxy, bypass, 32-byte tail), done
// three times per audited host.
func BenchmarkDecode(b *testing.B) {
	v, err := hex.DecodeString(workedExampleHex)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(v)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseHex parses the value as reg.exe prints it (one hex string), before Decode.
func BenchmarkParseHex(b *testing.B) {
	const s = workedExampleHex
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseHex(s); err != nil {
			b.Fatal(err)
		}
	}
}
