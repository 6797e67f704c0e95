// Package hostile serves misbehaving "WinRM hosts" for fault-soak tests: each kind is one way a host
// (or whatever answers on its address) can try to stall or sink a client. A well-behaved client
// must give every such host its own error within its timeout, with bounded memory, and never hang.
//
// Usage:
//
//	srv, err := hostile.Start(hostile.DeepXML, hostile.Options{})
//	if err != nil { ... }
//	defer srv.Stop()
//	// dial srv.Addr ("127.0.0.1:port") over HTTP (HTTPS for the TLS kinds) as LAB\admin / srv.Password
//
// Kinds that need a logon (DeepXML, EndlessBody, Unauthorized, WeakNTLM) authenticate with the real
// simulator layer (remote/winsim/auth: NTLM with sealing, and Basic on HTTP when Options.Basic),
// so a client reaches the misbehaving reply with the same exchanges it uses against Windows. The
// other kinds misbehave before any HTTP is spoken, or in HTTP itself.
//
// The error a dcproxy client (remote/winrmclient) reports for each kind, by remote.Kind:
//
//	Garbage       "protocol"    raw junk instead of an HTTP reply
//	DeepXML       "protocol"    a sealed 200 SOAP reply nested 30,000 elements deep
//	EndlessBody   "protocol"    a 200 reply whose chunked body never ends (after the NTLM logon)
//	Slowloris     "timeout"     the reply trickles one byte per second and never completes
//	SlowHeaders   "timeout"     a status line, then one header line per second, forever
//	Stall         "timeout"     accepts, reads, never answers
//	Unauthorized  "auth"        the logon succeeds, every message is answered 401 (a re-logon loop)
//	WeakNTLM      "protocol"    the CHALLENGE offers no 128-bit keys, ESS or key exchange
//	TLSBadCert    "tls"         HTTPS with a self-signed certificate for another name
//	TLSGarbage    "protocol"    junk in answer to the ClientHello
//
// Stop closes the listener and every connection; it is safe to call more than once.
package hostile

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dcproxy/dcproxy/remote/ntlm"
	"github.com/dcproxy/dcproxy/remote/winsim/auth"
)

// Kind names one hostile behaviour.
type Kind string

// The kinds Start serves (see the package documentation).
const (
	Garbage      Kind = "garbage"
	DeepXML      Kind = "deep-xml"
	EndlessBody  Kind = "endless-body"
	Slowloris    Kind = "slowloris"
	SlowHeaders  Kind = "slow-headers"
	Stall        Kind = "stall"
	Unauthorized Kind = "401-loop"
	WeakNTLM     Kind = "weak-ntlm"
	TLSBadCert   Kind = "tls-bad-cert"
	TLSGarbage   Kind = "tls-garbage"
)

// Kinds lists every kind, for soak tests that want one host of each.
var Kinds = []Kind{Garbage, DeepXML, EndlessBody, Slowloris, SlowHeaders, Stall, Unauthorized, WeakNTLM, TLSBadCert, TLSGarbage}

// DeepLevels is how deep DeepXML nests its reply.
const DeepLevels = 30000

// Options configure a hostile server. The zero value listens on 127.0.0.1:0 and accepts
// LAB\admin with DefaultPassword.
type Options struct {
	// Listen is the address to listen on ("127.0.0.1:0" when empty).
	Listen string
	// Accounts that can log on (kinds that authenticate); LAB\admin / DefaultPassword when empty.
	Accounts []auth.Account
	// Basic also accepts Basic credentials on plain HTTP (AllowUnencrypted), so a Basic client
	// reaches the hostile reply unsealed.
	Basic bool
	// Tick is the interval of the slow kinds (one byte or header line per tick); 1 s when zero.
	Tick time.Duration
}

// DefaultPassword is the password of the default account.
const DefaultPassword = "Hostile-Pa55!"

// Server is a running hostile server.
type Server struct {
	Kind Kind
	// Addr is host:port of the listener.
	Addr string
	// HTTPS reports that the kind expects a TLS client (TLSBadCert, TLSGarbage).
	HTTPS bool

	ln     net.Listener
	hs     *http.Server
	tick   time.Duration
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	once   sync.Once
}

