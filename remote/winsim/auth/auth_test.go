package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	azntlm "github.com/Azure/go-ntlmssp"
	"github.com/bodgit/ntlmssp"
	"github.com/dcproxy/dcproxy/remote/ntlm"
	"github.com/masterzen/winrm"
)

const (
	adminUser  = `LAB\auditor`
	adminPass  = "Audit0r!pw"
	viewerUser = `LAB\viewer`
	viewerPass = "V1ewer!pw"
	testShell  = "67A74734-DD32-4F10-89DE-49A060483810"
)

func basePolicy() Policy {
	return Policy{
		Server: Host{NbDomain: "LAB", NbComputer: "DC01", DNSDomain: "lab.local", DNSComputer: "dc01.lab.local"},
		Accounts: []Account{
			{User: adminUser, Password: adminPass, Admin: true},
			{User: viewerUser, Password: viewerPass},
		},
	}
}

// call is one request the inner handler saw.
type call struct {
	id          Identity
	contentType string
	body        string
	bodyBytes   string // what BodyBytes returned, after body was read
	bodyBytesOK bool
}

// responder is a minimal WS-Man endpoint: Create answers with a ShellId, every
// other action with an empty response echoing RelatesTo; non-admins get the
// access-denied fault with HTTP 500.
type responder struct {
	mu    sync.Mutex
	calls []call
}

var (
	reAction = regexp.MustCompile(`<[A-Za-z0-9]*:?Action[^>]*>([^<]+)</`)
	reMsgID  = regexp.MustCompile(`<[A-Za-z0-9]*:?MessageID[^>]*>([^<]+)</`)
)

func (rs *responder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	bb, bbOK := BodyBytes(r)
	id, ok := IdentityFrom(r.Context())
	rs.mu.Lock()
	rs.calls = append(rs.calls, call{id: id, contentType: r.Header.Get("Content-Type"), body: string(body), bodyBytes: string(bb), bodyBytesOK: bbOK})
	rs.mu.Unlock()
	w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
	if !ok || r.Header.Get("Authorization") != "" {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var action, msgID string
	if m := reAction.FindSubmatch(body); m != nil {
		action = string(m[1])
	}
	if m := reMsgID.FindSubmatch(body); m != nil {
		msgID = string(m[1])
	}
	const env = `<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault">`
	hdr := func(act string) string {
		return `<s:Header><a:Action>` + act + `</a:Action><a:MessageID>uuid:00000000-0000-0000-0000-000000000001</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:RelatesTo>` + msgID + `</a:RelatesTo></s:Header>`
	}
	switch {
	case !id.Admin:
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, env+hdr("http://schemas.dmtf.org/wbem/wsman/1/wsman/fault")+`<s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>w:AccessDenied</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang="en-US">Access is denied. </s:Text></s:Reason><s:Detail><f:WSManFault Code="5" Machine="dc01.lab.local"><f:Message>Access is denied. </f:Message></f:WSManFault></s:Detail></s:Fault></s:Body></s:Envelope>`)
	case strings.HasSuffix(action, "/transfer/Create"):
		fmt.Fprint(w, env+hdr("http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse")+`<s:Body><x:ResourceCreated><a:Address>http://dc01.lab.local:5985/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">`+testShell+`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated><rsp:Shell><rsp:ShellId>`+testShell+`</rsp:ShellId></rsp:Shell></s:Body></s:Envelope>`)
	default:
		fmt.Fprint(w, env+hdr(action+"Response")+`<s:Body/></s:Envelope>`)
	}
}

func (rs *responder) snapshot() []call {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]call(nil), rs.calls...)
}

type testServer struct {
	*httptest.Server
	rs    *responder
	host  string
	port  int
	https bool
}

func start(t *testing.T, p Policy) *testServer {
	t.Helper()
	rs := &responder{}
	ts := serve(t, p, rs)
	ts.rs = rs
	return ts
}

