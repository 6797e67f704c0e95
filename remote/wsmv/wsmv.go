// Package wsmv is the multipart/encrypted framing of WinRM message encryption (MS-WSMV 2.2.9.1.1),
// shared by NTLM (remote/ntlm) and Kerberos (remote/krb) sealing: one header part naming the
// protocol and the plaintext's OriginalContent Length, one octet-stream part holding a 32-bit
// little-endian token-header length, the token header and the sealed data. It does no cryptography;
// the callers check what their mechanism requires (header size, data length). All functions are
// pure and safe for concurrent use.
package wsmv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strconv"
	"strings"
)

// ErrMalformed wraps every error of Unframe.
var ErrMalformed = errors.New("malformed multipart/encrypted body")

const (
	boundaryLine    = "--Encrypted Boundary\r\n"
	boundaryEnd     = "--Encrypted Boundary--\r\n"
	octetStreamLine = "\tContent-Type: application/octet-stream\r\n"
	originalType    = "application/soap+xml;charset=UTF-8"
	// maxHeaderLen bounds the token header (NTLM 16, Kerberos AES 60, RC4 45..48).
	maxHeaderLen = 1024
)

// ContentType is the HTTP Content-Type of a sealed body with protocol.
func ContentType(protocol string) string {
	return `multipart/encrypted;protocol="` + protocol + `";boundary="Encrypted Boundary"`
}

// Protocol returns which of protocols a multipart/encrypted Content-Type announces
// (case-insensitive), as WinRM clients test it: the protocol parameter is what matters.
func Protocol(contentType string, protocols ...string) (string, bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		// A header Go's MIME parser refuses (an empty boundary, say): the protocol parameter is
		// still what clients look at.
		for _, p := range protocols {
			if strings.Contains(strings.ToLower(contentType), `protocol="`+strings.ToLower(p)+`"`) {
				return p, true
			}
		}
		return "", false
	}
	if mt != "multipart/encrypted" {
		return "", false
	}
	for _, p := range protocols {
		if strings.EqualFold(params["protocol"], p) {
			return p, true
		}
	}
	return "", false
}

// Frame builds the body around a token header and sealed data, exactly as Windows, pywinrm and
// masterzen/winrm write it. plainLen is the OriginalContent Length: the plaintext's length (NTLM's
// RC4 keeps it; Kerberos RC4 data is one byte longer).
func Frame(protocol string, header, data []byte, plainLen int) []byte {
	body, h, d := FrameSlots(protocol, len(header), len(data), plainLen)
	copy(h, header)
	copy(d, data)
	return body
}

// FrameSlots lays out Frame's body for a token header of headerLen bytes and data of dataLen
// bytes and returns it with the two slots (zeroed, aliasing body) for the caller to fill: a sealer
// can copy the plaintext into data and encrypt it there, then write its header, with one copy of
// the message instead of two.
func FrameSlots(protocol string, headerLen, dataLen, plainLen int) (body, header, data []byte) {
	return AppendFrameSlots(nil, protocol, headerLen, dataLen, plainLen)
}

// AppendFrameSlots is FrameSlots appending the body to dst (for example a pooled buffer, which is
// used when it has room): body is dst's bytes followed by the frame.
func AppendFrameSlots(dst []byte, protocol string, headerLen, dataLen, plainLen int) (body, header, data []byte) {
	b := slices.Grow(dst, len(boundaryLine)*2+len("\tContent-Type: \r\n")+len(protocol)+
		len("\tOriginalContent: type=;Length=\r\n")+len(originalType)+20+len(octetStreamLine)+4+headerLen+dataLen+len(boundaryEnd))
	b = append(b, boundaryLine...)
	b = append(b, "\tContent-Type: "...)
	b = append(b, protocol...)
	b = append(b, "\r\n\tOriginalContent: type="+originalType+";Length="...)
	b = strconv.AppendInt(b, int64(plainLen), 10)
	b = append(b, "\r\n"+boundaryLine+octetStreamLine...)
	b = binary.LittleEndian.AppendUint32(b, uint32(headerLen))
	h := len(b)
	b = append(b, make([]byte, headerLen+dataLen)...)
	b = append(b, boundaryEnd...)
	return b, b[h : h+headerLen], b[h+headerLen : h+headerLen+dataLen]
}

