package auth

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/krb/krbtest"
	"github.com/dcproxy/dcproxy/remote/ntlm"
)

// kdcRealm is an MIT KDC for realm LAB.LOCAL (the test host's DNS domain) with the test accounts
// and the host's SPN.
type kdcRealm struct {
	kdc        *krbtest.KDC
	keytab     string // HTTP/dc01.lab.local
	other      string // HTTP/dc02.lab.local (another host)
	rc4Conf    string
	adminCC    string
	adminCCRC4 string
	viewerCC   string
}

func startKDC(t *testing.T) *kdcRealm {
	t.Helper()
	k := krbtest.Start(t, krbtest.Options{Realm: "LAB.LOCAL", RC4: true})
	k.AddUser("auditor", adminPass)
	k.AddUser("viewer", viewerPass)
	r := &kdcRealm{kdc: k, keytab: k.AddService("HTTP/dc01.lab.local"), other: k.AddService("HTTP/dc02.lab.local")}
	r.rc4Conf = k.ClientConf("arcfour-hmac")
	r.adminCC = k.Kinit("auditor", adminPass, "")
	r.adminCCRC4 = k.Kinit("auditor", adminPass, r.rc4Conf)
	r.viewerCC = k.Kinit("viewer", viewerPass, "")
	return r
}

func (r *kdcRealm) acceptor(t *testing.T, o krb.AcceptorOptions) *krb.Acceptor {
	t.Helper()
	kt, err := krb.LoadKeytab(r.keytab)
	if err != nil {
		t.Fatal(err)
	}
	// The lab shares one keytab among hosts: add dc02's keys so that the host check is what refuses.
	kt2, err := krb.LoadKeytab(r.other)
	if err != nil {
		t.Fatal(err)
	}
	kt.Entries = append(kt.Entries, kt2.Entries...)
	return krb.NewAcceptor(kt, o)
}

func (r *kdcRealm) client(t *testing.T, cc, conf string) *krb.Client {
	t.Helper()
	if conf == "" {
		conf = r.kdc.Conf
	}
	cl, err := krb.NewClient(krb.Credentials{CCache: cc, ConfigFile: conf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// oneConn is an HTTP client that keeps one connection (Kerberos authenticates the connection).
func oneConn() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}}
}

func post(t *testing.T, c *http.Client, url, auth, ct string, body []byte) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return resp, b
}

func negotiateReply(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	v := resp.Header.Get("Www-Authenticate")
	tok, ok := strings.CutPrefix(v, "Negotiate ")
	if !ok {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("WWW-Authenticate %q: %v", v, err)
	}
	return b
}

func TestKerberosSealed(t *testing.T) {
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
	r := startKDC(t)
	for _, tc := range []struct {
		name     string
		cc, conf string
		spnego   bool
		protocol string
		etype    int32
		user     string
		admin    bool
	}{
		{"aes raw krb5", r.adminCC, "", false, krb.ProtocolSPNEGO, 18, adminUser, true},
		{"aes spnego, Kerberos protocol string", r.adminCC, "", true, krb.ProtocolKerberos, 18, adminUser, true},
		{"rc4", r.adminCCRC4, r.rc4Conf, false, krb.ProtocolSPNEGO, 23, adminUser, true},
		{"non-admin", r.viewerCC, "", true, krb.ProtocolSPNEGO, 18, viewerUser, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			p.Kerberos = r.acceptor(t, krb.AcceptorOptions{})
			ts := start(t, p)
			c := oneConn()
			ic, tok, err := r.client(t, tc.cc, tc.conf).InitSecContext("HTTP/dc01.lab.local", tc.spnego)
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := post(t, c, ts.URL+"/wsman", "Negotiate "+base64.StdEncoding.EncodeToString(tok), soapContentType, nil)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Server") != "Microsoft-HTTPAPI/2.0" {
				t.Fatalf("handshake: %d", resp.StatusCode)
			}
			sess, err := ic.Complete(negotiateReply(t, resp))
			if err != nil {
				t.Fatalf("AP-REP: %v", err)
			}
			if sess.EncType() != tc.etype {
				t.Fatalf("etype %d", sess.EncType())
			}
			for i := 0; i < 3; i++ {
				msg := []byte(strings.Repeat("<s:Envelope/>", 1+i*1000))
				body, err := krb.Seal(sess, tc.protocol, msg)
				if err != nil {
					t.Fatal(err)
				}
				resp, raw := post(t, c, ts.URL+"/wsman", "", krb.ContentType(tc.protocol), body)
				want := http.StatusOK
				if !tc.admin {
					want = http.StatusInternalServerError // the responder's access-denied fault, sealed
				}
				if resp.StatusCode != want || resp.Header.Get("Content-Type") != krb.ContentType(tc.protocol) {
					t.Fatalf("sealed #%d: %d %q", i, resp.StatusCode, resp.Header.Get("Content-Type"))
				}
				proto, plain, err := krb.Open(sess, raw)
				if err != nil || proto != tc.protocol || !bytes.Contains(plain, []byte("Envelope")) {
					t.Fatalf("open #%d: %v %q", i, err, proto)
				}
			}
			calls := ts.rs.snapshot()
			if len(calls) != 3 {
				t.Fatalf("inner handler saw %d requests", len(calls))
			}
			for _, cl := range calls {
				if cl.id != (Identity{User: tc.user, Admin: tc.admin, Sealed: true}) || cl.contentType != soapContentType {
					t.Fatalf("inner call %+v", cl)
				}
			}
			// A plaintext body on the authenticated HTTP connection is refused (AllowUnencrypted false).
			resp, _ = post(t, c, ts.URL+"/wsman", "", soapContentType, []byte("<s:Envelope/>"))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("plaintext: %d", resp.StatusCode)
			}
		})
	}
}

