package winrmclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	azntlm "github.com/Azure/go-ntlmssp"
	"github.com/masterzen/winrm"
	"github.com/masterzen/winrm/soap"

	"github.com/dcproxy/dcproxy/internal/bufpool"
	"github.com/dcproxy/dcproxy/internal/readall"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/ntlm"
	"github.com/dcproxy/dcproxy/remote/redact"
)

// authMode selects how a transport authenticates and protects SOAP messages.
type authMode int

const (
	// modeSealed: NTLM over HTTP, one handshake per connection, every message sealed.
	modeSealed authMode = iota
	// modeNTLMTLS: NTLM inside TLS (no sealing), masterzen ClientNTLM's wire behaviour (Azure Negotiator).
	modeNTLMTLS
	// modeBasic: Basic credentials on every request (HTTPS, or HTTP when explicitly allowed).
	modeBasic
)

// cleanupTimeout bounds a Signal or Delete sent after the caller's context has ended, so that a
// cancelled command does not leave a shell behind (Windows allows only 5 per user).
const cleanupTimeout = 5 * time.Second

// NTLM negotiate flags (MS-NLMP 2.2.2.5).
const (
	ntlmFlagSeal    = 0x00000020 // NTLMSSP_NEGOTIATE_SEAL
	ntlmFlagESS     = 0x00080000 // NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY
	ntlmFlag128     = 0x20000000 // NTLMSSP_NEGOTIATE_128
	ntlmFlagKeyExch = 0x40000000 // NTLMSSP_NEGOTIATE_KEY_EXCH
)

// errWeakNTLM is wrapped (with remote.ErrProtocol) when a host's CHALLENGE does not offer 128-bit
// keys, extended session security and key exchange: without them sealing is 40/56-bit RC4 on a key
// derived without a fresh exchanged key. Windows since Vista offers all three.
var errWeakNTLM = errors.New("host offers only weak NTLM")

