package testenv

import "testing"

func TestOnCI(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "false": false, "true": true, "1": true} {
		t.Setenv("CI", v)
		if got := OnCI(); got != want {
			t.Errorf("CI=%q: %v", v, got)
		}
	}
}

func TestSkipOrFail(t *testing.T) {
	t.Setenv("CI", "")
	ran := t.Run("local", func(t *testing.T) { SkipOrFail(t, "no %s", "tool") })
	if !ran {
		t.Error("a skipped subtest reports success")
	}
}