// serve starts p wrapping h on a test listener (TLS when p.HTTPS).
func serve(t *testing.T, p Policy, h http.Handler) *testServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(p.Wrap(h))
	srv.Config.ConnContext = ConnContext
	if p.HTTPS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	port, _ := strconv.Atoi(u.Port())
	return &testServer{Server: srv, host: u.Hostname(), port: port, https: p.HTTPS}
}

// masterzen builds a masterzen/winrm client; decorator nil means the default (Basic) transport.
func (ts *testServer) masterzen(t *testing.T, user, pass string, decorator func() winrm.Transporter) *winrm.Client {
	t.Helper()
	ep := winrm.NewEndpoint(ts.host, ts.port, ts.https, true, nil, nil, nil, 0)
	p := *winrm.DefaultParameters // a copy: never mutate the package-level defaults
	p.TransportDecorator = decorator
	c, err := winrm.NewClientWithParameters(ep, user, pass, &p)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ntlmDecorator() winrm.Transporter { return &winrm.ClientNTLM{} }

func encryptionDecorator() winrm.Transporter {
	enc, err := winrm.NewEncryption("ntlm")
	if err != nil {
		panic(err)
	}
	return enc
}

func TestMasterzenSuccess(t *testing.T) {
	tests := []struct {
		name      string
		policy    func(*Policy)
		user      string
		decorator func() winrm.Transporter
		sealed    bool
	}{
		{"ClientNTLM over HTTPS", func(p *Policy) { p.HTTPS = true }, adminUser, ntlmDecorator, false},
		{"ClientNTLM over HTTPS, UPN", func(p *Policy) { p.HTTPS = true }, "auditor@lab.local", ntlmDecorator, false},
		{"ClientNTLM over HTTP with AllowUnencrypted", func(p *Policy) { p.AllowUnencrypted = true }, adminUser, ntlmDecorator, false},
		{"Encryption(ntlm) over HTTP", func(*Policy) {}, adminUser, encryptionDecorator, true},
		{"Encryption(ntlm) over HTTP, bare user name", func(*Policy) {}, "auditor", encryptionDecorator, true},
		{"Basic over HTTPS", func(p *Policy) { p.HTTPS, p.Basic = true, true }, adminUser, nil, false},
		{"Basic over HTTP with AllowUnencrypted", func(p *Policy) { p.Basic, p.AllowUnencrypted = true, true }, adminUser, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			tc.policy(&p)
			ts := start(t, p)
			c := ts.masterzen(t, tc.user, adminPass, tc.decorator)
			for i := 0; i < 2; i++ { // the second round reuses the authenticated connection
				shell, err := c.CreateShell()
				if err != nil {
					t.Fatalf("CreateShell #%d: %v", i, err)
				}
				if err := shell.Close(); err != nil {
					t.Fatalf("Close #%d: %v", i, err)
				}
			}
			calls := ts.rs.snapshot()
			if len(calls) != 4 {
				t.Fatalf("inner handler saw %d requests, want 4", len(calls))
			}
			if !strings.Contains(calls[1].body, testShell) {
				t.Errorf("Delete did not carry the ShellId from the (unsealed) Create response: %q", calls[1].body)
			}
			for _, c := range calls {
				want := Identity{User: adminUser, Admin: true, Sealed: tc.sealed}
				if c.id != want {
					t.Errorf("identity %+v, want %+v", c.id, want)
				}
				if !strings.Contains(c.body, "<env:Envelope") || c.contentType != "application/soap+xml;charset=UTF-8" {
					t.Errorf("inner handler got %q %q", c.contentType, c.body)
				}
			}
		})
	}
}

