package ntlm

import (
	"bytes"
	"errors"
	"testing"
	"time"

	azntlm "github.com/Azure/go-ntlmssp"
	"github.com/bodgit/ntlmssp"
)

// fuzzConfig is testConfig with a fixed clock and server challenge, so that seed
// AUTHENTICATE messages stay valid across runs.
func fuzzConfig() *ServerConfig {
	cfg := testConfig()
	cfg.Now = func() time.Time { return time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC) }
	cfg.Rand = zeroReader{}
	return cfg
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func fuzzNegotiate() []byte {
	c, _ := ntlmssp.NewClient(ntlmssp.SetUserInfo("auditor", testPassword), ntlmssp.SetDomain("LAB"), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	neg, _ := c.Authenticate(nil, nil)
	return neg
}

func FuzzChallenge(f *testing.F) {
	az, _ := azntlm.NewNegotiateMessage("LAB", "")
	f.Add(az)
	f.Add(fuzzNegotiate())
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, neg []byte) {
		ch, err := NewAcceptor(fuzzConfig()).Challenge(neg)
		if err != nil {
			if !errors.Is(err, ErrMalformedMessage) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(ch) < 56 || !bytes.HasPrefix(ch, signature) {
			t.Fatalf("bad CHALLENGE %x", ch)
		}
	})
}

func FuzzAuthenticate(f *testing.F) {
	neg := fuzzNegotiate()
	// A valid bodgit AUTHENTICATE for the fixed CHALLENGE, and an Azure one.
	{
		a := NewAcceptor(fuzzConfig())
		ch, _ := a.Challenge(neg)
		c, _ := ntlmssp.NewClient(ntlmssp.SetUserInfo("auditor", testPassword), ntlmssp.SetDomain("LAB"), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
		_, _ = c.Authenticate(nil, nil)
		auth, _ := c.Authenticate(ch, nil)
		f.Add(auth)
		az, _ := azntlm.ProcessChallenge(ch, "auditor", testPassword, true)
		f.Add(az)
	}
	f.Add(buildAuthenticate(f, FlagUnicode, nil, make([]byte, 24), "LAB", "auditor", "", nil))
	f.Fuzz(func(t *testing.T, auth []byte) {
		a := NewAcceptor(fuzzConfig())
		if _, err := a.Challenge(neg); err != nil {
			t.Fatal(err)
		}
		res, err := a.Authenticate(auth)
		if err != nil {
			if !errors.Is(err, ErrMalformedMessage) && !errors.Is(err, ErrLogonFailure) && !errors.Is(err, ErrUnsupported) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(res.ExportedSessionKey) != 16 {
			t.Fatalf("session key %x", res.ExportedSessionKey)
		}
		if res.Session != nil {
			if _, sealed := res.Session.Wrap([]byte("x")); len(sealed) != 1 {
				t.Fatalf("sealed %x", sealed)
			}
		}
	})
}

func FuzzOpen(f *testing.F) {
	key := bytes.Repeat([]byte{3}, 16)
	const flags = 0xE28A8235
	cli, _ := NewSession(ClientSide, key, flags)
	f.Add(Seal(cli, []byte(`<s:Envelope><s:Body/></s:Envelope>`)))
	cli, _ = NewSession(ClientSide, key, flags)
	f.Add(Seal(cli, nil))
	f.Add([]byte("--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=99999999999999999999\r\n--Encrypted Boundary\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		srv, err := NewSession(ServerSide, key, flags)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := Open(srv, body)
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) && !errors.Is(err, ErrBadSignature) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		// Whatever opened re-seals canonically and opens again to the same plaintext.
		c, _ := NewSession(ClientSide, key, flags)
		s2, _ := NewSession(ServerSide, key, flags)
		if again, err := Open(s2, Seal(c, plain)); err != nil || !bytes.Equal(again, plain) {
			t.Fatalf("re-seal round trip = %q, %v", again, err)
		}
	})
}

// FuzzUnframe checks that Unframe either rejects with ErrMalformedFrame or yields a
// 16-byte signature whose canonical re-frame unframes to the same parts.
func FuzzUnframe(f *testing.F) {
	f.Add(Frame(make([]byte, 16), []byte("<s:Envelope/>")))
	f.Add(Frame(make([]byte, 16), nil))
	f.Add([]byte(""))
	f.Add([]byte(boundaryLine + boundaryLine))
	f.Fuzz(func(t *testing.T, body []byte) {
		sig, sealed, err := Unframe(body)
		if err != nil {
			if !errors.Is(err, ErrMalformedFrame) {
				t.Fatalf("error not wrapping ErrMalformedFrame: %v", err)
			}
			return
		}
		if len(sig) != ntlmSignatureLen {
			t.Fatalf("accepted signature of %d bytes", len(sig))
		}
		sig2, sealed2, err := Unframe(Frame(sig, sealed))
		if err != nil || !bytes.Equal(sig2, sig) || !bytes.Equal(sealed2, sealed) {
			t.Fatalf("re-frame round trip = %q, %q, %v", sig2, sealed2, err)
		}
	})
}
