package fidelity

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/fidelity.md")

// TestIndex regenerates docs/fidelity.md from the tree and fails when the committed file differs.
func TestIndex(t *testing.T) {
	root := filepath.Join("..", "..")
	entries, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no unverified: markers found: is the scan looking at the repository?")
	}
	got := Render(entries)
	path := filepath.Join(root, "docs", "fidelity.md")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/fidelity -update writes it)", err)
	}
	if string(want) != got {
		t.Errorf("docs/fidelity.md is out of date: an unverified: marker was added, moved or removed; run go test ./internal/fidelity -update and commit the result")
	}
}

func TestScan(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b/x.go", "package b\n\n// unverified: reg.exe prints X | Y on de-DE\n")
	write("a/s.ps1", "# nothing\n# unverified: PS 5.1 sorts like this\n")
	write("a/testdata/t.go", "// unverified: ignored\n")
	write(".hidden/h.go", "// unverified: ignored\n")
	write("docs/fidelity.md", "unverified: ignored\n")
	e, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(e) != 2 || e[0] != (Entry{"a/s.ps1", 2, "PS 5.1 sorts like this"}) || e[1].File != "b/x.go" || e[1].Line != 3 {
		t.Fatalf("%+v", e)
	}
	if out := Render(e); !strings.Contains(out, `| [b/x.go](../b/x.go) | reg.exe prints X \| Y on de-DE |`) {
		t.Fatalf("%s", out)
	}
}
