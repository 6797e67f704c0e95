package ntlm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/bodgit/ntlmssp"
)

// fixedRandom returns the byte strings in order, one per call (client challenge, then session key).
func fixedRandom(t *testing.T, vals ...[]byte) func([]byte) error {
	return func(b []byte) error {
		if len(vals) == 0 {
			t.Fatal("unexpected random read")
		}
		if len(vals[0]) != len(b) {
			t.Fatalf("random read of %d bytes, fixture has %d", len(b), len(vals[0]))
		}
		copy(b, vals[0])
		vals = vals[1:]
		return nil
	}
}

// challengeMessage lays out a CHALLENGE_MESSAGE with the given flags, server challenge and AV pairs.
func challengeMessage(flags uint32, server []byte, pairs []avPair) []byte {
	var ti []byte
	for _, p := range pairs {
		ti = binary.LittleEndian.AppendUint16(ti, p.id)
		ti = binary.LittleEndian.AppendUint16(ti, uint16(len(p.value)))
		ti = append(ti, p.value...)
	}
	ti = append(ti, 0, 0, 0, 0)
	msg := make([]byte, 56)
	copy(msg, signature)
	binary.LittleEndian.PutUint32(msg[8:], typeChallenge)
	putField(msg[12:], 0, 56)
	binary.LittleEndian.PutUint32(msg[20:], flags)
	copy(msg[24:], server)
	putField(msg[40:], len(ti), 56)
	return append(msg, ti...)
}

// TestInitiatorMSNLMP is the NTLMv2 example of MS-NLMP 4.2.4 from the client's side: user "User",
// domain "Domain", password "Password", server challenge 0123456789abcdef, client challenge aa*8,
// time 0, RandomSessionKey 55*16; the responses, the encrypted session key and the 4.2.4.4 sealed
// "Plaintext" are the specification's bytes.
func TestInitiatorMSNLMP(t *testing.T) {
	const flags = 0xe28a8233
	in, err := NewInitiator("User", "Domain", "Password")
	if err != nil {
		t.Fatal(err)
	}
	in.clock = func() uint64 { return 0 }
	in.random = fixedRandom(t, bytes.Repeat([]byte{0xaa}, 8), bytes.Repeat([]byte{0x55}, 16))
	in.Negotiate()
	ch := challengeMessage(flags, unhex(t, "0123456789abcdef"), []avPair{
		{avNbDomainName, utf16le("Domain")}, {avNbComputerName, utf16le("Server")}})
	auth, s, err := in.Authenticate(ch)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseAuthenticate(auth)
	if err != nil {
		t.Fatal(err)
	}
	temp := unhex(t, "0101000000000000 0000000000000000 aaaaaaaaaaaaaaaa 00000000"+
		"02000c00 44006f006d00610069006e00 01000c00 530065007200760065007200 00000000 00000000")
	for _, c := range []struct {
		name      string
		got, want []byte
	}{
		{"NTLMv2 response", m.nt, append(unhex(t, "68cd0ab851e51c96aabc927bebef6a1c"), temp...)},
		{"LMv2 response", m.lm, unhex(t, "86c35097ac9cec102554764a57cccc19 aaaaaaaaaaaaaaaa")},
		{"EncryptedRandomSessionKey", m.encryptedKey, unhex(t, "c5dad2544fc9799094ce1ce90bc9d03e")},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("%s = %x, want %x", c.name, c.got, c.want)
		}
	}
	if m.user != "User" || m.domain != "Domain" || m.workstation != "" || m.flags != flags&^FlagVersion&^FlagOEM {
		t.Errorf("authenticate = %+v", m)
	}
	if len(auth) < 72 || binary.LittleEndian.Uint32(auth[28+4:]) != 72 {
		t.Errorf("no MIC expected without a server timestamp: payload starts at %d", binary.LittleEndian.Uint32(auth[32:]))
	}
	sig, sealed := s.Wrap(utf16le("Plaintext"))
	if want := unhex(t, "54e50165bf1936dc996020c1811b0f06fb5f"); !bytes.Equal(sealed, want) {
		t.Errorf("sealed = %x, want %x", sealed, want)
	}
	if want := unhex(t, "010000007fb38ec5c55d497600000000"); !bytes.Equal(sig[:], want) {
		t.Errorf("signature = %x, want %x", sig, want)
	}
}

// authFields splits an AUTHENTICATE_MESSAGE into its descriptors (length and offset of LM, NT,
// domain, user, workstation, session key), flags and payloads.
type authFields struct {
	desc     [6][2]uint32
	flags    uint32
	payloads [6][]byte
}

