// Package auth is the HTTP authentication layer of a simulated Windows WinRM
// listener: Negotiate (raw NTLM tokens, as masterzen/winrm and pywinrm send them;
// Kerberos, raw or SPNEGO, when Policy.Kerberos is set: kerberos.go) and Basic,
// NTLM and Kerberos message sealing (multipart/encrypted) and the refusals Windows
// answers with. It wraps the WS-Man handler of remote/winsim.
//
// # Per-connection state machine
//
// NTLM authenticates a TCP connection, so the server must install ConnContext as
// http.Server.ConnContext (and must not negotiate HTTP/2: NTLM over HTTP/2 is not
// supported by the clients). Each connection has one state, guarded by a mutex;
// HTTP/1.1 serves one request per connection at a time, so requests of one
// connection are processed in order and several connections of one client are
// independent. States:
//
//	anonymous      --Negotiate <NEGOTIATE>-->     challenged    401 WWW-Authenticate: Negotiate <CHALLENGE>
//	challenged     --Negotiate <AUTHENTICATE>-->  authenticated (empty body: 200, Content-Length 0;
//	                                                             body: served as below)
//	                                              anonymous     on a bad user/password: 401, Connection: close
//	authenticated  --Negotiate <NEGOTIATE>-->     challenged    (the old context is discarded)
//	authenticated  --no Authorization, body-->    authenticated multipart/encrypted: unsealed, served, sealed
//	                                                            plaintext: served on HTTPS or AllowUnencrypted,
//	                                                            else 401 + Connection: close
//	authenticated  --no Authorization, empty-->   401 + Connection: close (masterzen Encryption starts every
//	                                                            message like this and must re-authenticate)
//	any            --no Authorization--> (not authenticated) 401 + Connection: close
//	any            --Basic--> per request, state unchanged: only when Basic is enabled and the
//	                                   listener is HTTPS or AllowUnencrypted; else 401
//
// Every 401 carries Server: Microsoft-HTTPAPI/2.0 and Content-Length: 0. A 401
// that is not a CHALLENGE lists WWW-Authenticate: Negotiate (plus
// Basic realm="WSMAN" when Basic is enabled) and closes the connection, as a
// real host's first 401 does (reference 2.2; pywinrm issue #269 trace).
//
// The inner handler receives the plaintext SOAP body (Content-Type
// application/soap+xml;charset=UTF-8, no Authorization header) and the caller's
// Identity in the request context. When the request was sealed, everything the
// inner handler writes is buffered and sealed with the connection's session:
// the status code is kept (faults stay 500) and Content-Type becomes
// ntlm.EncryptedContentType.
package auth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/dcproxy/dcproxy/internal/bufpool"
	"github.com/dcproxy/dcproxy/internal/readall"
	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/ntlm"
)

// Account is a user the simulated host accepts.
type Account struct {
	// User is "DOMAIN\name" (DOMAIN the NetBIOS domain, or the computer name for a
	// local account); a bare "name" matches in the host's domain and locally.
	User string
	// Password is the clear-text password; it never appears in errors or responses.
	Password string
	// Admin marks members of the local Administrators group. Non-admins authenticate
	// fine over Negotiate and the WS-Man layer answers them with an access-denied fault;
	// over Basic they get 401 like a wrong password (fidelity D2).
	Admin bool
}

// Host is the identity the simulated host announces in NTLM CHALLENGE messages.
type Host struct {
	NbDomain    string // "LAB"
	NbComputer  string // "DC01"
	DNSDomain   string // "lab.local"; empty for a workgroup host
	DNSComputer string // "dc01.lab.local"
}

