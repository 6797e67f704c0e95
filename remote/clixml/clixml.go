// Package clixml reads what Windows PowerShell writes to stderr when its error stream is redirected
// (powershell.exe -NonInteractive run through WinRS): a "#< CLIXML" line followed by a serialized
// <Objs> document whose <S S="Error"> strings are the console lines of the error records, with
// control characters escaped as _xHHHH_ (CRLF = _x000D__x000A_) and long lines wrapped at the
// console width. Progress records (<Obj S="progress">) and other streams are skipped.
//
// FirstError turns such stderr into the one line a report or log message should show:
//
//	msg := clixml.FirstError(out.Stderr) // "Exception calling "GetResponse" with "0" argument(s): "..."
//
// Parsing is bounded (element depth, input size) and never fails: stderr that is not CLIXML is
// treated as plain text.
package clixml

import (
	"bytes"
	"encoding/xml"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Marker starts a CLIXML stream on stderr.
const Marker = "#< CLIXML"

// Limits on the input considered.
const (
	maxInput = 1 << 20
	maxDepth = 64
)

// IsCLIXML reports whether stderr starts (after blanks) with the CLIXML marker.
func IsCLIXML(stderr []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(stderr, " \t\r\n\ufeff"), []byte(Marker))
}

// ErrorText returns the error stream of a CLIXML stderr as console text (the <S S="Error"> strings
// decoded and concatenated, CRLF line ends as PowerShell wrote them). For stderr that is not CLIXML
// it returns stderr itself as a string. Malformed XML ends the text where it breaks.
func ErrorText(stderr []byte) string {
	if len(stderr) > maxInput {
		stderr = stderr[:maxInput]
	}
	if !IsCLIXML(stderr) {
		return string(stderr)
	}
	var out strings.Builder
	// The marker may repeat (one per chunk of output); drop every marker line.
	body := bytes.ReplaceAll(stderr, []byte(Marker), nil)
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = false
	depth, inError := 0, false
	for {
		tok, err := d.RawToken()
		if err == io.EOF || err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > maxDepth {
				return out.String()
			}
			inError = t.Name.Local == "S" && attr(t, "S") == "Error"
		case xml.EndElement:
			depth--
			inError = false
		case xml.CharData:
			if inError {
				out.WriteString(unescape(string(t)))
			}
		}
	}
	return out.String()
}

func attr(e xml.StartElement, name string) string {
	for _, a := range e.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

var escapeRE = regexp.MustCompile(`_x([0-9A-Fa-f]{4})_`)

// unescape decodes PowerShell's _xHHHH_ escapes (UTF-16 code units; surrogate pairs are two escapes).
func unescape(s string) string {
	if !strings.Contains(s, "_x") {
		return s
	}
	var units []uint16
	var b strings.Builder
	flush := func() {
		for len(units) > 0 {
			u := units[0]
			if u >= 0xD800 && u < 0xDC00 && len(units) > 1 && units[1] >= 0xDC00 && units[1] < 0xE000 {
				b.WriteRune(rune(u-0xD800)<<10 | rune(units[1]-0xDC00) + 0x10000)
				units = units[2:]
				continue
			}
			if u >= 0xD800 && u < 0xE000 {
				b.WriteRune(utf8.RuneError)
			} else {
				b.WriteRune(rune(u))
			}
			units = units[1:]
		}
	}
	last := 0
	for _, m := range escapeRE.FindAllStringSubmatchIndex(s, -1) {
		if m[0] != last {
			flush()
			b.WriteString(s[last:m[0]])
		}
		v, _ := strconv.ParseUint(s[m[2]:m[3]], 16, 16)
		units = append(units, uint16(v))
		last = m[1]
	}
	flush()
	b.WriteString(s[last:])
	return b.String()
}

// recordEnd matches the lines that follow an error record's message in PowerShell's console view:
// the position ("At line:1 char:1", "At C:\script.ps1:3 char:5"), the caret lines ("+ ...") and the
// category lines ("    + CategoryInfo ...").
var recordEnd = regexp.MustCompile(`^(At line:\d|At [A-Za-z]:\\|At \\\\|\s*\+ |\s*\+$)`)

// FirstError returns the message of the first error record in stderr, as one line: for CLIXML, the
// console lines of the record up to its position/category lines, joined as PowerShell wrapped them
// (a wrapped line keeps its trailing blank, so the pieces are concatenated); for other stderr, the
// first non-blank line. Blanks are trimmed; "" when there is no error text.
func FirstError(stderr []byte) string {
	text := ErrorText(stderr)
	clix := IsCLIXML(stderr)
	var msg strings.Builder
	for _, line := range strings.Split(lineEnds.Replace(text), "\n") {
		if !clix {
			if t := strings.TrimSpace(line); t != "" {
				return t
			}
			continue
		}
		if strings.TrimSpace(line) == "" {
			if msg.Len() > 0 {
				break
			}
			continue
		}
		if msg.Len() > 0 && recordEnd.MatchString(line) {
			break
		}
		msg.WriteString(line)
	}
	return strings.Join(strings.Fields(msg.String()), " ")
}

// lineEnds normalizes CRLF and lone CR to LF.
var lineEnds = strings.NewReplacer("\r\n", "\n", "\r", "\n")