// checkChallenge refuses a CHALLENGE_MESSAGE that lacks 128-bit keys, extended session security
// or (when sealing) key exchange. A token that is not a CHALLENGE is left to the NTLM library.
//
// Inside TLS nothing is sealed with NTLM, and Windows offers only flags the client asked for: the
// Azure Negotiator used there does not ask for KEY_EXCH, so only 128 and ESS are required.
func checkChallenge(challenge []byte, sealing bool) error {
	if len(challenge) < 24 || string(challenge[:8]) != "NTLMSSP\x00" || binary.LittleEndian.Uint32(challenge[8:12]) != 2 {
		return nil
	}
	flags := binary.LittleEndian.Uint32(challenge[20:24])
	var missing []string
	for _, f := range []struct {
		bit  uint32
		name string
	}{{ntlmFlag128, "128-bit keys"}, {ntlmFlagESS, "extended session security"}, {ntlmFlagKeyExch, "key exchange"}} {
		if flags&f.bit == 0 && (sealing || f.bit != ntlmFlagKeyExch) {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %w (no %s in the CHALLENGE)", remote.ErrProtocol, errWeakNTLM, strings.Join(missing, ", "))
	}
	return nil
}

// transport implements masterzen's winrm.Transporter for one host. It owns one connTransport that
// keeps at most one connection to the host (conn.go), serializes every Post (sealing sequence numbers must
// stay in wire order, and NTLM authenticates the connection), and counts requests, handshakes and
// the time spent waiting for replies.
//
// The context of the current Runner operation is installed with setContext; every HTTP exchange is
// bounded by it and by the per-exchange timeout.
type transport struct {
	mode     authMode
	user     string // as given: DOMAIN\user, user@domain or user
	password string
	red      *redact.Redactor // for every server text that goes into an error
	url      string
	timeout  time.Duration // per HTTP exchange

	hc *http.Client
	ht *connTransport // under hc's wrappers: closeIdle must reach it directly

	opCtx atomic.Pointer[ctxBox]

	mu      sync.Mutex    // serializes Post and guards session
	session *ntlm.Session // nil until the NTLM handshake completed (modeSealed)
	krb     *kerberosAuth // set in the Kerberos modes (kerberos.go)

	requests   atomic.Int64
	handshakes atomic.Int64
	waitNanos  atomic.Int64

	// beforeLogon is remote.Target.BeforeLogon: called once, before the first request that
	// carries credentials (NTLM: the AUTHENTICATE, not the NEGOTIATE); logonErr is its error (the
	// Dial's error, whatever the HTTP layers above make of the failed request).
	beforeLogon func(context.Context) error
	logonOnce   sync.Once
	logonErr    error
}

type ctxBox struct{ ctx context.Context }

var _ winrm.Transporter = (*transport)(nil)

func newTransport(mode authMode, user, password string, timeout time.Duration) *transport {
	t := &transport{mode: mode, user: user, password: password, timeout: timeout,
		red: redact.New(password, redact.Basic(user, password))}
	t.setContext(context.Background())
	return t
}

// setContext installs the context that bounds the following Posts.
func (t *transport) setContext(ctx context.Context) { t.opCtx.Store(&ctxBox{ctx}) }

// stats returns the counters so far; safe for concurrent use.
func (t *transport) stats() remote.Stats {
	return remote.Stats{
		Requests:   int(t.requests.Load()),
		Handshakes: int(t.handshakes.Load()),
		Wait:       time.Duration(t.waitNanos.Load()),
	}
}

// Transport builds the HTTP client for the endpoint (masterzen calls it once from
// NewClientWithParameters). TLS uses the endpoint's CA, server name and insecure flag.
func (t *transport) Transport(ep *winrm.Endpoint) error {
	scheme := "http"
	if ep.HTTPS {
		scheme = "https"
	}
	t.url = fmt.Sprintf("%s://%s:%d/wsman", scheme, ep.Host, ep.Port) // an IPv6 Host is bracketed
	u, err := url.Parse(t.url)
	if err != nil {
		return fmt.Errorf("%w: %w", remote.ErrInvalidTarget, err)
	}
	tlsConf := &tls.Config{
		ServerName:         ep.TLSServerName,
		InsecureSkipVerify: ep.Insecure, //nolint:gosec // explicit per-target opt-in
		MinVersion:         tls.VersionTLS12,
	}
	if len(ep.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ep.CACert) {
			return fmt.Errorf("%w: no certificate in CA file", remote.ErrInvalidTarget)
		}
		tlsConf.RootCAs = pool
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = u.Hostname() // as net/http does
	}
	// A short connect timeout: a powered-off host is unreachable (and retried) long before the
	// per-exchange budget would run out. WinRM to DCs never goes through the (audited!) proxy.
	dialer := &net.Dialer{Timeout: min(t.timeout, connectTimeout), KeepAlive: 30 * time.Second}
	ht := &connTransport{addr: u.Host, host: u.Host, tlsTimeout: t.timeout, dial: dialer.DialContext}
	if ep.HTTPS {
		ht.tlsConf = tlsConf
	}
	t.ht = ht
	var rt http.RoundTripper = &countingRoundTripper{t: t, next: ht}
	if t.mode == modeNTLMTLS {
		rt = azntlm.Negotiator{RoundTripper: rt}
	}
	t.hc = &http.Client{
		Transport: rt,
		// WinRM never redirects; following one could leak credentials to another host.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return nil
}

// closeIdle drops the idle connection (after the shell was deleted). It calls the connTransport
// itself: http.Client.CloseIdleConnections does not see through the counting and NTLM wrappers, so
// the connection (a file descriptor on each side) would otherwise stay open as long as the
// runner, one per audited host.
func (t *transport) closeIdle() {
	t.closeKerberos()
	if t.ht != nil {
		t.ht.CloseIdleConnections()
	}
}

// Post implements winrm.Transporter with post.
func (t *transport) Post(_ *winrm.Client, msg *soap.SoapMessage) (string, error) {
	b, buf, err := t.post(request{body: []byte(msg.String())})
	defer bufpool.Put(buf)
	return string(b), err
}

// post sends one SOAP request and returns the SOAP reply body (UTF-8), at most maxBodySize
// bytes. A reply that is not a 200 SOAP answer is an *HTTPError (a WS-Man fault among them);
// classification into remote sentinels happens in the Runner.
//
// The reply lies in buf, a buffer from bufpool (nil when there is none) that the caller hands back
// with bufpool.Put once it is done with the reply: nothing of the reply may be kept past that.
// req.body goes back to bufpool before post returns: whatever carries it (sealed or not) has been
// written by connTransport, which reads a request body only inside RoundTrip.
func (t *transport) post(req request) (reply, buf []byte, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ctx, cancel := t.requestContext(req.cleanup)
	defer cancel()
	defer bufpool.Put(req.body)
	if t.krb != nil {
		return t.postKerberos(ctx, req.body)
	}
	if t.mode == modeSealed {
		return t.postSealed(ctx, req.body)
	}
	return t.postPlain(ctx, req.body)
}

// requestContext bounds one exchange by the operation context and the per-exchange timeout. A
// cleanup message (Signal, Delete) sent after the operation context ended gets a short detached
// budget instead, so that a timed-out command is still terminated and its shell deleted.
func (t *transport) requestContext(cleanup bool) (context.Context, context.CancelFunc) {
	ctx := t.opCtx.Load().ctx
	timeout := t.timeout
	if cleanup && ctx.Err() != nil {
		ctx = context.WithoutCancel(ctx)
		timeout = min(timeout, cleanupTimeout)
	}
	return context.WithTimeout(ctx, timeout)
}

func (t *transport) newRequest(ctx context.Context, body []byte, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "dcproxy WinRM client")
	return req, nil
}

