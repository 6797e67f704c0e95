package reg

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// sep is the separator reg query prints before the name and between name, type and data.
const sep = "    "

// Value is one value line of `reg query` output.
//
// Data holds REG_BINARY and REG_NONE data decoded from hex, REG_DWORD as 4 and REG_QWORD as 8
// little-endian bytes (the registry's own representation), and every other type (REG_SZ,
// REG_EXPAND_SZ, REG_MULTI_SZ with its literal `\0` separators, ...) as the printed text in UTF-8.
// Raw is the data text exactly as printed.
type Value struct {
	Name string
	Type string
	Data []byte
	Raw  string
}

// Result is the outcome of one Query of a batch. Found is false when reg query failed (exit code not 0):
// the key or value does not exist, or could not be read (access denied); reg.exe's stderr, which
// callers get separately, says which in the host's language. When Found is false, Type, Data and Raw
// are empty.
type Result struct {
	ID    string
	Found bool
	Type  string
	Data  []byte
	Raw   string
}

// splitLines splits reg.exe output on LF and removes one trailing CR from each line.
func splitLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

// quoteLine shortens and quotes a line for an error message.
func quoteLine(l string) string {
	if len(l) > 120 {
		l = l[:120] + "..."
	}
	return strconv.Quote(l)
}

// parseValueLine parses `    NAME    REG_TYPE    DATA`. With name == "" (the default value, whose name
// reg.exe prints translated, e.g. "(Default)"), any name without four consecutive spaces is accepted.
// Only the separators after the name and after the type are significant, so DATA may contain four
// spaces. It returns ok=false when the line is not a value line for name.
func parseValueLine(line, name string) (Value, bool, error) {
	if !strings.HasPrefix(line, sep) {
		return Value{}, false, nil
	}
	rest := line[len(sep):]
	var v Value
	if name == "" {
		i := strings.Index(rest, sep)
		if i <= 0 {
			return Value{}, false, nil
		}
		v.Name, rest = rest[:i], rest[i+len(sep):]
	} else {
		if len(rest) < len(name)+len(sep) || !strings.EqualFold(rest[:len(name)], name) || rest[len(name):len(name)+len(sep)] != sep {
			return Value{}, false, nil
		}
		v.Name, rest = rest[:len(name)], rest[len(name)+len(sep):]
	}
	typ, data, _ := strings.Cut(rest, sep)
	if !validType(typ) {
		return Value{}, false, nil
	}
	if strings.ContainsRune(data, '\r') {
		// A CR inside a line: data that spans lines (REG_SZ with line breaks) cannot be told apart
		// from garbled output, so it is refused rather than cut.
		return Value{}, true, fmt.Errorf("%s data contains a carriage return", typ)
	}
	v.Type, v.Raw = typ, data
	var err error
	v.Data, err = decodeData(typ, data)
	if err != nil {
		return Value{}, true, err
	}
	return v, true, nil
}