func TestMasterzenRefused(t *testing.T) {
	tests := []struct {
		name      string
		policy    func(*Policy)
		user      string
		pass      string
		decorator func() winrm.Transporter
	}{
		{"ClientNTLM over HTTP (unsealed body refused)", func(*Policy) {}, adminUser, adminPass, ntlmDecorator},
		{"Basic disabled", func(p *Policy) { p.HTTPS = true }, adminUser, adminPass, nil},
		{"Basic over HTTP without AllowUnencrypted", func(p *Policy) { p.Basic = true }, adminUser, adminPass, nil},
		{"Basic wrong password", func(p *Policy) { p.HTTPS, p.Basic = true, true }, adminUser, "wrong", nil},
		{"Encryption wrong password", func(*Policy) {}, adminUser, "wrong", encryptionDecorator},
		{"Encryption unknown user", func(*Policy) {}, `LAB\mallory`, adminPass, encryptionDecorator},
		{"ClientNTLM wrong password", func(p *Policy) { p.HTTPS = true }, adminUser, "wrong", ntlmDecorator},
		{"AuthFail with NTLM", func(p *Policy) { p.AuthFail = true }, adminUser, adminPass, encryptionDecorator},
		{"AuthFail with Basic", func(p *Policy) { p.AuthFail, p.HTTPS, p.Basic = true, true, true }, adminUser, adminPass, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := basePolicy()
			tc.policy(&p)
			ts := start(t, p)
			_, err := ts.masterzen(t, tc.user, tc.pass, tc.decorator).CreateShell()
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("CreateShell err = %v, want a 401", err)
			}
			if strings.Contains(err.Error(), tc.pass) {
				t.Fatal("error mentions the password")
			}
			if n := len(ts.rs.snapshot()); n != 0 {
				t.Fatalf("inner handler reached %d times", n)
			}
		})
	}
}

// TestAzureNegotiatorNonAdminFault drives Azure/go-ntlmssp's Negotiator (what
// masterzen ClientNTLM wraps) directly: a non-admin authenticates and the inner
// handler's 500 fault reaches the client unchanged. (masterzen @3fad6e1 itself
// hides it: clientRequest.Post's deferred "http error" rewrite assigns to locals
// of a function with unnamed results, so a 500 SOAP fault comes back as a body
// with a nil error.)
func TestAzureNegotiatorNonAdminFault(t *testing.T) {
	p := basePolicy()
	p.HTTPS = true
	ts := start(t, p)
	hc := &http.Client{Transport: azntlm.Negotiator{RoundTripper: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // test server
	}}}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/wsman", strings.NewReader(soapBody))
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		req.SetBasicAuth(viewerUser, viewerPass)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(string(body), "Access is denied.") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/soap+xml") {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	calls := ts.rs.snapshot()
	if len(calls) != 2 || calls[0].id != (Identity{User: viewerUser}) {
		t.Fatalf("calls = %+v", calls)
	}
}

