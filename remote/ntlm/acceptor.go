package ntlm

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

var signature = []byte("NTLMSSP\x00")

// Message types (MS-NLMP 2.2.1).
const (
	typeNegotiate    = 1
	typeChallenge    = 2
	typeAuthenticate = 3
)

// AV_PAIR identifiers (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0
	avNbComputerName  = 1
	avNbDomainName    = 2
	avDNSComputerName = 3
	avDNSDomainName   = 4
	avTimestamp       = 7
	avFlags           = 6
	avFlagMICPresent  = 0x2
)

// serverVersion is the VERSION structure sent in the CHALLENGE: 10.0 build 17763
// (Windows Server 2019), NTLMSSP_REVISION_W2K3.
var serverVersion = []byte{10, 0, 0x63, 0x45, 0, 0, 0, 0x0f}

// ServerConfig describes the simulated host's identity and account database.
// It is read, never modified, by Acceptors; one ServerConfig may be shared by any
// number of Acceptors used concurrently as long as Lookup, Now and Rand are safe for
// concurrent use (crypto/rand and time.Now are).
type ServerConfig struct {
	// NbDomain and DNSDomain name the domain ("LAB", "lab.local"); leave DNSDomain
	// empty for a workgroup host, which then announces itself as TARGET_TYPE_SERVER
	// with NbComputer as TargetName.
	NbDomain, NbComputer, DNSDomain, DNSComputer string
	// Lookup returns NTOWFv1 (MD4 of the UTF-16LE password, see NTOWFv1) for an
	// account; user and domain are exactly as sent in the AUTHENTICATE message, so an
	// implementation maps UPN "user@dom", an empty or "." domain and the computer name
	// to the right account itself. ok=false means unknown account.
	Lookup func(user, domain string) (ntowfv1 []byte, ok bool)
	// Now is the clock for MsvAvTimestamp; nil means time.Now.
	Now func() time.Time
	// Rand supplies the server challenge; nil means crypto/rand.
	Rand io.Reader
}

// Result is the outcome of a successful Authenticate.
type Result struct {
	// User and Domain are the names as the client sent them in AUTHENTICATE.
	User, Domain string
	// Flags are the negotiated flags: the AUTHENTICATE flags restricted to what the
	// CHALLENGE offered.
	Flags uint32
	// ExportedSessionKey is the 16-byte key session security derives its keys from.
	ExportedSessionKey []byte
	// Session is the server side of session security, or nil when the client
	// negotiated neither SIGN nor SEAL (e.g. Azure/go-ntlmssp).
	Session *Session
}

// Acceptor runs the server side of one NTLM handshake. Use one per connection and
// handshake; it is not safe for concurrent use. Call Challenge with the NEGOTIATE
// token, then Authenticate with the AUTHENTICATE token; calling Challenge again
// starts a new handshake.
type Acceptor struct {
	cfg             *ServerConfig
	negotiate       []byte
	challenge       []byte
	serverChallenge [8]byte
	flags           uint32
}

// NewAcceptor returns an Acceptor for one handshake against cfg.
func NewAcceptor(cfg *ServerConfig) *Acceptor {
	return &Acceptor{cfg: cfg}
}

// domainJoined reports whether the host announces a domain (TARGET_TYPE_DOMAIN).
func (c *ServerConfig) domainJoined() bool { return c.DNSDomain != "" && c.NbDomain != "" }

// ChallengeFlags returns the CHALLENGE flags a server sends for a NEGOTIATE with
// the given flags (MS-NLMP 3.2.5.1.1 as Windows applies it): UNICODE,
// REQUEST_TARGET, NTLM, TARGET_INFO, VERSION, the target type, plus the
// intersection of the client's flags with SIGN, SEAL, ALWAYS_SIGN,
// EXTENDED_SESSIONSECURITY, 128, 56 and KEY_EXCH. LM_KEY is never offered.
func (c *ServerConfig) ChallengeFlags(negotiateFlags uint32) uint32 {
	f := FlagUnicode | FlagRequestTarget | FlagNTLM | FlagTargetInfo | FlagVersion
	if c.domainJoined() {
		f |= FlagTargetTypeDomain
	} else {
		f |= FlagTargetTypeServer
	}
	return f | negotiateFlags&negotiableFlags
}

