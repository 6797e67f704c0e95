package krb

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/types"
)

func fuzzSessions() (initAES, accAES, initRC4, accRC4 *Session) {
	aes := types.EncryptionKey{KeyType: 18, KeyValue: bytes.Repeat([]byte{7}, 32)}
	rc4 := types.EncryptionKey{KeyType: 23, KeyValue: bytes.Repeat([]byte{9}, 16)}
	ia, _ := newSession(aes, false, true, 100, 200)
	aa, _ := newSession(aes, true, true, 100, 200)
	ir, _ := newSession(rc4, false, false, 100, 200)
	ar, _ := newSession(rc4, true, false, 100, 200)
	return ia, aa, ir, ar
}

// FuzzUnwrap: arbitrary header/data never panic, and never unseal unless they are the peer's token.
func FuzzUnwrap(f *testing.F) {
	ia, _, ir, _ := fuzzSessions()
	for _, s := range []*Session{ia, ir} {
		h, d, _ := s.Wrap([]byte("<s:Envelope/>"))
		f.Add(append(h, d...), len(h))
	}
	f.Add([]byte{0x05, 0x04, 0x06, 0xff, 0, 0, 0, 28}, 8)
	f.Add([]byte{0x60, 0x84, 0xff, 0xff, 0xff, 0xff}, 3)
	f.Fuzz(func(t *testing.T, tok []byte, split int) {
		if split < 0 || split > len(tok) {
			split = len(tok) / 2
		}
		_, aa, _, ar := fuzzSessions()
		for _, s := range []*Session{aa, ar} {
			plain, err := s.Unwrap(tok[:split], tok[split:])
			if err == nil && !bytes.Equal(plain, []byte("<s:Envelope/>")) {
				t.Fatalf("unsealed something that was never sealed: %q", plain)
			}
		}
	})
}

// FuzzUnframe: the multipart/encrypted parser never panics and returns parts inside the body.
func FuzzUnframe(f *testing.F) {
	ia, _, ir, _ := fuzzSessions()
	for _, s := range []*Session{ia, ir} {
		b, _ := Seal(s, ProtocolSPNEGO, []byte("<s:Envelope>x</s:Envelope>"))
		f.Add(b)
	}
	f.Add([]byte(boundaryLine + "\tContent-Type: " + ProtocolKerberos + "\r\n\tOriginalContent: type=x;Length=1\r\n" + boundaryLine + octetStreamLine + "\x01\x00\x00\x00hd" + boundaryEnd))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, h, d, n, err := Unframe(body)
		if err != nil {
			return
		}
		if len(h) == 0 || len(h) > maxHeaderLen || (len(d) != n && len(d) != n+1) || len(h)+len(d) > len(body) {
			t.Fatalf("header %d data %d Length %d body %d", len(h), len(d), n, len(body))
		}
	})
}

// FuzzAccept: arbitrary Negotiate tokens never panic the acceptor (keys of a recorded MIT exchange)
// nor the initiator reading a reply.
func FuzzAccept(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("testdata", "mit-aes.json"))
	if err != nil {
		f.Fatal(err)
	}
	var v struct {
		Time   time.Time `json:"time"`
		Keytab string    `json:"keytab"`
		APReq  string    `json:"ap_req"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		f.Fatal(err)
	}
	ktb, _ := base64.StdEncoding.DecodeString(v.Keytab)
	dir := f.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "kt"), ktb, 0o600)
	kt, err := LoadKeytab(filepath.Join(dir, "kt"))
	if err != nil {
		f.Fatal(err)
	}
	apreq, _ := base64.StdEncoding.DecodeString(v.APReq)
	f.Add(apreq)
	if sp, err := spnegoInit(apreq); err == nil {
		f.Add(sp)
	}
	f.Add([]byte("NTLMSSP\x00\x01\x00\x00\x00"))
	f.Add(frameKRB5(tokKRBError, []byte{0x7e, 0x03, 0x02, 0x01, 0x05}))
	f.Fuzz(func(t *testing.T, tok []byte) {
		acc := NewAcceptor(kt, AcceptorOptions{Now: func() time.Time { return v.Time }})
		a, err := acc.Accept(tok)
		if err == nil && (a.Session == nil || len(a.Reply) == 0) {
			t.Fatal("accepted without a context")
		}
		_ = IsKerberosToken(tok)
		ic := &InitContext{sessionKey: types.EncryptionKey{KeyType: 18, KeyValue: make([]byte, 32)}}
		if s, err := ic.Complete(tok); err == nil && s == nil {
			t.Fatal("no session")
		}
	})
}

// TestSSPIHeaderLen: the split of a whole wrap token into WinRM's header and data (used for SSPI's
// EncryptMessage output on Windows) agrees with the layouts Wrap produces (checked against MIT).
func TestSSPIHeaderLen(t *testing.T) {
	ia, _, ir, _ := fuzzSessions()
	for _, s := range []*Session{ia, ir} {
		for _, n := range []int{0, 1, 100, 70000} {
			h, d, err := s.Wrap(bytes.Repeat([]byte("a"), n))
			if err != nil {
				t.Fatal(err)
			}
			got, err := sspiHeaderLen(append(append([]byte(nil), h...), d...), n)
			if err != nil || got != len(h) {
				t.Fatalf("etype %d n %d: %d %v, want %d", s.EncType(), n, got, err, len(h))
			}
		}
	}
	if _, err := sspiHeaderLen([]byte{1, 2, 3}, 0); err == nil {
		t.Fatal("garbage accepted")
	}
}
