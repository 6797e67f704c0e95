package inventory

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// checkAccepted asserts the contract of a successful parse: at least one host, every host valid with
// a Source naming the file, names unique case-insensitively.
func checkAccepted(t *testing.T, hs []Host, err error) {
	t.Helper()
	if err != nil {
		var ie *Error
		if !errors.Is(err, ErrInvalid) || !errors.As(err, &ie) {
			t.Fatalf("error is not an inventory *Error: %v", err)
		}
		if hs != nil {
			t.Fatal("hosts returned with an error")
		}
		return
	}
	if len(hs) == 0 {
		t.Fatal("accepted an empty inventory")
	}
	seen := map[string]bool{}
	for _, h := range hs {
		if verr := h.Validate(); verr != nil {
			t.Fatalf("accepted invalid host %+v: %v", h, verr)
		}
		if !strings.HasPrefix(h.Source, "f:") {
			t.Fatalf("source %q", h.Source)
		}
		k := strings.ToLower(h.Name)
		if seen[k] {
			t.Fatalf("duplicate %q accepted", h.Name)
		}
		seen[k] = true
	}
}

func addFiles(f *testing.F, ext string) {
	entries, _ := os.ReadDir("testdata")
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ext) {
			if b, err := os.ReadFile("testdata/" + e.Name()); err == nil {
				f.Add(string(b))
			}
		}
	}
}

// FuzzParseYAML: no panic; whatever is accepted satisfies the Host invariants.
func FuzzParseYAML(f *testing.F) {
	addFiles(f, ".yaml")
	f.Add("hosts:\n  - &a dc1\n  - *a\n")
	f.Fuzz(func(t *testing.T, in string) {
		hs, err := Parse("f", strings.NewReader(in), "yaml")
		checkAccepted(t, hs, err)
	})
}

// FuzzParseCSV: no panic; whatever is accepted satisfies the Host invariants.
func FuzzParseCSV(f *testing.F) {
	addFiles(f, ".csv")
	f.Fuzz(func(t *testing.T, in string) {
		hs, err := Parse("f", strings.NewReader(in), "csv")
		checkAccepted(t, hs, err)
	})
}

// FuzzParseText: no panic; whatever is accepted satisfies the Host invariants.
func FuzzParseText(f *testing.F) {
	addFiles(f, ".txt")
	f.Add("[::1]:5985\nfe80::1%eth0\n")
	f.Fuzz(func(t *testing.T, in string) {
		hs, err := Parse("f", strings.NewReader(in), "text")
		checkAccepted(t, hs, err)
	})
}