// TestConcurrentConnections authenticates many connections to one server at once,
// each with its own account and sealed traffic, and checks that no state leaks
// between connections (run with -race). masterzen clients are exercised per
// client in TestMasterzenSuccess; several masterzen Encryption clients in one
// process share http.DefaultTransport's pool, so their NTLM legs can land on each
// other's connections, which a real host refuses as well.
func TestConcurrentConnections(t *testing.T) {
	ts := start(t, basePolicy())
	t.Run("group", func(t *testing.T) {
		for i := 0; i < 12; i++ {
			t.Run(strconv.Itoa(i), func(t *testing.T) {
				t.Parallel()
				user, pass, want := "auditor", adminPass, 200
				if i%3 == 0 {
					user, pass, want = "viewer", viewerPass, 500
				}
				rc := ts.dial(t)
				c, r := rc.handshake(user, "LAB", pass, nil)
				if r.StatusCode != 200 {
					t.Fatalf("handshake: %d", r.StatusCode)
				}
				for j := 0; j < 5; j++ {
					msg := strings.Replace(soapBody, "11111111", fmt.Sprintf("%08d", i*100+j), 1)
					r := rc.post("", ntlm.EncryptedContentType, seal(t, c, []byte(msg)))
					if r.StatusCode != want {
						t.Fatalf("request %d: status %d, want %d", j, r.StatusCode, want)
					}
					if got := unseal(t, c, r); !strings.Contains(got, fmt.Sprintf("%08d", i*100+j)) {
						t.Fatalf("response %d does not relate to its request: %q", j, got)
					}
				}
			})
		}
	})
	p := basePolicy()
	p.HTTPS = true
	tls := start(t, p)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		c := tls.masterzen(t, adminUser, adminPass, ntlmDecorator) // own transport per client
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 3; j++ {
				s, err := c.CreateShell()
				if err == nil {
					err = s.Close()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := len(tls.rs.snapshot()); n != 6*3*2 {
		t.Fatalf("inner handler saw %d requests, want %d", n, 6*3*2)
	}
}

// rawConn speaks HTTP/1.1 on one TCP connection, so tests see exactly what
// happens to a connection's state.
type rawConn struct {
	t  *testing.T
	ts *testServer
	c  net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial(t *testing.T) *rawConn {
	t.Helper()
	var c net.Conn
	var err error
	addr := net.JoinHostPort(ts.host, strconv.Itoa(ts.port))
	if ts.https {
		c, err = tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, ts: ts, c: c, br: bufio.NewReader(c)}
}

type rawResp struct {
	*http.Response
	body []byte
}

func (rc *rawConn) post(authz, contentType string, body []byte) rawResp {
	rc.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+rc.ts.host+"/wsman", bytes.NewReader(body))
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if err := req.Write(rc.c); err != nil {
		rc.t.Fatal(err)
	}
	resp, err := http.ReadResponse(rc.br, req)
	if err != nil {
		rc.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatal(err)
	}
	return rawResp{resp, b}
}

// closed reports whether the server closed the connection.
func (rc *rawConn) closed() bool {
	_, err := rc.br.Peek(1)
	return err != nil
}

const soapBody = `<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><env:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Create</a:Action><a:MessageID>uuid:11111111-2222-3333-4444-555555555555</a:MessageID></env:Header><env:Body/></env:Envelope>`

// handshake runs NEGOTIATE/CHALLENGE/AUTHENTICATE with a bodgit client (as
// masterzen Encryption and, flag-wise, pywinrm do) and returns the client and the
// AUTHENTICATE leg's response.
func (rc *rawConn) handshake(user, domain, pass string, body []byte) (*ntlmssp.Client, rawResp) {
	rc.t.Helper()
	c, err := ntlmssp.NewClient(ntlmssp.SetUserInfo(user, pass), ntlmssp.SetDomain(domain), ntlmssp.SetVersion(ntlmssp.DefaultVersion()))
	if err != nil {
		rc.t.Fatal(err)
	}
	neg, _ := c.Authenticate(nil, nil)
	r := rc.post("Negotiate "+base64.StdEncoding.EncodeToString(neg), "application/soap+xml;charset=UTF-8", body)
	if r.StatusCode != http.StatusUnauthorized {
		rc.t.Fatalf("NEGOTIATE leg: status %d", r.StatusCode)
	}
	v := r.Header.Get("Www-Authenticate")
	tok, ok := strings.CutPrefix(v, "Negotiate ")
	if !ok || len(r.Header.Values("Www-Authenticate")) != 1 || r.Header.Get("Content-Length") != "0" || r.Header.Get("Connection") == "close" {
		rc.t.Fatalf("CHALLENGE leg headers: %v", r.Header)
	}
	ch, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		rc.t.Fatal(err)
	}
	auth, err := c.Authenticate(ch, nil)
	if err != nil {
		rc.t.Fatalf("client rejected CHALLENGE: %v", err)
	}
	return c, rc.post("Negotiate "+base64.StdEncoding.EncodeToString(auth), "application/soap+xml;charset=UTF-8", body)
}

// seal builds a masterzen/pywinrm-style encrypted body with the client's session.
func seal(t *testing.T, c *ntlmssp.Client, msg []byte) []byte {
	t.Helper()
	sealed, sig, err := c.SecuritySession().Wrap(msg)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "--Encrypted Boundary\r\n\tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=%d\r\n--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n", len(msg))
	b.Write([]byte{byte(len(sig)), 0, 0, 0})
	b.Write(sig)
	b.Write(sealed)
	b.WriteString("--Encrypted Boundary--\r\n")
	return b.Bytes()
}

