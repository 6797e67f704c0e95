// Package winrmclient implements remote.Dialer and remote.Runner on top of github.com/masterzen/winrm.
//
// masterzen builds and parses the WS-Man/WinRS messages; this package owns the HTTP layer through its
// own winrm.Transporter:
//
//   - NTLM on HTTP (the default path to a domain controller, whose WinRM listener refuses unencrypted
//     bodies): ONE TCP connection per host, ONE NTLM handshake (three empty-body POSTs, as masterzen's
//     Encryption/bodgit do on the wire), then every SOAP message sealed with that NTLM session in
//     multipart/encrypted framing (MS-WSMV 2.2.9.1.1). masterzen's own Encryption transport repeats
//     the handshake before every message; this one does it once, and once more only if the host
//     answers 401 to a sealed message.
//   - NTLM on HTTPS: the same wire behaviour as masterzen's ClientNTLM (Azure/go-ntlmssp Negotiator)
//     with the target's TLS settings (CA file, server name, insecure).
//   - Basic: credentials on every request; over HTTP only when Target.AllowBasicHTTP.
//
// A full audit of one host (Create, two commands with their Receives and Signals, Delete) over
// sealed NTLM costs 11 HTTP requests and one handshake.
//
// Every error returned by this package wraps exactly one sentinel of package remote (ErrAuth,
// ErrUnreachable, ErrTimeout, ErrProtocol, ErrInvalidTarget) or is a context.Canceled error, and never
// contains the password.
package winrmclient

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/masterzen/winrm"

	"github.com/dcproxy/dcproxy/remote"
)

// Protocol limits.
const (
	// envelopeSize is w:MaxEnvelopeSize (masterzen's default, 150 KiB).
	envelopeSize = 153600
	// maxOperationTimeout is Windows' default MaxTimeoutms: a longer w:OperationTimeout is refused.
	maxOperationTimeout = 60 * time.Second
	// minHTTPTimeout keeps a nearly expired context from producing a useless sub-second exchange budget.
	minHTTPTimeout = time.Second
	// connectTimeout bounds one TCP connect: a powered-off DC answers nothing.
	connectTimeout = 10 * time.Second
)

// Dialer opens WinRM Runners. The zero value is ready to use; it is safe for concurrent use and
// never touches package-level state of masterzen/winrm (each target gets its own Parameters).
type Dialer struct {
	// Locale is sent as w:Locale and p:DataLocale; "en-US" when empty.
	Locale string
}

var _ remote.Dialer = Dialer{}

// Dial validates t, authenticates and creates one WinRM shell (cmd) on the host. ctx bounds the
// whole exchange; the remaining time of its deadline also caps the per-exchange HTTP timeout.
// Errors wrap remote.ErrInvalidTarget for a bad target, or one of remote's transport sentinels.
func (d Dialer) Dial(ctx context.Context, t remote.Target) (remote.Runner, error) {
	t.SetDefaults()
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(t, "dial", err)
	}
	var caPEM []byte
	if t.CAFile != "" {
		b, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: read CA file: %w", remote.ErrInvalidTarget, t, err)
		}
		caPEM = b
	}

	httpTimeout := exchangeTimeout(ctx, t.Timeout)
	mode := modeBasic
	if t.Auth == remote.AuthNTLM {
		mode = modeSealed
		if t.HTTPS {
			mode = modeNTLMTLS
		}
	}
	tr := newTransport(mode, t.User, t.Password, httpTimeout)

	locale := d.Locale
	if locale == "" {
		locale = "en-US"
	}
	params := winrm.NewParameters(isoDuration(operationTimeout(httpTimeout)), locale, envelopeSize)
	params.TransportDecorator = func() winrm.Transporter { return tr }

	host := t.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]" // IPv6 literal: masterzen formats the URL with %s:%d
	}
	ep := winrm.NewEndpoint(host, t.Port, t.HTTPS, t.InsecureSkipVerify, caPEM, nil, nil, httpTimeout)
	ep.TLSServerName = t.TLSServerName

	client, err := winrm.NewClientWithParameters(ep, t.User, t.Password, params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", t, redact(err, t.Password))
	}

	r := &runner{target: t, client: client, tr: tr}
	tr.setContext(ctx)
	if err := r.createShell(); err != nil {
		tr.closeIdle()
		return nil, r.wrap(ctx, "create shell", err)
	}
	return r, nil
}

// exchangeTimeout is the per-HTTP-exchange budget: the target's timeout, capped by what is left of
// the context's deadline.
func exchangeTimeout(ctx context.Context, d time.Duration) time.Duration {
	if d <= 0 {
		d = 60 * time.Second
	}
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left < d {
			d = max(left, minHTTPTimeout)
		}
	}
	return d
}

