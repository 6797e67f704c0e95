package auth

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dcproxy/dcproxy/remote/ntlm"
)

// echoer is an inner handler for TestPooledBuffersConcurrent: it checks that the body it gets
// (BodyBytes and r.Body) is the one the client sent, still is after other requests ran meanwhile,
// and answers with a response derived from it in several writes.
type echoer struct {
	mu   sync.Mutex
	errs []string
}

func (e *echoer) fail(format string, a ...any) {
	e.mu.Lock()
	e.errs = append(e.errs, fmt.Sprintf(format, a...))
	e.mu.Unlock()
}

// poolBody is the request body of client i's request j: a header naming both and filler bytes of
// a size that crosses the pool's classes (up to ~70 KB, beyond its largest one).
func poolBody(i, j int) []byte {
	n := 300 + (i*7919+j*104729)%70000
	head := fmt.Sprintf("<req i=%d j=%d n=%d>", i, j, n)
	b := bytes.Repeat([]byte{byte('a' + (i+j)%26)}, n)
	copy(b, head)
	return b
}

// poolReply is the response to a body: the body reversed, prefixed with its length.
func poolReply(body []byte) []byte {
	out := make([]byte, 0, len(body)+16)
	out = strconv.AppendInt(out, int64(len(body)), 10)
	out = append(out, ':')
	for k := len(body) - 1; k >= 0; k-- {
		out = append(out, body[k])
	}
	return out
}

func (e *echoer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bb, ok := BodyBytes(r)
	if !ok {
		e.fail("no BodyBytes")
		return
	}
	first := string(bb) // a copy, to compare with what the buffer holds later
	var i, j, n int
	if _, err := fmt.Sscanf(first, "<req i=%d j=%d n=%d>", &i, &j, &n); err != nil || first != string(poolBody(i, j)) {
		e.fail("body %.40q... (%d bytes) is not a request body the client sent", first, len(first))
		return
	}
	read, err := io.ReadAll(r.Body)
	if err != nil || string(read) != first {
		e.fail("r.Body differs from BodyBytes (%d vs %d bytes, %v)", len(read), len(first), err)
	}
	runtime.Gosched() // let other connections' requests run while this one holds its buffer
	if string(bb) != first {
		e.fail("request %d/%d: the body changed while its handler ran", i, j)
	}
	w.Header().Set("Content-Type", soapContentType)
	reply := poolReply(bb)
	for len(reply) > 0 { // several writes: the recorder appends them
		k := min(len(reply), 1000+i*37)
		_, _ = w.Write(reply[:k])
		reply = reply[k:]
	}
}

// TestPooledBuffersConcurrent: request bodies, recorded responses and sealed frames live in pooled
// buffers. With many connections sending bodies of many sizes at once, sealed (NTLM) and plain
// (HTTPS), every inner handler sees exactly its own body for as long as it runs, and every client
// gets exactly the response to its own request: a buffer reused too early would mix them.
func TestPooledBuffersConcurrent(t *testing.T) {
	const clients, requests = 8, 12
	for _, https := range []bool{false, true} {
		t.Run(fmt.Sprintf("https=%v", https), func(t *testing.T) {
			p := basePolicy()
			p.HTTPS = https
			e := &echoer{}
			ts := serve(t, p, e)
			t.Run("clients", func(t *testing.T) {
				for i := range clients {
					t.Run(strconv.Itoa(i), func(t *testing.T) {
						t.Parallel()
						rc := ts.dial(t)
						c, r := rc.handshake("auditor", "LAB", adminPass, nil)
						if r.StatusCode != 200 {
							t.Fatalf("handshake status %d", r.StatusCode)
						}
						for j := range requests {
							body := poolBody(i, j)
							want := string(poolReply(body))
							var got string
							if https && j%2 == 1 { // plaintext is fine on HTTPS
								got = string(rc.post("", soapContentType, body).body)
							} else {
								got = unseal(t, c, rc.post("", ntlm.EncryptedContentType, seal(t, c, body)))
							}
							if got != want {
								t.Fatalf("request %d: response of %d bytes %.30q..., want %d bytes %.30q...", j, len(got), got, len(want), want)
							}
						}
					})
				}
			})
			if len(e.errs) > 0 {
				t.Fatalf("inner handler: %s", strings.Join(e.errs, "; "))
			}
		})
	}
}

// TestSharedHeaderValues: the header values responses share (Server, WWW-Authenticate: Negotiate,
// Connection: close, Content-Length: 0) stay as they are when a response adds to them: anonymous
// 401s of a listener with Basic (which appends Basic realm="WSMAN") alternate with ones without.
func TestSharedHeaderValues(t *testing.T) {
	plain := basePolicy()
	basic := basePolicy()
	basic.Basic, basic.HTTPS = true, true
	handlers := []http.Handler{plain.Wrap(&responder{}), basic.Wrap(&responder{})}
	for i := range 6 {
		withBasic := i%2 == 1
		rec := httptest.NewRecorder()
		handlers[i%2].ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/wsman", strings.NewReader(soapBody)))
		want := "Negotiate"
		if withBasic {
			want += `|Basic realm="WSMAN"`
		}
		h := rec.Header()
		if rec.Code != 401 || strings.Join(valuesFold(h, "WWW-Authenticate"), "|") != want || strings.Join(h.Values("Server"), "|") != "Microsoft-HTTPAPI/2.0" ||
			strings.Join(h.Values("Connection"), "|") != "close" || strings.Join(h.Values("Content-Length"), "|") != "0" {
			t.Fatalf("response %d (Basic %v): %d %v", i, withBasic, rec.Code, h)
		}
		h.Add("Server", "changed") // a caller adding to a response's header changes no other response
		h.Add("Connection", "changed")
	}
}

// valuesFold returns the values of every key of h equal to name in any case (the middleware sets
// WWW-Authenticate as Windows spells it, Header.Add the canonical Www-Authenticate), the
// key as Windows spells it first.
func valuesFold(h http.Header, name string) []string {
	var exact, other []string
	for k, v := range h {
		switch {
		case k == name:
			exact = append(exact, v...)
		case strings.EqualFold(k, name):
			other = append(other, v...)
		}
	}
	return append(exact, other...)
}
