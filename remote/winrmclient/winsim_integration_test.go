package winrmclient

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winsim"
)

// startWinsim serves a simulated domain controller on a loopback listener.
func startWinsim(t *testing.T, cfg winsim.Config, https bool) (*winsim.Host, *httptest.Server) {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "dc01.lab.test"
	}
	if len(cfg.Accounts) == 0 {
		cfg.Accounts = []winsim.Account{
			{User: `LAB\admin`, Password: testPassword, Admin: true},
			{User: `LAB\user`, Password: testPassword},
		}
	}
	h, err := winsim.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.Handler(https))
	srv.Config.ConnContext = winsim.ConnContext
	if https {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return h, srv
}

func winsimTarget(t *testing.T, srv *httptest.Server) remote.Target {
	t.Helper()
	tg := targetFor(t, srv.Listener.Addr().String())
	tg.Timeout = 10 * time.Second
	return tg
}

func TestWinsimSealedAudit(t *testing.T) {
	h, srv := startWinsim(t, winsim.Config{}, false)
	ctx := testCtx(t, 30*time.Second)
	r, err := Dialer{}.Dial(ctx, winsimTarget(t, srv))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	out, err := r.Run(ctx, "echo hello")
	if err != nil || string(out.Stdout) != "hello\r\n" || out.ExitCode != 0 {
		t.Errorf("echo hello = %q / %q exit %d, %v", out.Stdout, out.Stderr, out.ExitCode, err)
	}
	out, err = r.Run(ctx, `reg query "HKU\S-1-5-19\Software\NoSuchKey" /v Missing`)
	if err != nil || out.ExitCode != 1 || !strings.HasPrefix(string(out.Stderr), "ERROR:") {
		t.Errorf("reg query missing = %q / %q exit %d, %v", out.Stdout, out.Stderr, out.ExitCode, err)
	}
	if err := r.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDeleted(t, r)
	st := r.(remote.StatsReporter).Stats()
	t.Logf("winsim audit: %+v", st)
	if st.Requests > 12 || st.Handshakes != 1 {
		t.Errorf("stats = %+v, want <= 12 requests and 1 handshake", st)
	}
	if n := h.ShellCount(); n != 0 {
		t.Errorf("%d shells left on the host", n)
	}
}

func TestWinsimHTTPS(t *testing.T) {
	_, srv := startWinsim(t, winsim.Config{}, true)
	tg := winsimTarget(t, srv)
	tg.HTTPS, tg.InsecureSkipVerify = true, true
	ctx := testCtx(t, 30*time.Second)
	r, err := Dialer{}.Dial(ctx, tg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer r.Close(ctx)
	out, err := r.Run(ctx, "echo hello")
	if err != nil || string(out.Stdout) != "hello\r\n" {
		t.Errorf("echo hello = %q, %v", out.Stdout, err)
	}
}

func TestWinsimBasicHTTP(t *testing.T) {
	_, srv := startWinsim(t, winsim.Config{Basic: true, AllowUnencrypted: true}, false)
	tg := winsimTarget(t, srv)
	tg.Auth, tg.AllowBasicHTTP = remote.AuthBasic, true
	ctx := testCtx(t, 30*time.Second)
	r, err := Dialer{}.Dial(ctx, tg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer r.Close(ctx)
	if out, err := r.Run(ctx, "echo hello"); err != nil || string(out.Stdout) != "hello\r\n" {
		t.Errorf("echo hello = %q, %v", out.Stdout, err)
	}
}

func TestWinsimRefusals(t *testing.T) {
	_, srv := startWinsim(t, winsim.Config{}, false)
	_, failSrv := startWinsim(t, winsim.Config{AuthFail: true}, false)
	_, basicOff := startWinsim(t, winsim.Config{}, false)
	tests := []struct {
		name string
		tg   func() remote.Target
		want error
	}{
		{"wrong password", func() remote.Target { tg := winsimTarget(t, srv); tg.Password = "nope"; return tg }, remote.ErrAuth},
		{"not an administrator", func() remote.Target { tg := winsimTarget(t, srv); tg.User = `LAB\user`; return tg }, remote.ErrAccessDenied},
		{"logon failure fault model", func() remote.Target { return winsimTarget(t, failSrv) }, remote.ErrAuth},
		{"basic disabled", func() remote.Target {
			tg := winsimTarget(t, basicOff)
			tg.Auth, tg.AllowBasicHTTP = remote.AuthBasic, true
			return tg
		}, remote.ErrAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Dialer{}.Dial(testCtx(t, 10*time.Second), tc.tg())
			if err == nil {
				_ = r.Close(context.Background())
				t.Fatal("Dial succeeded")
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Error("error contains the password")
			}
		})
	}
}

// TestWinsimLongPoll: a command slower than w:OperationTimeout is polled through the host's
// TimedOut faults; a Run whose context ends first is terminated and reported as a timeout.
func TestWinsimLongPoll(t *testing.T) {
	h, srv := startWinsim(t, winsim.Config{ExecTime: 2500 * time.Millisecond}, false)
	tg := winsimTarget(t, srv)
	tg.Timeout = 3 * time.Second // OperationTimeout PT1S
	ctx := testCtx(t, 30*time.Second)
	r, err := Dialer{}.Dial(ctx, tg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	out, err := r.Run(ctx, "echo slow")
	if err != nil || string(out.Stdout) != "slow\r\n" {
		t.Errorf("echo slow = %q, %v", out.Stdout, err)
	}
	// Handshake 2 + Create 1, then Command and at least 3 Receives (two TimedOut faults); the
	// terminate Signal waits for the next Command.
	if st := r.(remote.StatsReporter).Stats(); st.Requests < 3+4 || st.Handshakes != 1 {
		t.Errorf("stats after the slow command = %+v, want >= 7 requests on one handshake", st)
	}
	runCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := r.Run(runCtx, "echo late"); !errors.Is(err, remote.ErrTimeout) {
		t.Errorf("Run past its deadline = %v, want ErrTimeout", err)
	}
	if err := r.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDeleted(t, r)
	if n := h.ShellCount(); n != 0 {
		t.Errorf("%d shells left on the host", n)
	}
}
