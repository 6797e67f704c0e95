// Package redact is dcproxy's one sanitizer for text a server sent back: before such text goes into an
// error message, a log line or a report, a Redactor removes the credentials the server may be
// echoing, and Excerpt caps its length.
//
// A Redactor built with New(secrets...) does three things, in this order:
//
//  1. Header values: the value of every Authorization, Proxy-Authorization, WWW-Authenticate and
//     Proxy-Authenticate header quoted in the text (`Authorization: Basic dXNlcjpwdw==`,
//     `"Authorization": "Bearer x"`, `authorization=...`) becomes "***", and so does the token after
//     an authentication scheme anywhere in the text (`Negotiate TlRMTVNT...`, `NTLM ...`, `Basic ...`,
//     `Bearer ...`, `Kerberos ...`) when it looks like a token (token68 characters, at least 8, with a
//     digit, a symbol or an inner capital; "Basic authentication" is prose and stays).
//  2. Strong secrets: a secret of at least 8 characters mixing at least two of letters, digits and
//     symbols (or of 16 characters or more), and the base64 forms (standard and URL alphabets, padded
//     and raw) of every secret, are replaced by "***" wherever they occur.
//  3. Weak secrets (short, or a single class of characters such as a dictionary word "verify" or a PIN):
//     replaced only where the occurrence is a whole word (not part of a longer run of letters and
//     digits) AND stands where a credential would be: right after "=" or after a credential keyword
//     (password, passwd, pwd, pass, secret, token, apikey, api_key, credential, key) and an optional
//     ":"/"=" and quote. Elsewhere a weak secret is ordinary text and is left alone: replacing the word
//     "verify" in "failed to verify certificate" would tell the reader that the password is "verify",
//     while leaving it reveals nothing (the server would have said it anyway).
//
// For Basic authentication pass the "user:password" pair as a secret too (see Basic): the server may
// quote its base64, which is what travels in the header.
//
// The zero value and a nil *Redactor strip header values only. A Redactor is immutable and safe for
// concurrent use.
package redact

import (
	"encoding/base64"
	"errors"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Mask replaces every redacted value.
const Mask = "***"

// DefaultExcerpt is the length (in characters) to which callers cap server text in messages.
const DefaultExcerpt = 300

// Redactor removes known secrets and authentication header values from text. Build it with New.
type Redactor struct {
	strong []string // replaced everywhere, longest first
	weak   []string // replaced only in credential position
}

// Basic returns the "user:password" string whose base64 travels in a Basic Authorization header;
// pass it to New along with the password.
func Basic(user, password string) string { return user + ":" + password }

// New returns a Redactor for the given secrets (a password, a token, a Basic pair). Empty strings are
// ignored; duplicates are harmless.
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	add := func(s string, strongOnly bool) {
		if s == "" || seen[s] {
			return
		}
		seen[s] = true
		if strongOnly || isStrong(s) {
			r.strong = append(r.strong, s)
		} else {
			r.weak = append(r.weak, s)
		}
	}
	for _, s := range secrets {
		add(s, false)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
			b := enc.EncodeToString([]byte(s))
			// A base64 form is random-looking text: long enough ones are strong; very short ones
			// (a secret of 1-5 bytes) are treated as weak words so "YQ" is not cut out of prose.
			add(b, len(b) >= 8)
		}
	}
	byLen := func(v []string) {
		sort.SliceStable(v, func(i, j int) bool { return len(v[i]) > len(v[j]) })
	}
	byLen(r.strong)
	byLen(r.weak)
	return r
}

// isStrong reports a secret that cannot plausibly be ordinary text: 16 characters or more, or at
// least 8 mixing two classes among letters, digits and other characters.
func isStrong(s string) bool {
	n := utf8.RuneCountInString(s)
	if n >= 16 {
		return true
	}
	if n < 8 {
		return false
	}
	var letter, digit, other bool
	for _, c := range s {
		switch {
		case unicode.IsLetter(c):
			letter = true
		case unicode.IsDigit(c):
			digit = true
		default:
			other = true
		}
	}
	classes := 0
	for _, b := range []bool{letter, digit, other} {
		if b {
			classes++
		}
	}
	return classes >= 2
}

