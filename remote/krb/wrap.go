package krb

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // RFC 4757 is defined on MD5
	"crypto/rand"
	"crypto/rc4" //nolint:gosec // RFC 4757 is defined on RC4
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"sync"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Key usages of RFC 4121 2.
const (
	usageAcceptorSeal  = 22
	usageInitiatorSeal = 24
)

// RFC 4121 4.2.2 token flags.
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

// rrc is the Right Rotation Count Windows (and MIT's wrap_iov for WinRM) put into sealed AES tokens:
// the 12-byte HMAC plus the 16-byte encrypted header copy.
const rrc = 28

// cfxHeaderLen is the RFC 4121 token header length.
const cfxHeaderLen = 16

// Session is an established Kerberos security context (RFC 4121 for AES keys, RFC 4757 for RC4)
// sealing WinRM messages in either direction. Wrap returns the two parts of a sealed message the way
// WinRM frames them (MS-WSMV 2.2.9.1.1): the token header, whose length precedes it on the wire, and
// the encrypted data; Unwrap takes them back. Both keep sequence numbers, so calls in one direction
// must be serialized and in wire order; Wrap and Unwrap may run concurrently with each other.
type Session struct {
	key       types.EncryptionKey
	acceptor  bool // this side is the acceptor
	acceptSub bool // the key is the acceptor's subkey (RFC 4121 flag 0x04)
	cfx       bool // RFC 4121 (AES); false: RFC 4757 (RC4)

	sendMu  sync.Mutex
	sendSeq uint64
	recvMu  sync.Mutex
	recvSeq uint64
}

// EncType is the key's encryption type (e.g. 18 aes256-cts-hmac-sha1-96, 23 rc4-hmac).
func (s *Session) EncType() int32 { return s.key.KeyType }

// Wrap seals plain and returns the token header and the encrypted data (AES: a 60-byte header and
// len(plain) data bytes; RC4: a 45..48-byte header and len(plain)+1 data bytes).
func (s *Session) Wrap(plain []byte) (header, data []byte, err error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	seq := s.sendSeq
	if s.cfx {
		header, data, err = s.wrapCFX(plain, seq)
	} else {
		header, data, err = s.wrapRC4(plain, seq)
	}
	if err == nil {
		s.sendSeq++
	}
	return header, data, err
}

// Unwrap verifies and decrypts a sealed message from the peer (header and data as Wrap returns
// them). A token out of sequence, from the wrong direction or failing its integrity check is
// ErrBadToken.
func (s *Session) Unwrap(header, data []byte) (_ []byte, err error) {
	s.recvMu.Lock()
	defer s.recvMu.Unlock()
	defer recoverBadToken(&err)
	var plain []byte
	if s.cfx {
		plain, err = s.unwrapCFX(header, data, s.recvSeq)
	} else {
		plain, err = s.unwrapRC4(header, data, s.recvSeq)
	}
	if err != nil {
		return nil, err
	}
	s.recvSeq++
	return plain, nil
}

// recoverBadToken turns a panic of gokrb5's parsers and ciphers (which index attacker-controlled
// input without bounds checks in places) into ErrBadToken.
func recoverBadToken(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: malformed input", ErrBadToken)
	}
}

// --- RFC 4121 (AES) ---

func (s *Session) cfxFlags(fromAcceptor bool) byte {
	f := byte(flagSealed)
	if fromAcceptor {
		f |= flagSentByAcceptor
	}
	if s.acceptSub {
		f |= flagAcceptorSubkey
	}
	return f
}

func cfxHeader(flags byte, ec, rrc uint16, seq uint64) []byte {
	h := make([]byte, cfxHeaderLen)
	h[0], h[1], h[2], h[3] = 0x05, 0x04, flags, 0xff
	binary.BigEndian.PutUint16(h[4:6], ec)
	binary.BigEndian.PutUint16(h[6:8], rrc)
	binary.BigEndian.PutUint64(h[8:16], seq)
	return h
}

