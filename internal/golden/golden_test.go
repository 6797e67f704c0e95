package golden

import (
	"path/filepath"
	"strings"
	"testing"
)

// recorder is a testing.TB that records failures instead of stopping the test.
type recorder struct {
	testing.TB
	errs  []string
	fatal bool
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, f) }
func (r *recorder) Fatalf(f string, a ...any) { r.fatal = true; panic(r) }
func (r *recorder) Fatal(a ...any)            { r.fatal = true; panic(r) }
func (r *recorder) FailNow()                  { r.fatal = true; panic(r) }

func check(t *testing.T, file string, got []string, update bool) (r *recorder) {
	r = &recorder{TB: t}
	defer func() {
		if v := recover(); v != nil && v != r {
			panic(v)
		}
	}()
	Check(r, file, got, update, func(i int) string { return got[i] })
	return r
}

// TestCheck: records written with update compare equal; a changed record is reported, a missing
// one or a missing file fails at once.
func TestCheck(t *testing.T) {
	file := filepath.Join(t.TempDir(), "golden.txt")
	recs := []string{"a1 en-US \"x\"", "b2 de-DE \"y\""}
	if r := check(t, file, recs, true); r.fatal || len(r.errs) > 0 {
		t.Fatalf("update: %+v", r)
	}
	if r := check(t, file, recs, false); r.fatal || len(r.errs) > 0 {
		t.Fatalf("same records: %+v", r)
	}
	changed := []string{recs[0], strings.Replace(recs[1], "b2", "c3", 1)}
	if r := check(t, file, changed, false); r.fatal || len(r.errs) != 1 {
		t.Fatalf("a changed record: %+v", r)
	}
	if r := check(t, file, recs[:1], false); !r.fatal {
		t.Fatal("a missing record did not fail at once")
	}
	if r := check(t, filepath.Join(t.TempDir(), "none.txt"), recs, false); !r.fatal {
		t.Fatal("a missing file did not fail")
	}
}
