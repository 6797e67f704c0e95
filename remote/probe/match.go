package probe

import (
	"strings"
	"unicode/utf8"
)

// Hand-written matchers for the short fixed patterns the probe checks on every host, in place of
// regular expressions (at 10,000 hosts the regexps cost a third of a second of CPU). Each is kept
// equal to the pattern in its comment by match_test.go (table and fuzz, against regexp).

// isErrName reports `^[A-Za-z]{0,64}$`: a .NET WebExceptionStatus name, or empty.
func isErrName(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// isRoute reports `^(direct|proxy \S{1,300}:[0-9]{1,5})$` (\S: not one of tab, LF, FF, CR, space;
// counted in runes, an invalid byte as one).
func isRoute(s string) bool {
	if s == "direct" {
		return true
	}
	rest, ok := strings.CutPrefix(s, "proxy ")
	if !ok {
		return false
	}
	// The port cannot hold ':', so the last ':' splits host and port.
	i := strings.LastIndexByte(rest, ':')
	if i < 0 {
		return false
	}
	host, port := rest[:i], rest[i+1:]
	if len(port) < 1 || len(port) > 5 {
		return false
	}
	for j := 0; j < len(port); j++ {
		if port[j] < '0' || port[j] > '9' {
			return false
		}
	}
	if host == "" || utf8.RuneCountInString(host) > 300 {
		return false
	}
	return !strings.ContainsAny(host, "\t\n\f\r ")
}

// isRouteID reports `^[A-Z_]+$`.
func isRouteID(s string) bool {
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && s[i] != '_' {
			return false
		}
	}
	return s != ""
}

// isThumbprint reports `^[0-9A-F]{40}$`.
func isThumbprint(s string) bool {
	if len(s) != 40 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && (s[i] < 'A' || s[i] > 'F') {
			return false
		}
	}
	return true
}

// isHostName reports
// `^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$`:
// dot-separated labels of letters, digits, '_' and inner '-' (WinINet takes underscores).
func isHostName(s string) bool {
	for {
		label, rest, more := strings.Cut(s, ".")
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '_' && c != '-' {
				return false
			}
		}
		if !more {
			return true
		}
		s = rest
	}
}

// isDrivePath reports `^[A-Za-z]:\\[^'"%` + "`" + `<>|?*]*$` (a character class that also takes
// any non-ASCII rune and an invalid byte).
func isDrivePath(s string) bool {
	if len(s) < 3 || s[1] != ':' || s[2] != '\\' {
		return false
	}
	if c := s[0] | 0x20; c < 'a' || c > 'z' {
		return false
	}
	return !strings.ContainsAny(s[3:], "'\"%`<>|?*")
}
