package winrmclient

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Encrypted message framing of MS-WSMV 2.2.9.1.1 (HTTP-SPNEGO-session-encrypted), as masterzen's
// Encryption and pywinrm write it.
const (
	boundary          = "--Encrypted Boundary"
	protocolSPNEGO    = "application/HTTP-SPNEGO-session-encrypted"
	encryptedType     = `multipart/encrypted;protocol="` + protocolSPNEGO + `";boundary="Encrypted Boundary"`
	soapContentType   = "application/soap+xml;charset=UTF-8"
	octetStreamHeader = "\tContent-Type: application/octet-stream\r\n"
	ntlmSignatureLen  = 16
)

// sealer is one side of an NTLM security context: Wrap seals and signs an outgoing message,
// Unwrap unseals and verifies an incoming one. Both advance sequence numbers and RC4 state, so
// calls must be serialized and made in wire order. bodgit's *ntlmssp.SecuritySession satisfies it.
type sealer interface {
	Wrap(plain []byte) (sealed, signature []byte, err error)
	Unwrap(sealed, signature []byte) ([]byte, error)
}

// errFraming is wrapped by every error about a malformed encrypted body.
var errFraming = errors.New("malformed encrypted message")

// sealBody seals plain (a SOAP message) and frames it as a multipart/encrypted body.
func sealBody(s sealer, plain []byte) ([]byte, error) {
	sealed, sig, err := s.Wrap(plain)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	var b bytes.Buffer
	b.Grow(len(plain) + 256)
	b.WriteString(boundary + "\r\n")
	b.WriteString("\tContent-Type: " + protocolSPNEGO + "\r\n")
	b.WriteString("\tOriginalContent: type=" + soapContentType + ";Length=" + strconv.Itoa(len(plain)) + "\r\n")
	b.WriteString(boundary + "\r\n")
	b.WriteString(octetStreamHeader)
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(sig)))
	b.Write(n[:])
	b.Write(sig)
	b.Write(sealed)
	b.WriteString(boundary + "--\r\n")
	return b.Bytes(), nil
}

// isEncrypted reports whether a Content-Type announces an SPNEGO-session-encrypted body.
func isEncrypted(contentType string) bool {
	return strings.Contains(contentType, `protocol="`+protocolSPNEGO+`"`)
}

// frame is one decoded part of an encrypted body.
type frame struct {
	origType  string // the OriginalContent type, e.g. application/soap+xml;charset=UTF-8
	length    int    // the plaintext length announced in OriginalContent
	signature []byte
	sealed    []byte
}

// parseFrame splits a multipart/encrypted body into its header and sealed payload without
// decrypting it. Only single-part bodies are valid for NTLM (multi-part is CredSSP).
func parseFrame(body []byte) (frame, error) {
	var f frame
	rest, ok := bytes.CutPrefix(body, []byte(boundary+"\r\n"))
	if !ok {
		return f, fmt.Errorf("%w: no leading boundary", errFraming)
	}
	header, payload, ok := bytes.Cut(rest, []byte(boundary+"\r\n"))
	if !ok {
		return f, fmt.Errorf("%w: no payload part", errFraming)
	}
	var sawType bool
	for _, line := range strings.Split(string(header), "\r\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "Content-Type:"):
			if strings.TrimSpace(strings.TrimPrefix(line, "Content-Type:")) != protocolSPNEGO {
				return f, fmt.Errorf("%w: unsupported protocol %q", errFraming, line)
			}
			sawType = true
		case strings.HasPrefix(line, "OriginalContent:"):
			v := strings.TrimSpace(strings.TrimPrefix(line, "OriginalContent:"))
			i := strings.LastIndex(v, "Length=")
			if i < 0 {
				return f, fmt.Errorf("%w: no Length in OriginalContent", errFraming)
			}
			n, err := strconv.Atoi(strings.TrimSpace(v[i+len("Length="):]))
			if err != nil || n < 0 {
				return f, fmt.Errorf("%w: bad Length in OriginalContent", errFraming)
			}
			f.length = n
			f.origType = strings.TrimSuffix(strings.TrimPrefix(v[:i], "type="), ";")
		default:
			return f, fmt.Errorf("%w: unexpected header line", errFraming)
		}
	}
	if !sawType || f.origType == "" {
		return f, fmt.Errorf("%w: incomplete part header", errFraming)
	}
	payload, ok = bytes.CutPrefix(payload, []byte(octetStreamHeader))
	if !ok {
		return f, fmt.Errorf("%w: no octet-stream part", errFraming)
	}
	payload, ok = bytes.CutSuffix(payload, []byte(boundary+"--\r\n"))
	if !ok {
		payload, ok = bytes.CutSuffix(payload, []byte(boundary+"--"))
	}
	if !ok {
		return f, fmt.Errorf("%w: no closing boundary", errFraming)
	}
	if len(payload) < 4 {
		return f, fmt.Errorf("%w: short payload", errFraming)
	}
	sigLen := binary.LittleEndian.Uint32(payload[:4])
	if sigLen != ntlmSignatureLen || uint64(len(payload)-4) < uint64(sigLen) {
		return f, fmt.Errorf("%w: bad signature length %d", errFraming, sigLen)
	}
	f.signature = payload[4 : 4+sigLen]
	f.sealed = payload[4+sigLen:]
	if len(f.sealed) != f.length {
		return f, fmt.Errorf("%w: payload is %d bytes, header says %d", errFraming, len(f.sealed), f.length)
	}
	return f, nil
}

// openBody parses and unseals an encrypted body, returning the plaintext and its original type.
func openBody(s sealer, body []byte) ([]byte, string, error) {
	f, err := parseFrame(body)
	if err != nil {
		return nil, "", err
	}
	plain, err := s.Unwrap(f.sealed, f.signature)
	if err != nil {
		return nil, "", fmt.Errorf("unseal: %w", err)
	}
	return plain, f.origType, nil
}
