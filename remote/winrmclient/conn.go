package winrmclient

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/dcproxy/dcproxy/internal/bufpool"
)

// connTransport is the HTTP/1.1 client of one host: at most one connection, one exchange at a
// time, written and read by the goroutine that calls RoundTrip (transport.mu serializes the
// exchanges of a host). It implements http.RoundTripper under the transport's wrappers
// (countingRoundTripper, Azure's Negotiator) and http.Client.
//
// Why not net/http's Transport:
//   - NTLM and Kerberos authenticate a connection, not a request. net/http's pool decides on its
//     own whether the next request reuses the connection; under CPU starvation it sometimes dialed
//     a new one, which the host answers 401 (a second handshake). Here the connection is explicit:
//     the next request goes on the connection the last reply came on, unless that one was closed.
//   - net/http hands each request to a writing goroutine and each reply over from a reading one
//     (goroutine switches, channels, a select and their allocations per exchange): about a fifth
//     of the client's CPU at 10,000 hosts (BENCHMARKS.md). WinRM needs none of it: one request is
//     in flight per host, and its reply is read before the next one is sent.
//
// Replies are still parsed by net/http (http.ReadResponse: status line, headers, Content-Length,
// chunked bodies, Connection: close); only the request line and a handful of headers are written
// here. Contract, as net/http's: RoundTrip closes req.Body; the caller closes the reply's body; a
// connection is reused only if that body was read to its end before Close, the reply did not ask
// to close it, and the request's context had not ended. RoundTrip has written (or given up on) the
// whole request when it returns, so a request body may be reused after it. It calls the
// httptrace hooks GotConn and WroteRequest of the request's context.
type connTransport struct {
	addr       string      // host:port to dial
	host       string      // the Host header
	tlsConf    *tls.Config // nil: plain HTTP; else with ServerName set
	tlsTimeout time.Duration
	dial       func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	idle *hostConn // the connection ready for the next request; nil: dial one
}

// maxResponseHeaderBytes bounds a reply's status line and headers: WinRM replies carry a handful
// of headers, a host streaming headers is cut off early.
const maxResponseHeaderBytes = 64 << 10

// errHeadersTooLong ends a reply whose headers exceed maxResponseHeaderBytes.
var errHeadersTooLong = fmt.Errorf("server response headers exceeded %d bytes; aborted", maxResponseHeaderBytes)

// errBodyClosed is returned by a reply body read after Close.
var errBodyClosed = errors.New("read on closed reply body")

// hostConn is one open connection to the host.
type hostConn struct {
	conn net.Conn // a *tls.Conn over HTTPS
	r    limitedReader
	br   *bufio.Reader // reads c.r
}

// limitedReader reads conn; while limited, at most left bytes (the reply headers' budget).
type limitedReader struct {
	conn    net.Conn
	limited bool
	left    int
}

func (r *limitedReader) Read(p []byte) (int, error) {
	if r.limited {
		if r.left <= 0 {
			return 0, errHeadersTooLong
		}
		p = p[:min(len(p), r.left)]
	}
	n, err := r.conn.Read(p)
	if r.limited {
		r.left -= n
	}
	return n, err
}

// readerPool recycles the connections' 4 KB read buffers (one per open connection otherwise).
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

func (c *hostConn) close() {
	_ = c.conn.Close()
	if c.br != nil {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
}

// CloseIdleConnections closes the idle connection, if any (http.Client calls it too).
func (t *connTransport) CloseIdleConnections() {
	t.mu.Lock()
	c := t.idle
	t.idle = nil
	t.mu.Unlock()
	if c != nil {
		c.close()
	}
}

// RoundTrip implements http.RoundTripper (see the type's contract).
func (t *connTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	trace := httptrace.ContextClientTrace(ctx)
	c, reused, err := t.conn(ctx)
	if err != nil {
		closeRequestBody(req)
		return nil, err
	}
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: c.conn, Reused: reused})
	}
	// The context ends the exchange wherever it is: every blocked read or write returns at once.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	err = t.writeRequest(c, req)
	if trace != nil && trace.WroteRequest != nil {
		trace.WroteRequest(httptrace.WroteRequestInfo{Err: err})
	}
	var resp *http.Response
	if err == nil {
		resp, err = readResponse(c, req)
	}
	if err != nil {
		stop()
		c.close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	resp.Body = &connBody{t: t, c: c, ctx: ctx, stop: stop, body: resp.Body,
		eof: resp.Body == http.NoBody, keep: !resp.Close && !req.Close}
	return resp, nil
}

// conn returns the idle connection if the host has not closed it, else a new one.
func (t *connTransport) conn(ctx context.Context) (c *hostConn, reused bool, err error) {
	t.mu.Lock()
	c, t.idle = t.idle, nil
	t.mu.Unlock()
	if c != nil {
		if c.usable() {
			return c, true, nil
		}
		c.close()
	}
	c, err = t.dialConn(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		err = &connectError{err: err} // no connection: the host is unreachable (classify)
	}
	return c, false, err
}

