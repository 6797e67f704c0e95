package winrmclient

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawHost is a scripted HTTP/1.1 peer: serve runs once per accepted connection (n counts from 0)
// with the connection and a reader on it.
type rawHost struct {
	ln    net.Listener
	mu    sync.Mutex
	conns int
	wg    sync.WaitGroup
}

func startRawHost(t *testing.T, serve func(n int, c net.Conn, br *bufio.Reader)) *rawHost {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &rawHost{ln: ln}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			n := h.conns
			h.conns++
			h.mu.Unlock()
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				defer c.Close()
				serve(n, c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); h.wg.Wait() })
	return h
}

func (h *rawHost) connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns
}

// readRawRequest reads one request (headers and Content-Length body) and returns its bytes.
func readRawRequest(br *bufio.Reader) ([]byte, error) {
	var head bytes.Buffer
	n := 0
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, err
		}
		head.WriteString(line)
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return nil, err
	}
	return append(head.Bytes(), body...), nil
}

func newConnTransport(addr string) *connTransport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &connTransport{addr: addr, host: addr, tlsTimeout: 5 * time.Second, dial: d.DialContext}
}

// post sends one POST through ct and returns the reply body (read to its end, then closed) and
// whether the connection was reused.
func post(t *testing.T, ctx context.Context, ct *connTransport, body string) (reply string, reused bool, err error) {
	t.Helper()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+ct.addr+"/wsman", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ct.RoundTrip(req)
	if err != nil {
		return "", reused, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return string(b), reused, err
}

const okReply = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestConnTransportReusesConnection: replies with a Content-Length, a chunked body and no body at
// all leave the connection for the next request; every request goes on the one connection.
func TestConnTransportReusesConnection(t *testing.T) {
	replies := []string{okReply,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nch\r\n3\r\nunk\r\n0\r\n\r\n",
		"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
		okReply}
	h := startRawHost(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for _, r := range replies {
			if _, err := readRawRequest(br); err != nil {
				return
			}
			_, _ = io.WriteString(c, r)
		}
	})
	ct := newConnTransport(h.ln.Addr().String())
	defer ct.CloseIdleConnections()
	want := []string{"ok", "chunk", "", "ok"}
	for i, w := range want {
		if w == "" { // a reply without a body needs no read before Close
			req, _ := http.NewRequest(http.MethodPost, "http://"+ct.addr+"/wsman", nil)
			resp, err := ct.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			continue
		}
		got, reused, err := post(t, context.Background(), ct, "request "+strconv.Itoa(i))
		if err != nil || got != w || reused != (i > 0) {
			t.Fatalf("request %d: %q, reused %v, %v; want %q", i, got, reused, err, w)
		}
	}
	if n := h.connections(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// TestConnTransportNewConnection: the next request goes on a new connection when the reply asked
// to close, the host closed the idle connection without saying so, the host sent bytes nobody asked
// for, or the caller closed the body before its end. Each of them still succeeds.
func TestConnTransportNewConnection(t *testing.T) {
	for _, tc := range []struct {
		name   string
		first  string
		after  func(c net.Conn) // after the first reply, on the first connection
		unread bool             // close the first body unread
	}{
		{name: "connection close", first: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"},
		{name: "http/1.0", first: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "closed silently", first: okReply, after: func(c net.Conn) { _ = c.Close() }},
		{name: "unasked bytes", first: okReply, after: func(c net.Conn) { _, _ = io.WriteString(c, okReply) }},
		// The body's bytes not even arrived: nothing buffered, nothing to peek at.
		{name: "body not read", first: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", unread: true},
	} {
		for _, timed := range []bool{false, true} {
			name := tc.name
			if timed {
				name += ", timed check"
			}
			t.Run(name, func(t *testing.T) {
				if timed { // as where the socket cannot be peeked at (Windows)
					old := peekConn
					peekConn = func(net.Conn) (bool, bool) { return false, false }
					t.Cleanup(func() { peekConn = old })
				}
				testNewConnection(t, tc.first, tc.after, tc.unread, tc.name == "closed silently")
			})
		}
	}
}

func testNewConnection(t *testing.T, first string, after func(net.Conn), unread, closes bool) {
	afterDone := make(chan struct{})
	h := startRawHost(t, func(n int, c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err != nil {
			return
		}
		if n > 0 {
			_, _ = io.WriteString(c, okReply)
			return
		}
		_, _ = io.WriteString(c, first)
		if after != nil {
			after(c)
		}
		close(afterDone)
		_, _ = io.Copy(io.Discard, br) // until the client closes
	})
	ct := newConnTransport(h.ln.Addr().String())
	defer ct.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, "http://"+ct.addr+"/wsman", strings.NewReader("one"))
	resp, err := ct.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if !unread {
		_, _ = io.Copy(io.Discard, resp.Body)
	}
	_ = resp.Body.Close()
	<-afterDone
	if closes {
		time.Sleep(50 * time.Millisecond) // let the FIN arrive (the check is what is tested, not the wait)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // the old connection would never answer
	defer cancel()
	got, reused, err := post(t, ctx, ct, "two")
	if err != nil || got != "ok" || reused {
		t.Fatalf("second request: %q, reused %v, %v", got, reused, err)
	}
	if n := h.connections(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// TestConnTransportRequestBytesMatchNetHTTP: a request is written byte for byte as net/http's
// Transport writes it (without compression): request line, Host, User-Agent, Content-Length (also
// 0 for an empty POST), the other headers sorted, the body.
func TestConnTransportRequestBytesMatchNetHTTP(t *testing.T) {
	capture := func(send func(addr string)) []byte {
		got := make(chan []byte, 1)
		h := startRawHost(t, func(_ int, c net.Conn, br *bufio.Reader) {
			b, _ := readRawRequest(br)
			got <- b
			_, _ = io.WriteString(c, okReply)
		})
		send(h.ln.Addr().String())
		return <-got
	}
	for _, tc := range []struct {
		name    string
		body    string
		headers map[string][]string
	}{
		{"empty post", "", map[string][]string{"Authorization": {"Negotiate TlRMTVNTUAABAAAAB4IIog=="}, "Content-Type": {soapContentType}, "User-Agent": {"dcproxy WinRM client"}}},
		{"sealed", strings.Repeat("x", 9000), map[string][]string{"Content-Type": {"multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\""}, "User-Agent": {"dcproxy WinRM client"}}},
		{"no user agent, two values", "body", map[string][]string{"X-B": {"1", "2"}, "X-A": {"a\tb"}}},
	} {
		mk := func(addr string) *http.Request {
			req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/wsman", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.body != "" {
				req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/wsman", strings.NewReader(tc.body))
			} else {
				req.Body, req.ContentLength = http.NoBody, 0
			}
			for k, vs := range tc.headers {
				req.Header[k] = vs
			}
			return req
		}
		var addrs [2]string
		std := capture(func(addr string) {
			addrs[0] = addr
			tr := &http.Transport{DisableCompression: true}
			defer tr.CloseIdleConnections()
			if resp, err := tr.RoundTrip(mk(addr)); err == nil {
				drain(resp)
			} else {
				t.Fatal(err)
			}
		})
		own := capture(func(addr string) {
			addrs[1] = addr
			ct := newConnTransport(addr)
			defer ct.CloseIdleConnections()
			if resp, err := ct.RoundTrip(mk(addr)); err == nil {
				drain(resp)
			} else {
				t.Fatal(err)
			}
		})
		std = bytes.Replace(std, []byte(addrs[0]), []byte("ADDR"), 1)
		own = bytes.Replace(own, []byte(addrs[1]), []byte("ADDR"), 1)
		if tc.headers["User-Agent"] == nil { // net/http adds its own; this client sends none
			std = bytes.Replace(std, []byte("User-Agent: Go-http-client/1.1\r\n"), nil, 1)
		}
		if !bytes.Equal(std, own) {
			t.Errorf("%s:\nnet/http: %q\nours:     %q", tc.name, std[:min(len(std), 400)], own[:min(len(own), 400)])
		}
	}
}

// TestConnTransportRefuses: what must not go out or come in ends the exchange with an error: a
// header value that would end the header, a body of unknown length, reply headers beyond 64 KiB,
// a protocol switch, a connection that cannot be opened (a connectError: unreachable).
func TestConnTransportRefuses(t *testing.T) {
	h := startRawHost(t, func(_ int, c net.Conn, br *bufio.Reader) {
		req, err := readRawRequest(br)
		if err != nil {
			return
		}
		switch {
		case bytes.Contains(req, []byte("long-headers")):
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n")
			for i := 0; i < 2000; i++ {
				_, _ = io.WriteString(c, "X-Filler: "+strings.Repeat("f", 60)+"\r\n")
			}
		case bytes.Contains(req, []byte("switch")):
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n")
		default:
			_, _ = io.WriteString(c, okReply)
		}
	})
	ct := newConnTransport(h.ln.Addr().String())
	defer ct.CloseIdleConnections()
	url := "http://" + ct.addr + "/wsman"

	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("x"))
	req.Header.Set("Authorization", "Negotiate abc\r\nX-Injected: 1")
	if _, err := ct.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "invalid value of request header Authorization") {
		t.Errorf("CRLF in a header value: %v", err)
	}
	req, _ = http.NewRequest(http.MethodPost, url, io.NopCloser(strings.NewReader("x")))
	req.ContentLength = -1
	if _, err := ct.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "unknown or excessive length") {
		t.Errorf("body of unknown length: %v", err)
	}
	if _, _, err := post(t, context.Background(), ct, "long-headers"); !errors.Is(err, errHeadersTooLong) {
		t.Errorf("endless headers: %v, want errHeadersTooLong", err)
	}
	if _, _, err := post(t, context.Background(), ct, "switch"); err == nil || !strings.Contains(err.Error(), "101") {
		t.Errorf("101: %v", err)
	}
	if got, _, err := post(t, context.Background(), ct, "fine"); err != nil || got != "ok" {
		t.Errorf("after the refusals: %q, %v", got, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	_ = ln.Close()
	var ce *connectError
	if _, _, err := post(t, context.Background(), newConnTransport(dead), "x"); !errors.As(err, &ce) {
		t.Errorf("closed port: %v, want a connectError", err)
	}
}

// TestConnTransportSkipsInterimReplies: a 100 Continue before the answer is skipped.
func TestConnTransportSkipsInterimReplies(t *testing.T) {
	h := startRawHost(t, func(_ int, c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n"+okReply)
		}
	})
	ct := newConnTransport(h.ln.Addr().String())
	defer ct.CloseIdleConnections()
	if got, _, err := post(t, context.Background(), ct, "x"); err != nil || got != "ok" {
		t.Errorf("%q, %v", got, err)
	}
}

// TestConnTransportContextEndsExchange: the request's context ends an exchange blocked on a host
// that never answers, and a body read blocked on a host that never finishes, with the context's
// error; the connection is not reused.
func TestConnTransportContextEndsExchange(t *testing.T) {
	h := startRawHost(t, func(n int, c net.Conn, br *bufio.Reader) {
		if _, err := readRawRequest(br); err != nil {
			return
		}
		switch n {
		case 0: // never answers
		case 1: // a body that never comes
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
		default:
			_, _ = io.WriteString(c, okReply)
			return
		}
		_, _ = io.Copy(io.Discard, br)
	})
	ct := newConnTransport(h.ln.Addr().String())
	defer ct.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, _, err := post(t, ctx, ct, "stall"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("host that never answers: %v, want the context's deadline", err)
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx2, http.MethodPost, "http://"+ct.addr+"/wsman", strings.NewReader("x"))
	resp, err := ct.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel2)
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Errorf("body that never ends: %v, want context.Canceled", err)
	}
	_ = resp.Body.Close()
	if got, reused, err := post(t, context.Background(), ct, "x"); err != nil || got != "ok" || reused {
		t.Errorf("after the ended exchanges: %q, reused %v, %v", got, reused, err)
	}
}

// TestConnTransportWritesWholeRequest: RoundTrip returns only after the whole request was written,
// also when the host answers as soon as it has the headers and reads the body later (net/http
// returns such an answer while it is still writing): a body overwritten right after RoundTrip
// returned is not what the host reads. Sealed frames rely on this to go back to the pool.
func TestConnTransportWritesWholeRequest(t *testing.T) {
	const size = 8 << 20 // far more than the loopback socket buffers hold
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	want := bytes.Clone(body)
	got := make(chan []byte, 1)
	h := startRawHost(t, func(_ int, c net.Conn, br *bufio.Reader) {
		for { // the request headers
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
		b, _ := io.ReadAll(io.LimitReader(br, size))
		got <- b
	})
	ct := newConnTransport(h.ln.Addr().String())
	defer ct.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, "http://"+ct.addr+"/wsman", bytes.NewReader(body))
	resp, err := ct.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	for i := range body {
		body[i] = 0xDB
	}
	drain(resp)
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("host read %d bytes, not the body as it was when sent (overwritten at %d)", len(b), bytes.IndexByte(b, 0xDB))
	}
}

