package wininet

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
)

// ParseHex turns the hex forms admins paste into bytes:
//
//   - reg query output: continuous hex, any case ("46000000050000..."), optionally the whole value line
//     "    DefaultConnectionSettings    REG_BINARY    4600..." (everything up to REG_BINARY is dropped);
//   - .reg export: "hex:46,00,00,..." with "\" line continuations, CRLF or LF, indentation, optionally
//     preceded by `"DefaultConnectionSettings"=` (everything up to the first "hex:" or "hex(N):" is dropped);
//   - bytes separated by spaces, tabs, newlines or commas ("46 00 00 00"), optionally with a "0x" prefix
//     on the whole input.
//
// Every group between separators must hold an even number of hex digits (a lone nibble is rejected
// rather than guessed). Errors wrap ErrBadHex and name the character offset in s.
func ParseHex(s string) ([]byte, error) {
	start := 0
	if i := strings.Index(s, "REG_BINARY"); i >= 0 {
		start = i + len("REG_BINARY")
	} else if i := regHexPrefix(s); i >= 0 {
		start = i
	} else {
		t := strings.TrimLeft(s, " \t\r\n")
		if strings.HasPrefix(t, "0x") || strings.HasPrefix(t, "0X") {
			start = len(s) - len(t) + 2
		}
	}
	out := make([]byte, 0, (len(s)-start)/2)
	groupStart, groupLen := -1, 0
	endGroup := func() error {
		if groupLen%2 != 0 {
			return fmt.Errorf("%w: offset %d: odd number of hex digits (%d) in group", ErrBadHex, groupStart, groupLen)
		}
		groupStart, groupLen = -1, 0
		return nil
	}
	var pending byte
	for i := start; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ',':
			if err := endGroup(); err != nil {
				return nil, err
			}
		case c == '\\':
			// .reg line continuation: backslash, optional trailing blanks, line end.
			j := i + 1
			for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r') {
				j++
			}
			if j < len(s) && s[j] != '\n' {
				return nil, fmt.Errorf("%w: offset %d: backslash not at a line end", ErrBadHex, i)
			}
			if err := endGroup(); err != nil {
				return nil, err
			}
			i = j
		default:
			v, ok := nibble(c)
			if !ok {
				return nil, fmt.Errorf("%w: offset %d: unexpected character %q", ErrBadHex, i, c)
			}
			if groupStart < 0 {
				groupStart = i
			}
			if groupLen%2 == 0 {
				pending = v << 4
			} else {
				out = append(out, pending|v)
			}
			groupLen++
		}
	}
	if err := endGroup(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no hex digits", ErrBadHex)
	}
	return out, nil
}

// regHexPrefix returns the offset just after the first "hex:" or "hex(N):" (ASCII case-insensitive)
// in s, or -1.
func regHexPrefix(s string) int {
	for i := 0; i+4 <= len(s); i++ {
		if lower(s[i]) != 'h' || lower(s[i+1]) != 'e' || lower(s[i+2]) != 'x' {
			continue
		}
		if s[i+3] == ':' {
			return i + 4
		}
		if s[i+3] != '(' {
			continue
		}
		// hex(N): with 1-8 hex digits N
		j := i + 4
		for j < len(s) && j-(i+4) <= 8 {
			if _, ok := nibble(s[j]); !ok {
				break
			}
			j++
		}
		if j > i+4 && j-(i+4) <= 8 && j+1 < len(s) && s[j] == ')' && s[j+1] == ':' {
			return j + 2
		}
	}
	return -1
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func nibble(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Describe renders b as a multi-line annotated dump (used by `dcproxy decode HEX`): each field with its
// offset, flags spelled out, strings quoted, the tail in hex and a summary. A blob Decode rejects is
// described as far as it parses, followed by the error. Never fails.
func Describe(b []byte) string {
	var w strings.Builder
	fmt.Fprintf(&w, "connection settings, %d bytes\n", len(b))
	u32 := func(off int) (uint32, bool) {
		if len(b)-off < 4 {
			return 0, false
		}
		return binary.LittleEndian.Uint32(b[off:]), true
	}
	if v, ok := u32(0); ok {
		s := Settings{Version: v}
		fmt.Fprintf(&w, "  off %3d  version      0x%08X  %s\n", 0, v, s.VersionName())
	}
	if v, ok := u32(4); ok {
		fmt.Fprintf(&w, "  off %3d  counter      %d\n", 4, v)
	}
	if v, ok := u32(8); ok {
		fmt.Fprintf(&w, "  off %3d  flags        0x%08X  %s\n", 8, v, FlagNames(v))
	}
	off := 12
	for _, name := range []string{"proxy", "bypass", "pac_url"} {
		n, ok := u32(off)
		if !ok {
			break
		}
		fmt.Fprintf(&w, "  off %3d  %-12s %d bytes\n", off, name+"_len", n)
		off += 4
		if uint64(n) > uint64(len(b)-off) {
			break
		}
		fmt.Fprintf(&w, "  off %3d  %-12s %q\n", off, name, b[off:off+int(n)])
		off += int(n)
	}
	s, err := Decode(b)
	if err != nil {
		fmt.Fprintf(&w, "  error: %v\n", err)
		return w.String()
	}
	switch {
	case len(s.Tail) == 0:
		fmt.Fprintf(&w, "  off %3d  tail         none\n", off)
	case allZero(s.Tail):
		fmt.Fprintf(&w, "  off %3d  tail         %d bytes, all zero\n", off, len(s.Tail))
	default:
		fmt.Fprintf(&w, "  off %3d  tail         %d bytes: %s\n", off, len(s.Tail), hex.EncodeToString(s.Tail))
	}
	fmt.Fprintf(&w, "  mode: %s\n", s.Mode())
	for _, sch := range []string{"http", "https"} {
		if hp, ok := ProxyFor(s, sch); ok {
			fmt.Fprintf(&w, "  %s proxy: %s\n", sch, hp)
		}
	}
	if !s.KnownVersion() {
		fmt.Fprintf(&w, "  warning: unknown version 0x%X\n", s.Version)
	}
	return w.String()
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
