package winrmclient

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/winsim"
)

// TestCloseReleasesConnection: after Close (and after a failed Dial) the client closes its
// connection to the host at once, instead of leaving it idle until IdleConnTimeout. A fleet audit
// opens one connection per host; keeping them would exhaust file descriptors on both sides.
func TestCloseReleasesConnection(t *testing.T) {
	for _, tc := range []struct {
		name     string
		https    bool
		password string
	}{
		{"sealed http", false, testPassword},
		{"ntlm https", true, testPassword},
		{"sealed http, dial fails", false, "wrong-password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := winsim.NewHost(winsim.Config{Name: "dc01.lab.test",
				Accounts: []winsim.Account{{User: `LAB\admin`, Password: testPassword, Admin: true}}})
			if err != nil {
				t.Fatal(err)
			}
			var open atomic.Int64
			srv := httptest.NewUnstartedServer(h.Handler(tc.https))
			srv.Config.ConnContext = winsim.ConnContext
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				switch s {
				case http.StateNew:
					open.Add(1)
				case http.StateClosed, http.StateHijacked:
					open.Add(-1)
				}
			}
			if tc.https {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			tg := winsimTarget(t, srv)
			tg.HTTPS, tg.InsecureSkipVerify = tc.https, tc.https
			tg.Password = tc.password
			ctx := testCtx(t, 30*time.Second)
			r, err := Dialer{}.Dial(ctx, tg)
			if tc.password != testPassword {
				if err == nil {
					t.Fatal("Dial with a wrong password succeeded")
				}
			} else {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if _, err := r.Run(ctx, "echo hello"); err != nil {
					t.Fatalf("Run: %v", err)
				}
				if open.Load() == 0 {
					t.Fatal("no connection open while the shell is in use")
				}
				if err := r.Close(ctx); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			// The server notices the client's close asynchronously; wait for it, far below the
			// 90 s idle timeout that would otherwise close the connection.
			deadline := time.Now().Add(10 * time.Second)
			for open.Load() != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := open.Load(); n != 0 {
				t.Errorf("%d connection(s) still open after the runner finished", n)
			}
		})
	}
}
