package winrmclient

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// utf8Reply returns a SOAP reply body as UTF-8. MS-WSMV 2.2.9.1 lets a server answer in UTF-8 or
// UTF-16; for a sealed reply the charset is in the framing's OriginalContent (originalCharset), for
// a plain one in the Content-Type. A byte order mark wins over the label; UTF-16 without one is
// little-endian (Windows' order), and its XML declaration is dropped once converted. A UTF-8 byte
// order mark is dropped.
func utf8Reply(contentType string, body []byte) ([]byte, error) {
	var bigEndian, wide bool
	switch {
	case bytes.HasPrefix(body, []byte{0xEF, 0xBB, 0xBF}):
		return body[3:], nil
	case bytes.HasPrefix(body, []byte{0xFF, 0xFE}):
		wide, body = true, body[2:]
	case bytes.HasPrefix(body, []byte{0xFE, 0xFF}):
		wide, bigEndian, body = true, true, body[2:]
	default:
		cs := strings.ToLower(charsetParam(contentType))
		wide = strings.HasPrefix(cs, "utf-16")
		bigEndian = cs == "utf-16be"
	}
	if !wide {
		return body, nil
	}
	if len(body)%2 != 0 {
		return nil, errors.New("UTF-16 reply has an odd number of bytes")
	}
	units := make([]uint16, len(body)/2)
	for i := range units {
		if bigEndian {
			units[i] = binary.BigEndian.Uint16(body[2*i:])
		} else {
			units[i] = binary.LittleEndian.Uint16(body[2*i:])
		}
	}
	out := make([]byte, 0, len(units)+len(units)/2)
	for _, r := range utf16.Decode(units) {
		out = utf8.AppendRune(out, r)
	}
	return dropDeclaration(out), nil
}

// dropDeclaration removes a leading XML declaration from a reply utf8Reply converted: it names the
// encoding the bytes had (UTF-16), which the reply parser would rightly refuse for UTF-8 bytes.
func dropDeclaration(b []byte) []byte {
	if len(b) > 5 && bytes.HasPrefix(b, []byte("<?xml")) && strings.ContainsRune(" \t\r\n", rune(b[5])) {
		if end := bytes.Index(b, []byte("?>")); end >= 0 {
			return b[end+2:]
		}
	}
	return b
}

// charsetParam returns the charset parameter of a media type ("" when absent).
func charsetParam(contentType string) string {
	for _, p := range strings.Split(contentType, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), "charset") {
			return strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return ""
}

// originalCharset finds the charset of the OriginalContent header in a multipart/encrypted body
// ("OriginalContent: type=application/soap+xml;charset=UTF-16;Length=..."), returned as
// ";charset=..." to append to a content type, or "" when there is none.
func originalCharset(raw []byte) string {
	const name = "originalcontent:"
	head := raw[:min(len(raw), 1024)]
	i := indexFold(head, name)
	if i < 0 {
		return ""
	}
	line := head[i+len(name):]
	if j := bytes.IndexAny(line, "\r\n"); j >= 0 {
		line = line[:j]
	}
	if cs := charsetParam(string(line)); cs != "" {
		return ";charset=" + cs
	}
	return ""
}

// indexFold is the index of the first ASCII-case-insensitive match of lower (a lower-case ASCII
// string) in b, or -1. Unlike bytes.ToLower it neither copies b nor decodes the binary that follows
// the framing's headers as UTF-8.
func indexFold(b []byte, lower string) int {
	for i := 0; i+len(lower) <= len(b); i++ {
		if c := b[i] | 0x20; c == lower[0] && bytes.EqualFold(b[i:i+len(lower)], []byte(lower)) {
			return i
		}
	}
	return -1
}