// maxBodySize bounds every reply body read from the wire: the SOAP bound (maxReplySize) plus the
// multipart/encrypted framing and NTLM signature. A longer body is a protocol error; the
// connection is then dropped rather than drained.
const maxBodySize = maxReplySize + 4<<10

// readBody reads a reply body of at most maxBodySize bytes into a buffer from bufpool (the
// caller puts it back). A longer one is not read further and fails with a protocol error.
func readBody(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > maxBodySize {
		return nil, fmt.Errorf("%w: reply of %d bytes (limit %d)", remote.ErrProtocol, resp.ContentLength, maxBodySize)
	}
	// Sized by Content-Length (the common case): one buffer instead of io.ReadAll's doublings.
	size := 4 << 10
	if resp.ContentLength >= 0 {
		size = int(resp.ContentLength) + 1 // one byte more: EOF is seen without growing
	}
	raw, err := readall.Append(bufpool.Get(size), io.LimitReader(resp.Body, maxBodySize+1), resp.ContentLength)
	if err != nil {
		return nil, fmt.Errorf("read reply: %w", err)
	}
	if len(raw) > maxBodySize {
		return nil, fmt.Errorf("%w: reply longer than %d bytes", remote.ErrProtocol, maxBodySize)
	}
	return raw, nil
}

// postPlain sends an unsealed SOAP body (Basic, or NTLM inside TLS).
func (t *transport) postPlain(ctx context.Context, body []byte) (reply, buf []byte, err error) {
	req, err := t.newRequest(ctx, body, soapContentType)
	if err != nil {
		return nil, nil, err
	}
	// Basic: sent on every request. NTLM over TLS: the Azure Negotiator turns these credentials
	// into an NTLM handshake and strips them; countingRoundTripper refuses to let them out as Basic.
	req.SetBasicAuth(t.user, t.password)
	resp, err := t.hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	raw, err := readBody(resp)
	if err != nil {
		_ = resp.Body.Close() // not drained: the connection is dropped
		return nil, nil, err
	}
	drain(resp)
	reply, err = t.soapReply(resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	return reply, raw, err
}

// soapReply applies WinRM's rules to a (decrypted) reply: SOAP content type required, 200
// required; anything else is an *HTTPError that keeps a SOAP body (a fault) for classification.
// A UTF-16 body (by BOM or charset) is converted to UTF-8.
func (t *transport) soapReply(status int, contentType string, body []byte) ([]byte, error) {
	if isSOAP(contentType) {
		var err error
		if body, err = utf8Reply(contentType, body); err != nil {
			return nil, fmt.Errorf("%w: %w", remote.ErrProtocol, err)
		}
	}
	if !isSOAP(contentType) || status != http.StatusOK {
		he := &HTTPError{StatusCode: status, ContentType: contentType, red: t.red}
		if isSOAP(contentType) {
			he.Body = string(body[:min(len(body), maxErrorBody)])
		}
		return nil, he
	}
	return body, nil
}

// postSealed sends one sealed SOAP message, performing the NTLM handshake first if the connection
// is not authenticated yet, and once more if the host answers 401 to a sealed message (the
// connection was dropped and re-opened, or the host forgot the context).
func (t *transport) postSealed(ctx context.Context, body []byte) (reply, buf []byte, err error) {
	for attempt := 0; ; attempt++ {
		if t.session == nil {
			if err := t.handshake(ctx); err != nil {
				return nil, nil, err
			}
		}
		retry, reply, buf, err := t.sealedAttempt(ctx, body, attempt)
		if !retry {
			return reply, buf, err
		}
	}
}

// sealedAttempt is one try of postSealed: body sealed into a pooled frame and posted. retry
// reports a 401 on the first attempt (the handshake is then run again).
func (t *transport) sealedAttempt(ctx context.Context, body []byte, attempt int) (retry bool, reply, buf []byte, err error) {
	frame := ntlm.SealTo(bufpool.Get(len(body)+frameOverhead), t.session, body)
	// connTransport has written the whole frame (or given up) when Do returns.
	defer bufpool.Put(frame)
	req, err := t.newRequest(ctx, frame, ntlm.EncryptedContentType)
	if err != nil {
		return false, nil, nil, err
	}
	resp, err := t.hc.Do(req)
	if err != nil {
		t.session = nil // the RC4 state may have advanced past what the host saw
		return false, nil, nil, err
	}
	raw, err := readBody(resp)
	if err != nil {
		_ = resp.Body.Close()
		t.session = nil
		return false, nil, nil, err
	}
	drain(resp)
	if resp.StatusCode == http.StatusUnauthorized {
		bufpool.Put(raw)
		t.session = nil
		if attempt == 0 {
			return true, nil, nil, nil
		}
		return false, nil, nil, &HTTPError{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), red: t.red}
	}
	ct := resp.Header.Get("Content-Type")
	if !ntlm.IsEncrypted(ct) {
		// A host that refuses before decrypting (e.g. a plain 500 error page) answers in clear.
		reply, err = t.soapReply(resp.StatusCode, ct, raw)
		return false, reply, raw, err
	}
	// The sealed part is SOAP by MS-WSMV 2.2.9.1.1; its OriginalContent names the charset (UTF-8
	// or UTF-16). Read it before the payload is decrypted in place.
	charset := originalCharset(raw)
	plain, err := ntlm.OpenInPlace(t.session, raw) // raw is this reply's own buffer
	if err != nil {
		t.session = nil
		return false, nil, raw, fmt.Errorf("%w: %w", remote.ErrProtocol, err)
	}
	reply, err = t.soapReply(resp.StatusCode, soapContentType+charset, plain)
	return false, reply, raw, err
}

