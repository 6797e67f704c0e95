package cmdexe

import (
	"strings"
	"testing"
	"unicode/utf16"
)

// auditLikeLine is shaped like dcproxy's audit batch: 26 queries, each
// `echo M:begin & reg query "KEY" /v NAME && echo M:ok || echo M:fail`, joined by " & ".
func auditLikeLine() string {
	var parts []string
	for i := range 26 {
		m := "@@dcproxy:q" + strings.Repeat("x", i%3) + string(rune('A'+i)) + ":"
		parts = append(parts, "echo "+m+`begin & reg query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections" /v DefaultConnectionSettings && echo `+m+"ok || echo "+m+"fail")
	}
	return strings.Join(parts, " & ")
}

// BenchmarkParseAuditLine parses a line shaped like the audit's batch.
func BenchmarkParseAuditLine(b *testing.B) {
	line := auditLikeLine()
	progs := map[string]Program{"reg": nil}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseLine(line, `C:\Users\admin`, true, progs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestUTF16Len: utf16Len counts UTF-16 code units, as utf16.Encode would give them, for ASCII
// runs of every length around its 8-byte steps, non-ASCII at every position and invalid UTF-8.
func TestUTF16Len(t *testing.T) {
	ref := func(s string) int { return len(utf16.Encode([]rune(s))) }
	for n := range 40 {
		base := strings.Repeat("a", n)
		for _, s := range []string{base, base + "é", "é" + base, base + "𝄞" + base, base + "\xff" + base, base + "\xe2\x82" + base} {
			if got, want := utf16Len(s), ref(s); got != want {
				t.Fatalf("utf16Len(%q) = %d, want %d", s, got, want)
			}
		}
	}
}
