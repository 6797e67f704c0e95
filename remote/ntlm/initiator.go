package ntlm

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// InitiatorFlags are the flags an Initiator's NEGOTIATE_MESSAGE asks for: NTLMv2 with extended
// session security, 128-bit (and 56-bit) keys, key exchange, signing and sealing, Unicode and the
// server's target information. They are the flags of github.com/bodgit/ntlmssp's client at its
// default compatibility level (3, NTLMv2 only), whose messages Windows' WinRM accepts.
const InitiatorFlags = FlagUnicode | FlagSign | FlagSeal | FlagAlwaysSign | FlagTargetInfo |
	Flag128 | FlagKeyExch | Flag56 | FlagExtendedSessionSecurity

// Initiator is the client side of one NTLMv2 handshake: Negotiate, then Authenticate with the
// server's CHALLENGE_MESSAGE, which yields the AUTHENTICATE_MESSAGE and the client's Session.
// Use one Initiator per handshake, from one goroutine.
//
// Its messages are laid out as github.com/bodgit/ntlmssp lays them out (initiator_test.go parses
// both field by field for the same CHALLENGE): the domain in the NEGOTIATE as OEM text, no VERSION
// flag but an all-zero version field, no workstation, the AUTHENTICATE's flags those of the
// CHALLENGE, its NTLMv2 client blob carrying the server's AV pairs in their order plus MsvAvFlags
// with the MIC bit when the server sent a timestamp, and then a MIC; LmChallengeResponse is 24
// zero bytes in that case and LMv2 otherwise. Unlike bodgit it computes the keys once and does not
// copy the target information through encoding/gob, and its Session seals with fewer copies.
type Initiator struct {
	user, domain string
	ntowfv2      []byte
	negotiate    []byte
	// clock (the current FILETIME) and random (crypto/rand) are fixed by known-answer tests.
	clock  func() uint64
	random func([]byte) error
}

// NewInitiator prepares a handshake for user in domain (the NetBIOS or DNS domain, as given:
// Windows accepts either) with password. The password is only kept as its NTOWFv2 hash. It
// fails with ErrUnsupported for an empty user name (anonymous NTLM is not offered).
func NewInitiator(user, domain, password string) (*Initiator, error) {
	domain = strings.TrimSpace(domain) // as bodgit's SetDomain
	if user == "" {
		return nil, fmt.Errorf("%w: anonymous logon", ErrUnsupported)
	}
	return &Initiator{
		user: user, domain: domain,
		ntowfv2: ntowfv2(NTOWFv1(password), user, domain),
		clock:   func() uint64 { return filetime(time.Now()) },
		random:  func(b []byte) error { _, err := rand.Read(b); return err },
	}, nil
}

// Negotiate returns the NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1).
func (in *Initiator) Negotiate() []byte {
	const fixed = 40 // header, flags, two field descriptors, version
	flags := InitiatorFlags
	if in.domain != "" {
		flags |= FlagOEMDomainSupplied
	}
	b := make([]byte, fixed, fixed+len(in.domain))
	copy(b, signature)
	binary.LittleEndian.PutUint32(b[8:], typeNegotiate)
	binary.LittleEndian.PutUint32(b[12:], flags)
	putField(b[16:], len(in.domain), fixed)
	putField(b[24:], 0, fixed+len(in.domain))
	b = append(b, in.domain...) // OEM text, as bodgit sends it
	in.negotiate = b
	return bytes.Clone(b)
}

// challengeMsg is the part of a CHALLENGE_MESSAGE the initiator uses.
type challengeMsg struct {
	flags      uint32
	server     [8]byte
	targetInfo []avPair // in the server's order, without MsvAvEOL
}

type avPair struct {
	id    uint16
	value []byte
}

func parseChallenge(b []byte) (*challengeMsg, error) {
	if len(b) < 48 || !bytes.Equal(b[:8], signature) {
		return nil, fmt.Errorf("%w: not an NTLMSSP CHALLENGE token", ErrMalformedMessage)
	}
	if t := binary.LittleEndian.Uint32(b[8:]); t != typeChallenge {
		return nil, fmt.Errorf("%w: message type %d, want CHALLENGE", ErrMalformedMessage, t)
	}
	c := &challengeMsg{flags: binary.LittleEndian.Uint32(b[20:])}
	copy(c.server[:], b[24:32])
	ti, err := field(b, 40)
	if err != nil {
		return nil, err
	}
	for len(ti) > 0 {
		if len(ti) < 4 {
			return nil, fmt.Errorf("%w: truncated AV_PAIR list", ErrMalformedMessage)
		}
		id, l := binary.LittleEndian.Uint16(ti), int(binary.LittleEndian.Uint16(ti[2:]))
		if id == avEOL {
			break
		}
		if len(ti)-4 < l {
			return nil, fmt.Errorf("%w: AV_PAIR out of bounds", ErrMalformedMessage)
		}
		c.targetInfo = append(c.targetInfo, avPair{id, ti[4 : 4+l]})
		ti = ti[4+l:]
	}
	return c, nil
}

func (c *challengeMsg) av(id uint16) ([]byte, bool) {
	for _, p := range c.targetInfo {
		if p.id == id {
			return p.value, true
		}
	}
	return nil, false
}

