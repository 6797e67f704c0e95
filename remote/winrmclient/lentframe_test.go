package winrmclient

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// recordFramePuts replaces putFrame for the test and reports how many frames were put back.
func recordFramePuts(t *testing.T) func() int {
	n := 0
	old := putFrame
	putFrame = func([]byte) { n++ }
	t.Cleanup(func() { putFrame = old })
	return func() int { return n }
}

// TestLentFrameCountsWrites: a frame goes back only when as many writes ended as started (none
// started: the dial failed; one started and ended; a retry's second write ended too), never while
// one is running or began without ending.
func TestLentFrameCountsWrites(t *testing.T) {
	for _, tc := range []struct {
		name         string
		conns, wrote int
		put          bool
	}{
		{"no connection", 0, 0, true},
		{"written", 1, 1, true},
		{"retried and written", 2, 2, true},
		{"still writing", 1, 0, false},
		{"retry still writing", 2, 1, false},
	} {
		puts := recordFramePuts(t)
		var l lentFrame
		tr := httptrace.ContextClientTrace(l.watch(context.Background()))
		for range tc.conns {
			tr.GotConn(httptrace.GotConnInfo{})
		}
		for range tc.wrote {
			tr.WroteRequest(httptrace.WroteRequestInfo{})
		}
		l.giveBack(make([]byte, 0, 8192))
		if got := puts() == 1; got != tc.put {
			t.Errorf("%s: put back %v, want %v", tc.name, got, tc.put)
		}
	}
}

// TestLentFrameKeptWhileNetHTTPWrites: against a server that answers as soon as it has the
// request headers and then reads the body (net/http's client returns that answer while its write
// loop is still sending a large body), a frame put back is overwritten at once, and still the
// server reads the body as it was: the frame was not put back while a write could read it.
func TestLentFrameKeptWhileNetHTTPWrites(t *testing.T) {
	old := putFrame
	putFrame = func(b []byte) {
		for i := range b {
			b[i] = 0xDB
		}
	}
	defer func() { putFrame = old }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 64 << 20 // far more than the loopback socket buffers hold
	body := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	want := bytes.Clone(body)
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for { // the request headers
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		// A reply with a body: net/http hands it over at once (one without waits for the write).
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly")
		b, _ := io.ReadAll(io.LimitReader(br, size))
		got <- b
	}()
	var l lentFrame
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(l.watch(ctx), http.MethodPost, "http://"+ln.Addr().String()+"/wsman", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	l.giveBack(body)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	b := <-got
	if i := bytes.IndexByte(b, 0xDB); i >= 0 {
		t.Fatalf("the server read overwritten bytes from offset %d: the frame went back while being written", i)
	}
	if len(b) == 0 || !bytes.HasPrefix(want, b) {
		t.Fatalf("server read %d bytes, not a prefix of the body (%q...)", len(b), strings.TrimSpace(string(b[:min(len(b), 16)])))
	}
}
