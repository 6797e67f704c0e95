package krb_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/krb/krbtest"
)

const (
	spn      = "HTTP/dc01.lab.test"
	alicePW  = "Alice-Pw-1"
	aliceUPN = "alice@LAB.TEST"
)

// realm is one MIT KDC shared by the tests of this file (0.3 s to start).
type realm struct {
	kdc    *krbtest.KDC
	keytab string // HTTP/dc01.lab.test, all enctypes
	rc4    string // krb5.conf restricted to arcfour-hmac
	user   string // alice's client keytab
}

var (
	realmOnce sync.Once
	shared    *realm
)

func startRealm(t testing.TB) *realm {
	t.Helper()
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local")
	realmOnce.Do(func() {
		// The KDC must outlive the first test: run it under a long-lived helper test context.
		st := &sharedT{TB: t}
		k := krbtest.Start(st, krbtest.Options{RC4: true})
		k.AddUser("alice", alicePW)
		k.AddUser("bob", "Bob-Pw-1")
		shared = &realm{kdc: k, keytab: k.AddService(spn), rc4: k.ClientConf("arcfour-hmac")}
		shared.user = k.Keytab("alice")
	})
	if shared == nil {
		t.Fatal("realm did not start")
	}
	return shared
}

// sharedT defers cleanups to TestMain (the realm is shared by all tests).
type sharedT struct {
	testing.TB
}

var cleanups []func()

func (s *sharedT) Cleanup(f func()) { cleanups = append(cleanups, f) }
func (s *sharedT) TempDir() string {
	d, err := os.MkdirTemp("", "krbtest")
	if err != nil {
		s.TB.Fatal(err)
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(d) })
	return d
}

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(code)
}

func newClient(t *testing.T, c krb.Credentials) *krb.Client {
	t.Helper()
	cl, err := krb.NewClient(c)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func acceptor(t *testing.T, r *realm, o krb.AcceptorOptions) *krb.Acceptor {
	t.Helper()
	kt, err := krb.LoadKeytab(r.keytab)
	if err != nil {
		t.Fatal(err)
	}
	return krb.NewAcceptor(kt, o)
}

// handshake runs initiator and acceptor and returns both sessions.
func handshake(t *testing.T, cl *krb.Client, acc *krb.Acceptor, spnego bool) (*krb.Session, *krb.Accepted) {
	t.Helper()
	ic, tok, err := cl.InitSecContext(spn, spnego)
	if err != nil {
		t.Fatalf("InitSecContext: %v", err)
	}
	if !krb.IsKerberosToken(tok) {
		t.Fatalf("token not recognised as Kerberos: % x", tok[:16])
	}
	a, err := acc.Accept(tok)
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	s, err := ic.Complete(a.Reply)
	if err != nil {
		t.Fatalf("Complete: %v", err)
	}
	return s, a
}

// exchange seals messages both ways and checks the WinRM layout of the parts.
func exchange(t *testing.T, c, s *krb.Session, rc4 bool) {
	t.Helper()
	for i, msg := range [][]byte{[]byte("<s:Envelope>first</s:Envelope>"), bytes.Repeat([]byte("x"), 70000), {}, []byte("last")} {
		h, d, err := c.Wrap(msg)
		if err != nil {
			t.Fatal(err)
		}
		if rc4 {
			if len(h) < 45 || len(h) > 48 || len(d) != len(msg)+1 {
				t.Fatalf("msg %d: RC4 header %d data %d for %d bytes", i, len(h), len(d), len(msg))
			}
		} else if len(h) != 60 || len(d) != len(msg) || h[2] != 0x06 || h[6] != 0 || h[7] != 28 {
			t.Fatalf("msg %d: AES header %d (flags %#x rrc %d) data %d for %d bytes", i, len(h), h[2], h[7], len(d), len(msg))
		}
		got, err := s.Unwrap(h, d)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("msg %d: server unwrap: %v", i, err)
		}
		h, d, err = s.Wrap(append(msg, '!'))
		if err != nil {
			t.Fatal(err)
		}
		if !rc4 && (h[2] != 0x07 || len(h) != 60) {
			t.Fatalf("acceptor AES flags %#x header %d", h[2], len(h))
		}
		got, err = c.Unwrap(h, d)
		if err != nil || !bytes.Equal(got, append(msg, '!')) {
			t.Fatalf("msg %d: client unwrap: %v", i, err)
		}
	}
	// Tampering and replay are refused.
	h, d, _ := c.Wrap([]byte("tamper"))
	d[0] ^= 1
	if _, err := s.Unwrap(h, d); !errors.Is(err, krb.ErrBadToken) {
		t.Fatalf("tampered: %v", err)
	}
	h2, d2, _ := c.Wrap([]byte("next"))
	if _, err := s.Unwrap(h2, d2); !errors.Is(err, krb.ErrBadToken) {
		// the tampered message consumed no sequence number: "next" is now out of order
		t.Fatalf("out of sequence: %v", err)
	}
}

