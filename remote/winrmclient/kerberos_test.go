package winrmclient

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/krb/krbtest"
	"github.com/dcproxy/dcproxy/remote/winsim"
)

// wire records what a client put on the wire to a simulated host.
type wire struct {
	mu       sync.Mutex
	auth     []string // Authorization values (scheme and the token kind, never the token)
	bodies   []string // Content-Type of every request with a body
	hdrLens  []int    // token header length of every sealed body (60 AES, 45..48 RC4)
	ntlmSeen bool
}

func (w *wire) record(r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, _ := strings.Cut(a, " ")
		b, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
		kind := "other"
		switch {
		case bytes.HasPrefix(b, []byte("NTLMSSP\x00")):
			kind, w.ntlmSeen = "ntlm", true
		case bytes.Contains(b, []byte("NTLMSSP\x00")): // SPNEGO-wrapped NTLM
			kind, w.ntlmSeen = "spnego-ntlm", true
		case krb.IsKerberosToken(b):
			kind = "kerberos"
		}
		w.auth = append(w.auth, scheme+" "+kind)
	}
	if r.ContentLength > 0 {
		w.bodies = append(w.bodies, r.Header.Get("Content-Type"))
		if _, ok := krb.EncryptedProtocol(r.Header.Get("Content-Type")); ok {
			b, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(b))
			if _, h, _, _, err := krb.Unframe(b); err == nil {
				w.hdrLens = append(w.hdrLens, len(h))
			}
		}
	}
}

type krbLab struct {
	kdc     *krbtest.KDC
	acc     *krb.Acceptor
	rc4Conf string
	userKT  string
}

func startKrbLab(t *testing.T, now func() time.Time) *krbLab {
	t.Helper()
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
	k := krbtest.Start(t, krbtest.Options{RC4: true})
	k.AddUser("admin", testPassword)
	kt, err := krb.LoadKeytab(k.AddService("HTTP/dc01.lab.test"))
	if err != nil {
		t.Fatal(err)
	}
	return &krbLab{kdc: k, acc: krb.NewAcceptor(kt, krb.AcceptorOptions{Now: now}), rc4Conf: k.ClientConf("arcfour-hmac"), userKT: k.Keytab("admin")}
}

// startKrbWinsim serves dc01.lab.test with Kerberos enabled (kerberos nil: NTLM only) and records
// the wire.
func startKrbWinsim(t *testing.T, acc *krb.Acceptor, https bool) (*winsim.Host, *httptest.Server, *wire) {
	t.Helper()
	h, err := winsim.NewHost(winsim.Config{Name: "dc01.lab.test", Kerberos: acc,
		Accounts: []winsim.Account{{User: `LAB\admin`, Password: testPassword, Admin: true}}})
	if err != nil {
		t.Fatal(err)
	}
	w := &wire{}
	inner := h.Handler(https)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.record(r)
		inner.ServeHTTP(rw, r)
	}))
	srv.Config.ConnContext = winsim.ConnContext
	if https {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return h, srv, w
}

func krbTarget(t *testing.T, srv *httptest.Server, https bool, auth string, k remote.KerberosTarget) remote.Target {
	tg := winsimTarget(t, srv)
	tg.Auth, tg.HTTPS, tg.InsecureSkipVerify = auth, https, https
	if k.SPNHost == "" {
		k.SPNHost = "dc01.lab.test" // the listener is 127.0.0.1: the SPN needs the name
	}
	tg.Kerberos = k
	return tg
}

// runAudit dials, runs a reg query and an echo, closes, and returns the stats.
func runAudit(t *testing.T, d Dialer, tg remote.Target) (remote.Stats, error) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	r, err := d.Dial(ctx, tg)
	if err != nil {
		return remote.Stats{}, err
	}
	out, err := r.Run(ctx, "echo hello")
	if err != nil || string(out.Stdout) != "hello\r\n" {
		t.Fatalf("echo: %q %v", out.Stdout, err)
	}
	out, err = r.Run(ctx, `reg query "HKU\S-1-5-19\Software\NoSuchKey" /v Missing`)
	if err != nil || out.ExitCode != 1 {
		t.Fatalf("reg query: exit %d %v", out.ExitCode, err)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitDeleted(t, r)
	return r.(remote.StatsReporter).Stats(), nil
}

