package krb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// Protocol strings of WinRM message encryption (MS-WSMV 2.2.9.1.1): Negotiate (what Windows, pywinrm
// and this package send for Kerberos too) and the Kerberos scheme's own.
const (
	ProtocolSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	ProtocolKerberos = "application/HTTP-Kerberos-session-encrypted"
)

// ErrMalformedFrame wraps every framing error of Unframe and Open. It is also ErrBadToken.
var ErrMalformedFrame = fmt.Errorf("%w: malformed multipart/encrypted body", ErrBadToken)

const (
	boundaryLine    = "--Encrypted Boundary\r\n"
	boundaryEnd     = "--Encrypted Boundary--\r\n"
	octetStreamLine = "\tContent-Type: application/octet-stream\r\n"
	originalType    = "application/soap+xml;charset=UTF-8"
	// maxHeaderLen bounds the token header: 60 for AES, 45..48 for RC4.
	maxHeaderLen = 1024
)

// ContentType is the HTTP Content-Type of a sealed body with protocol.
func ContentType(protocol string) string {
	return `multipart/encrypted;protocol="` + protocol + `";boundary="Encrypted Boundary"`
}

// EncryptedProtocol returns the protocol of a multipart/encrypted Content-Type when it is one of the
// two Kerberos-capable protocols.
func EncryptedProtocol(contentType string) (string, bool) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "multipart/encrypted" {
		return "", false
	}
	for _, p := range []string{ProtocolSPNEGO, ProtocolKerberos} {
		if strings.EqualFold(params["protocol"], p) {
			return p, true
		}
	}
	return "", false
}

// Frame builds the multipart/encrypted body around a Kerberos wrap token split into header and data
// (as Session.Wrap returns them), exactly as Windows and pywinrm write it: OriginalContent Length is
// plainLen (RC4 data is one byte longer), then the LE32 header length, the header and the data.
func Frame(protocol string, header, data []byte, plainLen int) []byte {
	var b bytes.Buffer
	b.Grow(len(header) + len(data) + 256)
	b.WriteString(boundaryLine)
	b.WriteString("\tContent-Type: " + protocol + "\r\n")
	b.WriteString("\tOriginalContent: type=" + originalType + ";Length=" + strconv.Itoa(plainLen) + "\r\n")
	b.WriteString(boundaryLine)
	b.WriteString(octetStreamLine)
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(len(header)))
	b.Write(l[:])
	b.Write(header)
	b.Write(data)
	b.WriteString(boundaryEnd)
	return b.Bytes()
}

// Unframe splits a multipart/encrypted body into protocol, token header, data and the announced
// plaintext length, without decrypting. The data runs up to the closing boundary at the very end of
// the body (its final CRLF optional), so boundary-like bytes inside the ciphertext are harmless; it
// must be plainLen (AES) or plainLen+1 (RC4) bytes. The slices alias body.
func Unframe(body []byte) (protocol string, header, data []byte, plainLen int, err error) {
	bad := func(what string) error { return fmt.Errorf("%w: %s", ErrMalformedFrame, what) }
	rest, ok := bytes.CutPrefix(body, []byte(boundaryLine))
	if !ok {
		return "", nil, nil, 0, bad("missing opening boundary")
	}
	i := bytes.Index(rest, []byte(boundaryLine))
	if i < 0 {
		return "", nil, nil, 0, bad("missing second boundary")
	}
	part, rest := rest[:i], rest[i+len(boundaryLine):]
	protocol, plainLen, err = partHeader(part)
	if err != nil {
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
	header, data = rest[:hl], rest[hl:]
	if len(data) != plainLen && len(data) != plainLen+1 {
		return "", nil, nil, 0, bad(fmt.Sprintf("%d data bytes for Length=%d", len(data), plainLen))
	}
	return protocol, header, data, plainLen, nil
}

func partHeader(part []byte) (protocol string, length int, err error) {
	length = -1
	var sawType bool
	for _, line := range strings.Split(string(part), "\r\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		name, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			return "", 0, fmt.Errorf("%w: bad header line", ErrMalformedFrame)
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-type":
			switch {
			case strings.EqualFold(val, ProtocolSPNEGO):
				protocol = ProtocolSPNEGO
			case strings.EqualFold(val, ProtocolKerberos):
				protocol = ProtocolKerberos
			default:
				return "", 0, fmt.Errorf("%w: unexpected part type", ErrMalformedFrame)
			}
		case "originalcontent":
			for _, p := range strings.Split(val, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				switch {
				case strings.EqualFold(k, "Length"):
					n, err := strconv.Atoi(v)
					if err != nil || n < 0 {
						return "", 0, fmt.Errorf("%w: bad Length", ErrMalformedFrame)
					}
					length = n
				case strings.EqualFold(k, "type") && v != "":
					sawType = true
				}
			}
		default:
			return "", 0, fmt.Errorf("%w: unexpected header line", ErrMalformedFrame)
		}
	}
	if protocol == "" || !sawType || length < 0 {
		return "", 0, fmt.Errorf("%w: missing Content-Type or OriginalContent type or Length", ErrMalformedFrame)
	}
	return protocol, length, nil
}

// Seal wraps plain with s and frames it; send it with ContentType(protocol).
func Seal(s Sealer, protocol string, plain []byte) ([]byte, error) {
	h, d, err := s.Wrap(plain)
	if err != nil {
		return nil, err
	}
	return Frame(protocol, h, d, len(plain)), nil
}

// Open unframes and unwraps a sealed body and returns the protocol it used and the plaintext, whose
// length must be the announced Length.
func Open(s Sealer, body []byte) (protocol string, plain []byte, err error) {
	protocol, h, d, n, err := Unframe(body)
	if err != nil {
		return "", nil, err
	}
	plain, err = s.Unwrap(h, d)
	if err != nil {
		return "", nil, err
	}
	if len(plain) != n {
		return "", nil, fmt.Errorf("%w: decrypted length %d, want %d", ErrMalformedFrame, len(plain), n)
	}
	return protocol, plain, nil
}
