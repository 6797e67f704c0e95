package cmdexe

import (
	"strings"
	"testing"
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