// Start serves kind on a new listener until Stop.
func Start(kind Kind, opt Options) (*Server, error) {
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:0"
	}
	if len(opt.Accounts) == 0 {
		opt.Accounts = []auth.Account{{User: `LAB\admin`, Password: DefaultPassword, Admin: true}}
	}
	if opt.Tick <= 0 {
		opt.Tick = time.Second
	}
	ln, err := net.Listen("tcp", opt.Listen)
	if err != nil {
		return nil, fmt.Errorf("hostile %s: %w", kind, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Kind: kind, Addr: ln.Addr().String(), ln: ln, tick: opt.Tick, ctx: ctx, cancel: cancel,
		conns: map[net.Conn]struct{}{}}
	switch kind {
	case Garbage:
		s.serveRaw(s.garbage)
	case Slowloris:
		s.serveRaw(s.slowloris)
	case SlowHeaders:
		s.serveRaw(s.slowHeaders)
	case Stall:
		s.serveRaw(s.stall)
	case TLSGarbage:
		s.HTTPS = true
		s.serveRaw(s.tlsGarbage)
	case DeepXML, EndlessBody, Unauthorized, WeakNTLM:
		s.serveHTTP(s.authHandler(kind, opt), nil)
	case TLSBadCert:
		s.HTTPS = true
		cert, err := badCertificate()
		if err != nil {
			_ = ln.Close()
			cancel()
			return nil, err
		}
		s.serveHTTP(s.authHandler(DeepXML, opt), &tls.Config{Certificates: []tls.Certificate{cert}})
	default:
		_ = ln.Close()
		cancel()
		return nil, fmt.Errorf("hostile: unknown kind %q", kind)
	}
	return s, nil
}

// Stop closes the listener and every open connection and waits for the server's goroutines.
func (s *Server) Stop() {
	s.once.Do(func() {
		s.cancel()
		if s.hs != nil {
			_ = s.hs.Close()
		}
		_ = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
}

func (s *Server) track(c net.Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}

// serveRaw accepts connections and runs fn on each.
func (s *Server) serveRaw(fn func(net.Conn)) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.track(c, true)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.track(c, false)
				defer c.Close()
				fn(c)
			}()
		}
	}()
}

// sleep waits one tick; false when the server stops.
func (s *Server) sleep() bool {
	select {
	case <-s.ctx.Done():
		return false
	case <-time.After(s.tick):
		return true
	}
}

// readRequest consumes one HTTP request (headers and body) so that the client sees its request sent.
func readRequest(c net.Conn) {
	req, err := http.ReadRequest(bufio.NewReader(c))
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, 1<<20))
	}
}

func (s *Server) garbage(c net.Conn) {
	readRequest(c)
	junk := make([]byte, 4096)
	_, _ = rand.Read(junk)
	_, _ = c.Write(junk)
}

func (s *Server) slowloris(c net.Conn) {
	readRequest(c)
	resp := "HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: 100000\r\n\r\n"
	for i := 0; ; i++ {
		b := byte('x')
		if i < len(resp) {
			b = resp[i]
		}
		if _, err := c.Write([]byte{b}); err != nil || !s.sleep() {
			return
		}
	}
}

func (s *Server) slowHeaders(c net.Conn) {
	readRequest(c)
	if _, err := io.WriteString(c, "HTTP/1.1 401 Unauthorized\r\n"); err != nil {
		return
	}
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(c, "X-Slow-%d: %s\r\n", i, strings.Repeat("a", 16)); err != nil || !s.sleep() {
			return
		}
	}
}

func (s *Server) stall(c net.Conn) {
	readRequest(c)
	<-s.ctx.Done()
}

func (s *Server) tlsGarbage(c net.Conn) {
	buf := make([]byte, 512)
	_, _ = c.Read(buf) // the ClientHello
	_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n\x00\x01\x02garbage instead of a ServerHello"))
}

