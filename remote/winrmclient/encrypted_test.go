package winrmclient

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/bodgit/ntlmssp"

	"github.com/dcproxy/dcproxy/remote/ntlm"
)

// handshakePair authenticates a bodgit client (what the transport uses) against remote/ntlm's
// acceptor in memory and returns both ends of session security.
func handshakePair(tb testing.TB) (client sealer, server *ntlm.Session) {
	tb.Helper()
	cfg := &ntlm.ServerConfig{NbDomain: "LAB", NbComputer: "DC01", DNSDomain: "lab.local", DNSComputer: "dc01.lab.local",
		Lookup: func(user, domain string) ([]byte, bool) { return ntlm.NTOWFv1(testPassword), user == "admin" }}
	c, err := ntlmssp.NewClient(ntlmssp.SetUserInfo("admin", testPassword), ntlmssp.SetDomain("LAB"), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	if err != nil {
		tb.Fatal(err)
	}
	acc := ntlm.NewAcceptor(cfg)
	neg, err := c.Authenticate(nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ch, err := acc.Challenge(neg)
	if err != nil {
		tb.Fatal(err)
	}
	auth, err := c.Authenticate(ch, nil)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := acc.Authenticate(auth)
	if err != nil {
		tb.Fatal(err)
	}
	if res.Session == nil || c.SecuritySession() == nil {
		tb.Fatal("no session security negotiated")
	}
	return c.SecuritySession(), res.Session
}

func TestSealInterop(t *testing.T) {
	client, server := handshakePair(t)
	msgs := []string{
		`<env:Envelope>create</env:Envelope>`,
		strings.Repeat("<rsp:Stream>aGk=</rsp:Stream>", 500),
		"--Encrypted Boundary\r\n inside the plaintext",
		"",
	}
	for i, m := range msgs {
		body, err := sealBody(client, []byte(m))
		if err != nil {
			t.Fatal(err)
		}
		if len(m) > 10 && bytes.Contains(body, []byte(m)) {
			t.Errorf("message %d in clear on the wire", i)
		}
		got, err := ntlm.Open(server, body)
		if err != nil {
			t.Fatalf("server Open message %d: %v", i, err)
		}
		if string(got) != m {
			t.Fatalf("server got %q, want %q", got, m)
		}
		reply := "reply " + m
		plain, typ, err := openBody(client, ntlm.Seal(server, []byte(reply)))
		if err != nil {
			t.Fatalf("client open reply %d: %v", i, err)
		}
		if string(plain) != reply || !isSOAP(typ) {
			t.Fatalf("client got %q (%s), want %q", plain, typ, reply)
		}
	}
	// A replayed or tampered reply fails the signature check.
	sealed := ntlm.Seal(server, []byte("<ok/>"))
	if _, _, err := openBody(client, sealed); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openBody(client, sealed); err == nil {
		t.Error("replayed reply accepted")
	}
}

func TestTamperedReplyRejected(t *testing.T) {
	client, server := handshakePair(t)
	body := ntlm.Seal(server, []byte("<s:Envelope>0123456789</s:Envelope>"))
	i := bytes.LastIndex(body, []byte("--Encrypted Boundary--")) - 3
	body[i] ^= 0x01
	if _, _, err := openBody(client, body); err == nil {
		t.Error("tampered reply accepted")
	}
}

// identitySealer is a stand-in session for framing tests: no encryption, fixed signature.
type identitySealer struct{}

func (identitySealer) Wrap(p []byte) ([]byte, []byte, error) {
	return append([]byte(nil), p...), make([]byte, 16), nil
}

func (identitySealer) Unwrap(s, sig []byte) ([]byte, error) {
	if len(sig) != 16 {
		return nil, errors.New("bad signature")
	}
	return append([]byte(nil), s...), nil
}

func TestParseFrameRejects(t *testing.T) {
	good, err := sealBody(identitySealer{}, []byte("<soap/>"))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := parseFrame(good); err != nil || string(f.sealed) != "<soap/>" || f.length != 7 {
		t.Fatalf("parseFrame(good) = %+v, %v", f, err)
	}
	// The closing boundary without CRLF is accepted too.
	if _, err := parseFrame(bytes.TrimSuffix(good, []byte("\r\n"))); err != nil {
		t.Errorf("no final CRLF: %v", err)
	}
	s := string(good)
	tests := map[string]string{
		"empty":             "",
		"no boundary":       strings.TrimPrefix(s, boundary+"\r\n"),
		"no payload part":   s[:strings.Index(s, "\tContent-Type: application/octet")-len(boundary)-2],
		"wrong protocol":    strings.Replace(s, "HTTP-SPNEGO-session-encrypted", "HTTP-CredSSP-session-encrypted", 1),
		"no length":         strings.Replace(s, ";Length=7", "", 1),
		"bad length":        strings.Replace(s, "Length=7", "Length=x", 1),
		"negative length":   strings.Replace(s, "Length=7", "Length=-7", 1),
		"length mismatch":   strings.Replace(s, "Length=7", "Length=8", 1),
		"no octet header":   strings.Replace(s, octetStreamHeader, "", 1),
		"no closing":        strings.TrimSuffix(s, boundary+"--\r\n"),
		"short signature":   strings.Replace(s, "\x10\x00\x00\x00", "\x08\x00\x00\x00", 1),
		"huge signature":    strings.Replace(s, "\x10\x00\x00\x00", "\xff\xff\xff\xff", 1),
		"extra header line": strings.Replace(s, "\tOriginalContent", "\tX-Foo: bar\r\n\tOriginalContent", 1),
		"truncated":         s[:len(s)/2],
	}
	for name, body := range tests {
		if _, err := parseFrame([]byte(body)); !errors.Is(err, errFraming) {
			t.Errorf("%s: err = %v, want errFraming", name, err)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	good, _ := sealBody(identitySealer{}, []byte("<s:Envelope/>"))
	f.Add(good)
	f.Add([]byte(boundary + "\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=0\r\n" + boundary + "\r\n" + octetStreamHeader + "\x10\x00\x00\x00" + strings.Repeat("\x00", 16) + boundary + "--\r\n"))
	f.Add([]byte(""))
	f.Add([]byte(boundary + "\r\n" + boundary + "\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		fr, err := parseFrame(body)
		if err != nil {
			if !errors.Is(err, errFraming) {
				t.Fatalf("error not wrapping errFraming: %v", err)
			}
			return
		}
		if len(fr.signature) != ntlmSignatureLen || len(fr.sealed) != fr.length {
			t.Fatalf("accepted inconsistent frame: sig %d, sealed %d, length %d", len(fr.signature), len(fr.sealed), fr.length)
		}
		plain, _, err := openBody(identitySealer{}, body)
		if err != nil || !bytes.Equal(plain, fr.sealed) {
			t.Fatalf("openBody disagrees with parseFrame: %v", err)
		}
	})
}

// BenchmarkSealRoundTrip is the per-message hot path of a sealed host: the client seals a
// request, the host opens it, the host seals a reply, the client opens it.
func BenchmarkSealRoundTrip(b *testing.B) {
	client, server := handshakePair(b)
	req := []byte(strings.Repeat("<w:Option Name=\"WINRS_CODEPAGE\">65001</w:Option>", 40)) // ~2 KiB
	reply := []byte(strings.Repeat("<rsp:Stream Name=\"stdout\">aGk=</rsp:Stream>", 100))   // ~4 KiB
	b.SetBytes(int64(len(req) + len(reply)))
	b.ReportAllocs()
	for b.Loop() {
		body, err := sealBody(client, req)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ntlm.Open(server, body); err != nil {
			b.Fatal(err)
		}
		if _, _, err := openBody(client, ntlm.Seal(server, reply)); err != nil {
			b.Fatal(err)
		}
	}
}
