package ntlm

import (
	"fmt"

	"github.com/dcproxy/dcproxy/remote/wsmv"
)

// EncryptedContentType is the HTTP Content-Type of a sealed WinRM message (MS-WSMV 2.2.9.1.1).
const EncryptedContentType = `multipart/encrypted;protocol="application/HTTP-SPNEGO-session-encrypted";boundary="Encrypted Boundary"`

const (
	encryptedProtocol = "application/HTTP-SPNEGO-session-encrypted"
	// ntlmSignatureLen is the only signature length accepted: NTLM signatures are 16 bytes.
	ntlmSignatureLen = 16
)

// IsEncrypted reports whether contentType announces an NTLM/SPNEGO-sealed multipart/encrypted body,
// the way WinRM clients test it (the protocol parameter is what matters).
func IsEncrypted(contentType string) bool {
	_, ok := wsmv.Protocol(contentType, encryptedProtocol)
	return ok
}

// Frame builds the multipart/encrypted body of MS-WSMV 2.2.9.1.1 (remote/wsmv) around a 16-byte
// NTLM signature and the sealed payload. The OriginalContent Length is len(sealed): NTLM sealing
// (RC4) keeps the plaintext length. Send the result with Content-Type EncryptedContentType.
func Frame(signature, sealed []byte) []byte {
	return wsmv.Frame(encryptedProtocol, signature, sealed, len(sealed))
}

// Unframe splits a multipart/encrypted body into the 16-byte NTLM signature and the sealed payload,
// without decrypting (remote/wsmv's Unframe, plus NTLM's own rules: the SPNEGO protocol, a 16-byte
// signature, a payload of exactly Length bytes). The returned slices alias body. Every error wraps
// ErrMalformedFrame.
func Unframe(body []byte) (signature, sealed []byte, err error) {
	_, sig, data, length, err := wsmv.Unframe(body, encryptedProtocol)
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("%w: %w", ErrMalformedFrame, err)
	case len(sig) != ntlmSignatureLen:
		return nil, nil, fmt.Errorf("%w: signature length %d", ErrMalformedFrame, len(sig))
	case len(data) != length:
		return nil, nil, fmt.Errorf("%w: payload length %d differs from Length=%d", ErrMalformedFrame, len(data), length)
	}
	return sig, data, nil
}

// Seal wraps plain (a SOAP message) with s and returns the complete
// multipart/encrypted HTTP body; send it with Content-Type EncryptedContentType.
// It advances the Session's sending sequence number.
func Seal(s *Session, plain []byte) []byte {
	return SealTo(nil, s, plain)
}

// SealTo is Seal writing the body into dst[:0] (for example a pooled buffer, used when it has
// room) and returning it.
func SealTo(dst []byte, s *Session, plain []byte) []byte {
	// The plaintext is copied once, into the frame, and sealed there; plain is left as it was.
	body, sig, data := wsmv.AppendFrameSlots(dst[:0], encryptedProtocol, ntlmSignatureLen, len(plain), len(plain))
	copy(data, plain)
	signature := s.WrapInPlace(data)
	copy(sig, signature[:])
	return body
}

// SealInPlace is Seal encrypting plain in place (plain is overwritten with the sealed payload
// before it is copied into the frame).
func SealInPlace(s *Session, plain []byte) []byte {
	sig := s.WrapInPlace(plain)
	return Frame(sig[:], plain)
}

// OpenInPlace is Open decrypting within body: the plaintext it returns aliases body, whose payload
// is overwritten. Use it when body is not needed afterwards.
func OpenInPlace(s *Session, body []byte) ([]byte, error) {
	sig, sealed, err := Unframe(body)
	if err != nil {
		return nil, err
	}
	return s.UnwrapInPlace(sig, sealed)
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