// Authenticate answers the server's CHALLENGE_MESSAGE: it returns the AUTHENTICATE_MESSAGE
// (MS-NLMP 2.2.1.3, NTLMv2) and, when the server agreed to sign or seal, the client's Session
// (nil otherwise). Negotiate must have been called first. It fails with ErrMalformedMessage for
// a CHALLENGE that cannot be parsed and with ErrUnsupported when the server negotiated session
// security without EXTENDED_SESSIONSECURITY; callers check the flags they require (sealing, 128-bit
// keys) on the returned Session or with ChallengeFlags first.
func (in *Initiator) Authenticate(challenge []byte) ([]byte, *Session, error) {
	if in.negotiate == nil {
		return nil, nil, fmt.Errorf("%w: AUTHENTICATE before NEGOTIATE", ErrMalformedMessage)
	}
	c, err := parseChallenge(challenge)
	if err != nil {
		return nil, nil, err
	}
	flags := c.flags
	if flags&FlagUnicode != 0 {
		flags &^= FlagOEM
	}
	flags &^= FlagVersion // the version field is sent all zero, as bodgit does without a version

	var clientChallenge [8]byte
	if err := in.random(clientChallenge[:]); err != nil {
		return nil, nil, fmt.Errorf("ntlm: client challenge: %w", err)
	}
	// The blob's AV pairs: the server's, with MsvAvFlags' MIC bit when the server sent a
	// timestamp (MS-NLMP 3.1.5.1.2); then the LM response is all zero and a MIC follows.
	timestamp, withMIC := c.av(avTimestamp)
	var ts [8]byte
	if withMIC {
		copy(ts[:], timestamp)
	} else {
		binary.LittleEndian.PutUint64(ts[:], in.clock())
	}
	pairs := c.targetInfo
	if withMIC {
		pairs = make([]avPair, 0, len(c.targetInfo)+1)
		var avf [4]byte
		found := false
		for _, p := range c.targetInfo {
			if p.id == avFlags && len(p.value) == 4 {
				binary.LittleEndian.PutUint32(avf[:], binary.LittleEndian.Uint32(p.value)|avFlagMICPresent)
				p.value, found = avf[:], true
			}
			pairs = append(pairs, p)
		}
		if !found {
			binary.LittleEndian.PutUint32(avf[:], avFlagMICPresent)
			pairs = append(pairs, avPair{avFlags, avf[:]})
		}
	}
	// temp = 0x0101, 6 zero bytes, timestamp, client challenge, 4 zero bytes, AV pairs, MsvAvEOL,
	// 4 zero bytes (MS-NLMP 3.3.2).
	nt := make([]byte, 16, 16+28+avLen(pairs)+8)
	nt = append(nt, 1, 1, 0, 0, 0, 0, 0, 0)
	nt = append(nt, ts[:]...)
	nt = append(nt, clientChallenge[:]...)
	nt = append(nt, 0, 0, 0, 0)
	for _, p := range pairs {
		nt = binary.LittleEndian.AppendUint16(nt, p.id)
		nt = binary.LittleEndian.AppendUint16(nt, uint16(len(p.value)))
		nt = append(nt, p.value...)
	}
	nt = append(nt, 0, 0, 0, 0, 0, 0, 0, 0) // MsvAvEOL and the trailing 4 zero bytes
	proof := hmacMD5(in.ntowfv2, c.server[:], nt[16:])
	copy(nt, proof)
	sessionBaseKey := hmacMD5(in.ntowfv2, proof)

	lm := make([]byte, 24)
	if !withMIC { // LMv2
		copy(lm, hmacMD5(in.ntowfv2, c.server[:], clientChallenge[:]))
		copy(lm[16:], clientChallenge[:])
	}

	exported, encryptedKey := sessionBaseKey, []byte(nil)
	if flags&FlagKeyExch != 0 {
		exported = make([]byte, 16)
		if err := in.random(exported); err != nil {
			return nil, nil, fmt.Errorf("ntlm: session key: %w", err)
		}
		encryptedKey = rc4Once(sessionBaseKey, exported)
	}

	domain, user := in.domain, in.user
	var dom, usr []byte
	if flags&FlagUnicode != 0 {
		dom, usr = utf16le(domain), utf16le(user)
	} else {
		dom, usr = []byte(domain), []byte(user)
	}
	fixed := 72 // header, six field descriptors, flags, version
	if withMIC {
		fixed += 16
	}
	msg := make([]byte, fixed, fixed+len(dom)+len(usr)+len(lm)+len(nt)+len(encryptedKey))
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeAuthenticate)
	off := fixed
	put := func(at int, payload []byte) {
		putField(msg[at:], len(payload), off)
		off += len(payload)
	}
	// Payload order as bodgit (and MS-NLMP's examples) write it: domain, user, workstation, LM, NT,
	// session key; the descriptors stay in the message's field order.
	put(28, dom)
	put(36, usr)
	put(44, nil) // workstation
	put(12, lm)
	put(20, nt)
	put(52, encryptedKey)
	binary.LittleEndian.PutUint32(msg[60:], flags)
	msg = append(msg, dom...)
	msg = append(msg, usr...)
	msg = append(msg, lm...)
	msg = append(msg, nt...)
	msg = append(msg, encryptedKey...)
	if withMIC {
		copy(msg[72:], hmacMD5(exported, in.negotiate, challenge, msg))
	}

	var s *Session
	if flags&(FlagSign|FlagSeal) != 0 {
		if s, err = NewSession(ClientSide, exported, flags); err != nil {
			return nil, nil, err
		}
	}
	return msg, s, nil
}

func avLen(pairs []avPair) int {
	n := 0
	for _, p := range pairs {
		n += 4 + len(p.value)
	}
	return n
}
