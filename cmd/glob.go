package cmd

import (
	"path"
	"strings"
)

// The one glob matcher of the CLI (--limit, restore --host): path.Match patterns ('*', '?', '[...]'),
// case-insensitive as Windows host names are.

// checkGlobs refuses a malformed pattern, naming the flag.
func checkGlobs(flag string, patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(strings.ToLower(p), ""); err != nil {
			return usageErr("%s %q: %w", flag, p, err)
		}
	}
	return nil
}

// globMatch reports whether s matches pattern p (checked by checkGlobs).
func globMatch(p, s string) bool {
	ok, _ := path.Match(strings.ToLower(p), strings.ToLower(s))
	return ok
}

// matchAny reports whether s matches one of patterns.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}
