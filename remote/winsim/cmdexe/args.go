package cmdexe

import (
	"errors"
	"fmt"
	"strings"
)

// ErrCmdUnsafe reports an argument that QuoteArg cannot protect from cmd.exe: it contains '%'
// (cmd /c expands %NAME% before any quoting applies and offers no escape for it in command-line
// mode), a line break or NUL, or a double quote (an escaped quote \" still flips cmd.exe's quote
// state, which exposes operators and redirections later on the line or hides them).
var ErrCmdUnsafe = errors.New("argument cannot be passed safely through cmd.exe")

// SplitArgs splits the argument tail of a command line the way CommandLineToArgvW (and the
// Microsoft C runtime) split every argument after the program name:
//   - arguments are separated by runs of spaces and tabs outside double quotes;
//   - a double quote toggles quoting and is removed;
//   - 2n backslashes followed by a quote give n backslashes and the quote toggles quoting;
//     2n+1 backslashes followed by a quote give n backslashes and a literal quote;
//   - backslashes not followed by a quote are literal;
//   - inside quotes, "" gives a literal quote and ends the quoted part (the rule CommandLineToArgvW
//     shares with the pre-2008 C runtime; Go's os package mirrors it and tests it against Windows).
//
// SplitArgs never fails; an empty or blank tail gives no arguments. It is safe for concurrent use.
func SplitArgs(argline string) []string {
	var args []string
	if strings.TrimLeft(argline, " \t") != "" {
		args = make([]string, 0, 8) // most command lines have a few arguments
	}
	s := argline
	for {
		for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
			s = s[1:]
		}
		if len(s) == 0 {
			return args
		}
		if arg, n, ok := plainArg(s); ok {
			args = append(args, arg)
			s = s[n:]
			continue
		}
		var b strings.Builder
		inQuote := false
		slashes := 0
	arg:
		for len(s) > 0 {
			c := s[0]
			switch {
			case c == '\\':
				slashes++
				s = s[1:]
				continue
			case c == '"':
				b.WriteString(strings.Repeat(`\`, slashes/2))
				if slashes%2 == 1 {
					b.WriteByte('"')
				} else {
					if inQuote && len(s) > 1 && s[1] == '"' {
						b.WriteByte('"')
						s = s[1:]
					}
					inQuote = !inQuote
				}
				slashes = 0
				s = s[1:]
				continue
			case (c == ' ' || c == '\t') && !inQuote:
				break arg
			}
			b.WriteString(strings.Repeat(`\`, slashes))
			slashes = 0
			b.WriteByte(c)
			s = s[1:]
		}
		b.WriteString(strings.Repeat(`\`, slashes))
		args = append(args, b.String())
	}
}

// plainArg is SplitArgs' fast path for the argument at the start of s (s starts with neither a
// space nor a tab): when no double quote in it follows a backslash and none is doubled inside
// quotes, the argument is its text without the quotes. It returns the argument and its length in s,
// or ok false when the argument needs the full rules.
func plainArg(s string) (arg string, n int, ok bool) {
	inQuote := false
	quotes := 0
	for ; n < len(s); n++ {
		c := s[n]
		if c == '"' {
			if (n > 0 && s[n-1] == '\\') || (inQuote && n+1 < len(s) && s[n+1] == '"') {
				return "", 0, false
			}
			inQuote = !inQuote
			quotes++
		} else if !inQuote && (c == ' ' || c == '\t') {
			break
		}
	}
	arg = s[:n]
	switch {
	case quotes == 0:
		return arg, n, true
	case quotes == 2 && arg[0] == '"' && arg[n-1] == '"':
		return arg[1 : n-1], n, true
	}
	return strings.ReplaceAll(arg, `"`, ""), n, true
}

// cmdSpecial are the characters that make QuoteArg wrap an argument in double quotes: the argument
// separators of CommandLineToArgvW and the characters cmd.exe treats as operators or token
// delimiters outside quotes.
const cmdSpecial = " \t&|<>()^,;="

// QuoteArg returns s quoted so that SplitArgs (CommandLineToArgvW) yields exactly s back. An empty
// argument becomes "". An argument containing a space, tab or one of the cmd.exe characters
// &|<>()^,;= is wrapped in double quotes, so cmd.exe passes it through unchanged; embedded quotes
// are escaped as \" with the backslashes before them doubled. QuoteArg does not make '%' or an
// embedded quote safe from cmd.exe: use CheckCmdArg for that. It is safe for concurrent use.
func QuoteArg(s string) string {
	if s == "" {
		return `""`
	}
	quote := strings.ContainsAny(s, cmdSpecial)
	if !quote && !strings.Contains(s, `"`) {
		return s
	}
	var b strings.Builder
	if quote {
		b.WriteByte('"')
	}
	slashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			slashes++
		case '"':
			b.WriteString(strings.Repeat(`\`, slashes+1))
			slashes = 0
		default:
			slashes = 0
		}
		b.WriteByte(c)
	}
	if quote {
		b.WriteString(strings.Repeat(`\`, slashes))
		b.WriteByte('"')
	}
	return b.String()
}

// CheckCmdArg reports (wrapping ErrCmdUnsafe) whether QuoteArg(s), placed on a cmd.exe command
// line, could be altered by cmd.exe or could alter the rest of the line: s contains '%', '"', CR,
// LF or NUL. A nil result means QuoteArg(s) reaches the program as s.
func CheckCmdArg(s string) error {
	if i := strings.IndexAny(s, "%\"\r\n\x00"); i >= 0 {
		return fmt.Errorf("character %q at offset %d: %w", s[i], i, ErrCmdUnsafe)
	}
	return nil
}
