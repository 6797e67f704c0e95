// Package reg builds reg.exe command lines for cmd.exe and parses what reg.exe prints, on the client
// side, without depending on the host's display language.
//
// Only two things in reg.exe's output are locale-independent and used here: the value line of
// `reg query` (`    NAME    REG_TYPE    DATA`, four-space separators, CRLF) and the marker lines that
// dcproxy's own `echo` commands print. Translated text (errors, "The operation completed
// successfully.") is never parsed; reg.exe writes errors to stderr anyway, which callers receive as a
// separate stream.
//
// Batching: all reads of one host run as ONE cmd.exe line. %ERRORLEVEL% cannot report per-command
// results because cmd expands it when the line is parsed, so every query is wrapped as
//
//	echo @@dcproxy:ID:begin & reg query "KEY" /v "NAME" && echo @@dcproxy:ID:ok || echo @@dcproxy:ID:fail
//
// and the parts are joined with " & " (&& and || bind tighter than &). ParseBatch pairs the output
// between the begin and the ok/fail marker of each ID with its query.
//
// Quoting: keys, value names and file names are always wrapped in double quotes, inside which cmd.exe
// treats & | < > ^ ( ) literally. Characters that cannot be made safe on a cmd.exe command line are
// rejected: '"' (ends the quoting), '%' (expanded by cmd even inside quotes), '!' (expanded when delayed
// expansion is on), and control characters. Trailing backslashes are removed from keys, because
// reg.exe's argument parser would read `\"` as an escaped quote.
//
// All functions are pure and safe for concurrent use.
package reg

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
)

// MaxCommandLine is cmd.exe's limit on the length of one command line, in UTF-16 code units.
const MaxCommandLine = 8191

// MarkerPrefix starts every marker line echoed by a batch command line.
const MarkerPrefix = "@@dcproxy:"

// Sentinel errors; every error of this package wraps exactly one of them.
var (
	// ErrInvalid: a key, value name, file name or query ID cannot be used safely on a cmd.exe line.
	ErrInvalid = errors.New("invalid reg.exe argument")
	// ErrTooLong: the batch command line would exceed MaxCommandLine.
	ErrTooLong = errors.New("command line too long")
	// ErrMalformed: reg.exe's stdout (or the marker framing) is not what the commands print: truncated,
	// garbled, duplicated or missing markers, missing or unparsable value lines.
	ErrMalformed = errors.New("malformed reg.exe output")
	// ErrNoValue: ParseQueryValue got an empty stdout, which is what reg query prints (error text goes
	// to stderr) when the key or value does not exist or cannot be read.
	ErrNoValue = errors.New("no value in reg.exe output")
)

// roots maps the accepted root names (upper case) to their long form, which reg.exe prints.
var roots = map[string]string{
	"HKLM": "HKEY_LOCAL_MACHINE", "HKEY_LOCAL_MACHINE": "HKEY_LOCAL_MACHINE",
	"HKCU": "HKEY_CURRENT_USER", "HKEY_CURRENT_USER": "HKEY_CURRENT_USER",
	"HKCR": "HKEY_CLASSES_ROOT", "HKEY_CLASSES_ROOT": "HKEY_CLASSES_ROOT",
	"HKU": "HKEY_USERS", "HKEY_USERS": "HKEY_USERS",
	"HKCC": "HKEY_CURRENT_CONFIG", "HKEY_CURRENT_CONFIG": "HKEY_CURRENT_CONFIG",
}

