package fleet

import (
	"context"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/remotetest"
)

func TestSavedLegacyIsNotCompliance(t *testing.T) {
	ref := enc("proxy:8080", "<local>", "", 5)
	base := Values{AccountCurrentUser: ref, AccountLocalSystem: ref, AccountLocalService: ref}
	plain := audited(base, nil)
	read := audited(withSaved(base, nil, enc("old:3128", "", "", 1), []byte{1}), nil)
	if plain.Status != StatusCompliant || read.Status != plain.Status || len(read.Checks) != len(plain.Checks) {
		t.Fatalf("status %s/%s, %d/%d checks", plain.Status, read.Status, len(plain.Checks), len(read.Checks))
	}
	if plain.SavedLegacy != nil {
		t.Errorf("not read, yet reported: %+v", plain.SavedLegacy)
	}
	sl := read.SavedLegacy
	if len(sl) != 3 || sl[AccountCurrentUser].Present || sl[AccountLocalSystem].Proxy != "old:3128" || sl[AccountLocalService].DecodeError == "" {
		t.Errorf("saved legacy view %+v %+v %+v", sl[AccountCurrentUser], sl[AccountLocalSystem], sl[AccountLocalService])
	}
}

// TestReadValuesOneLine: one reg query line per host, 4 queries without the option, 7 with it.
func TestReadValuesOneLine(t *testing.T) {
	for _, saved := range []bool{false, true} {
		r := remotetest.NewFakeRunner(t).ExpectOnce(`^echo @@dcproxy:`+AccountCurrentUser+`:begin & reg query `, remotetest.Stdout(""))
		_, _ = readValues(context.Background(), r, saved)
		lines := r.Calls()
		if len(lines) != 1 {
			t.Fatalf("saved=%v: %d command lines", saved, len(lines))
		}
		n, want := strings.Count(lines[0], "reg query "), 4
		if saved {
			want = 7
		}
		if n != want || strings.Contains(lines[0], SavedLegacyValue) != saved {
			t.Errorf("saved=%v: %d queries (want %d): %s", saved, n, want, lines[0])
		}
		if saved && strings.Count(lines[0], `/v "`+SavedLegacyValue+`"`) != 3 {
			t.Errorf("saved: %s", lines[0])
		}
	}
}