// frameOverhead is room for a sealed frame's MIME parts and signature around the message.
const frameOverhead = 512

// handshake runs the NTLM legs with empty bodies on the (single) connection: NEGOTIATE → 401
// CHALLENGE; AUTHENTICATE → 200. On success t.session seals the following messages.
//
// masterzen's Encryption (via bodgit), pywinrm and pypsrp first POST anonymously to learn the
// schemes; Windows answers that with 401 "Negotiate" and closes the connection (the pywinrm trace
// of winsim/auth), so their NEGOTIATE already goes out as the first request of a fresh connection,
// exactly as here. Skipping the anonymous POST saves an exchange and a TCP connection per host
// (and the TIME_WAIT socket the host's close leaves behind). A host that does not offer Negotiate
// says so in its answer to the NEGOTIATE (errNoNegotiate, with the schemes it lists).
func (t *transport) handshake(ctx context.Context) error {
	t.handshakes.Add(1)
	user, domain := splitUser(t.user)
	client, err := ntlm.NewInitiator(user, domain, t.password)
	if err != nil {
		return fmt.Errorf("%w: ntlm: %w", remote.ErrInvalidTarget, err)
	}
	// Leg 1: NEGOTIATE → CHALLENGE.
	resp, err := t.emptyPost(ctx, "Negotiate "+base64.StdEncoding.EncodeToString(client.Negotiate()))
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode == http.StatusUnauthorized {
		if ok, _ := negotiateToken(resp.Header); !ok {
			return fmt.Errorf("%w (schemes: %s)", errNoNegotiate, strings.Join(schemes(resp.Header), ", "))
		}
	}
	ok, challenge := negotiateToken(resp.Header)
	if resp.StatusCode != http.StatusUnauthorized || !ok || len(challenge) == 0 {
		return &HTTPError{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	}
	// Never let a SOAP body out in clear on HTTP: the host must agree to seal, with strong keys.
	if len(challenge) < 24 || binary.LittleEndian.Uint32(challenge[20:24])&ntlmFlagSeal == 0 {
		return fmt.Errorf("%w: host did not offer NTLM sealing", remote.ErrProtocol)
	}
	if err := checkChallenge(challenge, true); err != nil {
		return err
	}
	// Leg 2: AUTHENTICATE → 200.
	auth, s, err := client.Authenticate(challenge)
	if err != nil {
		return fmt.Errorf("%w: ntlm challenge: %w", remote.ErrProtocol, err)
	}
	resp, err = t.emptyPost(ctx, "Negotiate "+base64.StdEncoding.EncodeToString(auth))
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode != http.StatusOK {
		return &HTTPError{StatusCode: resp.StatusCode, ContentType: resp.Header.Get("Content-Type")}
	}
	if s == nil {
		return fmt.Errorf("%w: no NTLM session security", remote.ErrProtocol)
	}
	t.session = s
	return nil
}

func (t *transport) emptyPost(ctx context.Context, authorization string) (*http.Response, error) {
	req, err := t.newRequest(ctx, nil, soapContentType)
	if err != nil {
		return nil, err
	}
	req.ContentLength = 0
	req.Body = http.NoBody
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return t.hc.Do(req)
}

// drain reads the rest of a reply and closes it so that the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}

// negotiateToken finds the Negotiate scheme among WWW-Authenticate values and decodes its token.
func negotiateToken(h http.Header) (bool, []byte) {
	for _, v := range h.Values("Www-Authenticate") {
		for _, part := range strings.Split(v, ",") {
			scheme, tok, _ := strings.Cut(strings.TrimSpace(part), " ")
			if !strings.EqualFold(scheme, "Negotiate") {
				continue
			}
			tok = strings.TrimSpace(tok)
			if tok == "" {
				return true, nil
			}
			b, err := base64.StdEncoding.DecodeString(tok)
			if err != nil {
				return true, nil
			}
			return true, b
		}
	}
	return false, nil
}

func schemes(h http.Header) []string {
	var out []string
	for _, v := range h.Values("Www-Authenticate") {
		s, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		out = append(out, strconv.Quote(s))
	}
	if len(out) == 0 {
		out = []string{"none"}
	}
	return out
}

// splitUser splits DOMAIN\user and user@domain the way masterzen's Encryption does.
func splitUser(u string) (user, domain string) {
	if d, name, ok := strings.Cut(u, `\`); ok {
		return name, d
	}
	if name, d, ok := strings.Cut(u, "@"); ok {
		return name, d
	}
	return u, ""
}

// countingRoundTripper counts every HTTP request (including each NTLM leg), the NTLM handshakes
// started (a NEGOTIATE message in an Authorization header), and the time until the reply headers
// arrive. In NTLM-over-TLS mode it refuses to send Basic credentials (Azure's Negotiator falls
// back to Basic when the host offers no Negotiate).
type countingRoundTripper struct {
	t    *transport
	next http.RoundTripper
}

func (c *countingRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	auth := req.Header.Get("Authorization")
	if c.t.mode == modeNTLMTLS && strings.HasPrefix(auth, "Basic ") {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, errNoNegotiate
	}
	if c.t.mode == modeNTLMTLS && isNegotiateMessage(auth) {
		c.t.handshakes.Add(1)
	}
	// An NTLM NEGOTIATE carries no credentials (and with sealing it is the first request of all):
	// the hook runs before the AUTHENTICATE, once the host has answered with its CHALLENGE.
	if auth != "" && !isNegotiateMessage(auth) && c.t.beforeLogon != nil {
		c.t.logonOnce.Do(func() { c.t.logonErr = c.t.beforeLogon(req.Context()) })
		if c.t.logonErr != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, c.t.logonErr
		}
	}
	c.t.requests.Add(1)
	start := time.Now()
	resp, err := c.next.RoundTrip(req)
	c.t.waitNanos.Add(int64(time.Since(start)))
	if err == nil && c.t.mode == modeNTLMTLS && resp.StatusCode == http.StatusUnauthorized {
		// Azure's Negotiator answers any CHALLENGE: refuse a weak one before it does.
		if ok, tok := negotiateToken(resp.Header); ok {
			if cerr := checkChallenge(tok, false); cerr != nil {
				_ = resp.Body.Close()
				return nil, cerr
			}
		}
	}
	return resp, err
}

// isNegotiateMessage reports whether an Authorization value carries an NTLM NEGOTIATE_MESSAGE.
func isNegotiateMessage(auth string) bool {
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || (!strings.EqualFold(scheme, "Negotiate") && !strings.EqualFold(scheme, "NTLM")) {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
	return err == nil && len(b) >= 12 && string(b[:8]) == "NTLMSSP\x00" && b[8] == 1 && b[9] == 0 && b[10] == 0 && b[11] == 0
}
