package report

import (
	"bytes"
	"encoding/json"
	"testing"
)

var indentSeeds = []string{
	`{}`, `[]`, `{"a":[]}`, `[{}]`, `{"a":{"b":[1,2,{"c":null}]},"d":"x"}`, `"s"`, `1`, `true`,
	`{"k":"a \"quoted\" \\ string, with: {braces} and [brackets]"}`, `["\\","\\\\\"",""]`,
	`{"bypass":"<local>","u":"\u003c\u2028"}`, `[[[[]]],[[{}]]]`, `{"":{"":""}}`,
}

// TestAppendIndentedLikeJSONIndent: for the seeds and for every host of the report fixture, encoded
// compactly, appendIndented writes what json.Indent writes.
func TestAppendIndentedLikeJSONIndent(t *testing.T) {
	srcs := indentSeeds
	for _, h := range fixture().Hosts {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&h); err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))))
	}
	for _, src := range srcs {
		var want bytes.Buffer
		if err := json.Indent(&want, []byte(src), "    ", "  "); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := appendIndented([]byte("x"), []byte(src), "    "); string(got) != "x"+want.String() {
			t.Fatalf("appendIndented(%.80s):\n%s\njson.Indent:\n%s", src, got[1:], want.String())
		}
	}
}

// FuzzAppendIndented: any valid JSON, made compact, is indented as json.Indent does it.
func FuzzAppendIndented(f *testing.F) {
	for _, s := range indentSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(s)) != nil {
			return
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact.Bytes(), "  ", "  "); err != nil {
			t.Fatal(err)
		}
		if got := appendIndented(nil, compact.Bytes(), "  "); string(got) != want.String() {
			t.Fatalf("appendIndented(%q) = %q, json.Indent: %q", compact.String(), got, want.String())
		}
	})
}

func BenchmarkIndentHost(b *testing.B) {
	h := fixture().Hosts[3]
	src, _ := json.Marshal(&h)
	b.Run("json.Indent", func(b *testing.B) {
		var dst bytes.Buffer
		for b.Loop() {
			dst.Reset()
			_ = json.Indent(&dst, src, "    ", "  ")
		}
	})
	b.Run("appendIndented", func(b *testing.B) {
		var dst []byte
		for b.Loop() {
			dst = appendIndented(dst[:0], src, "    ")
		}
	})
}