func (s *Session) wrapCFX(plain []byte, seq uint64) ([]byte, []byte, error) {
	usage := uint32(usageInitiatorSeal)
	if s.acceptor {
		usage = usageAcceptorSeal
	}
	flags := s.cfxFlags(s.acceptor)
	et, err := crypto.GetEtype(s.key.KeyType)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	msg := make([]byte, 0, len(plain)+cfxHeaderLen)
	msg = append(msg, plain...)
	msg = append(msg, cfxHeader(flags, 0, 0, seq)...) // the encrypted copy carries RRC 0
	_, ct, err := et.EncryptMessage(s.key.KeyValue, msg, usage)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: seal: %v", ErrBadToken, err)
	}
	// ct = E(confounder | plain | header) | HMAC; rotate right by RRC.
	rot := make([]byte, 0, len(ct))
	rot = append(rot, ct[len(ct)-rrc:]...)
	rot = append(rot, ct[:len(ct)-rrc]...)
	split := len(rot) - len(plain) // confounder and header copy and HMAC go to the header part
	header := append(cfxHeader(flags, 0, rrc, seq), rot[:split]...)
	return header, rot[split:], nil
}

func (s *Session) unwrapCFX(header, data []byte, seq uint64) ([]byte, error) {
	tok := make([]byte, 0, len(header)+len(data))
	tok = append(tok, header...)
	tok = append(tok, data...)
	if len(tok) < cfxHeaderLen || tok[0] != 0x05 || tok[1] != 0x04 || tok[3] != 0xff {
		return nil, fmt.Errorf("%w: not an RFC 4121 wrap token", ErrBadToken)
	}
	flags := tok[2]
	wantAcceptor := !s.acceptor
	if (flags&flagSentByAcceptor != 0) != wantAcceptor {
		return nil, fmt.Errorf("%w: wrap token from the wrong direction", ErrBadToken)
	}
	if flags&flagSealed == 0 {
		return nil, fmt.Errorf("%w: wrap token is not sealed", ErrBadToken)
	}
	if (flags&flagAcceptorSubkey != 0) != s.acceptSub {
		return nil, fmt.Errorf("%w: wrap token acceptor-subkey flag does not match the context", ErrBadToken)
	}
	ec := binary.BigEndian.Uint16(tok[4:6])
	r := int(binary.BigEndian.Uint16(tok[6:8]))
	gotSeq := binary.BigEndian.Uint64(tok[8:16])
	body := tok[cfxHeaderLen:]
	if len(body) == 0 {
		return nil, fmt.Errorf("%w: empty wrap token", ErrBadToken)
	}
	r %= len(body)
	ct := make([]byte, 0, len(body))
	ct = append(ct, body[r:]...)
	ct = append(ct, body[:r]...)
	usage := uint32(usageAcceptorSeal)
	if s.acceptor {
		usage = usageInitiatorSeal
	}
	et, err := crypto.GetEtype(s.key.KeyType)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	// gokrb5 slices without checking: confounder, the header copy and the HMAC must be there.
	if len(ct) < et.GetConfounderByteSize()+cfxHeaderLen+et.GetHMACBitLength()/8 {
		return nil, fmt.Errorf("%w: short wrap token", ErrBadToken)
	}
	pt, err := crypto.DecryptMessage(ct, s.key, usage)
	if err != nil {
		return nil, fmt.Errorf("%w: unseal: integrity check failed", ErrBadToken)
	}
	if len(pt) < cfxHeaderLen+int(ec) {
		return nil, fmt.Errorf("%w: short sealed message", ErrBadToken)
	}
	inner := pt[len(pt)-cfxHeaderLen:]
	outer := cfxHeader(flags, ec, 0, gotSeq)
	if !bytes.Equal(inner, outer) {
		return nil, fmt.Errorf("%w: sealed header copy differs from the token header", ErrBadToken)
	}
	if gotSeq != seq {
		return nil, fmt.Errorf("%w: sequence number %d, want %d", ErrBadToken, gotSeq, seq)
	}
	return pt[:len(pt)-cfxHeaderLen-int(ec)], nil
}

// --- RFC 4757 (RC4-HMAC) ---

