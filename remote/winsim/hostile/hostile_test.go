package hostile_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/hostile"
)

// TestEveryKindGetsItsOwnError dials each hostile kind with the real client: each must end with the
// documented class of error, within the host's budget (a deadline; the test asserts the class, and
// a hang would fail the context, not a stopwatch).
func TestEveryKindGetsItsOwnError(t *testing.T) {
	want := map[hostile.Kind]string{
		hostile.Garbage:      "protocol",
		hostile.DeepXML:      "protocol",
		hostile.EndlessBody:  "protocol",
		hostile.Slowloris:    "timeout",
		hostile.SlowHeaders:  "timeout",
		hostile.Stall:        "timeout",
		hostile.Unauthorized: "auth",
		hostile.WeakNTLM:     "protocol",
		hostile.TLSBadCert:   "tls",
		hostile.TLSGarbage:   "protocol",
	}
	if len(want) != len(hostile.Kinds) {
		t.Fatalf("test covers %d kinds, package has %d", len(want), len(hostile.Kinds))
	}
	for _, kind := range hostile.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			srv, err := hostile.Start(kind, hostile.Options{Tick: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Stop()
			host, port := splitHostPort(t, srv.Addr)
			tg := remote.Target{Host: host, Port: port, HTTPS: srv.HTTPS, User: `LAB\admin`, Password: hostile.DefaultPassword,
				Timeout: 2 * time.Second}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			r, err := winrmclient.Dialer{}.Dial(ctx, tg)
			if err == nil {
				_ = r.Close(ctx)
				t.Fatalf("Dial succeeded against %s", kind)
			}
			t.Logf("%s: %v", kind, err)
			if got := remote.Kind(err); got != want[kind] {
				t.Errorf("%s: kind %q (%v), want %q", kind, got, err, want[kind])
			}
			if errors.Is(err, context.Canceled) {
				t.Errorf("%s: canceled", kind)
			}
		})
	}
}

// TestBasicEndlessBody: the unsealed path (Basic on HTTP) reads the endless body with the same bound.
func TestBasicEndlessBody(t *testing.T) {
	srv, err := hostile.Start(hostile.EndlessBody, hostile.Options{Basic: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	host, port := splitHostPort(t, srv.Addr)
	tg := remote.Target{Host: host, Port: port, Auth: remote.AuthBasic, AllowBasicHTTP: true, User: `LAB\admin`,
		Password: hostile.DefaultPassword, Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = winrmclient.Dialer{}.Dial(ctx, tg)
	if remote.Kind(err) != "protocol" {
		t.Errorf("err = %v, want protocol", err)
	}
}

func TestUnknownKind(t *testing.T) {
	if _, err := hostile.Start("nope", hostile.Options{}); err == nil {
		t.Error("unknown kind accepted")
	}
}

func splitHostPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return h, n
}