func splitAuth(t *testing.T, b []byte) authFields {
	t.Helper()
	var f authFields
	f.flags = binary.LittleEndian.Uint32(b[60:])
	for i := range 6 {
		f.desc[i] = [2]uint32{uint32(binary.LittleEndian.Uint16(b[12+8*i:])), binary.LittleEndian.Uint32(b[12+8*i+4:])}
		p, err := field(b, 12+8*i)
		if err != nil {
			t.Fatal(err)
		}
		f.payloads[i] = p
	}
	return f
}

// TestInitiatorMatchesBodgit: for the same CHALLENGE, the Initiator's NEGOTIATE is bodgit's byte
// for byte, and its AUTHENTICATE has bodgit's layout, flags, names and NTLMv2 blob (AV pairs,
// timestamp); only what is random (client challenge, session key) and what follows from it (proof,
// MIC) differs. Both with a server timestamp (MIC, zero LM response: what Windows sends) and
// without (LMv2, no MIC).
func TestInitiatorMatchesBodgit(t *testing.T) {
	for _, tc := range []struct {
		name, user, domain string
	}{
		{"netbios domain", "auditor", "LAB"},
		{"no domain", "auditor@lab.local", ""},
		{"non-ASCII user", "prüfer", "LAB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bg, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(tc.user, testPassword), ntlmssp.SetDomain(tc.domain),
				ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
			if err != nil {
				t.Fatal(err)
			}
			bgNeg, err := bg.Authenticate(nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			in, err := NewInitiator(tc.user, tc.domain, testPassword)
			if err != nil {
				t.Fatal(err)
			}
			neg := in.Negotiate()
			if !bytes.Equal(neg, bgNeg) {
				t.Fatalf("NEGOTIATE\n ours   %x\n bodgit %x", neg, bgNeg)
			}
			cfg := testConfig()
			known := cfg.Lookup
			cfg.Lookup = func(user, domain string) ([]byte, bool) {
				if user == "prüfer" {
					return NTOWFv1(testPassword), true
				}
				return known(user, domain)
			}
			acc := NewAcceptor(cfg)
			ch, err := acc.Challenge(neg)
			if err != nil {
				t.Fatal(err)
			}
			for _, variant := range []string{"timestamp", "no timestamp"} {
				chal := ch
				if variant == "no timestamp" {
					c, err := parseChallenge(ch)
					if err != nil {
						t.Fatal(err)
					}
					var pairs []avPair
					for _, p := range c.targetInfo {
						if p.id != avTimestamp {
							pairs = append(pairs, p)
						}
					}
					chal = challengeMessage(c.flags, c.server[:], pairs)
				}
				bgc, _ := ntlmssp.NewClient(ntlmssp.SetUserInfo(tc.user, testPassword), ntlmssp.SetDomain(tc.domain),
					ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
				if _, err := bgc.Authenticate(nil, nil); err != nil {
					t.Fatal(err)
				}
				bgAuth, err := bgc.Authenticate(chal, nil)
				if err != nil {
					t.Fatal(err)
				}
				ours, err := NewInitiator(tc.user, tc.domain, testPassword)
				if err != nil {
					t.Fatal(err)
				}
				ours.Negotiate()
				auth, _, err := ours.Authenticate(chal)
				if err != nil {
					t.Fatal(err)
				}
				a, b := splitAuth(t, auth), splitAuth(t, bgAuth)
				if len(auth) != len(bgAuth) || a.desc != b.desc || a.flags != b.flags {
					t.Fatalf("%s: layout\n ours   %d %v %#x\n bodgit %d %v %#x", variant, len(auth), a.desc, a.flags, len(bgAuth), b.desc, b.flags)
				}
				for i, name := range []string{"", "", "domain", "user", "workstation"} {
					if name != "" && !bytes.Equal(a.payloads[i], b.payloads[i]) {
						t.Errorf("%s: %s %x, bodgit %x", variant, name, a.payloads[i], b.payloads[i])
					}
				}
				// NTLMv2 blob: proof(16) 0101 000000000000 timestamp(8) client(8) 00000000 AV pairs...
				ntA, ntB := a.payloads[1], b.payloads[1]
				if !bytes.Equal(ntA[16:24], ntB[16:24]) || !bytes.Equal(ntA[44:], ntB[44:]) {
					t.Errorf("%s: blob\n ours   %x\n bodgit %x", variant, ntA[16:], ntB[16:])
				}
				if variant == "timestamp" {
					if !bytes.Equal(ntA[24:32], ntB[24:32]) {
						t.Errorf("timestamps differ: %x %x", ntA[24:32], ntB[24:32])
					}
					if !bytes.Equal(a.payloads[0], make([]byte, 24)) || !bytes.Equal(b.payloads[0], make([]byte, 24)) {
						t.Errorf("LM response with a server timestamp: ours %x, bodgit %x", a.payloads[0], b.payloads[0])
					}
					// Windows verifies this one (NTProofStr, MIC, session key).
					res, err := acc.Authenticate(auth)
					if err != nil {
						t.Fatalf("acceptor refused ours: %v", err)
					}
					if res.User != tc.user {
						t.Errorf("user %q", res.User)
					}
				} else if len(a.payloads[0]) != 24 || bytes.Equal(a.payloads[0], make([]byte, 24)) {
					t.Errorf("no timestamp: LMv2 expected, got %x", a.payloads[0])
				}
			}
		})
	}
}

// TestInitiatorSessions: a handshake with the Acceptor yields Sessions that seal and open each
// other's messages in both directions; replays fail; a wrong password is a logon failure.
func TestInitiatorSessions(t *testing.T) {
	handshake := func(password string) (*Session, *Result, error) {
		in, err := NewInitiator("auditor", "LAB", password)
		if err != nil {
			t.Fatal(err)
		}
		acc := NewAcceptor(testConfig())
		ch, err := acc.Challenge(in.Negotiate())
		if err != nil {
			t.Fatal(err)
		}
		auth, s, err := in.Authenticate(ch)
		if err != nil {
			t.Fatal(err)
		}
		res, err := acc.Authenticate(auth)
		return s, res, err
	}
	cs, res, err := handshake(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if cs == nil || !cs.Sealing() {
		t.Fatal("no sealing session")
	}
	for i, msg := range []string{"<s:Envelope>first</s:Envelope>", "", strings.Repeat("x", 70000), "último"} {
		sig, sealed := cs.Wrap([]byte(msg))
		got, err := res.Session.Unwrap(sig[:], sealed)
		if err != nil || string(got) != msg {
			t.Fatalf("message %d: server Unwrap = %q, %v", i, got, err)
		}
		ssig, ssealed := res.Session.Wrap([]byte(msg + "-reply"))
		cgot, err := cs.Unwrap(ssig[:], ssealed)
		if err != nil || string(cgot) != msg+"-reply" {
			t.Fatalf("message %d: client Unwrap = %q, %v", i, cgot, err)
		}
	}
	sig, sealed := cs.Wrap([]byte("once"))
	if _, err := res.Session.Unwrap(sig[:], sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := res.Session.Unwrap(sig[:], sealed); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("replay: %v", err)
	}
	if _, _, err := handshake("wrong"); !errors.Is(err, ErrLogonFailure) {
		t.Fatalf("wrong password: %v", err)
	}
}

func TestInitiatorRefusals(t *testing.T) {
	if _, err := NewInitiator("", "LAB", "x"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("anonymous: %v", err)
	}
	in, _ := NewInitiator("auditor", "LAB", testPassword)
	if _, _, err := in.Authenticate(challengeMessage(InitiatorFlags, make([]byte, 8), nil)); !errors.Is(err, ErrMalformedMessage) {
		t.Errorf("before NEGOTIATE: %v", err)
	}
	in.Negotiate()
	good := challengeMessage(InitiatorFlags, make([]byte, 8), []avPair{{avNbDomainName, utf16le("LAB")}})
	for name, ch := range map[string][]byte{
		"empty":          nil,
		"not NTLMSSP":    bytes.Repeat([]byte("x"), 64),
		"negotiate type": append(append([]byte(nil), good[:8]...), append([]byte{1, 0, 0, 0}, good[12:]...)...),
		"truncated AV":   good[:len(good)-6],
		"AV out of range": func() []byte {
			b := append([]byte(nil), good...)
			binary.LittleEndian.PutUint16(b[58:], 200)
			return b
		}(),
	} {
		if _, _, err := in.Authenticate(ch); !errors.Is(err, ErrMalformedMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
	noESS := challengeMessage(InitiatorFlags&^FlagExtendedSessionSecurity, make([]byte, 8), nil)
	if _, _, err := in.Authenticate(noESS); !errors.Is(err, ErrUnsupported) {
		t.Errorf("sealing without extended session security: %v", err)
	}
}

func BenchmarkHandshake(b *testing.B) {
	cfg := testConfig()
	b.Run("initiator", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			in, _ := NewInitiator("auditor", "LAB", testPassword)
			ch, _ := NewAcceptor(cfg).Challenge(in.Negotiate())
			if _, _, err := in.Authenticate(ch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("bodgit", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c, _ := ntlmssp.NewClient(ntlmssp.SetUserInfo("auditor", testPassword), ntlmssp.SetDomain("LAB"))
			neg, _ := c.Authenticate(nil, nil)
			ch, _ := NewAcceptor(cfg).Challenge(neg)
			if _, err := c.Authenticate(ch, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