// operationTimeout is w:OperationTimeout: a bit below the HTTP timeout so that a Receive long-poll
// is answered (with output or the TimedOut fault) before the HTTP client gives up, and never above
// Windows' MaxTimeoutms.
func operationTimeout(httpTimeout time.Duration) time.Duration {
	margin := max(httpTimeout/5, 2*time.Second)
	op := httpTimeout - margin
	if op < 500*time.Millisecond {
		op = httpTimeout / 2
	}
	return min(op, maxOperationTimeout).Round(time.Millisecond)
}

// isoDuration formats d as an xs:duration in seconds ("PT48S", "PT0.500S").
func isoDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("PT%dS", d/time.Second)
	}
	return fmt.Sprintf("PT%.3fS", d.Seconds())
}

// runner is one WinRM shell on one host.
type runner struct {
	target remote.Target
	client *winrm.Client
	tr     *transport

	mu     sync.Mutex // one operation at a time; guards shell
	shell  *winrm.Shell
	closed bool
}

var (
	_ remote.Runner        = (*runner)(nil)
	_ remote.StatsReporter = (*runner)(nil)
)

// errClosed is returned by Run after Close.
var errClosed = errors.New("runner is closed")

// createShell is client.CreateShell plus a check masterzen lacks: a reply without a ShellId
// selector is a protocol error, not a shell named "".
func (r *runner) createShell() error {
	req := winrm.NewOpenShellRequest(r.tr.url, &r.client.Parameters)
	defer req.Free()
	resp, err := r.tr.Post(r.client, req)
	if err != nil {
		return err
	}
	id, err := winrm.ParseOpenShellResponse(resp)
	if err != nil {
		return fmt.Errorf("%w: create shell reply: %w", remote.ErrProtocol, err)
	}
	if id == "" {
		return fmt.Errorf("%w: create shell reply has no ShellId selector", remote.ErrProtocol)
	}
	r.shell = r.client.NewShell(id)
	return nil
}

// Run executes commandLine through cmd.exe in the shell and returns its raw output (code page
// 65001) and exit code. No stdin is sent. If ctx ends first, the command is terminated (Signal) and
// the context's error is returned (wrapping remote.ErrTimeout for a deadline).
func (r *runner) Run(ctx context.Context, commandLine string) (remote.Output, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.shell == nil {
		return remote.Output{}, fmt.Errorf("%s: run: %w", r.target, errClosed)
	}
	if err := ctx.Err(); err != nil {
		return remote.Output{}, ctxError(r.target, "run", err)
	}
	r.tr.setContext(ctx)
	cmd, err := r.shell.ExecuteWithContext(ctx, commandLine)
	if err != nil {
		var ece *winrm.ExecuteCommandError
		if errors.As(err, &ece) {
			err = fmt.Errorf("%w: command reply: %w", remote.ErrProtocol, ece.Inner)
		}
		return remote.Output{}, r.wrap(ctx, "command", err)
	}
	signalsBefore := r.tr.signals.Load()

	var stdout, stderr bytes.Buffer
	var outErr, errErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _, outErr = io.Copy(&stdout, cmd.Stdout) }()
	go func() { defer wg.Done(); _, errErr = io.Copy(&stderr, cmd.Stderr) }()
	cmd.Wait()
	wg.Wait()

	out := remote.Output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), ExitCode: cmd.ExitCode()}
	if ctx.Err() != nil {
		// masterzen signals on cancellation only when it noticed it before the Receive failed.
		if r.tr.signals.Load() == signalsBefore {
			_ = cmd.Close()
		}
		return out, ctxError(r.target, "run", ctx.Err())
	}
	if err := cmp.Or(outErr, errErr); err != nil {
		return out, r.wrap(ctx, "receive", err)
	}
	// Terminate the finished command, as masterzen's Run* helpers do; the output is complete, so a
	// failure here is not the command's failure.
	_ = cmd.Close()
	return out, nil
}

// Close deletes the shell and drops the connection. It is safe to call more than once; only the
// first call talks to the host. If ctx has already ended, the Delete still gets a short budget.
func (r *runner) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	defer r.tr.closeIdle()
	if r.shell == nil {
		return nil
	}
	r.tr.setContext(ctx)
	err := r.shell.Close()
	r.shell = nil
	if err != nil {
		return r.wrap(ctx, "delete shell", err)
	}
	return nil
}

// Stats reports the HTTP requests, NTLM handshakes and reply wait time caused so far. It is safe
// to call concurrently with Run.
func (r *runner) Stats() remote.Stats { return r.tr.stats() }

// wrap classifies err, prefixes the target and operation, and removes the password.
func (r *runner) wrap(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, remote.ErrAuth) {
		return ctxError(r.target, op, ctxErr)
	}
	return redact(fmt.Errorf("%s: %s: %w", r.target, op, classify(err)), r.target.Password)
}

// ctxError reports that the caller's context ended: remote.ErrTimeout for a deadline, the bare
// context.Canceled otherwise.
func ctxError(t remote.Target, op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s: %w: %w", t, op, remote.ErrTimeout, err)
	}
	return fmt.Errorf("%s: %s: %w", t, op, err)
}