func TestKerberosRefusals(t *testing.T) {
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
	r := startKDC(t)
	cl := r.client(t, r.adminCC, "")
	token := func(t *testing.T, spn string, spnego bool) (*krb.InitContext, string) {
		t.Helper()
		ic, tok, err := cl.InitSecContext(spn, spnego)
		if err != nil {
			t.Fatal(err)
		}
		return ic, "Negotiate " + base64.StdEncoding.EncodeToString(tok)
	}
	t.Run("clock skew", func(t *testing.T) {
		p := basePolicy()
		p.Kerberos = r.acceptor(t, krb.AcceptorOptions{Now: func() time.Time { return time.Now().Add(-6 * time.Minute) }})
		ts := start(t, p)
		ic, auth := token(t, "HTTP/dc01.lab.local", true)
		resp, _ := post(t, oneConn(), ts.URL+"/wsman", auth, soapContentType, nil)
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if _, err := ic.Complete(negotiateReply(t, resp)); !errors.Is(err, krb.ErrClockSkew) {
			t.Fatalf("client reads %v", err)
		}
	})
	t.Run("replay on another connection", func(t *testing.T) {
		p := basePolicy()
		p.Kerberos = r.acceptor(t, krb.AcceptorOptions{})
		ts := start(t, p)
		ic, auth := token(t, "HTTP/dc01.lab.local", false)
		if resp, _ := post(t, oneConn(), ts.URL+"/wsman", auth, soapContentType, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("first: %d", resp.StatusCode)
		}
		resp, _ := post(t, oneConn(), ts.URL+"/wsman", auth, soapContentType, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("replay: %d", resp.StatusCode)
		}
		if _, err := ic.Complete(negotiateReply(t, resp)); !errors.Is(err, krb.ErrReplay) {
			t.Fatalf("client reads %v", err)
		}
	})
	t.Run("ticket for another host", func(t *testing.T) {
		p := basePolicy()
		p.Kerberos = r.acceptor(t, krb.AcceptorOptions{})
		ts := start(t, p)
		_, auth := token(t, "HTTP/dc02.lab.local", true)
		resp, _ := post(t, oneConn(), ts.URL+"/wsman", auth, soapContentType, nil)
		if resp.StatusCode != http.StatusUnauthorized || len(ts.rs.snapshot()) != 0 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("kerberos not enabled", func(t *testing.T) {
		ts := start(t, basePolicy())
		_, auth := token(t, "HTTP/dc01.lab.local", false)
		resp, _ := post(t, oneConn(), ts.URL+"/wsman", auth, soapContentType, nil)
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Www-Authenticate") != "Negotiate" {
			t.Fatalf("status %d %q", resp.StatusCode, resp.Header.Get("Www-Authenticate"))
		}
	})
	t.Run("NTLM still works beside Kerberos", func(t *testing.T) {
		p := basePolicy()
		p.Kerberos = r.acceptor(t, krb.AcceptorOptions{})
		ts := start(t, p)
		c := ts.masterzen(t, adminUser, adminPass, encryptionDecorator)
		shell, err := c.CreateShell()
		if err != nil {
			t.Fatal(err)
		}
		_ = shell.Close()
		if calls := ts.rs.snapshot(); len(calls) != 2 || !calls[0].id.Sealed {
			t.Fatalf("calls %+v", calls)
		}
	})
	_ = ntlm.EncryptedContentType
}

// pywinrmKerberosScript drives Debian's pywinrm 0.3.0 with requests-kerberos. Debian's
// python3-kerberos 1.1.14 lacks authGSSWinRMEncryptMessage/DecryptMessage, so the shim from
// kerberos.md maps them onto authGSSClientWrapIov (which produces LE32 header length | header |
// data) and authGSSClientUnwrap (header | data): message encryption then really happens.
const pywinrmKerberosScript = `
import base64, struct, sys
import kerberos
def _enc(ctx, message):
    kerberos.authGSSClientWrapIov(ctx, base64.b64encode(message).decode())
    raw = base64.b64decode(kerberos.authGSSClientResponse(ctx))
    n = struct.unpack("<I", raw[:4])[0]
    return raw[4 + n:], raw[4:4 + n]
def _dec(ctx, message, header):
    kerberos.authGSSClientUnwrap(ctx, base64.b64encode(header + message).decode())
    return base64.b64decode(kerberos.authGSSClientResponse(ctx))
kerberos.authGSSWinRMEncryptMessage = _enc
kerberos.authGSSWinRMDecryptMessage = _dec
from winrm.protocol import Protocol
endpoint, user, hostname = sys.argv[1:4]
p = Protocol(endpoint=endpoint, transport="kerberos", username=user, message_encryption="always",
             kerberos_hostname_override=hostname)
shell = p.open_shell()
print("SHELL " + shell)
p.close_shell(shell)
print("CLOSED")
print("ENCRYPTED" if p.transport.encryption else "PLAIN")
`

func TestPywinrmKerberos(t *testing.T) {
	requirePywinrm(t)
	if err := exec.Command(python, "-c", "import requests_kerberos, kerberos").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("python3-requests-kerberos is required in CI")
		}
		t.Skip("python3-requests-kerberos not installed")
	}
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
	r := startKDC(t)
	for _, tc := range []struct{ name, cc, conf string }{
		{"aes", r.adminCC, r.kdc.Conf},
		{"rc4", r.adminCCRC4, r.rc4Conf},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			var mu sync.Mutex
			var sawSealed []string
			p.Kerberos = r.acceptor(t, krb.AcceptorOptions{})
			rs := &responder{}
			inner := p.Wrap(rs)
			// Record what travels on the wire (before the middleware): the bodies must be sealed.
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				mu.Lock()
				sawSealed = append(sawSealed, req.Header.Get("Content-Type"))
				mu.Unlock()
				inner.ServeHTTP(w, req)
			}))
			srv.Config.ConnContext = ConnContext
			srv.Start()
			t.Cleanup(srv.Close)
			ts := &testServer{Server: srv, rs: rs}
			cmd := exec.Command(python, "-c", pywinrmKerberosScript, ts.URL+"/wsman", "auditor@LAB.LOCAL", "dc01.lab.local")
			cmd.Env = append(pythonEnv(), "KRB5_CONFIG="+tc.conf, "KRB5CCNAME=FILE:"+tc.cc)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("pywinrm: %v\n%s", err, out)
			}
			if got := strings.Join(strings.Fields(string(out)), " "); got != "SHELL "+testShell+" CLOSED ENCRYPTED" {
				t.Fatalf("pywinrm printed %q", out)
			}
			calls := ts.rs.snapshot()
			if len(calls) != 2 {
				t.Fatalf("inner handler saw %d requests", len(calls))
			}
			for _, c := range calls {
				if c.id != (Identity{User: adminUser, Admin: true, Sealed: true}) {
					t.Fatalf("identity %+v", c.id)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			sealed := 0
			for _, ct := range sawSealed {
				if _, ok := krb.EncryptedProtocol(ct); ok {
					sealed++
				}
			}
			if sealed != 2 {
				t.Fatalf("sealed requests on the wire: %d of %q", sealed, sawSealed)
			}
		})
	}
}