// TestKerberosAudit: dcproxy's client audits a simulated DC with Kerberos from a kinit ccache, a
// keytab and a password, over HTTP with sealing (AES and RC4) and over HTTPS. On the wire: one
// Kerberos handshake, no NTLM, every SOAP body sealed on HTTP and plain on HTTPS.
func TestKerberosAudit(t *testing.T) {
	lab := startKrbLab(t, nil)
	cc := lab.kdc.Kinit("admin", testPassword, "")
	ccRC4 := lab.kdc.Kinit("admin", testPassword, lab.rc4Conf)
	cases := []struct {
		name  string
		https bool
		auth  string
		k     remote.KerberosTarget
		noPW  bool
		rc4   bool
	}{
		{"ccache aes http", false, remote.AuthKerberos, remote.KerberosTarget{CCache: "FILE:" + cc, ConfigFile: lab.kdc.Conf}, true, false},
		{"ccache rc4 http", false, remote.AuthKerberos, remote.KerberosTarget{CCache: ccRC4, ConfigFile: lab.rc4Conf}, true, true},
		{"keytab http", false, remote.AuthKerberos, remote.KerberosTarget{Keytab: lab.userKT, Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf}, true, false},
		{"password http negotiate", false, remote.AuthNegotiate, remote.KerberosTarget{Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf, DisableNTLM: true}, false, false},
		{"password rc4 http, realm and kdc from the target", false, remote.AuthKerberos, remote.KerberosTarget{Realm: "lab.test", KDCs: []string{lab.kdc.Addr()}, ConfigFile: lab.rc4Conf}, false, true},
		{"ccache https", true, remote.AuthKerberos, remote.KerberosTarget{CCache: cc, ConfigFile: lab.kdc.Conf}, true, false},
		{"password https", true, remote.AuthNegotiate, remote.KerberosTarget{Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, srv, w := startKrbWinsim(t, lab.acc, tc.https)
			tg := krbTarget(t, srv, tc.https, tc.auth, tc.k)
			if tc.noPW {
				tg.Password = ""
			}
			if tc.k.CCache != "" {
				tg.User = ""
			}
			start := time.Now()
			st, err := runAudit(t, Dialer{}, tg)
			if err != nil {
				t.Fatalf("audit: %v", err)
			}
			t.Logf("%s: %+v in %v", tc.name, st, time.Since(start))
			if st.Handshakes != 1 {
				t.Errorf("handshakes %d, want 1", st.Handshakes)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.ntlmSeen || len(w.auth) != 1 || w.auth[0] != "Negotiate kerberos" {
				t.Errorf("authorization on the wire: %q", w.auth)
			}
			for _, ct := range w.bodies {
				_, sealed := krb.EncryptedProtocol(ct)
				if sealed == tc.https {
					t.Errorf("body Content-Type %q (https %v)", ct, tc.https)
				}
			}
			for _, n := range w.hdrLens {
				if tc.rc4 != (n >= 45 && n <= 48) || !tc.rc4 && n != 60 {
					t.Errorf("sealed token header %d bytes (rc4 %v)", n, tc.rc4)
				}
			}
			if !tc.https && len(w.hdrLens) != len(w.bodies) {
				t.Errorf("%d sealed of %d bodies", len(w.hdrLens), len(w.bodies))
			}
			if len(w.bodies) < 5 {
				t.Errorf("only %d bodies", len(w.bodies))
			}
			if n := h.ShellCount(); n != 0 {
				t.Errorf("%d shells left", n)
			}
		})
	}
}

// TestKerberosShared: a krb.Cache in the Dialer makes one AS exchange serve several hosts.
func TestKerberosShared(t *testing.T) {
	lab := startKrbLab(t, nil)
	var cache krb.Cache
	t.Cleanup(cache.Close)
	d := Dialer{Kerberos: &cache}
	for i := 0; i < 3; i++ {
		_, srv, _ := startKrbWinsim(t, lab.acc, false)
		tg := krbTarget(t, srv, false, remote.AuthKerberos, remote.KerberosTarget{Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf})
		if _, err := runAudit(t, d, tg); err != nil {
			t.Fatalf("host %d: %v", i, err)
		}
	}
	cl, err := cache.Get(krb.Credentials{User: `LAB\admin`, Password: testPassword, Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf})
	if err != nil || cl.Principal() != "admin@LAB.TEST" {
		t.Fatalf("cached client: %v", err)
	}
}

// TestKerberosRefusals: wrong password, clock skew and unknown SPN are refused with their own
// errors and kinds; the password never shows.
func TestKerberosRefusals(t *testing.T) {
	lab := startKrbLab(t, nil)
	_, srv, w := startKrbWinsim(t, lab.acc, false)
	t.Run("wrong password", func(t *testing.T) {
		tg := krbTarget(t, srv, false, remote.AuthKerberos, remote.KerberosTarget{Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf})
		tg.Password = "Wrong-Pa55!"
		_, err := runAudit(t, Dialer{}, tg)
		if !errors.Is(err, krb.ErrPreauthFailed) || remote.Kind(err) != "auth" || remote.Transient(err) {
			t.Fatalf("err = %v (kind %s)", err, remote.Kind(err))
		}
		if strings.Contains(err.Error(), "Wrong-Pa55!") {
			t.Fatal("password in error")
		}
	})
	t.Run("unknown SPN", func(t *testing.T) {
		tg := krbTarget(t, srv, false, remote.AuthKerberos, remote.KerberosTarget{SPNHost: "dc09.lab.test", Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf})
		_, err := runAudit(t, Dialer{}, tg)
		if !errors.Is(err, krb.ErrUnknownSPN) || errors.Is(err, remote.ErrAuth) || !strings.Contains(err.Error(), "HTTP/dc09.lab.test") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("IP address", func(t *testing.T) {
		tg := krbTarget(t, srv, false, remote.AuthKerberos, remote.KerberosTarget{Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf})
		tg.Kerberos.SPNHost = ""
		_, err := runAudit(t, Dialer{}, tg)
		if !errors.Is(err, remote.ErrInvalidTarget) || !strings.Contains(err.Error(), "DNS name") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("clock skew", func(t *testing.T) {
		skewed := startKrbLabAcceptor(t, lab, func() time.Time { return time.Now().Add(10 * time.Minute) })
		_, srv2, w2 := startKrbWinsim(t, skewed, false)
		tg := krbTarget(t, srv2, false, remote.AuthNegotiate, remote.KerberosTarget{Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf, DisableNTLM: true})
		_, err := runAudit(t, Dialer{}, tg)
		if !errors.Is(err, krb.ErrClockSkew) || errors.Is(err, remote.ErrAuth) {
			t.Fatalf("err = %v (kind %s)", err, remote.Kind(err))
		}
		w2.mu.Lock()
		defer w2.mu.Unlock()
		if w2.ntlmSeen { // ntlm: false never sends an NTLM token, even after Kerberos failed
			t.Fatalf("NTLM on the wire: %q", w2.auth)
		}
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ntlmSeen {
		t.Fatalf("NTLM on the wire: %q", w.auth)
	}
}

func startKrbLabAcceptor(t *testing.T, lab *krbLab, now func() time.Time) *krb.Acceptor {
	t.Helper()
	b := lab.kdc.Keytab("HTTP/dc01.lab.test")
	kt, err := krb.LoadKeytab(b)
	if err != nil {
		t.Fatal(err)
	}
	return krb.NewAcceptor(kt, krb.AcceptorOptions{Now: now})
}

// TestNegotiateFallback: negotiate uses NTLM only when Kerberos is impossible for the host and NTLM is
// allowed; with ntlm disabled no NTLM token ever goes out (asserted on the wire).
func TestNegotiateFallback(t *testing.T) {
	lab := startKrbLab(t, nil)
	cases := []struct {
		name     string
		k        remote.KerberosTarget
		ip       bool
		wantNTLM bool
		wantErr  error
	}{
		{"no Kerberos credentials: NTLM", remote.KerberosTarget{ConfigFile: lab.kdc.Conf}, false, true, nil},
		{"host by IP: NTLM", remote.KerberosTarget{Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf}, true, true, nil},
		{"unknown SPN: NTLM", remote.KerberosTarget{SPNHost: "dc09.lab.test", Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf}, false, true, nil},
		{"Kerberos works: no NTLM", remote.KerberosTarget{Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf}, false, false, nil},
		{"ntlm false, unknown SPN", remote.KerberosTarget{SPNHost: "dc09.lab.test", Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf, DisableNTLM: true}, false, false, krb.ErrUnknownSPN},
		{"ntlm false, host by IP", remote.KerberosTarget{Realm: "LAB.TEST", ConfigFile: lab.kdc.Conf, DisableNTLM: true}, true, false, remote.ErrInvalidTarget},
		{"ntlm false, no credentials", remote.KerberosTarget{ConfigFile: lab.kdc.Conf, DisableNTLM: true}, false, false, krb.ErrNoCredentials},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KRB5CCNAME", "FILE:/nonexistent/cc")
			_, srv, w := startKrbWinsim(t, lab.acc, false)
			tg := krbTarget(t, srv, false, remote.AuthNegotiate, tc.k)
			if tc.ip {
				tg.Kerberos.SPNHost = ""
			}
			_, err := runAudit(t, Dialer{}, tg)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("audit: %v", err)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			if w.ntlmSeen != tc.wantNTLM {
				t.Fatalf("NTLM on the wire %v, want %v: %q", w.ntlmSeen, tc.wantNTLM, w.auth)
			}
		})
	}
}
