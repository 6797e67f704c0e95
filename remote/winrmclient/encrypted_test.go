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
		plain, err := openBody(client, ntlm.Seal(server, []byte(reply)))
		if err != nil {
			t.Fatalf("client open reply %d: %v", i, err)
		}
		if string(plain) != reply {
			t.Fatalf("client got %q, want %q", plain, reply)
		}
	}
	// A replayed or tampered reply fails the signature check.
	sealed := ntlm.Seal(server, []byte("<ok/>"))
	if _, err := openBody(client, sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := openBody(client, sealed); err == nil {
		t.Error("replayed reply accepted")
	}
}

func TestTamperedReplyRejected(t *testing.T) {
	client, server := handshakePair(t)
	body := ntlm.Seal(server, []byte("<s:Envelope>0123456789</s:Envelope>"))
	i := bytes.LastIndex(body, []byte("--Encrypted Boundary--")) - 3
	body[i] ^= 0x01
	if _, err := openBody(client, body); err == nil {
		t.Error("tampered reply accepted")
	}
}

// TestOpenBodyErrors checks the error kinds postSealed classifies as remote.ErrProtocol: a
// malformed frame wraps ntlm.ErrMalformedFrame before any RC4 state is touched, a bad signature
// is an "unseal" error from the sealer.
func TestOpenBodyErrors(t *testing.T) {
	client, server := handshakePair(t)
	if _, err := openBody(client, []byte("<s:Envelope/>")); !errors.Is(err, ntlm.ErrMalformedFrame) {
		t.Fatalf("plain body: err = %v, want ntlm.ErrMalformedFrame", err)
	}
	// The failed unframe did not consume a sequence number: the next genuine reply opens.
	if got, err := openBody(client, ntlm.Seal(server, []byte("<ok/>"))); err != nil || string(got) != "<ok/>" {
		t.Fatalf("reply after malformed frame = %q, %v", got, err)
	}
	_, err := openBody(client, ntlm.Frame(make([]byte, 16), []byte("<forged/>")))
	if err == nil || errors.Is(err, ntlm.ErrMalformedFrame) || !strings.HasPrefix(err.Error(), "unseal: ") {
		t.Fatalf("forged signature: err = %v, want an unseal error", err)
	}
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
		if _, err := openBody(client, ntlm.Seal(server, reply)); err != nil {
			b.Fatal(err)
		}
	}
}