// Challenge parses a NEGOTIATE_MESSAGE and returns the CHALLENGE_MESSAGE to send.
// It fails with ErrMalformedMessage when negotiate is not a NEGOTIATE_MESSAGE.
func (a *Acceptor) Challenge(negotiate []byte) ([]byte, error) {
	a.negotiate, a.challenge = nil, nil
	if len(negotiate) < 16 || !bytes.Equal(negotiate[:8], signature) {
		return nil, fmt.Errorf("%w: not an NTLMSSP token", ErrMalformedMessage)
	}
	if t := binary.LittleEndian.Uint32(negotiate[8:]); t != typeNegotiate {
		return nil, fmt.Errorf("%w: message type %d, want NEGOTIATE", ErrMalformedMessage, t)
	}
	nflags := binary.LittleEndian.Uint32(negotiate[12:])
	cfg := a.cfg
	if cfg == nil {
		cfg = &ServerConfig{}
	}
	rnd := cfg.Rand
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := io.ReadFull(rnd, a.serverChallenge[:]); err != nil {
		return nil, fmt.Errorf("ntlm: server challenge: %w", err)
	}
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	a.flags = cfg.ChallengeFlags(nflags)

	targetName := cfg.NbComputer
	if cfg.domainJoined() {
		targetName = cfg.NbDomain
	}
	nbDomain := cfg.NbDomain
	if !cfg.domainJoined() {
		nbDomain = cfg.NbComputer // a workgroup host names itself as its domain
	}
	var info bytes.Buffer
	putAV := func(id uint16, val []byte) {
		var h [4]byte
		binary.LittleEndian.PutUint16(h[0:], id)
		binary.LittleEndian.PutUint16(h[2:], uint16(len(val)))
		info.Write(h[:])
		info.Write(val)
	}
	putAV(avNbDomainName, utf16le(nbDomain))
	putAV(avNbComputerName, utf16le(cfg.NbComputer))
	if cfg.DNSDomain != "" {
		putAV(avDNSDomainName, utf16le(cfg.DNSDomain))
	}
	if cfg.DNSComputer != "" {
		putAV(avDNSComputerName, utf16le(cfg.DNSComputer))
	}
	if cfg.DNSDomain != "" {
		putAV(5, utf16le(cfg.DNSDomain)) // MsvAvDnsTreeName, as domain members send it
	}
	var ts [8]byte
	binary.LittleEndian.PutUint64(ts[:], filetime(now()))
	putAV(avTimestamp, ts[:])
	putAV(avEOL, nil)

	tn := utf16le(targetName)
	ti := info.Bytes()
	const hdr = 56
	msg := make([]byte, hdr, hdr+len(tn)+len(ti))
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeChallenge)
	putField(msg[12:], len(tn), hdr)
	binary.LittleEndian.PutUint32(msg[20:], a.flags)
	copy(msg[24:32], a.serverChallenge[:])
	putField(msg[40:], len(ti), hdr+len(tn))
	copy(msg[48:56], serverVersion)
	msg = append(msg, tn...)
	msg = append(msg, ti...)

	a.negotiate = append([]byte(nil), negotiate...)
	a.challenge = msg
	return append([]byte(nil), msg...), nil
}

func putField(b []byte, length, offset int) {
	binary.LittleEndian.PutUint16(b[0:], uint16(length))
	binary.LittleEndian.PutUint16(b[2:], uint16(length))
	binary.LittleEndian.PutUint32(b[4:], uint32(offset))
}

// field returns the payload a (len u16, maxlen u16, offset u32) descriptor at b[at:] points to.
func field(b []byte, at int) ([]byte, error) {
	if len(b) < at+8 {
		return nil, fmt.Errorf("%w: truncated field descriptor", ErrMalformedMessage)
	}
	l := int(binary.LittleEndian.Uint16(b[at:]))
	off := int(binary.LittleEndian.Uint32(b[at+4:]))
	if l == 0 {
		return nil, nil
	}
	if off < 0 || off > len(b) || l > len(b)-off {
		return nil, fmt.Errorf("%w: field out of bounds", ErrMalformedMessage)
	}
	return b[off : off+l], nil
}

// filetime converts t to a Windows FILETIME (100 ns ticks since 1601-01-01).
func filetime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100) + 116444736000000000
}

// authenticateMsg is a parsed AUTHENTICATE_MESSAGE.
type authenticateMsg struct {
	lm, nt                    []byte
	domain, user, workstation string
	encryptedKey              []byte
	flags                     uint32
}

func parseAuthenticate(b []byte) (*authenticateMsg, error) {
	if len(b) < 64 || !bytes.Equal(b[:8], signature) {
		return nil, fmt.Errorf("%w: not an NTLMSSP AUTHENTICATE token", ErrMalformedMessage)
	}
	if t := binary.LittleEndian.Uint32(b[8:]); t != typeAuthenticate {
		return nil, fmt.Errorf("%w: message type %d, want AUTHENTICATE", ErrMalformedMessage, t)
	}
	m := &authenticateMsg{flags: binary.LittleEndian.Uint32(b[60:])}
	var raw [6][]byte
	for i := range raw {
		f, err := field(b, 12+8*i)
		if err != nil {
			return nil, err
		}
		raw[i] = f
	}
	m.lm, m.nt, m.encryptedKey = raw[0], raw[1], raw[5]
	str := func(x []byte) (string, error) {
		if m.flags&FlagUnicode == 0 {
			return string(x), nil
		}
		if len(x)%2 != 0 {
			return "", fmt.Errorf("%w: odd-length UTF-16 string", ErrMalformedMessage)
		}
		return fromUTF16LE(x), nil
	}
	var err error
	if m.domain, err = str(raw[2]); err != nil {
		return nil, err
	}
	if m.user, err = str(raw[3]); err != nil {
		return nil, err
	}
	if m.workstation, err = str(raw[4]); err != nil {
		return nil, err
	}
	return m, nil
}

