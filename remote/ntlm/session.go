package ntlm

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rc4"
	"encoding/binary"
	"fmt"
	"hash"
	"sync"
)

// Side selects which end of the connection a Session is: it decides which of the
// client-to-server and server-to-client keys are used for sending and receiving.
type Side int

const (
	// ClientSide sends with the client-to-server keys and receives with the server-to-client keys.
	ClientSide Side = iota
	// ServerSide sends with the server-to-client keys and receives with the client-to-server keys.
	ServerSide
)

var (
	magicClientSign = []byte("session key to client-to-server signing key magic constant\x00")
	magicServerSign = []byte("session key to server-to-client signing key magic constant\x00")
	magicClientSeal = []byte("session key to client-to-server sealing key magic constant\x00")
	magicServerSeal = []byte("session key to server-to-client sealing key magic constant\x00")
)

// Session is NTLM session security for one authenticated context in
// connection-oriented mode (MS-NLMP 3.4): the RC4 handles persist across
// messages and each direction keeps its own sequence number, starting at 0.
//
// Messages must be wrapped and unwrapped in the order the peer produces and
// expects them, so a Session belongs to one connection and is used by one
// goroutine at a time; a mutex makes accidental concurrent calls safe (no data
// race) but cannot make their order meaningful. After Unwrap fails the
// receiving RC4 stream is out of step with the peer and the context is unusable,
// as on Windows.
type Session struct {
	mu                 sync.Mutex
	flags              uint32
	sendMAC, recvMAC   hash.Hash // HMAC-MD5 keyed with the signing keys, reset for each message
	sendSeal, recvSeal *rc4.Cipher
	sendSeq, recvSeq   uint32
	seq                [4]byte        // scratch for sign, under mu
	sum                [md5.Size]byte // scratch for sign, under mu
}

// NewSession derives the signing and sealing keys (MS-NLMP 3.4.5.2/3.4.5.3) from
// the 16-byte exportedSessionKey for the given negotiated flags. It fails with
// ErrUnsupported when EXTENDED_SESSIONSECURITY is not negotiated (NTLMv1-style
// session security is not implemented) or the key is not 16 bytes.
func NewSession(side Side, exportedSessionKey []byte, flags uint32) (*Session, error) {
	if flags&FlagExtendedSessionSecurity == 0 {
		return nil, fmt.Errorf("%w: session security without EXTENDED_SESSIONSECURITY", ErrUnsupported)
	}
	if len(exportedSessionKey) != 16 {
		return nil, fmt.Errorf("%w: session key of %d bytes", ErrUnsupported, len(exportedSessionKey))
	}
	if side != ClientSide && side != ServerSide {
		return nil, fmt.Errorf("%w: unknown side %d", ErrUnsupported, side)
	}
	sealBase := exportedSessionKey
	switch {
	case flags&Flag128 != 0:
	case flags&Flag56 != 0:
		sealBase = exportedSessionKey[:7]
	default:
		sealBase = exportedSessionKey[:5]
	}
	clientSign := md5Sum(exportedSessionKey, magicClientSign)
	serverSign := md5Sum(exportedSessionKey, magicServerSign)
	clientSeal, _ := rc4.NewCipher(md5Sum(sealBase, magicClientSeal))
	serverSeal, _ := rc4.NewCipher(md5Sum(sealBase, magicServerSeal))
	s := &Session{flags: flags}
	clientMAC, serverMAC := hmac.New(md5.New, clientSign), hmac.New(md5.New, serverSign)
	if side == ClientSide {
		s.sendMAC, s.recvMAC, s.sendSeal, s.recvSeal = clientMAC, serverMAC, clientSeal, serverSeal
	} else {
		s.sendMAC, s.recvMAC, s.sendSeal, s.recvSeal = serverMAC, clientMAC, serverSeal, clientSeal
	}
	return s, nil
}