// Unframe splits a body into its protocol (one of protocols), token header, data and the announced
// plaintext length, without decrypting; the slices alias body. The data runs up to the closing
// boundary at the very end of the body (its final CRLF optional), so boundary-like bytes inside the
// ciphertext are harmless. The header part must carry exactly the Content-Type and OriginalContent
// (type and Length) headers; names and surrounding whitespace are matched leniently.
// unverified: whether Windows ignores extra MIME headers there; rejecting is the stricter reading of
// MS-WSMV 2.2.9.1.1, and no client or Windows writes one.
func Unframe(body []byte, protocols ...string) (protocol string, header, data []byte, plainLen int, err error) {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrMalformed, what) }
	rest, ok := bytes.CutPrefix(body, []byte(boundaryLine))
	if !ok {
		return "", nil, nil, 0, bad("missing opening boundary")
	}
	i := bytes.Index(rest, []byte(boundaryLine))
	if i < 0 {
		return "", nil, nil, 0, bad("missing second boundary")
	}
	part, rest := rest[:i], rest[i+len(boundaryLine):]
	if protocol, plainLen, err = partHeader(part, protocols); err != nil {
		return "", nil, nil, 0, err
	}
	eol := bytes.Index(rest, []byte("\r\n"))
	if eol < 0 {
		return "", nil, nil, 0, bad("missing octet-stream part header")
	}
	name, val, _ := strings.Cut(strings.TrimSpace(string(rest[:eol])), ":")
	if !strings.EqualFold(strings.TrimSpace(name), "Content-Type") || !strings.EqualFold(strings.TrimSpace(val), "application/octet-stream") {
		return "", nil, nil, 0, bad("missing octet-stream part header")
	}
	rest = rest[eol+2:]
	switch {
	case bytes.HasSuffix(rest, []byte(boundaryEnd)):
		rest = rest[:len(rest)-len(boundaryEnd)]
	case bytes.HasSuffix(rest, []byte(strings.TrimSuffix(boundaryEnd, "\r\n"))):
		rest = rest[:len(rest)-len(boundaryEnd)+2]
	default:
		return "", nil, nil, 0, bad("missing closing boundary")
	}
	if len(rest) < 4 {
		return "", nil, nil, 0, bad("truncated payload")
	}
	hl := binary.LittleEndian.Uint32(rest)
	rest = rest[4:]
	if hl == 0 || hl > maxHeaderLen || int(hl) > len(rest) {
		return "", nil, nil, 0, bad(fmt.Sprintf("token header length %d", hl))
	}
	return protocol, rest[:hl], rest[hl:], plainLen, nil
}

// partHeader reads the header part: the protocol and the OriginalContent Length.
func partHeader(part []byte, protocols []string) (protocol string, length int, err error) {
	length = -1
	var sawType bool
	for _, line := range strings.Split(string(part), "\r\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			return "", 0, fmt.Errorf("%w: bad header line", ErrMalformed)
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-type":
			protocol = ""
			for _, p := range protocols {
				if strings.EqualFold(val, p) {
					protocol = p
				}
			}
			if protocol == "" {
				return "", 0, fmt.Errorf("%w: unexpected part type", ErrMalformed)
			}
		case "originalcontent":
			for _, p := range strings.Split(val, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				switch {
				case strings.EqualFold(k, "Length"):
					n, err := strconv.Atoi(v)
					if err != nil || n < 0 {
						return "", 0, fmt.Errorf("%w: bad Length", ErrMalformed)
					}
					length = n
				case strings.EqualFold(k, "type") && v != "":
					sawType = true
				}
			}
		default:
			return "", 0, fmt.Errorf("%w: unexpected header line", ErrMalformed)
		}
	}
	if protocol == "" || !sawType || length < 0 {
		return "", 0, fmt.Errorf("%w: missing Content-Type or OriginalContent type or Length", ErrMalformed)
	}
	return protocol, length, nil
}
