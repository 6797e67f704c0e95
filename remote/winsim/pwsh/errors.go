package pwsh

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf16"
)

// consoleWidth is the buffer width powershell.exe sees inside a WinRS shell. Captured CLIXML error
// streams from WinRM hosts wrap at 79 characters (ConsoleLineOutput uses width-1) and split
// CategoryInfo at 74 (= width - 4 - 2).
const consoleWidth = 80

// term is the command a script would fail on: its text and where it starts.
type term struct {
	name       string
	line, col  int    // 1-based; col counts UTF-16 code units like PowerShell's extents
	lineText   string // the whole source line
	startIndex int    // byte offset of name in lineText
}

var literalAssign = regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_:]*\s*=\s*(?:'(?:[^']|'')*'|"[^"$` + "`" + `]*"|-?[0-9]+|\$true|\$false|\$null)\s*(?:;|\n|\r\n|$)`)
var assignPrefix = regexp.MustCompile(`^\$[A-Za-z_][A-Za-z0-9_:]*\s*=\s*`)

// findTerm finds the command name PowerShell would try first: it skips blank lines, ';' and simple
// assignments of literals (such as masterzen's "$ProgressPreference = 'SilentlyContinue';"), takes
// the right-hand side of an assignment from a command ("$x = Get-Foo"), and returns the generic
// token at that point. ok is false when the first statement is an expression the simulator cannot
// evaluate.
func findTerm(script string) (term, bool) {
	pos := 0
	for {
		for pos < len(script) && strings.ContainsRune(" \t\r\n;", rune(script[pos])) {
			pos++
		}
		if pos >= len(script) {
			return term{}, false
		}
		m := literalAssign.FindStringIndex(script[pos:])
		if m == nil {
			break
		}
		pos += m[1]
	}
	if m := assignPrefix.FindStringIndex(script[pos:]); m != nil {
		pos += m[1]
	}
	end := pos
	for end < len(script) && !strings.ContainsRune(" \t\r\n;|&(){}<>,", rune(script[end])) {
		end++
	}
	name := script[pos:end]
	if name == "" || strings.ContainsAny(name[:1], "$'\"@[0123456789.+") || strings.Contains(name, "=") {
		return term{}, false
	}
	lineStart := strings.LastIndexByte(script[:pos], '\n') + 1
	lineEnd := strings.IndexByte(script[pos:], '\n')
	if lineEnd < 0 {
		lineEnd = len(script)
	} else {
		lineEnd += pos
	}
	return term{
		name:       name,
		line:       strings.Count(script[:pos], "\n") + 1,
		col:        utf16Len(script[lineStart:pos]) + 1,
		lineText:   strings.TrimSuffix(script[lineStart:lineEnd], "\r"),
		startIndex: pos - lineStart,
	}, true
}

func utf16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// Localized texts of the CommandNotFoundException and the position message.
var notFoundText = map[string]struct{ message, position, word string }{
	"en-US": {
		message:  "The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again.",
		position: "At %s:%d char:%d",
		word:     "line",
	},
	"de-DE": {
		message:  "Die Benennung \"%s\" wurde nicht als Name eines Cmdlet, einer Funktion, einer Skriptdatei oder eines ausführbaren Programms erkannt. Überprüfen Sie die Schreibweise des Namens, oder ob der Pfad korrekt ist (sofern enthalten), und wiederholen Sie den Vorgang.",
		position: "In %s:%d Zeichen:%d",
		word:     "Zeile",
	},
}

// commandNotFound renders the error record of an unknown command t as Windows PowerShell 5.1's
// NormalView prints it into a WinRS shell: "X : <message>", the position message, CategoryInfo and
// FullyQualifiedErrorId, a final " " line, each line word-wrapped to the console width.
// CategoryInfo and FullyQualifiedErrorId are not localized (ErrorCategoryInfo.ToString uses the
// invariant culture).
func commandNotFound(locale, script string, t term) []string {
	txt, ok := notFoundText[locale]
	if !ok {
		txt = notFoundText["en-US"]
	}
	var b strings.Builder
	b.WriteString(t.name + " : " + fmt.Sprintf(txt.message, t.name))
	b.WriteString("\n")
	b.WriteString(fmt.Sprintf(txt.position, txt.word, t.line, t.col))
	b.WriteString("\r\n")
	b.WriteString(positionLines(t))
	indent := strings.Repeat(" ", 4)
	width := consoleWidth - 4 - 2
	for _, s := range []string{
		"+ CategoryInfo          : ObjectNotFound: (" + ellipsize(t.name) + ":String) [], CommandNotFoundException",
		"+ FullyQualifiedErrorId : CommandNotFoundException",
	} {
		b.WriteString("\n")
		for _, chunk := range chunks(s, width) {
			b.WriteString(indent + chunk)
		}
	}
	b.WriteString("\n ")
	var out []string
	for _, l := range splitLines(b.String()) {
		out = append(out, wrapLine(l, consoleWidth-1)...)
	}
	return out
}

// ellipsize is ErrorCategoryInfo.Ellipsize: names longer than 40 characters keep their first and last
// 15. unverified: the separator of 5.1's ErrorPackage.Ellipsize resource ("..." assumed).
func ellipsize(s string) string {
	r := []rune(s)
	if len(r) <= 40 {
		return s
	}
	return string(r[:15]) + "..." + string(r[len(r)-15:])
}