// unseal opens a sealed response with the client's session.
func unseal(t *testing.T, c *ntlmssp.Client, r rawResp) string {
	t.Helper()
	if r.Header.Get("Content-Type") != ntlm.EncryptedContentType {
		t.Fatalf("response Content-Type %q", r.Header.Get("Content-Type"))
	}
	body := r.body
	i := bytes.Index(body, []byte("application/octet-stream\r\n"))
	if i < 0 {
		t.Fatalf("no octet-stream part in %q", body)
	}
	payload := bytes.TrimSuffix(body[i+len("application/octet-stream\r\n"):], []byte("--Encrypted Boundary--\r\n"))
	plain, err := c.SecuritySession().Unwrap(payload[20:], payload[4:20])
	if err != nil {
		t.Fatalf("client Unwrap: %v", err)
	}
	m := regexp.MustCompile(`Length=(\d+)`).FindSubmatch(body)
	if m == nil || string(m[1]) != strconv.Itoa(len(plain)) {
		t.Fatalf("OriginalContent Length %q for %d bytes", m, len(plain))
	}
	return string(plain)
}

func TestChallengeHeaders(t *testing.T) {
	for _, basic := range []bool{false, true} {
		p := basePolicy()
		p.Basic = basic
		rc := start(t, p).dial(t)
		r := rc.post("", "application/soap+xml;charset=UTF-8", []byte(soapBody))
		want := []string{"Negotiate"}
		if basic {
			want = append(want, `Basic realm="WSMAN"`)
		}
		if r.StatusCode != 401 || strings.Join(r.Header.Values("Www-Authenticate"), "|") != strings.Join(want, "|") ||
			r.Header.Get("Server") != "Microsoft-HTTPAPI/2.0" || r.Header.Get("Content-Length") != "0" || len(r.body) != 0 {
			t.Fatalf("basic=%v: %d %v %q", basic, r.StatusCode, r.Header, r.body)
		}
		if !r.Close || !rc.closed() {
			t.Fatalf("basic=%v: connection left open after the anonymous 401", basic)
		}
	}
}

func TestSealedExchange(t *testing.T) {
	ts := start(t, basePolicy())
	rc := ts.dial(t)
	c, r := rc.handshake("auditor", "LAB", adminPass, nil)
	if r.StatusCode != 200 || len(r.body) != 0 || r.Header.Get("Content-Length") != "0" {
		t.Fatalf("AUTHENTICATE with empty body: %d %v %q", r.StatusCode, r.Header, r.body)
	}
	for i := 0; i < 3; i++ { // sequence numbers advance on both sides
		r = rc.post("", ntlm.EncryptedContentType, seal(t, c, []byte(soapBody)))
		if r.StatusCode != 200 {
			t.Fatalf("sealed request %d: status %d", i, r.StatusCode)
		}
		if got := unseal(t, c, r); !strings.Contains(got, testShell) || !strings.Contains(got, "uuid:11111111-2222-3333-4444-555555555555") {
			t.Fatalf("sealed response %d = %q", i, got)
		}
	}
	calls := ts.rs.snapshot()
	if len(calls) != 3 || calls[0].body != soapBody || calls[0].contentType != "application/soap+xml;charset=UTF-8" || !calls[0].id.Sealed {
		t.Fatalf("inner handler saw %+v", calls)
	}
	for i, c := range calls { // BodyBytes hands over the unsealed body without a read
		if !c.bodyBytesOK || c.bodyBytes != soapBody {
			t.Fatalf("call %d: BodyBytes = %q, %v", i, c.bodyBytes, c.bodyBytesOK)
		}
	}

	// masterzen pitfall: an empty anonymous request on the authenticated connection is 401.
	if r = rc.post("", "application/soap+xml;charset=UTF-8", nil); r.StatusCode != 401 {
		t.Fatalf("empty anonymous body on authenticated connection: %d", r.StatusCode)
	}
}

func TestSealedFaultKeepsStatus(t *testing.T) {
	ts := start(t, basePolicy())
	rc := ts.dial(t)
	c, _ := rc.handshake("viewer", "LAB", viewerPass, nil)
	r := rc.post("", ntlm.EncryptedContentType, seal(t, c, []byte(soapBody)))
	if r.StatusCode != 500 {
		t.Fatalf("status %d, want 500", r.StatusCode)
	}
	if got := unseal(t, c, r); !strings.Contains(got, "Access is denied.") {
		t.Fatalf("fault = %q", got)
	}
}