var (
	// headerRE finds a quoted authentication header and its value (to the end of the line or of a
	// quoted/XML value).
	headerRE = regexp.MustCompile(`(?i)\b((?:proxy-)?authorization|(?:www|proxy)-authenticate)(["']?[ \t]*[:=][ \t]*["']?)([^\r\n"'<>]*)`)
	// schemeRE finds a token after an authentication scheme name.
	schemeRE = regexp.MustCompile(`(?i)\b(negotiate|ntlm|basic|bearer|kerberos|digest)([ \t]+)([A-Za-z0-9+/=._~-]+)`)
	// keywordRE ends with a credential keyword and its separator, for weak secrets.
	keywordRE = regexp.MustCompile(`(?i)(?:password|passwd|pwd|pass|secret|token|apikey|api_key|credential|credentials|key)["']?[ \t]*[:=]?[ \t]*["']?$`)
	// equalsRE ends with "=" and an optional quote or space.
	equalsRE = regexp.MustCompile(`=[ \t]*["']?$`)
)

// String returns s with authentication header values and the Redactor's secrets replaced by Mask.
// It does not cap the length; see Excerpt.
func (r *Redactor) String(s string) string {
	s = headerRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := headerRE.FindStringSubmatch(m)
		if strings.TrimSpace(sub[3]) == "" {
			return m
		}
		return sub[1] + sub[2] + Mask
	})
	s = schemeRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := schemeRE.FindStringSubmatch(m)
		if !looksLikeToken(sub[3]) {
			return m
		}
		return sub[1] + sub[2] + Mask
	})
	if r == nil {
		return s
	}
	for _, sec := range r.strong {
		s = strings.ReplaceAll(s, sec, Mask)
	}
	for _, sec := range r.weak {
		s = replaceWeak(s, sec)
	}
	return s
}

// Excerpt returns r.String(s) capped by the package-level Excerpt.
func (r *Redactor) Excerpt(s string, n int) string { return Excerpt(r.String(s), n) }

// Error returns err unchanged if its message needs no redaction, otherwise an error whose message
// is redacted and which still unwraps to err (errors.Is/As keep working). Only the message is
// changed: a caller must not print the wrapped errors' messages on their own.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := r.String(msg)
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Is lets errors.Is see through to the original chain.
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// looksLikeToken reports a scheme argument that is a credential rather than a word of prose.
func looksLikeToken(t string) bool {
	if len(t) < 8 {
		return false
	}
	for i, c := range t {
		switch {
		case c >= '0' && c <= '9', strings.ContainsRune("+/=._~-", c):
			return true
		case i > 0 && c >= 'A' && c <= 'Z':
			return true
		}
	}
	return false
}

func isWordRune(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' }

// replaceWeak replaces whole-word occurrences of sec that stand in credential position.
func replaceWeak(s, sec string) string {
	var b strings.Builder
	i := 0
	for {
		j := strings.Index(s[i:], sec)
		if j < 0 {
			break
		}
		start, end := i+j, i+j+len(sec)
		before, _ := utf8.DecodeLastRuneInString(s[:start])
		after, _ := utf8.DecodeRuneInString(s[end:])
		whole := (start == 0 || !isWordRune(before)) && (end == len(s) || !isWordRune(after))
		prefix := s[max(0, start-40):start]
		if whole && (keywordRE.MatchString(prefix) || equalsRE.MatchString(prefix)) {
			b.WriteString(s[i:start])
			b.WriteString(Mask)
		} else {
			b.WriteString(s[i:end])
		}
		i = end
	}
	if i == 0 {
		return s
	}
	b.WriteString(s[i:])
	return b.String()
}

// Excerpt returns s with runs of white space (including line breaks) collapsed to one space, other
// control characters dropped, and at most n characters kept (an ellipsis marks the cut). It never
// cuts inside a UTF-8 sequence. n <= 0 means DefaultExcerpt.
func Excerpt(s string, n int) string {
	if n <= 0 {
		n = DefaultExcerpt
	}
	var b strings.Builder
	count, space := 0, false
	for _, c := range strings.TrimSpace(s) {
		switch {
		case unicode.IsSpace(c):
			space = true
			continue
		case unicode.IsControl(c):
			continue
		}
		need := 1
		if space {
			need = 2
		}
		if count+need > n {
			b.WriteString("…")
			return b.String()
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(c)
		count += need
	}
	return b.String()
}