var krb5OIDDER = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}

func hmacMD5(key []byte, parts ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

func le32(v uint32) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	return b
}

func rc4Xor(key, dst []byte) {
	c, _ := rc4.NewCipher(key) // 16-byte key: never fails
	c.XORKeyStream(dst, dst)
}

// rc4Checksum is SGN_CKSUM of RFC 4757 7.3: HMAC-MD5(Ksign, MD5(13 | header | confounder | data))[:8].
func rc4Checksum(key, tokHeader, confounder, data []byte) []byte {
	ksign := hmacMD5(key, []byte("signaturekey\x00"))
	h := md5.New() //nolint:gosec // RFC 4757
	h.Write(le32(13))
	h.Write(tokHeader)
	h.Write(confounder)
	h.Write(data)
	return hmacMD5(ksign, h.Sum(nil))[:8]
}

func rc4Kcrypt(key, seq4 []byte) []byte {
	klocal := make([]byte, len(key))
	for i, b := range key {
		klocal[i] = b ^ 0xf0
	}
	return hmacMD5(hmacMD5(klocal, le32(0)), seq4)
}

// asn1Len encodes a DER length.
func asn1Len(n int) []byte {
	switch {
	case n < 0x80:
		return []byte{byte(n)}
	case n < 0x100:
		return []byte{0x81, byte(n)}
	case n < 0x10000:
		return []byte{0x82, byte(n >> 8), byte(n)}
	case n < 0x1000000:
		return []byte{0x83, byte(n >> 16), byte(n >> 8), byte(n)}
	default:
		return []byte{0x84, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
}

var rc4TokHeader = []byte{0x02, 0x01, 0x11, 0x00, 0x10, 0x00, 0xff, 0xff}

func (s *Session) wrapRC4(plain []byte, seq uint64) ([]byte, []byte, error) {
	key := s.key.KeyValue
	data := make([]byte, len(plain)+1)
	copy(data, plain)
	data[len(plain)] = 1 // RC4 "block size" 1: one pad byte of value 1
	confounder := make([]byte, 8)
	if _, err := rand.Read(confounder); err != nil {
		return nil, nil, err
	}
	cksum := rc4Checksum(key, rc4TokHeader, confounder, data)
	sndSeq := make([]byte, 8)
	binary.BigEndian.PutUint32(sndSeq[:4], uint32(seq))
	if s.acceptor {
		copy(sndSeq[4:], []byte{0xff, 0xff, 0xff, 0xff})
	}
	kcrypt := rc4Kcrypt(key, sndSeq[:4])
	enc := make([]byte, 0, 8+len(data))
	enc = append(enc, confounder...)
	enc = append(enc, data...)
	rc4Xor(kcrypt, enc)
	rc4Xor(hmacMD5(hmacMD5(key, le32(0)), cksum), sndSeq)

	inner := len(krb5OIDDER) + len(rc4TokHeader) + 8 + 8 + 8 + len(data)
	h := []byte{0x60}
	h = append(h, asn1Len(inner)...)
	h = append(h, krb5OIDDER...)
	h = append(h, rc4TokHeader...)
	h = append(h, sndSeq...)
	h = append(h, cksum...)
	h = append(h, enc[:8]...)
	return h, enc[8:], nil
}

func (s *Session) unwrapRC4(header, data []byte, seq uint64) ([]byte, error) {
	bad := func(what string) error { return fmt.Errorf("%w: RC4 wrap token: %s", ErrBadToken, what) }
	tok := make([]byte, 0, len(header)+len(data))
	tok = append(tok, header...)
	tok = append(tok, data...)
	if len(tok) < 2 || tok[0] != 0x60 {
		return nil, bad("no GSS-API framing")
	}
	n, l := int(tok[1]), 2
	if n&0x80 != 0 {
		nb := n & 0x7f
		if nb == 0 || nb > 4 || len(tok) < 2+nb {
			return nil, bad("bad length")
		}
		n = 0
		for _, b := range tok[2 : 2+nb] {
			n = n<<8 | int(b)
		}
		l = 2 + nb
	}
	body := tok[l:]
	if n != len(body) {
		return nil, bad("length does not match")
	}
	if !bytes.HasPrefix(body, krb5OIDDER) {
		return nil, bad("not the Kerberos mechanism")
	}
	body = body[len(krb5OIDDER):]
	if len(body) < 32+1 || !bytes.Equal(body[:8], rc4TokHeader) {
		return nil, bad("not a sealed RC4-HMAC wrap token")
	}
	key := s.key.KeyValue
	sndSeq := append([]byte(nil), body[8:16]...)
	cksum := body[16:24]
	enc := append([]byte(nil), body[24:]...)
	rc4Xor(hmacMD5(hmacMD5(key, le32(0)), cksum), sndSeq)
	dir := []byte{0, 0, 0, 0}
	if !s.acceptor { // from the acceptor
		dir = []byte{0xff, 0xff, 0xff, 0xff}
	}
	if !bytes.Equal(sndSeq[4:], dir) {
		return nil, bad("wrong direction")
	}
	rc4Xor(rc4Kcrypt(key, sndSeq[:4]), enc)
	confounder, padded := enc[:8], enc[8:]
	if subtle.ConstantTimeCompare(rc4Checksum(key, rc4TokHeader, confounder, padded), cksum) != 1 {
		return nil, bad("integrity check failed")
	}
	if got := binary.BigEndian.Uint32(sndSeq[:4]); got != uint32(seq) {
		return nil, fmt.Errorf("%w: sequence number %d, want %d", ErrBadToken, got, uint32(seq))
	}
	pad := int(padded[len(padded)-1])
	if pad < 1 || pad > 8 || pad > len(padded) {
		return nil, bad("bad padding")
	}
	return padded[:len(padded)-pad], nil
}

// isCFX reports whether keys of etype use RFC 4121 tokens (everything but DES and RC4).
func isCFX(etype int32) bool {
	switch etype {
	case etypeID.RC4_HMAC, etypeID.RC4_HMAC_EXP, etypeID.DES_CBC_CRC, etypeID.DES_CBC_MD4, etypeID.DES_CBC_MD5,
		etypeID.DES3_CBC_SHA1, etypeID.DES3_CBC_SHA1_KD:
		return false
	}
	return true
}

// newSession builds the context of one side. initSeq is the initiator's first sequence number
// (the authenticator's), accSeq the acceptor's (the AP-REP's).
func newSession(key types.EncryptionKey, acceptor, acceptorSubkey bool, initSeq, accSeq uint64) (*Session, error) {
	if key.KeyType != etypeID.RC4_HMAC && !isCFX(key.KeyType) {
		return nil, fmt.Errorf("%w: unsupported session key type %d (need AES or RC4-HMAC)", ErrBadToken, key.KeyType)
	}
	s := &Session{key: key, acceptor: acceptor, acceptSub: acceptorSubkey, cfx: isCFX(key.KeyType)}
	if acceptor {
		s.sendSeq, s.recvSeq = accSeq, initSeq
	} else {
		s.sendSeq, s.recvSeq = initSeq, accSeq
	}
	return s, nil
}

// sspiHeaderLen finds the token header in SSPI EncryptMessage's output (sspi_windows.go) (trailer | data | padding, which
// alexbrainman/sspi concatenates): an RFC 4121 token's data is the plaintext's length; an RFC 4757
// token's header is its GSS-API framing plus 32 bytes.
func sspiHeaderLen(out []byte, plainLen int) (int, error) {
	switch {
	case len(out) >= cfxHeaderLen && out[0] == 0x05 && out[1] == 0x04:
		return len(out) - plainLen, nil
	case len(out) > 2 && out[0] == 0x60:
		l := 2
		if out[1]&0x80 != 0 {
			l += int(out[1] & 0x7f)
		}
		n := l + len(krb5OIDDER) + 32
		if n > len(out) {
			return 0, fmt.Errorf("%w: short RC4 token", ErrBadToken)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%w: unknown SSPI token %x", ErrBadToken, out[:min(len(out), 4)])
}
