package registry

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// .reg file format as reg export writes it (Wine's export.c, whose tests are checked against
// Windows; reference 4.6): UTF-16LE with BOM, header line, per key "\r\n[KEY]\r\n" and its values,
// an extra "\r\n" at the end. Hex data wraps once a line reaches 77 characters.

const (
	regHeader5 = "Windows Registry Editor Version 5.00"
	regHeader4 = "REGEDIT4"
	maxHexLine = 77
)

// exportRegFile renders key (shown as display) and all its subkeys as a .reg file.
func exportRegFile(display string, t *tree) []byte {
	var b strings.Builder
	b.WriteString(regHeader5 + "\r\n")
	var walk func(path string, t *tree)
	walk = func(path string, t *tree) {
		b.WriteString("\r\n[" + path + "]\r\n")
		for _, v := range t.values {
			b.WriteString(regValueLine(v))
		}
		for _, s := range t.subs {
			walk(path+`\`+s.name, s)
		}
	}
	walk(display, t)
	b.WriteString("\r\n")
	u := utf16.Encode([]rune(b.String()))
	out := make([]byte, 2, 2+2*len(u))
	out[0], out[1] = 0xFF, 0xFE
	for _, c := range u {
		out = binary.LittleEndian.AppendUint16(out, c)
	}
	return out
}

// escapeRegString escapes a name or REG_SZ string for a .reg file.
func escapeRegString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r", `\r`, "\n", `\n`)
	return r.Replace(s)
}

// regValueLine renders one value line of a .reg file, including its CRLF.
func regValueLine(v Value) string {
	var b strings.Builder
	if v.Name == "" {
		b.WriteString("@=")
	} else {
		b.WriteString(`"` + escapeRegString(v.Name) + `"=`)
	}
	switch {
	case v.Type == TypeSZ:
		b.WriteString(`"` + escapeRegString(decodeUTF16(v.Data)) + `"`)
	case v.Type == TypeDWORD && len(v.Data) == 4:
		fmt.Fprintf(&b, "dword:%08x", binary.LittleEndian.Uint32(v.Data))
	default:
		if v.Type == TypeBinary {
			b.WriteString("hex:")
		} else {
			fmt.Fprintf(&b, "hex(%x):", uint32(v.Type))
		}
		lineLen := len(utf16.Encode([]rune(b.String())))
		for i, c := range v.Data {
			fmt.Fprintf(&b, "%02x", c)
			if i == len(v.Data)-1 {
				break
			}
			b.WriteByte(',')
			lineLen += 3
			if lineLen >= maxHexLine {
				b.WriteString("\\\r\n  ")
				lineLen = 2
			}
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// OpKind is the kind of one operation of a .reg file.
type OpKind int

// Operations of a .reg file.
const (
	OpCreateKey   OpKind = iota // [KEY]
	OpDeleteKey                 // [-KEY]
	OpSetValue                  // "name"=data under the current key
	OpDeleteValue               // "name"=- under the current key
)

// RegOp is one operation of a .reg file. Key is the key as written in the file (long or short root
// name, not yet resolved); Value carries the value (for OpDeleteValue only its Name).
type RegOp struct {
	Kind  OpKind
	Key   string
	Value Value
}

// ErrNotRegFile means the data does not start with a .reg header ("Windows Registry Editor
// Version 5.00" or "REGEDIT4").
var ErrNotRegFile = errors.New("not a registry script")

// ParseRegFile parses a .reg file: UTF-16LE with BOM, UTF-8 with BOM, or ANSI (Windows-1252), with
// either header. Lines it cannot parse are skipped, as regedit skips them; values before the first key
// or under a key line that is not well formed are dropped. It reports ErrNotRegFile for a missing header.
func ParseRegFile(data []byte) ([]RegOp, error) {
	text := decodeRegText(data)
	lines := strings.Split(text, "\n")
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	if i == len(lines) {
		return nil, ErrNotRegFile
	}
	header := strings.TrimSpace(lines[i])
	// unverified: regedit and reg import accept either header in either encoding.
	if header != regHeader5 && header != regHeader4 {
		return nil, ErrNotRegFile
	}
	ansi := header == regHeader4
	var ops []RegOp
	curKey := ""
	for i++; i < len(lines); i++ {
		line := strings.TrimLeft(strings.TrimRight(lines[i], "\r"), " \t")
		// join continuation lines of hex data: a trailing backslash continues on the next line.
		for strings.HasSuffix(strings.TrimRight(line, " \t"), `\`) && isHexLine(line) && i+1 < len(lines) {
			line = strings.TrimRight(line, " \t")
			i++
			line = line[:len(line)-1] + strings.TrimLeft(strings.TrimRight(lines[i], "\r"), " \t")
		}
		switch {
		case line == "" || line[0] == ';':
		case line[0] == '[':
			end := strings.LastIndexByte(line, ']')
			if end < 0 {
				curKey = ""
				continue
			}
			key := line[1:end]
			if strings.HasPrefix(key, "-") {
				ops = append(ops, RegOp{Kind: OpDeleteKey, Key: key[1:]})
				curKey = ""
				continue
			}
			if key == "" {
				curKey = ""
				continue
			}
			curKey = key
			ops = append(ops, RegOp{Kind: OpCreateKey, Key: key})
		case curKey == "":
		default:
			if op, ok := parseValueLine(line, ansi); ok {
				op.Key = curKey
				ops = append(ops, op)
			}
		}
	}
	return ops, nil
}

// isHexLine reports whether a value line carries hex data (the only data that continues on the next
// line).
func isHexLine(line string) bool {
	_, rest, ok := splitValueName(line)
	if !ok {
		return false
	}
	rest = strings.TrimLeft(rest, " \t")
	return strings.HasPrefix(strings.ToLower(rest), "hex")
}

func decodeRegText(data []byte) string {
	switch {
	case len(data) >= 2 && data[0] == 0xFF && data[1] == 0xFE:
		u := make([]uint16, 0, len(data)/2)
		for i := 2; i+1 < len(data); i += 2 {
			u = append(u, binary.LittleEndian.Uint16(data[i:]))
		}
		return string(utf16.Decode(u))
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		return strings.ToValidUTF8(string(data[3:]), "\uFFFD")
	default:
		s, err := charmap.Windows1252.NewDecoder().Bytes(data)
		if err != nil {
			return strings.ToValidUTF8(string(data), "\uFFFD")
		}
		return string(s)
	}
}

// splitValueName splits `"name"=rest` or `@=rest` and returns the unescaped name.
func splitValueName(line string) (name, rest string, ok bool) {
	if strings.HasPrefix(line, "@") {
		r := strings.TrimLeft(line[1:], " \t")
		if !strings.HasPrefix(r, "=") {
			return "", "", false
		}
		return "", r[1:], true
	}
	if !strings.HasPrefix(line, `"`) {
		return "", "", false
	}
	n, after, ok := unquote(line)
	if !ok {
		return "", "", false
	}
	after = strings.TrimLeft(after, " \t")
	if !strings.HasPrefix(after, "=") {
		return "", "", false
	}
	return n, after[1:], true
}

// unquote reads a quoted string with \\, \", \n and \r escapes from the start of s and returns the
// text and what follows the closing quote.
func unquote(s string) (string, string, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return b.String(), s[i+1:], true
		case '\\':
			if i+1 >= len(s) {
				return "", "", false
			}
			i++
			switch s[i] {
			case '\\':
				b.WriteByte('\\')
			case '"':
				b.WriteByte('"')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				return "", "", false
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

func parseValueLine(line string, ansi bool) (RegOp, bool) {
	name, rest, ok := splitValueName(line)
	if !ok {
		return RegOp{}, false
	}
	rest = strings.TrimLeft(rest, " \t")
	lower := strings.ToLower(rest)
	switch {
	case strings.TrimRight(rest, " \t") == "-":
		return RegOp{Kind: OpDeleteValue, Value: Value{Name: name}}, true
	case strings.HasPrefix(rest, `"`):
		s, after, ok := unquote(rest)
		if !ok || !trailerOK(after) {
			return RegOp{}, false
		}
		return RegOp{Kind: OpSetValue, Value: StringValue(name, s)}, true
	case strings.HasPrefix(lower, "dword:"):
		d := strings.TrimSpace(stripComment(rest[6:]))
		if d == "" || len(d) > 8 {
			return RegOp{}, false
		}
		n, err := strconv.ParseUint(d, 16, 32)
		if err != nil {
			return RegOp{}, false
		}
		return RegOp{Kind: OpSetValue, Value: DWORDValue(name, uint32(n))}, true
	case strings.HasPrefix(lower, "hex"):
		typ := TypeBinary
		r := rest[3:]
		if strings.HasPrefix(r, "(") {
			end := strings.IndexByte(r, ')')
			if end < 2 || end > 9 {
				return RegOp{}, false
			}
			n, err := strconv.ParseUint(r[1:end], 16, 32)
			if err != nil {
				return RegOp{}, false
			}
			typ = Type(n)
			r = r[end+1:]
		}
		if !strings.HasPrefix(r, ":") {
			return RegOp{}, false
		}
		data, ok := parseHexList(stripComment(r[1:]))
		if !ok {
			return RegOp{}, false
		}
		if ansi && (typ == TypeExpandSZ || typ == TypeMultiSZ) {
			data = ansiToUTF16(data) // REGEDIT4 files carry these strings as ANSI bytes
		}
		return RegOp{Kind: OpSetValue, Value: Value{Name: name, Type: typ, Data: data}}, true
	}
	return RegOp{}, false
}

func stripComment(s string) string {
	if i := strings.IndexByte(s, ';'); i >= 0 {
		return s[:i]
	}
	return s
}

func trailerOK(s string) bool {
	s = strings.TrimSpace(s)
	return s == "" || s[0] == ';'
}

// parseHexList parses "xx,xx,..." (whitespace allowed around items, a trailing comma tolerated).
func parseHexList(s string) ([]byte, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []byte{}, true
	}
	s = strings.TrimSuffix(s, ",")
	parts := strings.Split(s, ",")
	out := make([]byte, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) == 0 || len(p) > 2 {
			return nil, false
		}
		n, err := strconv.ParseUint(p, 16, 8)
		if err != nil {
			return nil, false
		}
		out = append(out, byte(n))
	}
	return out, true
}

// ansiToUTF16 converts Windows-1252 bytes (with their NUL terminators) to UTF-16LE.
func ansiToUTF16(b []byte) []byte {
	s, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil || !utf8.Valid(s) {
		s = b
	}
	u := utf16.Encode([]rune(string(s)))
	out := make([]byte, 0, 2*len(u))
	for _, c := range u {
		out = binary.LittleEndian.AppendUint16(out, c)
	}
	return out
}
