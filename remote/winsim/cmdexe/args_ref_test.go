package cmdexe

import (
	"reflect"
	"strings"
	"testing"
)

// splitArgsRef is SplitArgs as it was before its fast path for arguments without a double quote:
// every argument goes through the backslash/quote state machine. FuzzSplitArgsFastPath checks that
// the fast path changes no result.
func splitArgsRef(argline string) []string {
	var args []string
	s := argline
	for {
		for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
			s = s[1:]
		}
		if len(s) == 0 {
			return args
		}
		var b strings.Builder
		inQuote := false
		slashes := 0
	arg:
		for len(s) > 0 {
			c := s[0]
			switch {
			case c == '\\':
				slashes++
				s = s[1:]
				continue
			case c == '"':
				b.WriteString(strings.Repeat(`\`, slashes/2))
				if slashes%2 == 1 {
					b.WriteByte('"')
				} else {
					if inQuote && len(s) > 1 && s[1] == '"' {
						b.WriteByte('"')
						s = s[1:]
					}
					inQuote = !inQuote
				}
				slashes = 0
				s = s[1:]
				continue
			case (c == ' ' || c == '\t') && !inQuote:
				break arg
			}
			b.WriteString(strings.Repeat(`\`, slashes))
			slashes = 0
			b.WriteByte(c)
			s = s[1:]
		}
		b.WriteString(strings.Repeat(`\`, slashes))
		args = append(args, b.String())
	}
}

func FuzzSplitArgsFastPath(f *testing.F) {
	for _, s := range []string{"", `a b`, `"a b" c`, `a\\"b`, `"""`, `\\\"x`, "\t\"x\ty\"", `HKLM\x\ /v "A B"\`,
		`x\\ "y\\" z\`, `a"b c"d e`, " \t a\\\\\t\"\" "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := SplitArgs(s), splitArgsRef(s); !reflect.DeepEqual(got, want) {
			t.Fatalf("SplitArgs(%q) = %q, want %q", s, got, want)
		}
	})
}

// BenchmarkSplitArgs splits the argument tail of one of the audit's reg queries with SplitArgs and
// with the reference implementation it replaced.
func BenchmarkSplitArgs(b *testing.B) {
	const tail = `query "HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections" /v "WinHttpSettings"`
	for _, bc := range []struct {
		name  string
		split func(string) []string
	}{{"new", SplitArgs}, {"ref", splitArgsRef}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if len(bc.split(tail)) != 4 {
					b.Fatal("split")
				}
			}
		})
	}
}
