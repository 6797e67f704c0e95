package winrmclient

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/masterzen/winrm"

	"github.com/dcproxy/dcproxy/remote"
)

const (
	cmdQuery   = `reg query "HKU\S-1-5-18\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Connections" /v DefaultConnectionSettings`
	cmdMissing = `reg query HKU\S-1-5-19 /v Missing`
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// audit runs what dcproxy does to one host: dial, two reg queries, close.
func audit(t *testing.T, tg remote.Target) (remote.Runner, []remote.Output) {
	t.Helper()
	ctx := testCtx(t, 20*time.Second)
	r, err := Dialer{}.Dial(ctx, tg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	var outs []remote.Output
	for _, c := range []string{cmdQuery, cmdMissing} {
		out, err := r.Run(ctx, c)
		if err != nil {
			t.Fatalf("Run(%q): %v", c, err)
		}
		outs = append(outs, out)
	}
	if err := r.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	waitDeleted(t, r)
	return r, outs
}

// waitDeleted waits until the Delete that r's Close sent in the background has its answer (or
// failed) and the connection is dropped; Close itself returns once the Delete is written.
func waitDeleted(t testing.TB, r remote.Runner) {
	t.Helper()
	rr := r.(*runner)
	rr.mu.Lock()
	ch := rr.deleted
	rr.mu.Unlock()
	if ch == nil {
		t.Fatal("waitDeleted before Close, or Close sent no Delete")
	}
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatal("the background Delete did not end")
	}
}

func checkAuditOutputs(t *testing.T, outs []remote.Output) {
	t.Helper()
	if got := string(outs[0].Stdout); !strings.Contains(got, "DefaultConnectionSettings    REG_BINARY    46000000\r\n") || outs[0].ExitCode != 0 {
		t.Errorf("query output = %q exit %d", got, outs[0].ExitCode)
	}
	if outs[1].ExitCode != 1 || !strings.HasPrefix(string(outs[1].Stderr), "ERROR: The system was unable") || len(outs[1].Stdout) != 0 {
		t.Errorf("missing-value output = %+v", outs[1])
	}
}

func TestAuditSealedNTLM(t *testing.T) {
	h := newFakeHost(t, nil)
	r, outs := audit(t, h.target(t))
	checkAuditOutputs(t, outs)

	requests, handshakes, conns, actions, wire := h.snapshot()
	st := r.(remote.StatsReporter).Stats()
	t.Logf("full audit: %+v", st)
	if requests > 12 {
		t.Errorf("host saw %d HTTP requests for a full audit, want <= 12", requests)
	}
	if st.Requests != requests {
		t.Errorf("Stats.Requests = %d, host saw %d", st.Requests, requests)
	}
	if handshakes != 1 || st.Handshakes != 1 {
		t.Errorf("handshakes: host %d, stats %d; want 1", handshakes, st.Handshakes)
	}
	if conns != 1 {
		t.Errorf("host saw %d TCP connections, want 1", conns)
	}
	if st.Wait <= 0 {
		t.Errorf("Stats.Wait = %v, want > 0", st.Wait)
	}
	// The first command is terminated before the second starts (MS-WSMV); the last is not: Delete
	// releases it.
	want := []string{"Create", "Command", "Receive", "Signal", "Command", "Receive", "Delete"}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("actions = %v, want %v", actions, want)
	}
	var sealed int
	for _, b := range wire {
		if len(b) == 0 {
			continue
		}
		sealed++
		for _, plain := range []string{"Envelope", "schemas.xmlsoap.org", "reg query", "HKU"} {
			if bytes.Contains(b, []byte(plain)) {
				t.Errorf("plaintext %q on the wire in %q", plain, b[:min(len(b), 200)])
			}
		}
		if !bytes.HasPrefix(b, []byte("--Encrypted Boundary\r\n")) {
			t.Errorf("body is not an encrypted frame: %q", b[:min(len(b), 80)])
		}
	}
	if sealed != len(want) {
		t.Errorf("%d sealed bodies, want %d", sealed, len(want))
	}
	if n := h.openShells(); n != 0 {
		t.Errorf("%d shells left open", n)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := r.Run(context.Background(), cmdQuery); err == nil {
		t.Error("Run after Close succeeded")
	}
	if n, _, _, _, _ := h.snapshot(); n != requests {
		t.Errorf("second Close / Run after Close sent %d requests", n-requests)
	}
}

func TestUserNameForms(t *testing.T) {
	for _, user := range []string{`LAB\admin`, `admin@lab.local`, `admin`} {
		t.Run(user, func(t *testing.T) {
			h := newFakeHost(t, nil)
			tg := h.target(t)
			tg.User = user
			_, outs := audit(t, tg)
			checkAuditOutputs(t, outs)
		})
	}
}

func TestRunOutputs(t *testing.T) {
	h := newFakeHost(t, nil)
	ctx := testCtx(t, 20*time.Second)
	r, err := Dialer{}.Dial(ctx, h.target(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	tests := []struct {
		cmd    string
		stdout string
		stderr string
		exit   int
	}{
		{"chunky", "part1 part2 part3\r\n", "", 0},
		{"utf8", "Grüße ß\r\n", "", 0},
		{"nosuch", "", "'nosuch' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", 1},
	}
	for _, tc := range tests {
		out, err := r.Run(ctx, tc.cmd)
		if err != nil {
			t.Fatalf("Run(%q): %v", tc.cmd, err)
		}
		if string(out.Stdout) != tc.stdout || string(out.Stderr) != tc.stderr || out.ExitCode != tc.exit {
			t.Errorf("Run(%q) = %q / %q / %d, want %q / %q / %d", tc.cmd, out.Stdout, out.Stderr, out.ExitCode, tc.stdout, tc.stderr, tc.exit)
		}
	}
	if st := r.(remote.StatsReporter).Stats(); st.Handshakes != 1 {
		t.Errorf("handshakes = %d, want 1", st.Handshakes)
	}
}

func TestReHandshakeAfterDroppedConnection(t *testing.T) {
	h := newFakeHost(t, func(h *fakeHost) { h.closeAfter = 2 }) // drop after the Command reply
	r, outs := audit(t, h.target(t))
	checkAuditOutputs(t, outs)
	_, handshakes, conns, actions, _ := h.snapshot()
	if handshakes != 2 || r.(remote.StatsReporter).Stats().Handshakes != 2 {
		t.Errorf("handshakes = %d, want 2 (initial + one after the drop)", handshakes)
	}
	if conns != 2 {
		t.Errorf("connections = %d, want 2", conns)
	}
	if len(actions) != 7 {
		t.Errorf("actions = %v, want each message processed once", actions)
	}
}

func TestRunContextDeadlineTerminatesCommand(t *testing.T) {
	h := newFakeHost(t, nil)
	ctx := testCtx(t, 20*time.Second)
	r, err := Dialer{}.Dial(ctx, h.target(t))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = r.Run(runCtx, "hang")
	if !errors.Is(err, remote.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run(hang) error = %v, want ErrTimeout wrapping DeadlineExceeded", err)
	}
	h.mu.Lock()
	signaled := len(h.signaled)
	h.mu.Unlock()
	if signaled == 0 {
		t.Error("the timed-out command was not signalled")
	}
	// The runner stays usable, and Close still deletes the shell.
	out, err := r.Run(ctx, "utf8")
	if err != nil || string(out.Stdout) != "Grüße ß\r\n" {
		t.Errorf("Run after timeout = %q, %v", out.Stdout, err)
	}
	if err := r.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	waitDeleted(t, r)
	if n := h.openShells(); n != 0 {
		t.Errorf("%d shells left open", n)
	}
}

func TestCloseWithEndedContextStillDeletes(t *testing.T) {
	h := newFakeHost(t, nil)
	r, err := Dialer{}.Dial(testCtx(t, 20*time.Second), h.target(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = r.Close(ctx)
	waitDeleted(t, r)
	if n := h.openShells(); n != 0 {
		t.Errorf("%d shells left open after Close with a cancelled context", n)
	}
}

func TestCanceledRun(t *testing.T) {
	h := newFakeHost(t, nil)
	ctx := testCtx(t, 20*time.Second)
	r, err := Dialer{}.Dial(ctx, h.target(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	runCtx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = r.Run(runCtx, cmdQuery)
	if !errors.Is(err, context.Canceled) || remote.Kind(err) != "canceled" || remote.Transient(err) {
		t.Errorf("Run with cancelled ctx = %v (kind %q)", err, remote.Kind(err))
	}
}

func TestOperationTimeoutHeader(t *testing.T) {
	h := newFakeHost(t, nil)
	tg := h.target(t)
	tg.Timeout = 10 * time.Second
	_, _ = audit(t, tg)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.lastOpTO != "8" {
		t.Errorf("w:OperationTimeout = PT%sS, want PT8S for a 10 s HTTP timeout", h.lastOpTO)
	}
}

func TestBasicHTTP(t *testing.T) {
	h := newFakeHost(t, func(h *fakeHost) { h.basic = true })
	tg := h.target(t)
	tg.User, tg.Auth, tg.AllowBasicHTTP = "admin", remote.AuthBasic, true
	r, outs := audit(t, tg)
	checkAuditOutputs(t, outs)
	st := r.(remote.StatsReporter).Stats()
	if st.Handshakes != 0 || st.Requests != 7 {
		t.Errorf("basic stats = %+v, want 7 requests and no handshake", st)
	}
}

func TestBasicHTTPRefusedWithoutOptIn(t *testing.T) {
	h := newFakeHost(t, func(h *fakeHost) { h.basic = true })
	tg := h.target(t)
	tg.User, tg.Auth = "admin", remote.AuthBasic
	_, err := Dialer{}.Dial(testCtx(t, 5*time.Second), tg)
	if !errors.Is(err, remote.ErrInvalidTarget) {
		t.Fatalf("err = %v, want ErrInvalidTarget", err)
	}
	if n, _, _, _, _ := h.snapshot(); n != 0 {
		t.Errorf("%d requests sent for an invalid target", n)
	}
}

func TestHTTPSNTLM(t *testing.T) {
	h := newFakeHost(t, func(h *fakeHost) { h.tls = true })
	r, outs := audit(t, h.target(t))
	checkAuditOutputs(t, outs)
	requests, handshakes, conns, _, _ := h.snapshot()
	if requests > 12 || handshakes != 1 || conns != 1 {
		t.Errorf("https: %d requests, %d handshakes, %d connections; want <= 12, 1, 1", requests, handshakes, conns)
	}
	if st := r.(remote.StatsReporter).Stats(); st.Requests != requests || st.Handshakes != 1 {
		t.Errorf("stats %+v, host %d requests", st, requests)
	}
}

func TestHTTPSUntrustedCertificate(t *testing.T) {
	h := newFakeHost(t, func(h *fakeHost) { h.tls = true })
	tg := h.target(t)
	tg.CAFile = ""
	_, err := Dialer{}.Dial(testCtx(t, 5*time.Second), tg)
	if !errors.Is(err, remote.ErrTLS) || remote.Transient(err) {
		t.Fatalf("err = %v, want ErrTLS, not transient", err)
	}
	tg.InsecureSkipVerify = true
	r, err := Dialer{}.Dial(testCtx(t, 5*time.Second), tg)
	if err != nil {
		t.Fatalf("insecure dial: %v", err)
	}
	_ = r.Close(context.Background())
}

func TestHTTPSBasic(t *testing.T) {
	h := newFakeHost(t, func(h *fakeHost) { h.tls, h.basic = true, true })
	tg := h.target(t)
	tg.User, tg.Auth = "admin", remote.AuthBasic
	_, outs := audit(t, tg)
	checkAuditOutputs(t, outs)
}

func TestHTTPSNTLMNeverSendsBasic(t *testing.T) {
	// A host offering only Basic: Azure's Negotiator would fall back to Basic; we refuse.
	var sawBasic bool
	var mu sync.Mutex
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
			sawBasic = true
		}
		mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	tg := targetFor(t, srv.Listener.Addr().String())
	tg.HTTPS, tg.InsecureSkipVerify = true, true
	_, err := Dialer{}.Dial(testCtx(t, 5*time.Second), tg)
	if !errors.Is(err, remote.ErrAuth) {
		t.Errorf("err = %v, want ErrAuth", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if sawBasic {
		t.Error("Basic credentials were sent to an NTLM target")
	}
}

func targetFor(t *testing.T, addr string) remote.Target {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return remote.Target{Host: host, Port: p, User: `LAB\admin`, Password: testPassword, Timeout: 5 * time.Second}
}

// TestDialErrors checks the classification of real failures end to end.
func TestDialErrors(t *testing.T) {
	// A port nobody listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := l.Addr().String()
	l.Close()

	// A listener that accepts (kernel backlog) but never answers.
	black, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer black.Close()

	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("<html>Internal Server Error</html>"))
	}))
	defer html.Close()

	wrongPW := newFakeHost(t, func(h *fakeHost) { h.password = "another-password" })
	denied := newFakeHost(t, func(h *fakeHost) { h.denyCreate = true })
	basicWrong := newFakeHost(t, func(h *fakeHost) { h.basic, h.password = true, "another-password" })

	tests := []struct {
		name string
		tg   remote.Target
		ctx  time.Duration
		want error
	}{
		{"refused", targetFor(t, refused), 5 * time.Second, remote.ErrUnreachable},
		{"blackholed", targetFor(t, black.Addr().String()), 500 * time.Millisecond, remote.ErrTimeout},
		{"500 not SOAP", targetFor(t, html.Listener.Addr().String()), 5 * time.Second, remote.ErrProtocol},
		{"wrong password", wrongPW.target(t), 5 * time.Second, remote.ErrAuth},
		{"access denied fault", denied.target(t), 5 * time.Second, remote.ErrAccessDenied},
		{"basic wrong password", func() remote.Target {
			tg := basicWrong.target(t)
			tg.User, tg.Auth, tg.AllowBasicHTTP = "admin", remote.AuthBasic, true
			return tg
		}(), 5 * time.Second, remote.ErrAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Dialer{}.Dial(testCtx(t, tc.ctx), tc.tg)
			if err == nil {
				_ = r.Close(context.Background())
				t.Fatal("Dial succeeded")
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error contains the password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.tg.String()) {
				t.Errorf("error %q does not name the target", err)
			}
		})
	}
}

func TestWrongPasswordNotRetried(t *testing.T) {
	h := newFakeHost(t, func(h *fakeHost) { h.password = "another-password" })
	_, err := Dialer{}.Dial(testCtx(t, 5*time.Second), h.target(t))
	if !errors.Is(err, remote.ErrAuth) || remote.Transient(err) {
		t.Fatalf("err = %v", err)
	}
	if _, handshakes, _, _, _ := h.snapshot(); handshakes != 1 {
		t.Errorf("%d handshakes for a wrong password, want 1", handshakes)
	}
}

// TestDefaultParametersUnchanged guards pitfall 1 of the reference: dialing must never mutate
// masterzen's package-level DefaultParameters, also when many hosts are dialed concurrently.
func TestDefaultParametersUnchanged(t *testing.T) {
	before := *winrm.DefaultParameters
	ntlmHost := newFakeHost(t, nil)
	basicHost := newFakeHost(t, func(h *fakeHost) { h.basic = true })
	tlsHost := newFakeHost(t, func(h *fakeHost) { h.tls = true })
	basicTarget := basicHost.target(t)
	basicTarget.User, basicTarget.Auth, basicTarget.AllowBasicHTTP = "admin", remote.AuthBasic, true
	targets := []remote.Target{ntlmHost.target(t), basicTarget, tlsHost.target(t)}

	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		tg := targets[i%len(targets)]
		tg.Timeout = time.Duration(5+i) * time.Second
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			r, err := Dialer{Locale: "de-DE"}.Dial(ctx, tg)
			if err != nil {
				t.Errorf("Dial %s: %v", tg, err)
				return
			}
			if _, err := r.Run(ctx, cmdQuery); err != nil {
				t.Errorf("Run %s: %v", tg, err)
			}
			_ = r.Close(ctx)
		}()
	}
	wg.Wait()
	after := *winrm.DefaultParameters
	if after.Timeout != before.Timeout || after.Locale != before.Locale || after.EnvelopeSize != before.EnvelopeSize ||
		after.TransportDecorator != nil || after.Dial != nil {
		t.Errorf("DefaultParameters changed: before %+v, after %+v", before, after)
	}
}

func TestTimeoutDerivation(t *testing.T) {
	tests := []struct {
		http time.Duration
		op   string
	}{
		{60 * time.Second, "PT48S"},
		{120 * time.Second, "PT60S"}, // Windows MaxTimeoutms
		{10 * time.Second, "PT8S"},
		{3 * time.Second, "PT1S"},
		{time.Second, "PT0.500S"},
		{2500 * time.Millisecond, "PT0.500S"},
	}
	for _, tc := range tests {
		if got := isoDuration(operationTimeout(tc.http)); got != tc.op {
			t.Errorf("operationTimeout(%v) = %s, want %s", tc.http, got, tc.op)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if d := exchangeTimeout(ctx, time.Minute); d > 5*time.Second || d < 4*time.Second {
		t.Errorf("exchangeTimeout capped by a 5 s deadline = %v", d)
	}
	if d := exchangeTimeout(context.Background(), 30*time.Second); d != 30*time.Second {
		t.Errorf("exchangeTimeout without deadline = %v", d)
	}
}

func TestInvalidTargets(t *testing.T) {
	tests := []struct {
		name string
		tg   remote.Target
	}{
		{"no host", remote.Target{User: "u", Password: "p"}},
		{"no user", remote.Target{Host: "dc01"}},
		{"bad auth", remote.Target{Host: "dc01", User: "u", Auth: "kerberos"}},
		{"missing CA file", remote.Target{Host: "dc01", User: "u", HTTPS: true, CAFile: "/nonexistent/ca.pem"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Dialer{}.Dial(context.Background(), tc.tg)
			if !errors.Is(err, remote.ErrInvalidTarget) {
				t.Errorf("err = %v, want ErrInvalidTarget", err)
			}
		})
	}
}

// TestReceiveOperationTimeoutPollsAgain: a command that produces no output within
// w:OperationTimeout gets the TimedOut fault (sealed, HTTP 500); masterzen must poll again and
// the output that comes later must be returned without error.
func TestReceiveOperationTimeoutPollsAgain(t *testing.T) {
	h := newFakeHost(t, nil)
	tg := h.target(t)
	tg.Timeout = 3 * time.Second // OperationTimeout PT1S
	ctx := testCtx(t, 20*time.Second)
	r, err := Dialer{}.Dial(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	out, err := r.Run(ctx, "slow")
	if err != nil || string(out.Stdout) != "late\r\n" || out.ExitCode != 0 {
		t.Fatalf("Run(slow) = %q exit %d, %v", out.Stdout, out.ExitCode, err)
	}
	_, _, _, actions, _ := h.snapshot()
	var receives int
	for _, a := range actions {
		if a == "Receive" {
			receives++
		}
	}
	if receives != 3 {
		t.Errorf("%d Receives, want 3 (two timed out, one with output)", receives)
	}
	if st := r.(remote.StatsReporter).Stats(); st.Handshakes != 1 {
		t.Errorf("handshakes = %d, want 1 (faults must not break the NTLM session)", st.Handshakes)
	}
}

func TestHostWithoutSealingRefused(t *testing.T) {
	h := newFakeHost(t, func(h *fakeHost) { h.stripSeal = true })
	_, err := Dialer{}.Dial(testCtx(t, 5*time.Second), h.target(t))
	if !errors.Is(err, remote.ErrProtocol) {
		t.Fatalf("err = %v, want ErrProtocol", err)
	}
	_, _, _, _, wire := h.snapshot()
	for _, b := range wire {
		if len(b) != 0 {
			t.Errorf("a body was sent to a host that would not seal: %q", b[:min(len(b), 80)])
		}
	}
}

// TestWeakNTLMChallengeRefused: a CHALLENGE without 128-bit keys, extended session security or key
// exchange (40/56-bit RC4 sealing) is refused before any credential-derived message or body is sent.
func TestWeakNTLMChallengeRefused(t *testing.T) {
	for _, tc := range []struct {
		clear uint32
		want  string
	}{
		{ntlmFlag128, "128-bit keys"},
		{ntlmFlagESS, "extended session security"},
		{ntlmFlagKeyExch, "key exchange"},
		{ntlmFlag128 | ntlmFlagKeyExch, "128-bit keys, key exchange"},
	} {
		h := newFakeHost(t, func(h *fakeHost) { h.clearFlags = tc.clear })
		_, err := Dialer{}.Dial(testCtx(t, 5*time.Second), h.target(t))
		if !errors.Is(err, remote.ErrProtocol) || !errors.Is(err, errWeakNTLM) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("clear %#x: err = %v, want weak NTLM naming %q", tc.clear, err, tc.want)
		}
		if remote.Transient(err) {
			t.Errorf("weak NTLM must not be retried")
		}
		_, _, _, actions, wire := h.snapshot()
		if len(actions) != 0 {
			t.Errorf("SOAP actions reached the host: %v", actions)
		}
		for _, b := range wire {
			if len(b) != 0 {
				t.Errorf("a body was sent: %q", b[:min(len(b), 80)])
			}
		}
	}
}

func TestIPv6Literal(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	h := newFakeHost(t, nil)
	h.srv.Close()
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Config.ConnContext = h.srv.Config.ConnContext
	srv.Start()
	defer srv.Close()
	tg := targetFor(t, l.Addr().String())
	if tg.Host != "::1" {
		t.Fatalf("host = %q", tg.Host)
	}
	_, outs := audit(t, tg)
	checkAuditOutputs(t, outs)
}

// TestBeforeLogonBeforeAuthenticate: with sealed NTLM the first request is the NEGOTIATE (no
// anonymous request first), and BeforeLogon runs once, after the host answered it with a CHALLENGE
// and before the AUTHENTICATE, the first request that carries credentials. A refusing hook stops
// the Dial before any credentials leave.
func TestBeforeLogonBeforeAuthenticate(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		h := newFakeHost(t, nil)
		tg := h.target(t)
		var calls, seen int
		errGate := errors.New("gate closed")
		tg.BeforeLogon = func(context.Context) error {
			calls++
			seen, _, _, _, _ = h.snapshot()
			if refuse {
				return errGate
			}
			return nil
		}
		r, err := Dialer{}.Dial(testCtx(t, 10*time.Second), tg)
		if refuse {
			if !errors.Is(err, errGate) {
				t.Errorf("refusing hook: Dial = %v, want it to wrap the hook's error", err)
			}
			if n, hs, _, _, _ := h.snapshot(); n != 1 || hs != 1 {
				t.Errorf("refusing hook: host saw %d requests (%d NEGOTIATE), want only the NEGOTIATE", n, hs)
			}
		} else {
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			_ = r.Close(context.Background())
			waitDeleted(t, r)
		}
		if calls != 1 || seen != 1 {
			t.Errorf("refuse=%v: hook called %d times, after %d requests; want once, after the NEGOTIATE", refuse, calls, seen)
		}
	}
}

// TestNoNegotiateOffered: a listener that answers the NEGOTIATE with a 401 offering only Basic is
// an authentication error naming the schemes it offers, after that one request.
func TestNoNegotiateOffered(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("WWW-Authenticate", `Basic realm="WSMAN"`)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	tg := targetFor(t, srv.Listener.Addr().String())
	_, err := Dialer{}.Dial(testCtx(t, 10*time.Second), tg)
	if !errors.Is(err, remote.ErrAuth) || !errors.Is(err, errNoNegotiate) || !strings.Contains(err.Error(), `"Basic"`) {
		t.Errorf("Dial = %v, want ErrAuth: no Negotiate, schemes listed", err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1 (the NEGOTIATE)", n)
	}
}