// Sealing reports whether SEAL was negotiated, i.e. Wrap encrypts.
func (s *Session) Sealing() bool { return s.flags&FlagSeal != 0 }

// Wrap protects one outgoing message: it encrypts plain when SEAL was negotiated
// (otherwise sealed is an unmodified copy) and returns the 16-byte
// NTLMSSP_MESSAGE_SIGNATURE computed over the plaintext. It cannot fail.
func (s *Session) Wrap(plain []byte) (signature [16]byte, sealed []byte) {
	sealed = make([]byte, len(plain))
	copy(sealed, plain)
	return s.WrapInPlace(sealed), sealed
}

// WrapInPlace is Wrap encrypting msg in place: on return msg holds what Wrap returns as sealed.
func (s *Session) WrapInPlace(msg []byte) (signature [16]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sum := s.checksum(s.sendMAC, s.sendSeq, msg) // over the plaintext, before it is encrypted
	if s.flags&FlagSeal != 0 {
		s.sendSeal.XORKeyStream(msg, msg)
	}
	signature = s.signature(s.sendSeal, s.sendSeq, sum)
	s.sendSeq++
	return signature
}

// Unwrap verifies (and, when SEAL was negotiated, decrypts) one incoming message.
// It fails with ErrBadSignature when the signature is not 16 bytes, does not
// match the content or carries an unexpected sequence number.
func (s *Session) Unwrap(signature []byte, sealed []byte) ([]byte, error) {
	plain := make([]byte, len(sealed))
	copy(plain, sealed)
	return s.UnwrapInPlace(signature, plain)
}

// UnwrapInPlace is Unwrap decrypting msg in place: the plaintext it returns is msg. msg is
// overwritten (decrypted) whenever the signature has 16 bytes, even if it then does not verify.
func (s *Session) UnwrapInPlace(signature []byte, msg []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(signature) != 16 {
		return nil, fmt.Errorf("%w: signature of %d bytes", ErrBadSignature, len(signature))
	}
	if s.flags&FlagSeal != 0 {
		s.recvSeal.XORKeyStream(msg, msg)
	}
	want := s.sign(s.recvMAC, s.recvSeal, s.recvSeq, msg)
	if !hmac.Equal(want[:], signature) {
		return nil, fmt.Errorf("%w: checksum or sequence number mismatch", ErrBadSignature)
	}
	s.recvSeq++
	return msg, nil
}

// sign computes the extended-session-security signature (MS-NLMP 3.4.4.2):
// 01000000 || checksum(8) || seq(4), the checksum RC4-encrypted with the sealing
// handle (continuing its stream) when KEY_EXCH was negotiated.
// The caller holds s.mu; mac is s.sendMAC or s.recvMAC.
func (s *Session) sign(mac hash.Hash, seal *rc4.Cipher, seq uint32, plain []byte) [16]byte {
	return s.signature(seal, seq, s.checksum(mac, seq, plain))
}

// checksum is the first 8 bytes of HMAC_MD5(signing key, seq || plain). The caller holds s.mu.
func (s *Session) checksum(mac hash.Hash, seq uint32, plain []byte) (sum [8]byte) {
	binary.LittleEndian.PutUint32(s.seq[:], seq)
	mac.Reset()
	mac.Write(s.seq[:])
	mac.Write(plain)
	copy(sum[:], mac.Sum(s.sum[:0]))
	return sum
}

// signature lays out the signature around a checksum, encrypting the checksum with seal when
// KEY_EXCH was negotiated. The caller holds s.mu.
func (s *Session) signature(seal *rc4.Cipher, seq uint32, sum [8]byte) (sig [16]byte) {
	if s.flags&FlagKeyExch != 0 {
		seal.XORKeyStream(sum[:], sum[:])
	}
	sig[0] = 1
	copy(sig[4:12], sum[:])
	binary.LittleEndian.PutUint32(sig[12:], seq)
	return sig
}