// Policy is the authentication configuration of one listener. Wrap takes a copy;
// changing a Policy afterwards does not affect handlers already built.
type Policy struct {
	// Basic enables Basic authentication (Windows default false).
	Basic bool
	// AllowUnencrypted accepts unsealed bodies (and Basic) on HTTP (Windows default false).
	AllowUnencrypted bool
	// HTTPS reports that the listener is TLS; unsealed bodies are then fine.
	HTTPS bool
	// Server is the host identity used in NTLM.
	Server Host
	// Accounts are the users that can log on.
	Accounts []Account
	// AuthFail is a fault mode: every logon fails with 401 as if the password were wrong.
	AuthFail bool
	// Kerberos, when set, accepts Negotiate Kerberos tokens with the service keys it holds (a keytab
	// exported by a real KDC for HTTP/<DNSComputer>); see kerberos.go. Shared acceptors are fine.
	Kerberos *krb.Acceptor
}

// Identity is the authenticated caller of a request, see IdentityFrom.
type Identity struct {
	User   string // Account.User of the matched account
	Admin  bool   // Account.Admin
	Sealed bool   // the request arrived NTLM-sealed and its response will be sealed
}

type identityKey struct{}
type connKey struct{}

// IdentityFrom returns the Identity the middleware stored in the context of a
// request it passed to the inner handler.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// plainBody is the body of a request the middleware passes to the inner handler: the plaintext it
// has read (and unsealed) already, see BodyBytes.
type plainBody struct {
	*bytes.Reader
	b []byte
}

func newPlainBody(b []byte) plainBody { return plainBody{bytes.NewReader(b), b} }

func (plainBody) Close() error { return nil }

// BodyBytes returns the whole plaintext body of a request the middleware passed to the inner
// handler, without reading r.Body (and regardless of what was read from it already); ok is false
// when r.Body is not the middleware's, then read r.Body. The bytes must not be modified, and must
// not be used after the inner handler returns: they live in a buffer the middleware reuses for
// later requests (as r.Body itself must not be read after ServeHTTP returns).
func BodyBytes(r *http.Request) (b []byte, ok bool) {
	pb, ok := r.Body.(plainBody)
	return pb.b, ok
}

// connState is the authentication state of one TCP connection.
type connState struct {
	mu       sync.Mutex
	acceptor *ntlm.Acceptor // pending handshake (after NEGOTIATE)
	session  *ntlm.Session  // session security of the authenticated context, may be nil
	ident    *Identity      // authenticated account, nil when anonymous
	krbSess  *krb.Session   // Kerberos context of the connection, may be nil
}

func (s *connState) reset() { s.acceptor, s.session, s.ident, s.krbSess = nil, nil, nil, nil }

// ConnContext attaches fresh per-connection authentication state to ctx; install
// it as http.Server.ConnContext (wrap it when the server needs its own). Without
// it every request is treated as arriving on a new connection, so NTLM can never
// complete (Basic still works).
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{})
}

// maxBody bounds a request body; WinRM envelopes are far smaller
// (MaxEnvelopeSizekb 150..500, masterzen Send envelopes ~205 KB).
const maxBody = 16 << 20

const soapContentType = "application/soap+xml;charset=UTF-8"

// handler is the middleware built by Policy.Wrap.
type handler struct {
	p        Policy
	next     http.Handler
	accounts []account
	ntlmCfg  *ntlm.ServerConfig
}

type account struct {
	Account
	domain, name string // upper-case; domain empty when Account.User has none
	ntowf        []byte
}

