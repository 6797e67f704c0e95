package pwsh

import (
	"strings"
	"testing"
)

// BenchmarkASCIIEscape escapes a probe result line of 1.5 KB (ASCII with one non-ASCII character)
// the way the probe prints its JSON.
func BenchmarkASCIIEscape(b *testing.B) {
	s := strings.Repeat(`{"id":"system","via":"proxy.lab.test:8080","status":200,"ms":41},`, 23) + "é"
	b.ReportAllocs()
	for b.Loop() {
		if out := asciiEscape(s); !strings.HasSuffix(out, `\u00e9`) {
			b.Fatal(out[len(out)-10:])
		}
	}
}
