package winrmclient

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/ntlm"
)

// handshakePair runs the client's NTLM handshake (ntlm.Initiator, what the transport uses)
// against remote/ntlm's acceptor in memory and returns both ends of session security.
func handshakePair(tb testing.TB) (client, server *ntlm.Session) {
	tb.Helper()
	cfg := &ntlm.ServerConfig{NbDomain: "LAB", NbComputer: "DC01", DNSDomain: "lab.local", DNSComputer: "dc01.lab.local",
		Lookup: func(user, domain string) ([]byte, bool) { return ntlm.NTOWFv1(testPassword), user == "admin" }}
	in, err := ntlm.NewInitiator("admin", "LAB", testPassword)
	if err != nil {
		tb.Fatal(err)
	}
	acc := ntlm.NewAcceptor(cfg)
	ch, err := acc.Challenge(in.Negotiate())
	if err != nil {
		tb.Fatal(err)
	}
	auth, c, err := in.Authenticate(ch)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := acc.Authenticate(auth)
	if err != nil {
		tb.Fatal(err)
	}
	if res.Session == nil || c == nil {
		tb.Fatal("no session security negotiated")
	}
	return c, res.Session
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
		body := ntlm.Seal(client, []byte(m))
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
		plain, err := ntlm.Open(client, ntlm.Seal(server, []byte(reply)))
		if err != nil {
			t.Fatalf("client open reply %d: %v", i, err)
		}
		if string(plain) != reply {
			t.Fatalf("client got %q, want %q", plain, reply)
		}
	}
	// A replayed or tampered reply fails the signature check.
	sealed := ntlm.Seal(server, []byte("<ok/>"))
	if _, err := ntlm.Open(client, sealed); err != nil {
		t.Fatal(err)
	}
	if _, err := ntlm.Open(client, sealed); err == nil {
		t.Error("replayed reply accepted")
	}
}

func TestTamperedReplyRejected(t *testing.T) {
	client, server := handshakePair(t)
	body := ntlm.Seal(server, []byte("<s:Envelope>0123456789</s:Envelope>"))
	i := bytes.LastIndex(body, []byte("--Encrypted Boundary--")) - 3
	body[i] ^= 0x01
	if _, err := ntlm.Open(client, body); err == nil {
		t.Error("tampered reply accepted")
	}
}

// TestOpenBodyErrors checks the error kinds postSealed classifies as remote.ErrProtocol: a
// malformed frame wraps ntlm.ErrMalformedFrame before any RC4 state is touched, a bad signature
// ntlm.ErrBadSignature.
func TestOpenBodyErrors(t *testing.T) {
	client, server := handshakePair(t)
	if _, err := ntlm.Open(client, []byte("<s:Envelope/>")); !errors.Is(err, ntlm.ErrMalformedFrame) {
		t.Fatalf("plain body: err = %v, want ntlm.ErrMalformedFrame", err)
	}
	// The failed unframe did not consume a sequence number: the next genuine reply opens.
	if got, err := ntlm.Open(client, ntlm.Seal(server, []byte("<ok/>"))); err != nil || string(got) != "<ok/>" {
		t.Fatalf("reply after malformed frame = %q, %v", got, err)
	}
	_, err := ntlm.Open(client, ntlm.Frame(make([]byte, 16), []byte("<forged/>")))
	if !errors.Is(err, ntlm.ErrBadSignature) {
		t.Fatalf("forged signature: err = %v, want ntlm.ErrBadSignature", err)
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
		body := ntlm.Seal(client, req)
		if _, err := ntlm.Open(server, body); err != nil {
			b.Fatal(err)
		}
		if _, err := ntlm.Open(client, ntlm.Seal(server, reply)); err != nil {
			b.Fatal(err)
		}
	}
}
