package winsim

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Code pages a simulated shell can be created with: UTF-8 and the OEM pages of en-US (437) and
// de-DE (850) hosts, plus Windows-1252. unverified: Windows accepts any installed code page; the
// simulator refuses others loudly instead of guessing their tables.
var codepages = map[int]*charmap.Charmap{
	437:  charmap.CodePage437,
	850:  charmap.CodePage850,
	1252: charmap.Windows1252,
}

func parseCodepage(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("WINRS_CODEPAGE %q: %w", v, err)
	}
	if n != 65001 && codepages[n] == nil {
		return 0, fmt.Errorf("WINRS_CODEPAGE %d is not simulated", n)
	}
	return n, nil
}

// encoder converts UTF-8 program output to a code page. It keeps an incomplete UTF-8 sequence at the
// end of a write for the next one. Characters the code page lacks become '?', as WideCharToMultiByte's
// default character does.
type encoder struct {
	cm   *charmap.Charmap
	tail []byte
}

func newEncoder(cp int) *encoder { return &encoder{cm: codepages[cp]} }

// appendEncoded appends p, converted, to dst and returns the extended slice.
func (e *encoder) appendEncoded(dst, p []byte) []byte {
	if e.cm == nil { // 65001
		return append(dst, p...)
	}
	buf := p
	if len(e.tail) > 0 {
		buf = append(e.tail, p...)
		e.tail = nil
	}
	for len(buf) > 0 {
		r, size := utf8.DecodeRune(buf)
		if r == utf8.RuneError && size <= 1 && !utf8.FullRune(buf) {
			e.tail = append([]byte(nil), buf...)
			break
		}
		buf = buf[size:]
		if b, ok := e.cm.EncodeRune(r); ok {
			dst = append(dst, b)
		} else {
			dst = append(dst, '?')
		}
	}
	return dst
}

// decodeCodepage converts client input (stdin) from the shell's code page to UTF-8.
func decodeCodepage(cp int, p []byte) []byte {
	cm := codepages[cp]
	if cm == nil {
		return p
	}
	out := make([]byte, 0, len(p))
	for _, b := range p {
		out = utf8.AppendRune(out, cm.DecodeByte(b))
	}
	return out
}