func TestPasswordAES(t *testing.T) {
	r := startRealm(t)
	cl := newClient(t, krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: r.kdc.Conf})
	for _, sp := range []bool{false, true} {
		t.Run(fmt.Sprintf("spnego=%v", sp), func(t *testing.T) {
			c, a := handshake(t, cl, acceptor(t, r, krb.AcceptorOptions{}), sp)
			if a.Client != "alice" || a.Realm != "LAB.TEST" || a.SPNEGO != sp || c.EncType() != 18 {
				t.Fatalf("accepted %+v etype %d", a, c.EncType())
			}
			if a.Flags&2 == 0 || a.Flags&16 == 0 {
				t.Fatalf("flags %#x lack mutual/conf", a.Flags)
			}
			exchange(t, c, a.Session, false)
		})
	}
}

func TestRC4(t *testing.T) {
	r := startRealm(t)
	cl := newClient(t, krb.Credentials{User: "LAB.TEST\\alice", Password: alicePW, ConfigFile: r.rc4})
	c, a := handshake(t, cl, acceptor(t, r, krb.AcceptorOptions{}), true)
	if c.EncType() != 23 || a.Session.EncType() != 23 {
		t.Fatalf("etype %d/%d, want 23 (rc4-hmac)", c.EncType(), a.Session.EncType())
	}
	exchange(t, c, a.Session, true)
}

func TestKeytabAndCCache(t *testing.T) {
	r := startRealm(t)
	kt := newClient(t, krb.Credentials{User: "alice", Realm: "lab.test", Keytab: r.user, ConfigFile: r.kdc.Conf})
	c, a := handshake(t, kt, acceptor(t, r, krb.AcceptorOptions{}), false)
	exchange(t, c, a.Session, false)

	cc := r.kdc.For(t).Kinit("bob", "Bob-Pw-1", "")
	fromCC := newClient(t, krb.Credentials{CCache: "FILE:" + cc, ConfigFile: r.kdc.Conf})
	if fromCC.Principal() != "bob@LAB.TEST" {
		t.Fatalf("principal %q", fromCC.Principal())
	}
	c, a = handshake(t, fromCC, acceptor(t, r, krb.AcceptorOptions{}), true)
	if a.Client != "bob" {
		t.Fatalf("client %q", a.Client)
	}
	exchange(t, c, a.Session, false)
}