// usable reports whether an idle connection can carry the next request (a POST is not idempotent:
// it must not be sent into a connection the host already closed): the host sent nothing unasked
// and has not closed it. Where the socket can be looked at without waiting (peekSocket) that is
// done; elsewhere (Windows) a read that waits a millisecond must find neither data nor the end of
// the stream -- net/http's Transport, whose read goroutine is always waiting, would have seen
// either at once, and a millisecond per request is nothing against a WinRM exchange.
func (c *hostConn) usable() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if ok, known := peekConn(c.conn); known {
		return ok
	}
	_ = c.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := c.br.Peek(1)
	_ = c.conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// peekConn is peekSocket (a variable: tests also take the timed path).
var peekConn = peekSocket

// dialConn opens a connection (and runs the TLS handshake over HTTPS).
func (t *connTransport) dialConn(ctx context.Context) (*hostConn, error) {
	conn, err := t.dial(ctx, "tcp", t.addr)
	if err != nil {
		return nil, err
	}
	if t.tlsConf != nil {
		tc := tls.Client(conn, t.tlsConf)
		hctx, cancel := context.WithTimeout(ctx, t.tlsTimeout)
		err := tc.HandshakeContext(hctx)
		timedOut := hctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil {
			_ = conn.Close()
			if timedOut {
				return nil, fmt.Errorf("TLS handshake timed out after %v: %w", t.tlsTimeout, context.DeadlineExceeded)
			}
			return nil, err
		}
		conn = tc
	}
	c := &hostConn{conn: conn, r: limitedReader{conn: conn}}
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(&c.r)
	return c, nil
}

// writeRequest writes req with one write: request line, the headers in net/http's order (Host,
// User-Agent, Content-Length, the others sorted) and the body. It closes req.Body.
func (t *connTransport) writeRequest(c *hostConn, req *http.Request) error {
	defer closeRequestBody(req)
	n := req.ContentLength
	if n < 0 || n > maxRequestBody || (n == 0 && req.Body != nil && req.Body != http.NoBody) {
		return fmt.Errorf("request body of unknown or excessive length (%d bytes)", n)
	}
	keys := make([]string, 0, 4)
	size := 128 + len(t.host) + int(n)
	for k, vs := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("invalid request header name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("invalid value of request header %s", k)
			}
			size += len(k) + len(v) + 4
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ua := req.Header.Get("User-Agent")
	if !httpguts.ValidHeaderFieldValue(ua) {
		return errors.New("invalid value of request header User-Agent")
	}
	b := bufpool.Get(size + len(ua))
	defer func() { bufpool.Put(b) }()
	b = append(b, req.Method...)
	b = append(b, ' ')
	b = append(b, req.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, t.host...)
	if ua != "" {
		b = append(b, "\r\nUser-Agent: "...)
		b = append(b, ua...)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, n, 10)
	b = append(b, "\r\n"...)
	for _, k := range keys {
		for _, v := range req.Header[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	if n > 0 {
		head := len(b)
		b = slices.Grow(b, int(n))[:head+int(n)]
		if _, err := io.ReadFull(req.Body, b[head:]); err != nil {
			return fmt.Errorf("read request body: %w", err)
		}
	}
	_, err := c.conn.Write(b)
	return err
}

// maxRequestBody bounds a request body (a sealed message is at most the envelope size).
const maxRequestBody = 16 << 20

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// readResponse reads the reply's status line and headers (skipping interim 1xx replies).
func readResponse(c *hostConn, req *http.Request) (*http.Response, error) {
	for interim := 0; ; interim++ {
		c.r.limited, c.r.left = true, maxResponseHeaderBytes
		resp, err := http.ReadResponse(c.br, req)
		c.r.limited = false
		if err != nil {
			if c.r.left <= 0 { // whatever the parser made of the cut-off line
				return nil, errHeadersTooLong
			}
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("host switched protocols (101): not a WinRM reply")
		case resp.StatusCode >= 200:
			return resp, nil
		case interim == 4:
			return nil, errors.New("more than 5 interim (1xx) replies")
		}
	}
}

// connBody is a reply body on a hostConn: Close gives the connection back for the next request
// if the body was read to its end, else closes it.
type connBody struct {
	t    *connTransport
	c    *hostConn
	ctx  context.Context
	stop func() bool // stops the context's deadline hook; false once it ran
	body io.ReadCloser

	eof, keep, closed bool
}

func (b *connBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errBodyClosed
	}
	n, err := b.body.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.ctx.Err() != nil:
		err = b.ctx.Err()
	}
	return n, err
}

func (b *connBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	hookRan := !b.stop()
	if !b.eof || !b.keep || hookRan {
		b.c.close()
		return nil
	}
	b.t.mu.Lock()
	old := b.t.idle
	b.t.idle = b.c
	b.t.mu.Unlock()
	if old != nil { // not with serialized exchanges; never leak one
		old.close()
	}
	return nil
}
