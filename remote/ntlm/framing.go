package ntlm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"mime"
	"strconv"
	"strings"
)

// EncryptedContentType is the HTTP Content-Type of a sealed WinRM message (MS-WSMV 2.2.9.1.1).
const EncryptedContentType = `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`

const (
	encryptedProtocol = "application/HTTP-SPNEGO-session-encrypted"
	boundaryLine      = "--Encrypted Boundary\r\n"
	boundaryEnd       = "--Encrypted Boundary--\r\n"
	octetStreamLine   = "\tContent-Type: application/octet-stream\r\n"
	originalType      = "application/soap+xml;charset=UTF-8"
	// ntlmSignatureLen is the only signature length prefix accepted: NTLM signatures are 16 bytes.
	ntlmSignatureLen = 16
)

// IsEncrypted reports whether contentType announces an NTLM/SPNEGO-sealed
// multipart/encrypted body, the way WinRM clients test it (the protocol parameter
// is what matters).
func IsEncrypted(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return strings.Contains(strings.ToLower(contentType), `protocol="`+strings.ToLower(encryptedProtocol)+`"`)
	}
	return mt == "multipart/encrypted" && strings.EqualFold(params["protocol"], encryptedProtocol)
}

// Frame builds the multipart/encrypted body of MS-WSMV 2.2.9.1.1 around a 16-byte
// NTLM signature and the sealed payload, exactly as masterzen/winrm, pywinrm and
// Windows write it. It does no cryptography. The OriginalContent Length is
// len(sealed): NTLM sealing (RC4) keeps the plaintext length. Send the result with
// Content-Type EncryptedContentType. Frame is a pure function, safe for concurrent use.
func Frame(signature, sealed []byte) []byte {
	var b bytes.Buffer
	b.Grow(len(sealed) + len(signature) + 256)
	b.WriteString(boundaryLine)
	b.WriteString("\tContent-Type: " + encryptedProtocol + "\r\n")
	b.WriteString("\tOriginalContent: type=" + originalType + ";Length=" + strconv.Itoa(len(sealed)) + "\r\n")
	b.WriteString(boundaryLine)
	b.WriteString(octetStreamLine)
	var l [4]byte
	binary.LittleEndian.PutUint32(l[:], uint32(len(signature)))
	b.Write(l[:])
	b.Write(signature)
	b.Write(sealed)
	b.WriteString(boundaryEnd)
	return b.Bytes()
}

// Unframe splits a multipart/encrypted body (one header part, one octet-stream part)
// into the 16-byte NTLM signature and the sealed payload, without decrypting. The
// returned slices alias body.
//
// The sealed payload is located by position (its length is the OriginalContent
// Length), so boundary-like bytes inside the ciphertext are harmless. The closing
// boundary may lack its final CRLF. The header part must carry exactly the
// Content-Type (the SPNEGO protocol) and OriginalContent (with type and Length)
// headers; header names and surrounding whitespace are matched leniently.
// Every error wraps ErrMalformedFrame. Unframe is safe for concurrent use.
func Unframe(body []byte) (signature, sealed []byte, err error) {
	rest, ok := bytes.CutPrefix(body, []byte(boundaryLine))
	if !ok {
		return nil, nil, fmt.Errorf("%w: missing opening boundary", ErrMalformedFrame)
	}
	i := bytes.Index(rest, []byte(boundaryLine))
	if i < 0 {
		return nil, nil, fmt.Errorf("%w: missing second boundary", ErrMalformedFrame)
	}
	header, rest := rest[:i], rest[i+len(boundaryLine):]
	length, err := originalLength(header)
	if err != nil {
		return nil, nil, err
	}
	// Content-Type line of the octet-stream part (tab-indented as clients write it).
	eol := bytes.Index(rest, []byte("\r\n"))
	if eol < 0 || !isOctetStreamLine(rest[:eol]) {
		return nil, nil, fmt.Errorf("%w: missing octet-stream part header", ErrMalformedFrame)
	}
	rest = rest[eol+2:]
	if len(rest) < 4 {
		return nil, nil, fmt.Errorf("%w: truncated payload", ErrMalformedFrame)
	}
	sigLen := binary.LittleEndian.Uint32(rest)
	rest = rest[4:]
	if sigLen != ntlmSignatureLen || len(rest) < ntlmSignatureLen {
		return nil, nil, fmt.Errorf("%w: signature length %d", ErrMalformedFrame, sigLen)
	}
	signature, rest = rest[:ntlmSignatureLen], rest[ntlmSignatureLen:]
	if length > len(rest) {
		return nil, nil, fmt.Errorf("%w: payload shorter than Length=%d", ErrMalformedFrame, length)
	}
	sealed, tail := rest[:length], rest[length:]
	if !bytes.Equal(tail, []byte(boundaryEnd)) && !bytes.Equal(tail, []byte(strings.TrimSuffix(boundaryEnd, "\r\n"))) {
		return nil, nil, fmt.Errorf("%w: payload length differs from Length=%d", ErrMalformedFrame, length)
	}
	return signature, sealed, nil
}