// serveHTTP serves h (over TLS when conf is set) with the simulator's per-connection auth state.
func (s *Server) serveHTTP(h http.Handler, conf *tls.Config) {
	s.hs = &http.Server{
		Handler:     h,
		ConnContext: auth.ConnContext,
		TLSConfig:   conf,
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				s.track(c, true)
			case http.StateClosed, http.StateHijacked:
				s.track(c, false)
			}
		},
		ReadHeaderTimeout: time.Minute,
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if conf != nil {
			_ = s.hs.ServeTLS(s.ln, "", "")
		} else {
			_ = s.hs.Serve(s.ln)
		}
	}()
}

// authHandler is the simulator's authentication layer in front of kind's misbehaviour.
func (s *Server) authHandler(kind Kind, opt Options) http.Handler {
	pol := &auth.Policy{
		Basic:            opt.Basic,
		AllowUnencrypted: opt.Basic,
		Server:           auth.Host{NbDomain: "LAB", NbComputer: "HOSTILE", DNSDomain: "lab.test", DNSComputer: "hostile.lab.test"},
		Accounts:         opt.Accounts,
	}
	deep := deepReply(DeepLevels)
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/soap+xml;charset=UTF-8")
		if kind == EndlessBody {
			// Basic (unsealed) path: an endless SOAP body.
			s.endless(w)
			return
		}
		_, _ = w.Write(deep)
	})
	authed := pol.Wrap(inner)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sealed := ntlm.IsEncrypted(r.Header.Get("Content-Type"))
		switch {
		case kind == EndlessBody && sealed:
			// A sealed message only comes after a successful logon: answer it with a body that
			// never ends (the auth layer would buffer it to seal it).
			w.Header().Set("Content-Type", ntlm.EncryptedContentType)
			s.endless(w)
		case kind == Unauthorized && sealed:
			w.Header().Set("WWW-Authenticate", "Negotiate")
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusUnauthorized)
		case kind == WeakNTLM:
			authed.ServeHTTP(&weakChallenge{ResponseWriter: w}, r)
		default:
			authed.ServeHTTP(w, r)
		}
	})
}

// endless writes a chunked 200 body until the client goes away or the server stops.
func (s *Server) endless(w http.ResponseWriter) {
	w.WriteHeader(http.StatusOK)
	chunk := []byte(strings.Repeat("<a>", 10922) + "\n")
	fl, _ := w.(http.Flusher)
	for s.ctx.Err() == nil {
		if _, err := w.Write(chunk); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// weakChallenge clears NTLMSSP_NEGOTIATE_128, _EXTENDED_SESSIONSECURITY and _KEY_EXCH in a
// CHALLENGE sent through it (as a 40/56-bit-only, NTLMv1-era server would offer).
type weakChallenge struct{ http.ResponseWriter }

func (w *weakChallenge) WriteHeader(code int) {
	h := w.Header()
	if v := h.Get("WWW-Authenticate"); strings.HasPrefix(v, "Negotiate ") {
		if b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(v, "Negotiate ")); err == nil && len(b) >= 24 &&
			binary.LittleEndian.Uint32(b[8:]) == 2 {
			flags := binary.LittleEndian.Uint32(b[20:]) &^ (0x20000000 | 0x00080000 | 0x40000000)
			binary.LittleEndian.PutUint32(b[20:], flags)
			h.Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(b))
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *weakChallenge) Write(p []byte) (int, error) { return w.ResponseWriter.Write(p) }

// deepReply is a SOAP envelope whose body nests n elements.
func deepReply(n int) []byte {
	var b strings.Builder
	b.WriteString(`<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>`)
	b.WriteString(strings.Repeat("<a>", n))
	b.WriteString(strings.Repeat("</a>", n))
	b.WriteString(`</s:Body></s:Envelope>`)
	return []byte(b.String())
}

// badCertificate is a fresh self-signed certificate for a name no client asks for.
func badCertificate() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "not-this-host.invalid"},
		DNSNames:     []string{"not-this-host.invalid"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
