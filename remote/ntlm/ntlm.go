// Package ntlm implements the server side of NTLMv2 authentication (MS-NLMP) as a
// Windows host performs it for WinRM, NTLM session security (signing and sealing,
// connection-oriented RC4 with extended session security) for both sides of a
// connection, and the multipart/encrypted message framing of MS-WSMV 2.2.9.1.1
// that WinRM clients use to carry sealed SOAP messages over HTTP.
//
// The server side is an Acceptor: one per TCP connection and handshake. It turns a
// NEGOTIATE_MESSAGE into a CHALLENGE_MESSAGE (Challenge) and verifies the
// AUTHENTICATE_MESSAGE (Authenticate), yielding the ExportedSessionKey and, when
// signing or sealing was negotiated, a server-side Session.
//
// Only NTLMv2 is accepted; NTLMv1 and LM responses fail with ErrLogonFailure.
// Session security requires NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY.
//
// Errors: ErrMalformedMessage (unparseable or out-of-sequence token),
// ErrLogonFailure (unknown account, wrong password, NTLMv1/LM, bad MIC),
// ErrBadSignature (a sealed or signed message failed verification),
// ErrMalformedFrame (multipart/encrypted body not in the WS-Man layout),
// ErrUnsupported (session security requested without extended session security).
// All returned errors wrap one of these sentinels; use errors.Is.
package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"errors"
	"strings"
	"unicode/utf16"

	//lint:ignore SA1019 MS-NLMP defines the NT hash (NTOWFv2's key) as MD4 of the password; no other hash interoperates.
	"golang.org/x/crypto/md4"
)

// Sentinel errors. Every error returned by this package wraps exactly one of them.
var (
	// ErrMalformedMessage reports an NTLM token that cannot be parsed or that arrives out of sequence.
	ErrMalformedMessage = errors.New("ntlm: malformed message")
	// ErrLogonFailure reports a failed logon: unknown account, wrong password, NTLMv1/LM
	// response, anonymous logon or a MIC mismatch. Windows answers all of them alike.
	ErrLogonFailure = errors.New("ntlm: logon failure")
	// ErrBadSignature reports a signed or sealed message whose signature does not verify.
	ErrBadSignature = errors.New("ntlm: bad message signature")
	// ErrMalformedFrame reports a multipart/encrypted body that is not in the MS-WSMV layout.
	ErrMalformedFrame = errors.New("ntlm: malformed encrypted frame")
	// ErrUnsupported reports negotiated flags this package does not implement.
	ErrUnsupported = errors.New("ntlm: unsupported negotiation")
)

// Negotiate flags (MS-NLMP 2.2.2.5).
const (
	FlagUnicode                 uint32 = 0x00000001
	FlagOEM                     uint32 = 0x00000002
	FlagRequestTarget           uint32 = 0x00000004
	FlagSign                    uint32 = 0x00000010
	FlagSeal                    uint32 = 0x00000020
	FlagDatagram                uint32 = 0x00000040
	FlagLMKey                   uint32 = 0x00000080
	FlagNTLM                    uint32 = 0x00000200
	FlagAnonymous               uint32 = 0x00000800
	FlagOEMDomainSupplied       uint32 = 0x00001000
	FlagOEMWorkstationSupplied  uint32 = 0x00002000
	FlagAlwaysSign              uint32 = 0x00008000
	FlagTargetTypeDomain        uint32 = 0x00010000
	FlagTargetTypeServer        uint32 = 0x00020000
	FlagExtendedSessionSecurity uint32 = 0x00080000
	FlagIdentify                uint32 = 0x00100000
	FlagRequestNonNTSessionKey  uint32 = 0x00400000
	FlagTargetInfo              uint32 = 0x00800000
	FlagVersion                 uint32 = 0x02000000
	Flag128                     uint32 = 0x20000000
	FlagKeyExch                 uint32 = 0x40000000
	Flag56                      uint32 = 0x80000000
	negotiableFlags                    = FlagSign | FlagSeal | FlagAlwaysSign | FlagExtendedSessionSecurity | Flag128 | Flag56 | FlagKeyExch
)

// NTOWFv1 returns MD4(UTF-16LE(password)), the NT hash an account database stores.
func NTOWFv1(password string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	return h.Sum(nil)
}

// ntowfv2 is HMAC_MD5(NTOWFv1, UTF16LE(Upper(user) + domain)) (MS-NLMP 3.3.2).
func ntowfv2(ntowfv1 []byte, user, domain string) []byte {
	return hmacMD5(ntowfv1, utf16le(strings.ToUpper(user)+domain))
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		b[2*i] = byte(c)
		b[2*i+1] = byte(c >> 8)
	}
	return b
}

func fromUTF16LE(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u))
}

func hmacMD5(key []byte, data ...[]byte) []byte {
	h := hmac.New(md5.New, key)
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

func md5Sum(data ...[]byte) []byte {
	h := md5.New()
	for _, d := range data {
		h.Write(d)
	}
	return h.Sum(nil)
}

// rc4Once encrypts (or decrypts) data with a fresh RC4 handle keyed with key.
func rc4Once(key, data []byte) []byte {
	c, err := rc4.NewCipher(key)
	if err != nil { // only for key lengths outside 1..256, which callers never pass
		return nil
	}
	out := make([]byte, len(data))
	c.XORKeyStream(out, data)
	return out
}