// Seal wraps plain (a SOAP message) with s and returns the complete
// multipart/encrypted HTTP body; send it with Content-Type EncryptedContentType.
// It advances the Session's sending sequence number.
func Seal(s *Session, plain []byte) []byte {
	sig, sealed := s.Wrap(plain)
	return Frame(sig[:], sealed)
}

// Open parses a multipart/encrypted body with Unframe, unwraps it with s and
// returns the plaintext. It fails with ErrMalformedFrame when the body is not in
// the MS-WSMV layout or the decrypted length differs from Length, and with
// ErrBadSignature when the signature does not verify.
func Open(s *Session, body []byte) ([]byte, error) {
	sig, sealed, err := Unframe(body)
	if err != nil {
		return nil, err
	}
	plain, err := s.Unwrap(sig, sealed)
	if err != nil {
		return nil, err
	}
	if len(plain) != len(sealed) { // RC4 keeps the length; kept as the clients' own check
		return nil, fmt.Errorf("%w: decrypted length %d, want %d", ErrMalformedFrame, len(plain), len(sealed))
	}
	return plain, nil
}

func isOctetStreamLine(line []byte) bool {
	name, val, ok := strings.Cut(strings.TrimSpace(string(line)), ":")
	return ok && strings.EqualFold(strings.TrimSpace(name), "Content-Type") &&
		strings.EqualFold(strings.TrimSpace(val), "application/octet-stream")
}

// originalLength reads the Length parameter of the OriginalContent header and
// checks the part's Content-Type. Any other header line is a malformed frame:
// no WinRM client or Windows writes one (unverified: whether Windows ignores
// extra MIME headers here; rejecting is the stricter reading of MS-WSMV 2.2.9.1.1).
func originalLength(header []byte) (int, error) {
	var sawType, sawOrigType bool
	length := -1
	for _, line := range strings.Split(string(header), "\r\n") {
		name, val, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			if strings.TrimSpace(line) == "" {
				continue
			}
			return 0, fmt.Errorf("%w: bad header line", ErrMalformedFrame)
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-type":
			if !strings.EqualFold(val, encryptedProtocol) {
				return 0, fmt.Errorf("%w: unexpected part type", ErrMalformedFrame)
			}
			sawType = true
		case "originalcontent":
			for _, p := range strings.Split(val, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				switch {
				case strings.EqualFold(k, "Length"):
					n, err := strconv.Atoi(v)
					if err != nil || n < 0 {
						return 0, fmt.Errorf("%w: bad Length", ErrMalformedFrame)
					}
					length = n
				case strings.EqualFold(k, "type") && v != "":
					sawOrigType = true
				}
			}
		default:
			return 0, fmt.Errorf("%w: unexpected header line", ErrMalformedFrame)
		}
	}
	if !sawType || !sawOrigType || length < 0 {
		return 0, fmt.Errorf("%w: missing Content-Type or OriginalContent type or Length", ErrMalformedFrame)
	}
	return length, nil
}
