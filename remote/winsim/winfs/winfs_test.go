package winfs

import (
	"errors"
	"testing"
)

func TestFS_caseInsensitiveAndParents(t *testing.T) {
	f := New()
	if err := f.WriteFile(`c:\windows\temp\a.reg`, []byte("x")); err != nil {
		t.Fatal(err)
	}
	b, err := f.ReadFile(`C:/WINDOWS/Temp/A.REG`)
	if err != nil || string(b) != "x" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	if err := f.WriteFile(`C:\Windows\Temp\dcproxy\b.reg`, nil); !errors.Is(err, ErrPathNotFound) {
		t.Fatalf("write into missing dir: %v", err)
	}
	if err := f.MkdirAll(`C:\Windows\Temp\dcproxy\sub`); err != nil {
		t.Fatal(err)
	}
	if err := f.MkdirAll(`C:\Windows\Temp\dcproxy`); !errors.Is(err, ErrExist) {
		t.Fatalf("MkdirAll existing: %v", err)
	}
	if _, err := f.ReadFile(`C:\nope\x`); !errors.Is(err, ErrPathNotFound) {
		t.Fatalf("read missing parent: %v", err)
	}
	if _, err := f.ReadFile(`C:\Windows\x`); !errors.Is(err, ErrNotExist) {
		t.Fatalf("read missing file: %v", err)
	}
	if err := f.SetReadOnly(`C:\Windows\Temp\dcproxy`, true); err != nil {
		t.Fatal(err)
	}
	if err := f.WriteFile(`C:\Windows\Temp\dcproxy\c.reg`, nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write into read-only dir: %v", err)
	}
	l, err := f.List(`C:\Windows\Temp`)
	if err != nil || len(l) != 2 || l[0] != `C:\windows\temp\a.reg` {
		t.Fatalf("List = %q, %v", l, err)
	}
	if _, err := Clean(`relative\x`); !errors.Is(err, ErrBadPath) {
		t.Fatalf("Clean relative: %v", err)
	}
}
