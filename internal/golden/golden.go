// Package golden keeps differential records for tests: one line per case (typically a hash of
// what the case did, then its name), written by a trusted version of the code with -update and
// compared line by line afterwards, so that an optimisation cannot change what any case does.
package golden

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// Check compares got with the records in file, or, when update is set, writes got there instead.
// A different number of records fails t at once; otherwise each differing record is reported with
// describe(i) (what case i did now), at most 10 before t stops.
func Check(t testing.TB, file string, got []string, update bool, describe func(i int) string) {
	t.Helper()
	if update {
		if err := os.WriteFile(file, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		want = append(want, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	if len(want) != len(got) {
		t.Fatalf("%s has %d records, the cases %d (regenerate with -update only for a deliberate change)", file, len(want), len(got))
	}
	bad := 0
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("record %d changed: %s", i+1, describe(i))
			if bad++; bad > 10 {
				t.FailNow()
			}
		}
	}
}