func TestAuthenticatedConnectionRules(t *testing.T) {
	t.Run("plaintext body on HTTP is refused with 401", func(t *testing.T) {
		ts := start(t, basePolicy())
		rc := ts.dial(t)
		_, r := rc.handshake("auditor", "LAB", adminPass, nil)
		if r.StatusCode != 200 {
			t.Fatal(r.StatusCode)
		}
		r = rc.post("", "application/soap+xml;charset=UTF-8", []byte(soapBody))
		if r.StatusCode != 401 || r.Header.Get("Www-Authenticate") != "Negotiate" {
			t.Fatalf("status %d %v", r.StatusCode, r.Header)
		}
		if len(ts.rs.snapshot()) != 0 {
			t.Fatal("inner handler reached")
		}
	})
	t.Run("plaintext body in the AUTHENTICATE leg on HTTP is refused", func(t *testing.T) {
		ts := start(t, basePolicy())
		_, r := ts.dial(t).handshake("auditor", "LAB", adminPass, []byte(soapBody))
		if r.StatusCode != 401 || len(ts.rs.snapshot()) != 0 {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
	t.Run("plaintext body with AllowUnencrypted", func(t *testing.T) {
		p := basePolicy()
		p.AllowUnencrypted = true
		ts := start(t, p)
		rc := ts.dial(t)
		rc.handshake("auditor", "LAB", adminPass, nil)
		r := rc.post("", "application/soap+xml;charset=UTF-8", []byte(soapBody))
		if r.StatusCode != 200 || !strings.Contains(string(r.body), testShell) {
			t.Fatalf("status %d %q", r.StatusCode, r.body)
		}
		if calls := ts.rs.snapshot(); len(calls) != 1 || calls[0].id.Sealed {
			t.Fatalf("calls %+v", calls)
		}
	})
	t.Run("sealed body on an unauthenticated connection", func(t *testing.T) {
		ts := start(t, basePolicy())
		c, _ := ts.dial(t).handshake("auditor", "LAB", adminPass, nil)
		r := ts.dial(t).post("", ntlm.EncryptedContentType, seal(t, c, []byte(soapBody)))
		if r.StatusCode != 401 {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
	t.Run("tampered sealed body", func(t *testing.T) {
		ts := start(t, basePolicy())
		rc := ts.dial(t)
		c, _ := rc.handshake("auditor", "LAB", adminPass, nil)
		b := seal(t, c, []byte(soapBody))
		b[len(b)-30] ^= 1
		if r := rc.post("", ntlm.EncryptedContentType, b); r.StatusCode != 400 || !rc.closed() {
			t.Fatalf("status %d", r.StatusCode)
		}
		if len(ts.rs.snapshot()) != 0 {
			t.Fatal("inner handler reached")
		}
	})
	t.Run("new NEGOTIATE resets the context", func(t *testing.T) {
		ts := start(t, basePolicy())
		rc := ts.dial(t)
		old, _ := rc.handshake("auditor", "LAB", adminPass, nil)
		_, r := rc.handshake("viewer", "LAB", viewerPass, nil)
		if r.StatusCode != 200 {
			t.Fatal(r.StatusCode)
		}
		if r = rc.post("", ntlm.EncryptedContentType, seal(t, old, []byte(soapBody))); r.StatusCode != 400 {
			t.Fatalf("message sealed with the old context: %d", r.StatusCode)
		}
		rc = ts.dial(t)
		c, _ := rc.handshake("viewer", "LAB", viewerPass, nil)
		r = rc.post("", ntlm.EncryptedContentType, seal(t, c, []byte(soapBody)))
		if r.StatusCode != 500 {
			t.Fatalf("status %d", r.StatusCode)
		}
		calls := ts.rs.snapshot()
		if len(calls) != 1 || calls[0].id.User != viewerUser || calls[0].id.Admin {
			t.Fatalf("calls %+v", calls)
		}
	})
	t.Run("AUTHENTICATE without NEGOTIATE", func(t *testing.T) {
		ts := start(t, basePolicy())
		c, _ := ntlmssp.NewClient(ntlmssp.SetUserInfo("auditor", adminPass), ntlmssp.SetDomain("LAB"))
		neg, _ := c.Authenticate(nil, nil)
		a := ntlm.NewAcceptor(&ntlm.ServerConfig{NbDomain: "LAB", NbComputer: "DC01"})
		ch, _ := a.Challenge(neg)
		auth, _ := c.Authenticate(ch, nil)
		if r := ts.dial(t).post("Negotiate "+base64.StdEncoding.EncodeToString(auth), "", nil); r.StatusCode != 401 {
			t.Fatalf("status %d", r.StatusCode)
		}
	})
	t.Run("garbage and unsupported schemes", func(t *testing.T) {
		ts := start(t, basePolicy())
		for _, authz := range []string{"Negotiate !!!", "Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXa", "NTLM TlRMTVNTUAABAAAAB4IIAAAAAAAAAAAAAAAAAAAAAAA=", "Kerberos abc", "Basic " + base64.StdEncoding.EncodeToString([]byte(adminUser+":"+adminPass))} {
			if r := ts.dial(t).post(authz, "application/soap+xml;charset=UTF-8", []byte(soapBody)); r.StatusCode != 401 {
				t.Fatalf("%q: status %d", authz, r.StatusCode)
			}
		}
	})
}

func TestBasicRaw(t *testing.T) {
	p := basePolicy()
	p.Basic, p.HTTPS = true, true
	ts := start(t, p)
	tests := []struct {
		user, pass string
		want       int
		ident      Identity
	}{
		{adminUser, adminPass, 200, Identity{User: adminUser, Admin: true}},
		{"auditor", adminPass, 200, Identity{User: adminUser, Admin: true}},
		{"auditor@lab.local", adminPass, 200, Identity{User: adminUser, Admin: true}},
		{`DC01\auditor`, adminPass, 200, Identity{User: adminUser, Admin: true}},
		{`lab.local\auditor`, adminPass, 200, Identity{User: adminUser, Admin: true}},
		{viewerUser, viewerPass, 401, Identity{}}, // no rights: Basic answers 401 (fidelity D2)
		{adminUser, viewerPass, 401, Identity{}},
		{`OTHER\auditor`, adminPass, 401, Identity{}},
		{"auditor@other.example", adminPass, 401, Identity{}},
	}
	for _, tc := range tests {
		before := len(ts.rs.snapshot())
		authz := "Basic " + base64.StdEncoding.EncodeToString([]byte(tc.user+":"+tc.pass))
		r := ts.dial(t).post(authz, "application/soap+xml;charset=UTF-8", []byte(soapBody))
		if r.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.user, r.StatusCode, tc.want)
			continue
		}
		calls := ts.rs.snapshot()
		if tc.want == 401 {
			if len(calls) != before {
				t.Errorf("%s: inner handler reached", tc.user)
			}
			continue
		}
		if got := calls[len(calls)-1].id; got != tc.ident {
			t.Errorf("%s: identity %+v, want %+v", tc.user, got, tc.ident)
		}
		if c := calls[len(calls)-1]; !c.bodyBytesOK || c.bodyBytes != soapBody {
			t.Errorf("%s: BodyBytes = %q, %v", tc.user, c.bodyBytes, c.bodyBytesOK)
		}
	}
}

// TestBodyBytesOtherBody: a request whose body the middleware did not set has no BodyBytes.
func TestBodyBytesOtherBody(t *testing.T) {
	r := httptest.NewRequest(http.MethodPost, "/wsman", strings.NewReader(soapBody))
	if b, ok := BodyBytes(r); ok || b != nil {
		t.Fatalf("BodyBytes of a plain request = %q, %v", b, ok)
	}
}

func TestIdentityFromEmpty(t *testing.T) {
	if _, ok := IdentityFrom(context.Background()); ok {
		t.Fatal("identity in an empty context")
	}
}