// Wrap returns next behind Windows-style WinRM authentication (see the package
// documentation for the state machine). The returned handler is safe for
// concurrent use; it needs ConnContext installed on the http.Server.
func (p *Policy) Wrap(next http.Handler) http.Handler {
	h := &handler{p: *p, next: next}
	h.p.Accounts = append([]Account(nil), p.Accounts...)
	for _, a := range h.p.Accounts {
		d, n, ok := strings.Cut(a.User, `\`)
		if !ok {
			d, n = "", a.User
		}
		h.accounts = append(h.accounts, account{Account: a, domain: strings.ToUpper(d), name: strings.ToUpper(n), ntowf: ntlm.NTOWFv1(a.Password)})
	}
	h.ntlmCfg = &ntlm.ServerConfig{
		NbDomain: h.p.Server.NbDomain, NbComputer: h.p.Server.NbComputer,
		DNSDomain: h.p.Server.DNSDomain, DNSComputer: h.p.Server.DNSComputer,
		Lookup: func(user, domain string) ([]byte, bool) {
			a := h.find(user, domain)
			if a == nil {
				return nil, false
			}
			return a.ntowf, true
		},
	}
	return h
}

// find maps a user name and domain as a client sent them to an account, or nil.
// "user@dns.domain" (UPN) maps to the NetBIOS domain; an empty or "." domain and
// the computer's own names mean the local computer first, then the host's domain
// (on a domain controller the local account database is the domain's).
func (h *handler) find(user, domain string) *account {
	if h.p.AuthFail {
		return nil
	}
	if d, u, ok := strings.Cut(user, `\`); ok && domain == "" {
		user, domain = u, d
	}
	if u, suffix, ok := strings.Cut(user, "@"); ok && domain == "" {
		if !strings.EqualFold(suffix, h.p.Server.DNSDomain) && !strings.EqualFold(suffix, h.p.Server.NbDomain) {
			return nil
		}
		user, domain = u, h.p.Server.NbDomain
	}
	s := h.p.Server
	var candidates []string
	switch {
	case domain == "" || domain == "." || strings.EqualFold(domain, s.NbComputer) || (s.DNSComputer != "" && strings.EqualFold(domain, s.DNSComputer)):
		candidates = []string{s.NbComputer, s.NbDomain}
	case s.DNSDomain != "" && strings.EqualFold(domain, s.DNSDomain):
		candidates = []string{s.NbDomain}
	default:
		candidates = []string{domain}
	}
	name := strings.ToUpper(user)
	for _, c := range candidates {
		c = strings.ToUpper(c)
		if c == "" {
			continue
		}
		for i := range h.accounts {
			a := &h.accounts[i]
			if a.name == name && (a.domain == c || a.domain == "" && (c == strings.ToUpper(s.NbComputer) || c == strings.ToUpper(s.NbDomain))) {
				return a
			}
		}
	}
	return nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header()["Server"] = serverHeader
	st, _ := r.Context().Value(connKey{}).(*connState)
	if st == nil {
		st = &connState{}
	}
	st.mu.Lock()
	defer st.mu.Unlock()

	// The body is read into a pooled buffer, handed back when the request has been answered: the
	// inner handler gets it (or the plaintext unsealed within it) only until it returns.
	// readall.Append wants room for the declared length and one byte more, to see EOF.
	room := min(max(r.ContentLength, 0)+1, bufpool.MaxSize)
	body, err := readall.Append(bufpool.Get(int(room)), http.MaxBytesReader(w, r.Body, maxBody), r.ContentLength)
	if err != nil {
		bufpool.Put(body)
		// unverified: HTTP.sys answers oversized requests itself; 413 is the plausible status.
		st.reset()
		h.status(w, http.StatusRequestEntityTooLarge)
		return
	}
	h.serve(w, r, st, body)
	bufpool.Put(body)
}

// serve answers one request whose whole body has been read; body is not used after it returns.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, st *connState, body []byte) {
	scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	switch {
	case scheme == "":
		h.anonymous(w, r, st, body)
	case strings.EqualFold(scheme, "Negotiate"):
		h.negotiate(w, r, st, token, body)
	case strings.EqualFold(scheme, "Basic"):
		h.basic(w, r, token, body)
	default:
		// NTLM (not advertised by WinRM), Kerberos, CredSSP, certificate profiles.
		// unverified: Windows answers an unsupported scheme with a plain 401.
		h.unauthorized(w)
	}
}

// unauthorized answers 401 with the listener's schemes and closes the connection.
func (h *handler) unauthorized(w http.ResponseWriter) {
	hd := w.Header()
	hd["WWW-Authenticate"] = negotiateHeader
	if h.p.Basic {
		hd.Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	}
	// unverified: that Windows closes the connection after every non-CHALLENGE 401
	// (seen after the first anonymous 401 in a real pywinrm trace).
	hd["Connection"] = closeHeader
	h.status(w, http.StatusUnauthorized)
}

func (h *handler) status(w http.ResponseWriter, code int) {
	w.Header()["Content-Length"] = zeroLengthHeader
	w.WriteHeader(code)
}

func (h *handler) anonymous(w http.ResponseWriter, r *http.Request, st *connState, body []byte) {
	if st.ident == nil || len(body) == 0 {
		h.unauthorized(w)
		return
	}
	h.serveAuthenticated(w, r, st, body)
}

func (h *handler) negotiate(w http.ResponseWriter, r *http.Request, st *connState, token string, body []byte) {
	tok, err := base64.StdEncoding.DecodeString(token)
	if err == nil && h.p.Kerberos != nil && krb.IsKerberosToken(tok) {
		h.kerberos(w, r, st, tok, body)
		return
	}
	if err != nil || len(tok) < 12 || !bytes.HasPrefix(tok, []byte("NTLMSSP\x00")) {
		// Kerberos (raw or SPNEGO) is taken above when Policy.Kerberos is set.
		// unverified: SPNEGO-wrapped NTLM tokens are not simulated.
		st.reset()
		h.unauthorized(w)
		return
	}
	switch tok[8] {
	case 1:
		st.reset()
		acc := ntlm.NewAcceptor(h.ntlmCfg)
		ch, err := acc.Challenge(tok)
		if err != nil {
			h.unauthorized(w)
			return
		}
		st.acceptor = acc
		w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(ch))
		h.status(w, http.StatusUnauthorized)
	case 3:
		acc := st.acceptor
		st.reset()
		if acc == nil {
			h.unauthorized(w)
			return
		}
		res, err := acc.Authenticate(tok)
		if err != nil {
			h.unauthorized(w)
			return
		}
		a := h.find(res.User, res.Domain)
		if a == nil { // cannot happen: Lookup found it a moment ago
			h.unauthorized(w)
			return
		}
		st.ident = &Identity{User: a.User, Admin: a.Admin}
		st.session = res.Session
		if len(body) == 0 {
			h.status(w, http.StatusOK)
			return
		}
		h.serveAuthenticated(w, r, st, body)
	default:
		st.reset()
		h.unauthorized(w)
	}
}

func (h *handler) basic(w http.ResponseWriter, r *http.Request, token string, body []byte) {
	if !h.p.Basic || !(h.p.HTTPS || h.p.AllowUnencrypted) {
		// unverified: the status Windows uses to refuse Basic over HTTP without
		// AllowUnencrypted; 401 like any other refused logon.
		h.unauthorized(w)
		return
	}
	raw, err := base64.StdEncoding.DecodeString(token)
	if err != nil {
		h.unauthorized(w)
		return
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		h.unauthorized(w)
		return
	}
	a := h.find(user, "")
	if a == nil || subtle.ConstantTimeCompare([]byte(a.Password), []byte(pass)) != 1 {
		h.unauthorized(w)
		return
	}
	if !a.Admin {
		// An account without the rights to use WinRM gets the same 401 as a wrong password over
		// Basic (fidelity D2: WinRb/WinRM#194, diyan/pywinrm#114); over Negotiate it is
		// authenticated and refused by the WS-Man layer with a fault instead.
		h.unauthorized(w)
		return
	}
	if ntlm.IsEncrypted(r.Header.Get("Content-Type")) {
		// No session key exists with Basic. unverified: status for this client error.
		h.status(w, http.StatusBadRequest)
		return
	}
	h.call(w, r, body, Identity{User: a.User, Admin: a.Admin}, nil)
}

// serveAuthenticated serves a request on an NTLM-authenticated connection.
func (h *handler) serveAuthenticated(w http.ResponseWriter, r *http.Request, st *connState, body []byte) {
	id := *st.ident
	ct := r.Header.Get("Content-Type")
	if st.krbSess != nil {
		if _, ok := krb.EncryptedProtocol(ct); ok {
			h.serveKerberosSealed(w, r, st, id, body)
			return
		}
	}
	// The exact type every client sends needs no media-type parsing.
	if ct == ntlm.EncryptedContentType || ntlm.IsEncrypted(ct) {
		if st.session == nil || !st.session.Sealing() {
			// unverified: Windows' status for a sealed body without a sealing context.
			h.status(w, http.StatusBadRequest)
			return
		}
		plain, err := ntlm.OpenInPlace(st.session, body) // body is not used again
		if err != nil {
			// The RC4 streams are out of step now: the context is unusable.
			// unverified: Windows' status for a frame that fails to unseal.
			st.reset()
			w.Header().Set("Connection", "close")
			h.status(w, http.StatusBadRequest)
			return
		}
		id.Sealed = true
		h.call(w, r, plain, id, st.session)
		return
	}
	if !h.p.HTTPS && !h.p.AllowUnencrypted {
		// Reference 2.1: AllowUnencrypted=false refuses an authenticated plaintext body with 401.
		st.reset()
		h.unauthorized(w)
		return
	}
	h.call(w, r, body, id, nil)
}

// call runs the inner handler with the plaintext body; with a session the
// response is buffered and sealed.
func (h *handler) call(w http.ResponseWriter, r *http.Request, body []byte, id Identity, sess *ntlm.Session) {
	r2 := innerRequest(r, id, body, sess != nil)
	if sess == nil {
		h.next.ServeHTTP(w, r2)
		return
	}
	rec := &recorder{header: http.Header{}}
	h.next.ServeHTTP(rec, r2)
	// The frame is the plaintext plus a few hundred bytes of MIME parts and the signature.
	out := ntlm.SealTo(bufpool.Get(len(rec.body)+frameRoom), sess, rec.body)
	rec.release()
	rec.send(w, ntlm.EncryptedContentType, out)
	bufpool.Put(out)
}

// frameRoom is more than the MIME parts and signature a sealed frame adds to its plaintext.
const frameRoom = 512

// innerRequest is the request the inner handler gets: r with the caller's Identity in its context,
// body as its body (see BodyBytes) and without the Authorization header; sealed requests are
// announced as the plain SOAP they carry. Only the header map is r's copied (the inner handler
// may change it); like every handler, the inner one must not modify the rest of the request.
func innerRequest(r *http.Request, id Identity, body []byte, sealed bool) *http.Request {
	r2 := r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
	hd := make(http.Header, len(r.Header)+1)
	for k, v := range r.Header {
		if k != "Authorization" {
			hd[k] = v
		}
	}
	r2.Header = hd
	r2.Body = newPlainBody(body)
	r2.ContentLength = int64(len(body))
	hd["Content-Length"] = []string{strconv.Itoa(len(body))}
	if sealed {
		hd["Content-Type"] = soapContentTypeValue
	}
	return r2
}

// Header values set on many requests and responses are shared: a header's value slice is
// replaced, never written into, and a capacity equal to its length leaves no room for an append
// to share.
var (
	soapContentTypeValue = []string{soapContentType}
	negotiateHeader      = []string{"Negotiate"}
	closeHeader          = []string{"close"}
	zeroLengthHeader     = []string{"0"}
	serverHeader         = []string{"Microsoft-HTTPAPI/2.0"} // HTTP.sys's, on every response
)

// recorder buffers an inner handler's response for sealing, in a pooled buffer (release).
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body == nil {
		r.body = bufpool.Get(len(p))
	}
	r.body = append(r.body, p...)
	return len(p), nil
}

// release hands the recorded body back to the pool; it must not be used afterwards.
func (r *recorder) release() {
	bufpool.Put(r.body)
	r.body = nil
}

// send writes the recorded status and headers and the sealed body to w.
func (r *recorder) send(w http.ResponseWriter, contentType string, sealed []byte) {
	hd := w.Header()
	for k, v := range r.header {
		hd[k] = v
	}
	hd.Set("Content-Type", contentType)
	hd.Set("Content-Length", strconv.Itoa(len(sealed)))
	if r.status == 0 {
		r.status = http.StatusOK
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(sealed)
}