// FuzzConnTransportReply: whatever a host answers (then closing its end), RoundTrip returns an
// error or a reply whose body ends; nothing panics or hangs; a connection is given back only after
// its reply was read to the end, and one with bytes left over is not reused.
func FuzzConnTransportReply(f *testing.F) {
	for _, s := range []string{
		okReply,
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nch\r\n0\r\n\r\n",
		"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n" + okReply,
		"HTTP/1.0 200 OK\r\n\r\nuntil the end",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		okReply + okReply,
		"garbage\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		client, host := net.Pipe()
		go func() {
			defer host.Close()
			if _, err := readRawRequest(bufio.NewReader(host)); err == nil {
				_, _ = host.Write(reply)
			}
		}()
		dialed := false
		ct := &connTransport{addr: "dc01:5985", host: "dc01:5985", dial: func(context.Context, string, string) (net.Conn, error) {
			if dialed {
				return nil, errors.New("dialed twice")
			}
			dialed = true
			return client, nil
		}}
		defer ct.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://dc01:5985/wsman", strings.NewReader("x"))
		resp, err := ct.RoundTrip(req)
		if err != nil {
			return
		}
		n, rerr := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if c := ct.idle; c != nil {
			if rerr != nil || n == 1<<20 {
				t.Fatalf("connection kept after a body read that ended with %v (%d bytes)", rerr, n)
			}
			if c.br.Buffered() > 0 && c.usable() {
				t.Fatalf("connection with %d unread bytes would be reused", c.br.Buffered())
			}
		}
	})
}
