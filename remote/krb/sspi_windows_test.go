//go:build windows

package krb

// Tests of the current-logon initiator (sspi_windows.go) against this package's acceptor. They need a
// Kerberos logon and the service's keytab: on Windows a domain logon, on Linux Wine's secur32 over MIT
// krb5, which TestSSPIUnderWine (sspi_wine_test.go) drives with a real MIT KDC, setting
//
//	DCPROXY_SSPI_KEYTAB  the keytab of the service (Windows path)
//	DCPROXY_SSPI_SPN     its SPN, HTTP/<host>
//	DCPROXY_SSPI_CLIENT  the logged-on principal, user@REALM
//
// (and KRB5_CONFIG, KRB5CCNAME for Wine's MIT library). Without them the tests skip.
//
// Under Wine, sealing is known not to work the Windows way (docs/windows.md): the sealing tests skip
// there with the status codes Wine returns, and fail if Wine ever starts to seal.

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
)

type sspiLab struct {
	acc    *Acceptor
	spn    string
	client string
}

func sspiSetup(t *testing.T) sspiLab {
	t.Helper()
	ktPath, spn, client := os.Getenv("DCPROXY_SSPI_KEYTAB"), os.Getenv("DCPROXY_SSPI_SPN"), os.Getenv("DCPROXY_SSPI_CLIENT")
	if ktPath == "" || spn == "" || client == "" {
		t.Skip("needs DCPROXY_SSPI_KEYTAB, DCPROXY_SSPI_SPN and DCPROXY_SSPI_CLIENT (see TestSSPIUnderWine)")
	}
	kt, err := LoadKeytab(ktPath)
	if err != nil {
		t.Fatal(err)
	}
	return sspiLab{acc: NewAcceptor(kt, AcceptorOptions{}), spn: spn, client: client}
}