// validType accepts REG_ followed by upper-case letters, digits and underscores.
func validType(t string) bool {
	if !strings.HasPrefix(t, "REG_") || len(t) == 4 {
		return false
	}
	for i := 4; i < len(t); i++ {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// decodeData converts the printed data of a value line into bytes (see Value).
func decodeData(typ, data string) ([]byte, error) {
	switch typ {
	case "REG_BINARY", "REG_NONE":
		if len(data)%2 != 0 {
			return nil, fmt.Errorf("%s data has an odd number of hex digits (%d)", typ, len(data))
		}
		b, err := hex.DecodeString(data)
		if err != nil {
			return nil, fmt.Errorf("%s data is not hex: %w", typ, err)
		}
		return b, nil
	case "REG_DWORD", "REG_QWORD":
		bits := 32
		if typ == "REG_QWORD" {
			bits = 64
		}
		if !strings.HasPrefix(data, "0x") {
			return nil, fmt.Errorf("%s data %q does not start with 0x", typ, data)
		}
		n, err := strconv.ParseUint(data[2:], 16, bits)
		if err != nil {
			return nil, fmt.Errorf("%s data %q: %w", typ, data, err)
		}
		if bits == 32 {
			return binary.LittleEndian.AppendUint32(nil, uint32(n)), nil
		}
		return binary.LittleEndian.AppendUint64(nil, n), nil
	default:
		return []byte(data), nil
	}
}

// parseBlock parses the stdout of one successful `reg query KEY /v NAME`: apart from blank lines it
// must hold exactly one key line (starting with "HKEY_"; equal to longKey, case-insensitively, when
// longKey is not empty) followed by exactly one value line for name. what prefixes error messages.
func parseBlock(lines []string, longKey, name, what string) (Value, error) {
	var (
		v        Value
		keySeen  bool
		valSeen  bool
		nonBlank int
	)
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		nonBlank++
		if !keySeen {
			k := strings.TrimRight(l, " ")
			if len(k) < 5 || !strings.EqualFold(k[:5], "HKEY_") || (longKey != "" && !strings.EqualFold(k, longKey)) {
				want := "a key line (HKEY_...)"
				if longKey != "" {
					want = strconv.Quote(longKey)
				}
				return Value{}, fmt.Errorf("%w: %s: line %s: want %s", ErrMalformed, what, quoteLine(l), want)
			}
			keySeen = true
			continue
		}
		if valSeen {
			return Value{}, fmt.Errorf("%w: %s: unexpected line %s after the value line", ErrMalformed, what, quoteLine(l))
		}
		val, ok, err := parseValueLine(l, name)
		if err != nil {
			return Value{}, fmt.Errorf("%w: %s: line %s: %v", ErrMalformed, what, quoteLine(l), err)
		}
		if !ok {
			return Value{}, fmt.Errorf("%w: %s: line %s is not a value line for %q", ErrMalformed, what, quoteLine(l), displayName(name))
		}
		v, valSeen = val, true
	}
	if nonBlank == 0 {
		return Value{}, fmt.Errorf("%w: %s", ErrNoValue, what)
	}
	if !valSeen {
		return Value{}, fmt.Errorf("%w: %s: no value line for %q", ErrMalformed, what, displayName(name))
	}
	return v, nil
}

func displayName(name string) string {
	if name == "" {
		return "(default)"
	}
	return name
}

// ParseQueryValue parses the stdout of one `reg query KEY /v NAME` (name "" for /ve). It relies only on
// the layout, never on translated text. An empty stdout (only blank lines) gives an error wrapping
// ErrNoValue: reg.exe failed and printed its message to stderr; check the exit code. Anything else that
// is not one key line plus one value line for name wraps ErrMalformed.
func ParseQueryValue(stdout, name string) (Value, error) {
	return parseBlock(splitLines(stdout), "", name, fmt.Sprintf("reg query /v %s", displayName(name)))
}

// ParseBatch parses the stdout of a BatchQueryCommand(qs) line and returns one Result per query, in
// the order of qs. It relies only on the marker lines and on the value lines. Every query must have
// exactly one begin marker followed, with only its own output in between, by exactly one ok or fail
// marker, in the order of qs; output outside the markers, unknown IDs, duplicated, missing or
// out-of-order markers, and ok blocks without exactly one value line for the queried key and name are
// errors wrapping ErrMalformed that name the query ID and the offending line. A truncated reply is
// therefore an error, never a "value absent".
func ParseBatch(stdout string, qs []Query) ([]Result, error) {
	index := make(map[string]int, len(qs))
	for i, q := range qs {
		if _, dup := index[q.ID]; dup {
			return nil, fmt.Errorf("%w: duplicate query ID %q", ErrInvalid, q.ID)
		}
		index[q.ID] = i
	}
	type block struct {
		lines []string
		state int // 0 not started, 1 open, 2 ok, 3 fail
	}
	blocks := make([]block, len(qs))
	cur, next := -1, 0
	for n, line := range splitLines(stdout) {
		lineNo := n + 1
		if !strings.HasPrefix(line, MarkerPrefix) {
			if cur >= 0 {
				blocks[cur].lines = append(blocks[cur].lines, line)
			} else if strings.TrimSpace(line) != "" {
				return nil, fmt.Errorf("%w: line %d: output outside any query: %s", ErrMalformed, lineNo, quoteLine(line))
			}
			continue
		}
		m := strings.TrimRight(line[len(MarkerPrefix):], " \t")
		id, kind, _ := strings.Cut(m, ":")
		i, known := index[id]
		if !known {
			return nil, fmt.Errorf("%w: line %d: marker for unknown query ID %q: %s", ErrMalformed, lineNo, id, quoteLine(line))
		}
		switch kind {
		case "begin":
			if cur >= 0 {
				return nil, fmt.Errorf("%w: query %s: line %d: begin marker inside query %s: %s", ErrMalformed, id, lineNo, qs[cur].ID, quoteLine(line))
			}
			if blocks[i].state != 0 {
				return nil, fmt.Errorf("%w: query %s: line %d: duplicated begin marker: %s", ErrMalformed, id, lineNo, quoteLine(line))
			}
			if i != next {
				return nil, fmt.Errorf("%w: query %s: line %d: begin marker out of order (expected query %s): %s", ErrMalformed, id, lineNo, qs[next].ID, quoteLine(line))
			}
			blocks[i].state, cur = 1, i
			next++
		case "ok", "fail":
			if cur != i {
				if blocks[i].state >= 2 {
					return nil, fmt.Errorf("%w: query %s: line %d: duplicated result marker: %s", ErrMalformed, id, lineNo, quoteLine(line))
				}
				return nil, fmt.Errorf("%w: query %s: line %d: result marker without begin marker: %s", ErrMalformed, id, lineNo, quoteLine(line))
			}
			blocks[i].state = 2
			if kind == "fail" {
				blocks[i].state = 3
			}
			cur = -1
		default:
			return nil, fmt.Errorf("%w: query %s: line %d: unknown marker kind %q: %s", ErrMalformed, id, lineNo, kind, quoteLine(line))
		}
	}
	if cur >= 0 {
		return nil, fmt.Errorf("%w: query %s: output ends before its result marker (truncated reply)", ErrMalformed, qs[cur].ID)
	}
	results := make([]Result, len(qs))
	for i, q := range qs {
		results[i].ID = q.ID
		switch blocks[i].state {
		case 0:
			return nil, fmt.Errorf("%w: query %s: no markers in the output (truncated reply?)", ErrMalformed, q.ID)
		case 3:
			continue
		}
		longKey, err := LongKey(q.Key)
		if err != nil {
			return nil, fmt.Errorf("query %s: %w", q.ID, err)
		}
		v, err := parseBlock(blocks[i].lines, longKey, q.Value, "query "+q.ID)
		if err != nil {
			if errors.Is(err, ErrNoValue) {
				return nil, fmt.Errorf("%w: query %s: ok marker but no output", ErrMalformed, q.ID)
			}
			return nil, err
		}
		results[i] = Result{ID: q.ID, Found: true, Type: v.Type, Data: v.Data, Raw: v.Raw}
	}
	return results, nil
}
