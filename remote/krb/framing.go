package krb

import (
	"fmt"

	"github.com/dcproxy/dcproxy/remote/wsmv"
)

// Protocol strings of WinRM message encryption (MS-WSMV 2.2.9.1.1): Negotiate (what Windows, pywinrm
// and this package send for Kerberos too) and the Kerberos scheme's own.
const (
	ProtocolSPNEGO   = "application/HTTP-SPNEGO-session-encrypted"
	ProtocolKerberos = "application/HTTP-Kerberos-session-encrypted"
)

// ErrMalformedFrame wraps every framing error of Unframe and Open. It is also ErrBadToken.
var ErrMalformedFrame = fmt.Errorf("%w: malformed multipart/encrypted body", ErrBadToken)

// ContentType is the HTTP Content-Type of a sealed body with protocol.
func ContentType(protocol string) string { return wsmv.ContentType(protocol) }

// EncryptedProtocol returns the protocol of a multipart/encrypted Content-Type when it is one of the
// two Kerberos-capable protocols.
func EncryptedProtocol(contentType string) (string, bool) {
	return wsmv.Protocol(contentType, ProtocolSPNEGO, ProtocolKerberos)
}

// Frame builds the multipart/encrypted body (remote/wsmv) around a Kerberos wrap token split into
// header and data (as Session.Wrap returns them): OriginalContent Length is plainLen (RC4 data is
// one byte longer).
func Frame(protocol string, header, data []byte, plainLen int) []byte {
	return wsmv.Frame(protocol, header, data, plainLen)
}

// Unframe splits a multipart/encrypted body into protocol, token header, data and the announced
// plaintext length, without decrypting (remote/wsmv's Unframe, plus Kerberos' rules: one of the two
// protocols, data of plainLen (AES) or plainLen+1 (RC4)
// bytes). The slices alias body. Every error wraps ErrMalformedFrame.
func Unframe(body []byte) (protocol string, header, data []byte, plainLen int, err error) {
	protocol, header, data, plainLen, err = wsmv.Unframe(body, ProtocolSPNEGO, ProtocolKerberos)
	switch {
	case err != nil:
		return "", nil, nil, 0, fmt.Errorf("%w: %w", ErrMalformedFrame, err)
	case len(data) != plainLen && len(data) != plainLen+1:
		return "", nil, nil, 0, fmt.Errorf("%w: %d data bytes for Length=%d", ErrMalformedFrame, len(data), plainLen)
	}
	return protocol, header, data, plainLen, nil
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
