package winsim_test

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/winsim"
)

// TestDeleteServedAfterClientLeft: a client that writes a Delete and closes its connection at once
// (dcproxy does not wait for Delete's reply, and may exit right after writing it) still gets its
// shell deleted, also when the host's latency delays the answer past the close: net/http cancels a
// request's context on a client close only after the body was read, which the latency precedes.
// unverified: that Windows, too, completes a Delete whose client closed before the reply. The host
// counts the requests it was sent, by action.
func TestDeleteServedAfterClientLeft(t *testing.T) {
	h := newHost(t, winsim.Config{Basic: true, Latency: 200 * time.Millisecond})
	s := serve(t, h, true)
	_, body := postSOAP(t, s, adminUser, adminPass, createEnvelope)
	shellID := between(body, `<w:Selector Name="ShellId">`, "<")
	if h.ShellCount() != 1 || shellID == "" {
		t.Fatalf("no shell: %s", body)
	}

	conn, err := tls.Dial("tcp", s.ts.Listener.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // test server
	if err != nil {
		t.Fatal(err)
	}
	env := soapEnvelope("http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", shellID, "153600", "")
	req := fmt.Sprintf("POST /wsman HTTP/1.1\r\nHost: %s\r\nAuthorization: Basic %s\r\n"+
		"Content-Type: application/soap+xml;charset=UTF-8\r\nContent-Length: %d\r\n\r\n%s",
		s.ts.Listener.Addr(), base64.StdEncoding.EncodeToString([]byte(adminUser+":"+adminPass)), len(env), env)
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); h.ShellCount() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the shell outlived a Delete whose client closed before the reply")
		}
	}
	want := winsim.RequestCounts{HTTP: 2, Create: 1, Delete: 1}
	if got := h.Requests(); got != want || got.Operations() != 2 {
		t.Errorf("Requests() = %+v, want %+v", got, want)
	}
}