// underWine reports whether this process runs under Wine (ntdll exports wine_get_version).
func underWine() bool {
	return syscall.NewLazyDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// handshake runs Start, Accept and complete; it returns both ends.
func (l sspiLab) handshake(t *testing.T) (Sealer, *Accepted) {
	t.Helper()
	cur, err := CurrentLogon()
	if err != nil {
		t.Fatalf("CurrentLogon: %v", err)
	}
	t.Cleanup(cur.Close)
	tok, complete, err := cur.Start(l.spn)
	if err != nil {
		t.Fatalf("Start %s: %v", l.spn, err)
	}
	a, err := l.acc.Accept(tok)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	s, err := complete(a.Reply)
	if err != nil {
		t.Fatalf("complete (AP-REP): %v", err)
	}
	return s, a
}

// TestSSPIHandshake: the current logon's AP-REQ for the SPN is a raw GSS-API krb5 token (not SPNEGO:
// the Kerberos package, never Negotiate) that the acceptor verifies with the service key, for the
// logged-on client, requesting mutual authentication, confidentiality and integrity; the AP-REP
// completes the context.
func TestSSPIHandshake(t *testing.T) {
	l := sspiSetup(t)
	_, a := l.handshake(t)
	if got := a.Client + "@" + a.Realm; !strings.EqualFold(got, l.client) {
		t.Errorf("client %s, want %s", got, l.client)
	}
	if a.Service != l.spn || a.SPNEGO {
		t.Errorf("service %q spnego %v", a.Service, a.SPNEGO)
	}
	const mutual, conf, integ = 2, 16, 32 // RFC 4121 4.1.1.1
	if a.Flags&(mutual|conf|integ) != mutual|conf|integ {
		t.Errorf("context flags %#x lack mutual, conf or integ", a.Flags)
	}
	t.Logf("%s@%s -> %s, flags %#x, session enctype %d", a.Client, a.Realm, a.Service, a.Flags, a.Session.EncType())
}

// TestSSPIMutualAuth: an AP-REP of another context (a host that does not hold this context's key)
// is refused as ErrMutualAuth; a KRB-ERROR reply (the acceptor saw the authenticator before) is
// classified (ErrReplay); an empty reply is refused.
func TestSSPIMutualAuth(t *testing.T) {
	l := sspiSetup(t)
	cur, err := CurrentLogon()
	if err != nil {
		t.Fatalf("CurrentLogon: %v", err)
	}
	defer cur.Close()
	start := func() ([]byte, func([]byte) (Sealer, error)) {
		tok, complete, err := cur.Start(l.spn)
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		return tok, complete
	}

	tok1, complete1 := start()
	tok2, _ := start()
	if bytes.Equal(tok1, tok2) {
		t.Fatal("two contexts sent the same AP-REQ")
	}
	a2, err := l.acc.Accept(tok2)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if _, err := complete1(a2.Reply); !errors.Is(err, ErrMutualAuth) && !errors.Is(err, ErrBadToken) {
		t.Errorf("AP-REP of another context: %v, want ErrMutualAuth", err)
	} else {
		t.Logf("AP-REP of another context: %v", err)
	}

	tok3, complete3 := start()
	if _, err := l.acc.Accept(tok3); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	_, err = l.acc.Accept(tok3)
	var ae *AcceptError
	if !errors.As(err, &ae) || len(ae.Reply) == 0 {
		t.Fatalf("replayed AP-REQ: %v, want a refusal with a KRB-ERROR token", err)
	}
	if _, err := complete3(ae.Reply); !errors.Is(err, ErrReplay) {
		t.Errorf("KRB-ERROR reply: %v, want ErrReplay", err)
	}

	_, complete4 := start()
	if _, err := complete4(nil); !errors.Is(err, ErrMutualAuth) {
		t.Errorf("no reply: %v, want ErrMutualAuth", err)
	}
}

// TestSSPIUnknownSPN: a service principal the realm lacks fails Start with a classified error that
// names the SPN and the SSPI status, and is no wrong password.
func TestSSPIUnknownSPN(t *testing.T) {
	l := sspiSetup(t)
	cur, err := CurrentLogon()
	if err != nil {
		t.Fatalf("CurrentLogon: %v", err)
	}
	defer cur.Close()
	spn := "HTTP/nosuch." + strings.ToLower(l.client[strings.IndexByte(l.client, '@')+1:])
	_, _, err = cur.Start(spn)
	if err == nil {
		t.Fatalf("Start %s succeeded", spn)
	}
	if !strings.Contains(err.Error(), spn) || !strings.Contains(err.Error(), "SSPI InitializeSecurityContext") {
		t.Errorf("error %q does not name the call and the SPN", err)
	}
	switch {
	case errors.Is(err, ErrUnknownSPN):
	case underWine() && errors.Is(err, ErrKDC) && strings.Contains(err.Error(), "SEC_E_INTERNAL_ERROR"):
		// Wine 8 reports MIT's "server not found in Kerberos database" as SEC_E_INTERNAL_ERROR.
		t.Logf("Wine: %v", err)
	default:
		t.Errorf("unknown SPN: %v, want ErrUnknownSPN", err)
	}
}

// TestSSPISeal: messages sealed with EncryptMessage open with the acceptor's context and the
// acceptor's open with DecryptMessage, in WinRM's framing (header | data), several in a row (sequence
// numbers), both directions.
//
// unverified: on Windows (never run there). Under Wine the test skips with the status codes Wine
// gives (its trailer size and buffer layout differ from Windows': docs/windows.md).
func TestSSPISeal(t *testing.T) {
	l := sspiSetup(t)
	s, a := l.handshake(t)
	for i, msg := range []string{"<s:Envelope>first</s:Envelope>", "second, longer: " + strings.Repeat("x", 3000), "3"} {
		body, err := Seal(s, ProtocolSPNEGO, []byte(msg))
		if err != nil {
			if underWine() && errors.Is(err, ErrBadToken) {
				// AES: SEC_E_BUFFER_TOO_SMALL (Wine's SIZES trailer, 49 bytes, is too small for its own
				// 60-byte one); RC4: EncryptMessage works but puts the token's start into the DATA
				// buffer (TestSSPIWineLayout).
				t.Skipf("Wine seals differently from Windows: %v", err)
			}
			t.Fatalf("message %d: Seal: %v", i, err)
		}
		_, plain, err := Open(a.Session, body)
		if err != nil || string(plain) != msg {
			t.Fatalf("message %d: acceptor opened %q, %v", i, plain, err)
		}
		reply := "reply " + msg
		body, err = Seal(a.Session, ProtocolSPNEGO, []byte(reply))
		if err != nil {
			t.Fatal(err)
		}
		if _, plain, err = Open(s, body); err != nil || string(plain) != reply {
			t.Fatalf("message %d: SSPI opened %q, %v", i, plain, err)
		}
	}
}

// TestSSPIUnsealUnderWine records what Wine's DecryptMessage makes of a Windows-layout token from the
// acceptor (sealing in the other direction fails earlier, TestSSPISeal). On Windows it is TestSSPISeal's
// second half.
func TestSSPIUnsealUnderWine(t *testing.T) {
	if !underWine() {
		t.Skip("Wine only")
	}
	l := sspiSetup(t)
	s, a := l.handshake(t)
	body, err := Seal(a.Session, ProtocolSPNEGO, []byte("from the acceptor"))
	if err != nil {
		t.Fatal(err)
	}
	_, plain, err := Open(s, body)
	if err == nil {
		t.Fatalf("Wine's DecryptMessage opened a Windows-layout token (%q): update docs/windows.md and TestSSPISeal", plain)
	}
	if !errors.Is(err, ErrBadToken) {
		t.Fatalf("DecryptMessage: %v, want ErrBadToken", err)
	}
	t.Logf("Wine: %v", err)
}

// TestSSPIWineLayout: under Wine, RC4 EncryptMessage output put back into token order (Wine fills the
// DATA buffer with the start of gss_wrap's token and the TOKEN buffer with the rest) opens with the
// acceptor's context: the SSPI context's keys and sequence numbers agree with the acceptor's, so only
// Wine's buffer layout keeps TestSSPISeal from running here. AES cannot be sealed under Wine at all
// (SEC_E_BUFFER_TOO_SMALL through alexbrainman/sspi, which sizes the TOKEN buffer from SIZES).
func TestSSPIWineLayout(t *testing.T) {
	if !underWine() {
		t.Skip("Wine only")
	}
	l := sspiSetup(t)
	s, a := l.handshake(t)
	if a.Session.EncType() != 23 {
		t.Skipf("session enctype %d: only RC4 seals under Wine", a.Session.EncType())
	}
	cc := s.(*sspiSealer).cc
	for i, msg := range []string{"<s:Envelope>first</s:Envelope>", "second"} {
		out, err := cc.EncryptMessage([]byte(msg), 0, 0)
		if err != nil {
			t.Fatalf("EncryptMessage: %v", err)
		}
		// out = TOKEN (rest of the token) | DATA (start of the token, len(msg) bytes) | PADDING (1 byte, untouched)
		n := len(msg)
		if len(out) < n+1+cfxHeaderLen {
			t.Fatalf("EncryptMessage output %d bytes", len(out))
		}
		body := out[:len(out)-1]
		tok := append(append([]byte(nil), body[len(body)-n:]...), body[:len(body)-n]...)
		h, err := sspiHeaderLen(tok, n)
		if err != nil {
			t.Fatalf("message %d: %v (token %x)", i, err, tok)
		}
		plain, err := a.Session.Unwrap(tok[:h], tok[h:])
		if err != nil || string(plain) != msg {
			t.Fatalf("message %d: acceptor opened %q, %v", i, plain, err)
		}
	}
}