// TestRefusals: each failure has its own sentinel and remote kind; nothing echoes the password.
func TestRefusals(t *testing.T) {
	r := startRealm(t)
	t.Run("wrong password", func(t *testing.T) {
		cl := newClient(t, krb.Credentials{User: aliceUPN, Password: "Wrong-Pw-9", ConfigFile: r.kdc.Conf})
		_, _, err := cl.InitSecContext(spn, false)
		if !errors.Is(err, krb.ErrPreauthFailed) || !errors.Is(err, remote.ErrAuth) || remote.Kind(err) != "auth" {
			t.Fatalf("err = %v (kind %s)", err, remote.Kind(err))
		}
		if strings.Contains(err.Error(), "Wrong-Pw-9") {
			t.Fatal("password in error")
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		cl := newClient(t, krb.Credentials{User: "mallory@LAB.TEST", Password: "x", ConfigFile: r.kdc.Conf})
		if _, _, err := cl.InitSecContext(spn, false); !errors.Is(err, krb.ErrUnknownPrincipal) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("unknown SPN", func(t *testing.T) {
		cl := newClient(t, krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: r.kdc.Conf})
		_, _, err := cl.InitSecContext("HTTP/10.0.0.7", false)
		if !errors.Is(err, krb.ErrUnknownSPN) || !errors.Is(err, remote.ErrInvalidTarget) || errors.Is(err, remote.ErrAuth) {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "HTTP/10.0.0.7") {
			t.Fatalf("error does not name the SPN: %v", err)
		}
	})
	t.Run("clock skew", func(t *testing.T) {
		cl := newClient(t, krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: r.kdc.Conf})
		acc := acceptor(t, r, krb.AcceptorOptions{Now: func() time.Time { return time.Now().Add(7 * time.Minute) }})
		ic, tok, err := cl.InitSecContext(spn, true)
		if err != nil {
			t.Fatal(err)
		}
		_, err = acc.Accept(tok)
		var ae *krb.AcceptError
		if !errors.As(err, &ae) || !errors.Is(err, krb.ErrClockSkew) || len(ae.Reply) == 0 {
			t.Fatalf("Accept: %v", err)
		}
		// The initiator reads the KRB-ERROR the acceptor answers with.
		if _, err := ic.Complete(ae.Reply); !errors.Is(err, krb.ErrClockSkew) || errors.Is(err, remote.ErrAuth) {
			t.Fatalf("Complete: %v", err)
		}
	})
	t.Run("replay", func(t *testing.T) {
		cl := newClient(t, krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: r.kdc.Conf})
		acc := acceptor(t, r, krb.AcceptorOptions{})
		_, tok, err := cl.InitSecContext(spn, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := acc.Accept(tok); err != nil {
			t.Fatal(err)
		}
		if _, err := acc.Accept(tok); !errors.Is(err, krb.ErrReplay) {
			t.Fatalf("replay: %v", err)
		}
	})
	t.Run("wrong service key", func(t *testing.T) {
		cl := newClient(t, krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: r.kdc.Conf})
		_, tok, err := cl.InitSecContext(spn, false)
		if err != nil {
			t.Fatal(err)
		}
		// A keytab of another principal (alice's own keys) cannot decrypt the ticket.
		kt, _ := krb.LoadKeytab(r.user)
		if _, err := krb.NewAcceptor(kt, krb.AcceptorOptions{}).Accept(tok); !errors.Is(err, krb.ErrBadToken) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("forged AP-REP", func(t *testing.T) {
		cl := newClient(t, krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: r.kdc.Conf})
		ic, _, err := cl.InitSecContext(spn, false)
		if err != nil {
			t.Fatal(err)
		}
		// An AP-REP of another context does not verify.
		_, tok2, _ := cl.InitSecContext(spn, false)
		a, err := acceptor(t, r, krb.AcceptorOptions{}).Accept(tok2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ic.Complete(a.Reply); !errors.Is(err, krb.ErrMutualAuth) {
			t.Fatalf("err = %v", err)
		}
		if _, err := ic.Complete(nil); !errors.Is(err, krb.ErrMutualAuth) {
			t.Fatalf("empty reply: %v", err)
		}
	})
}

func TestKDCUnreachable(t *testing.T) {
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local")
	k := krbtest.Start(t, krbtest.Options{})
	k.AddUser("carol", "Carol-Pw-1")
	k.Stop()
	cl := newClient(t, krb.Credentials{User: "carol@LAB.TEST", Password: "Carol-Pw-1", ConfigFile: k.Conf})
	err := cl.Login()
	if !errors.Is(err, krb.ErrKDCUnreachable) || !remote.Transient(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestNoCredentials(t *testing.T) {
	if _, err := krb.NewClient(krb.Credentials{User: "a@B", ConfigFile: os.DevNull}); !errors.Is(err, krb.ErrNoCredentials) {
		t.Fatalf("err = %v", err)
	}
	if _, err := krb.NewClient(krb.Credentials{CCache: "/nonexistent/cc", ConfigFile: os.DevNull}); !errors.Is(err, krb.ErrNoCredentials) {
		t.Fatalf("err = %v", err)
	}
}

// TestConfig: Realm and KDCs from the target work without any krb5.conf; an explicit krb5.conf that
// does not exist is an error naming it.
func TestConfig(t *testing.T) {
	r := startRealm(t)
	t.Setenv("KRB5_CONFIG", "/nonexistent/krb5.conf") // not explicit in Credentials: a missing default is fine
	cl := newClient(t, krb.Credentials{User: "alice", Password: alicePW, Realm: "lab.test", KDCs: []string{r.kdc.Addr()}})
	if err := cl.ServiceTicket(spn); err != nil {
		t.Fatalf("no krb5.conf: %v", err)
	}
	_, err := krb.NewClient(krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: "/nonexistent/krb5.conf"})
	if !errors.Is(err, krb.ErrNoCredentials) || !strings.Contains(err.Error(), "/nonexistent/krb5.conf") {
		t.Fatalf("explicit missing krb5.conf: %v", err)
	}
	// No KDC for the realm anywhere: a configuration error, not a retried outage.
	cl2 := newClient(t, krb.Credentials{User: "alice@OTHER.TEST", Password: alicePW, ConfigFile: r.kdc.Conf})
	if err := cl2.Login(); !errors.Is(err, krb.ErrNoKDC) || remote.Transient(err) {
		t.Fatalf("no KDC: %v", err)
	}
}

// TestAES128: an AES-128 session key (enctype 17) seals in the same 60-byte layout.
func TestAES128(t *testing.T) {
	r := startRealm(t)
	conf := r.kdc.For(t).ClientConf("aes128-cts-hmac-sha1-96")
	cl := newClient(t, krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: conf})
	c, a := handshake(t, cl, acceptor(t, r, krb.AcceptorOptions{}), false)
	if c.EncType() != 17 || a.Session.EncType() != 17 {
		t.Fatalf("etype %d/%d, want 17", c.EncType(), a.Session.EncType())
	}
	exchange(t, c, a.Session, false)
}