// LongKey returns key with its root in the long form reg.exe prints (`HKU\S-1-5-18` ->
// `HKEY_USERS\S-1-5-18`), after the same validation as the command builders.
func LongKey(key string) (string, error) {
	k, err := cleanKey(key)
	if err != nil {
		return "", err
	}
	root, rest, _ := strings.Cut(k, `\`)
	long := roots[strings.ToUpper(root)]
	if rest == "" {
		return long, nil
	}
	return long + `\` + rest, nil
}

// cleanKey validates a registry key path and removes trailing backslashes.
func cleanKey(key string) (string, error) {
	k := strings.TrimRight(key, `\`)
	if k == "" {
		return "", fmt.Errorf("%w: empty registry key", ErrInvalid)
	}
	if err := checkChars("registry key", k); err != nil {
		return "", err
	}
	root, rest, _ := strings.Cut(k, `\`)
	if _, ok := roots[strings.ToUpper(root)]; !ok {
		return "", fmt.Errorf("%w: registry key %q: unknown root %q (want HKLM, HKCU, HKCR, HKU, HKCC or a long form)", ErrInvalid, key, root)
	}
	if strings.Contains(rest, `\\`) {
		return "", fmt.Errorf("%w: registry key %q: empty path component", ErrInvalid, key)
	}
	return k, nil
}

// checkChars rejects what cannot be quoted safely for cmd.exe and reg.exe.
func checkChars(what, s string) error {
	for _, r := range s {
		switch {
		case r == '"' || r == '%' || r == '!':
			return fmt.Errorf("%w: %s %q contains %q, which cannot be passed safely through cmd.exe", ErrInvalid, what, s, r)
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%w: %s %q contains control character %U", ErrInvalid, what, s, r)
		}
	}
	return nil
}

// ValidateKey reports whether key can be used by the command builders (known root, no unsafe
// characters); the error wraps ErrInvalid.
func ValidateKey(key string) error {
	_, err := cleanKey(key)
	return err
}

// ValidateValueName reports whether a value name can be quoted safely; "" means the unnamed (default)
// value. The error wraps ErrInvalid.
func ValidateValueName(name string) error {
	return checkChars("value name", name)
}

// valueArg renders "/v "NAME"" or "/ve" for the default value.
func valueArg(name string) string {
	if name == "" {
		return "/ve"
	}
	return `/v "` + name + `"`
}

// refuse is the command line returned by the string-only builders for input they cannot quote
// safely: it runs nothing and exits with 87 (ERROR_INVALID_PARAMETER), so the caller sees a failure
// instead of a command that does something else.
const refuse = "exit /b 87"

// AddBinaryCommand returns `reg add "KEY" /v "NAME" /t REG_BINARY /d HEX /f` (upper-case hex, no
// separators; for empty data /d is omitted, which stores an empty binary value). value "" targets the default value (/ve).
// Callers should check ValidateKey and ValidateValueName first: for a key or name that fails them the
// returned line is "exit /b 87", which fails without touching the registry. The line is not limited
// in length: data longer than about 4 KB gives a line cmd.exe refuses ("The command line is too
// long."); check it with CheckCommandLine.
func AddBinaryCommand(key, value string, data []byte) string {
	k, err := cleanKey(key)
	if err != nil || ValidateValueName(value) != nil {
		return refuse
	}
	// unverified: with /d omitted reg.exe stores empty data (Wine does; Windows documents no default).
	d := ""
	if len(data) > 0 {
		d = fmt.Sprintf(" /d %X", data)
	}
	return `reg add "` + k + `" ` + valueArg(value) + ` /t REG_BINARY` + d + ` /f`
}

// DeleteValueCommand returns `reg delete "KEY" /v "NAME" /f` (/ve for value ""). Invalid input gives
// "exit /b 87" as for AddBinaryCommand.
func DeleteValueCommand(key, value string) string {
	k, err := cleanKey(key)
	if err != nil || ValidateValueName(value) != nil {
		return refuse
	}
	return `reg delete "` + k + `" ` + valueArg(value) + ` /f`
}

// ExportCommand returns `reg export "KEY" "FILE" /y`. The file name must not be empty, must not contain
// '"', '%', '!' or control characters and must not end in a backslash; otherwise the line is
// "exit /b 87" as for AddBinaryCommand.
func ExportCommand(key, file string) string {
	k, err := cleanKey(key)
	if err != nil || ValidateFileName(file) != nil {
		return refuse
	}
	return `reg export "` + k + `" "` + file + `" /y`
}

// QueryCommand returns `reg query "KEY" /v "NAME"` (/ve for name ""), or an ErrInvalid error.
func QueryCommand(key, value string) (string, error) {
	k, err := cleanKey(key)
	if err != nil {
		return "", err
	}
	if err := ValidateValueName(value); err != nil {
		return "", err
	}
	return `reg query "` + k + `" ` + valueArg(value), nil
}

// ValidateFileName reports whether file can be quoted safely for ExportCommand; errors wrap ErrInvalid.
func ValidateFileName(file string) error {
	if file == "" || strings.HasSuffix(file, `\`) {
		return fmt.Errorf("%w: file name %q is empty or ends in a backslash", ErrInvalid, file)
	}
	return checkChars("file name", file)
}

// Query is one value to read in a batch. Key may use the short or long root form
// (`HKCU\Software\...\Connections`); Value "" reads the unnamed default value. ID names the query in
// the markers and in errors and must match [A-Za-z0-9_]+ and be unique within a batch.
type Query struct {
	ID    string
	Key   string
	Value string
}

func validID(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// BatchQueryCommand returns one cmd.exe command line that runs a `reg query` for every q, each framed
// by begin and ok/fail markers (see the package comment). Errors wrap ErrInvalid (no queries, bad or
// duplicate ID, bad key or value name) or ErrTooLong (longer than MaxCommandLine UTF-16 units).
func BatchQueryCommand(qs []Query) (string, error) {
	if len(qs) == 0 {
		return "", fmt.Errorf("%w: no queries", ErrInvalid)
	}
	seen := make(map[string]bool, len(qs))
	parts := make([]string, 0, len(qs))
	for _, q := range qs {
		if !validID(q.ID) {
			return "", fmt.Errorf("%w: query ID %q (want [A-Za-z0-9_]+)", ErrInvalid, q.ID)
		}
		if seen[q.ID] {
			return "", fmt.Errorf("%w: duplicate query ID %q", ErrInvalid, q.ID)
		}
		seen[q.ID] = true
		cmd, err := QueryCommand(q.Key, q.Value)
		if err != nil {
			return "", fmt.Errorf("query %s: %w", q.ID, err)
		}
		m := MarkerPrefix + q.ID + ":"
		parts = append(parts, "echo "+m+"begin & "+cmd+" && echo "+m+"ok || echo "+m+"fail")
	}
	line := strings.Join(parts, " & ")
	if n := utf16Len(line); n > MaxCommandLine {
		return "", fmt.Errorf("%w: %d queries need %d characters, cmd.exe allows %d; split the batch", ErrTooLong, len(qs), n, MaxCommandLine)
	}
	return line, nil
}

// CommandLength returns the length of a command line as cmd.exe counts it: UTF-16 code units (invalid
// UTF-8 counts one unit per byte sequence replaced by U+FFFD).
func CommandLength(line string) int { return utf16Len(line) }

// CheckCommandLine returns nil when cmd.exe accepts line, else an error wrapping ErrTooLong that names
// its length. Windows refuses a longer line with "The command line is too long." without running any
// of it, so a caller must check a line it builds from data (AddBinaryCommand) before relying on it.
func CheckCommandLine(line string) error {
	if n := utf16Len(line); n > MaxCommandLine {
		return fmt.Errorf("%w: the command line would be %d characters, cmd.exe allows %d", ErrTooLong, n, MaxCommandLine)
	}
	return nil
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s { // invalid UTF-8 arrives as U+FFFD: one unit
		n += utf16.RuneLen(r)
	}
	return n
}
