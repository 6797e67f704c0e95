package fleet

import (
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/reg"
)

func TestSplitBatch(t *testing.T) {
	batch := "@@dcproxy:A:begin \r\n\r\nHKEY_X\r\n    V    REG_DWORD    0x1\r\n\r\n@@dcproxy:A:ok \r\n@@dcproxy:B:begin \r\n"
	cases := []struct {
		name, in, regOut, rest string
		done                   bool
	}{
		{"fail marker, probe output after", batch + "@@dcproxy:B:fail \r\n{\"url\":1}\r\n", batch + "@@dcproxy:B:fail \r\n", "{\"url\":1}\r\n", true},
		{"ok marker, nothing after", batch + "@@dcproxy:B:ok\r\n", batch + "@@dcproxy:B:ok\r\n", "", true},
		{"marker line not complete", batch + "@@dcproxy:B:ok", batch + "@@dcproxy:B:ok", "", false},
		{"other query's marker", batch, batch, "", false},
		{"begin marker is not the end", "@@dcproxy:B:begin \r\n", "@@dcproxy:B:begin \r\n", "", false},
		{"marker inside a line", "x @@dcproxy:B:ok\r\n", "x @@dcproxy:B:ok\r\n", "", false},
		{"prefix of a longer ID", "DCPROXY:BB:ok\r\n", "DCPROXY:BB:ok\r\n", "", false},
	}
	for _, c := range cases {
		r, rest, done := splitBatch([]byte(c.in), "B")
		if string(r) != c.regOut || string(rest) != c.rest || done != c.done {
			t.Errorf("%s: splitBatch = %q, %q, %v; want %q, %q, %v", c.name, r, rest, done, c.regOut, c.rest, c.done)
		}
	}
}

// FuzzSplitBatch: regOut + rest is the input; when done, regOut ends with the first complete line
// that is B's ok or fail marker.
func FuzzSplitBatch(f *testing.F) {
	f.Add([]byte("@@dcproxy:B:begin \r\n@@dcproxy:B:fail \r\n{}\r\n"))
	f.Add([]byte("@@dcproxy:B:ok"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, rest, done := splitBatch(in, "B")
		if string(r)+string(rest) != string(in) {
			t.Fatalf("%q + %q is not the input %q", r, rest, in)
		}
		if !done {
			if rest != nil {
				t.Fatalf("not done but rest %q", rest)
			}
			return
		}
		lines := strings.SplitAfter(string(r), "\n")
		last := lines[len(lines)-2] // r ends with "\n": the final element is ""
		if m := strings.TrimRight(last, "\r\n \t"); m != reg.MarkerPrefix+"B:ok" && m != reg.MarkerPrefix+"B:fail" {
			t.Fatalf("regOut ends with %q", last)
		}
		if _, _, again := splitBatch([]byte(strings.Join(lines[:len(lines)-2], "")), "B"); again {
			t.Fatalf("an earlier end marker in %q", r)
		}
	})
}