// avPairs parses an AV_PAIR list up to MsvAvEOL.
func avPairs(b []byte) (map[uint16][]byte, error) {
	m := map[uint16][]byte{}
	for {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: truncated AV_PAIR list", ErrMalformedMessage)
		}
		id := binary.LittleEndian.Uint16(b)
		l := int(binary.LittleEndian.Uint16(b[2:]))
		if id == avEOL {
			return m, nil
		}
		if len(b)-4 < l {
			return nil, fmt.Errorf("%w: AV_PAIR out of bounds", ErrMalformedMessage)
		}
		if _, dup := m[id]; !dup {
			m[id] = b[4 : 4+l]
		}
		b = b[4+l:]
	}
}

// Authenticate verifies an AUTHENTICATE_MESSAGE against the preceding Challenge.
// It fails with ErrMalformedMessage for a token that cannot be parsed or when no
// Challenge preceded it, and with ErrLogonFailure for an unknown account, a wrong
// password, an NTLMv1/LM or anonymous response, or a MIC mismatch, and with
// ErrUnsupported when the client negotiated SIGN or SEAL without
// EXTENDED_SESSIONSECURITY (unverified: Windows would fall back to NTLMv1-style
// session security, which is not simulated; no WinRM client does this). The
// Acceptor cannot be reused for another Authenticate without a new Challenge.
// Channel bindings (MsvAvChannelBindings) are not checked, as with Windows'
// default CbtHardeningLevel=Relaxed.
func (a *Acceptor) Authenticate(authenticate []byte) (*Result, error) {
	if a.challenge == nil {
		return nil, fmt.Errorf("%w: AUTHENTICATE without CHALLENGE", ErrMalformedMessage)
	}
	negotiate, challenge := a.negotiate, a.challenge
	a.negotiate, a.challenge = nil, nil // one AUTHENTICATE per CHALLENGE

	m, err := parseAuthenticate(authenticate)
	if err != nil {
		return nil, err
	}
	if m.flags&FlagAnonymous != 0 || m.user == "" {
		return nil, fmt.Errorf("%w: anonymous logon", ErrLogonFailure)
	}
	// NTLMv2_RESPONSE: NTProofStr(16) + temp, temp = 1,1,Z(6),time(8),clientChallenge(8),Z(4),AV pairs.
	if len(m.nt) < 16+28+4 {
		return nil, fmt.Errorf("%w: not an NTLMv2 response", ErrLogonFailure)
	}
	ntProof, temp := m.nt[:16], m.nt[16:]
	if temp[0] != 1 {
		return nil, fmt.Errorf("%w: unknown NTLMv2 response version %d", ErrLogonFailure, temp[0])
	}
	av, err := avPairs(temp[28:])
	if err != nil {
		return nil, err
	}
	if a.cfg == nil || a.cfg.Lookup == nil {
		return nil, fmt.Errorf("%w: no account database", ErrLogonFailure)
	}
	nt1, ok := a.cfg.Lookup(m.user, m.domain)
	if !ok || len(nt1) != 16 {
		return nil, fmt.Errorf("%w: unknown user name or bad password", ErrLogonFailure)
	}
	key := ntowfv2(nt1, m.user, m.domain)
	if !hmac.Equal(hmacMD5(key, a.serverChallenge[:], temp), ntProof) {
		return nil, fmt.Errorf("%w: unknown user name or bad password", ErrLogonFailure)
	}
	// unverified: Windows also rejects an MsvAvTimestamp far from its clock
	// (STATUS_TIME_DIFFERENCE_AT_DC); not checked here.
	sessionBaseKey := hmacMD5(key, ntProof) // = KeyExchangeKey for NTLMv2 (3.4.5.1)

	flags := m.flags & a.flags
	exported := sessionBaseKey
	if flags&FlagKeyExch != 0 {
		if len(m.encryptedKey) != 16 {
			return nil, fmt.Errorf("%w: KEY_EXCH without a 16-byte EncryptedRandomSessionKey", ErrMalformedMessage)
		}
		exported = rc4Once(sessionBaseKey, m.encryptedKey)
	}

	if fl, ok := av[avFlags]; ok && len(fl) == 4 && binary.LittleEndian.Uint32(fl)&avFlagMICPresent != 0 {
		const micAt = 72
		if len(authenticate) < micAt+16 {
			return nil, fmt.Errorf("%w: MIC announced but missing", ErrMalformedMessage)
		}
		zeroed := append([]byte(nil), authenticate...)
		clear(zeroed[micAt : micAt+16])
		want := hmacMD5(exported, negotiate, challenge, zeroed)
		if !hmac.Equal(want, authenticate[micAt:micAt+16]) {
			return nil, fmt.Errorf("%w: MIC mismatch", ErrLogonFailure)
		}
	}

	res := &Result{User: m.user, Domain: m.domain, Flags: flags, ExportedSessionKey: exported}
	if flags&(FlagSign|FlagSeal) != 0 {
		s, err := NewSession(ServerSide, exported, flags)
		if err != nil {
			return nil, err
		}
		res.Session = s
	}
	return res, nil
}