// chunks is PowerShell's `$s -split "(.{width})"` with empty pieces dropped.
func chunks(s string, width int) []string {
	r := []rune(s)
	var out []string
	for len(r) > width {
		out = append(out, string(r[:width]))
		r = r[width:]
	}
	if len(r) > 0 {
		out = append(out, string(r))
	}
	return out
}

// positionLines is PositionUtilities.VerboseMessage's source-line part for the extent of t: the
// line (tabs expanded, trimmed and shortened to 69 characters around the extent with "... "
// markers) and the "~" underline.
func positionLines(t term) string {
	const maxLen = 69
	line := []rune(strings.TrimRight(t.lineText, " \t\r\n"))
	start := len([]rune(t.lineText[:t.startIndex]))
	length := len([]rune(t.name))
	if strings.ContainsRune(string(line), '\t') {
		before := strings.ReplaceAll(string(line[:start]), "\t", "    ")
		mid := strings.ReplaceAll(string(line[start:start+length]), "\t", "    ")
		after := strings.ReplaceAll(string(line[start+length:]), "\t", "    ")
		line = []rune(before + mid + after)
		start, length = len([]rune(before)), len([]rune(mid))
	}
	pre, post := false, false
	if n := len(line); n > maxLen {
		shown := min(start, 12)
		rest := n - length - start
		tail := min(rest, 8)
		total := shown + length + tail
		if total >= maxLen {
			if shown+length >= maxLen {
				length = maxLen - shown
			}
			post = true
		} else {
			if extra := start - shown; extra > 0 {
				shown += min(extra, maxLen-total)
				total = shown + length + tail
			}
			if total < maxLen && rest > 0 {
				tail += min(rest, maxLen-total)
			}
			post = tail < rest
		}
		pre = shown < start
		from := max(start-shown, 0)
		if from+maxLen > len(line) { // .NET would throw here; keep the last 69 characters
			from = len(line) - maxLen
		}
		line = line[from : from+maxLen]
		start = min(start, shown)
		length = min(length, maxLen-start)
	}
	var b strings.Builder
	b.WriteString("+ ")
	if pre {
		b.WriteString("... ")
	}
	b.WriteString(string(line))
	if post {
		b.WriteString(" ...")
	}
	b.WriteString("\r\n+ ")
	pad := start
	if pre {
		pad += 4
	}
	b.WriteString(strings.Repeat(" ", pad))
	b.WriteString(strings.Repeat("~", max(length, 1)))
	return b.String()
}

// splitLines splits on "\r\n" and "\n".
func splitLines(s string) []string {
	return strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
}

// wrapLine is the formatter's word wrap (StringManipulationHelper.GenerateLinesWithWordWrap): a line
// that fits is kept; otherwise words, each with the single space or tab that followed it, fill lines
// of at most width characters, and a word longer than a line is split by characters.
func wrapLine(s string, width int) []string {
	if len([]rune(s)) <= width {
		return []string{s}
	}
	var out []string
	var cur []rune
	left := width
	for _, w := range words(s) {
		wr := []rune(w)
		if len(wr) > width {
			for _, c := range wr {
				if left < 1 {
					out = append(out, string(cur))
					cur, left = nil, width
				}
				cur = append(cur, c)
				left--
			}
			continue
		}
		if len(wr) > left {
			out = append(out, string(cur))
			cur, left = nil, width
		}
		cur = append(cur, wr...)
		left -= len(wr)
	}
	return append(out, string(cur))
}

// words splits s after every space or tab, keeping the delimiter with the word before it.
func words(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' || s[i] == '\t' {
			out = append(out, s[start:i+1])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// writeCLIXML writes lines as powershell.exe serializes its error stream: a "#< CLIXML" line, then one
// <Objs> element with an <S S="Error"> string per line (CRLF included, encoded as _x000D__x000A_),
// without a trailing line end.
func writeCLIXML(w io.Writer, lines []string) {
	var b strings.Builder
	b.WriteString("#< CLIXML\r\n")
	b.WriteString(`<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">`)
	for _, l := range lines {
		b.WriteString(`<S S="Error">`)
		b.WriteString(clixmlEscape(l + "\r\n"))
		b.WriteString(`</S>`)
	}
	b.WriteString(`</Objs>`)
	_, _ = io.WriteString(w, b.String())
}

// clixmlEscape is the PowerShell serializer's string encoding: XML-escape &, <, >, encode control
// characters (and '_' when it would start an _xHHHH_ sequence) as _xHHHH_.
func clixmlEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r < 0x20 || (r >= 0x7f && r <= 0x9f) || r == 0xfffe || r == 0xffff:
			fmt.Fprintf(&b, "_x%04X_", r)
		case r == '_' && looksEscaped(s[i:]):
			b.WriteString("_x005F_")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// looksEscaped reports whether s starts with "_xHHHH_".
func looksEscaped(s string) bool {
	if len(s) < 7 || s[1] != 'x' || s[6] != '_' {
		return false
	}
	for _, c := range s[2:6] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}
