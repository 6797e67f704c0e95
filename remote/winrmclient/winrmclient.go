// Package winrmclient implements remote.Dialer and remote.Runner for WinRM.
//
// The requests are the ones github.com/masterzen/winrm builds, written straight into one buffer
// each (request.go; request_test.go compares them with masterzen's byte for byte), and escaped
// where masterzen does not escape; masterzen's Endpoint and Transporter shape the transport, and no
// package-level state of it is touched. This package runs the WinRS exchanges itself (Create,
// Command, Receive until Done, Signal, Delete), parses every reply with its own streaming parser
// (reply.go: depth, size and context bounded, only the elements WinRS replies carry), and owns the
// HTTP layer:
//
//   - NTLM on HTTP (the default path to a domain controller, whose WinRM listener refuses unencrypted
//     bodies): ONE TCP connection per host, ONE NTLM handshake (two empty-body POSTs: NEGOTIATE and
//     AUTHENTICATE, the messages of masterzen's Encryption/bodgit, built by remote/ntlm's Initiator),
//     then every SOAP message sealed with that NTLM session in multipart/encrypted framing (MS-WSMV
//     2.2.9.1.1). masterzen's own Encryption transport repeats the handshake before every message;
//     this one does it once, and once more only if the host answers 401 to a sealed message.
//   - NTLM on HTTPS: the same wire behaviour as masterzen's ClientNTLM (Azure/go-ntlmssp Negotiator)
//     with the target's TLS settings (CA file, server name, insecure).
//   - Basic: credentials on every request; over HTTP only when Target.AllowBasicHTTP.
//
// A full audit of one host over sealed NTLM costs 8 HTTP requests and one handshake on one TCP
// connection: NEGOTIATE and AUTHENTICATE (no anonymous request first), Create, ONE Command carrying
// the registry batch and the endpoint probe (RunInteractive, interactive.go: a Receive of the
// batch's output while PowerShell starts, a Send of the probe script as stdin, a Receive of the
// probe's output), Delete. With two commands (Run twice) it is 9: the first command's terminate
// Signal (MS-WSMV requires it before the next command) and a second Command. The last command gets
// no terminate Signal (the Delete releases it with the shell), and Close does not wait for Delete's
// reply (see Close).
//
// Every reply body is read with a bound (maxBodySize: a few times MaxEnvelopeSize plus framing); a
// longer one is a protocol error for that host.
//
// Every error returned by this package wraps exactly one sentinel of package remote (ErrAuth,
// ErrAccessDenied, ErrUnreachable, ErrTimeout, ErrProtocol, ErrTLS, ErrInvalidTarget) or is a
// context.Canceled error.
// Server-sent text in messages passes through remote/redact (authentication header values, the
// password and their base64 forms removed, excerpts capped), so no message contains the password.
package winrmclient

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptrace"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/masterzen/winrm"

	"github.com/dcproxy/dcproxy/internal/bufpool"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/redact"
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
	// Kerberos shares Kerberos clients (one AS exchange per credential) among the Dials of an audit;
	// nil: every Dial with Kerberos logs on to the KDC on its own.
	Kerberos *krb.Cache
}

var _ remote.LogonHooker = Dialer{}

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
	var ka *kerberosAuth
	loggedOn := false // BeforeLogon already called (before a Kerberos AS exchange)
	if t.IsKerberos() {
		var err error
		if ka, loggedOn, err = d.setupKerberos(ctx, t); err != nil {
			return nil, err
		}
		switch {
		case ka != nil && t.HTTPS:
			mode = modeKerberosTLS
		case ka != nil:
			mode = modeKerberos
		case t.HTTPS: // negotiate fell back to NTLM
			mode = modeNTLMTLS
		default:
			mode = modeSealed
		}
	}
	tr := newTransport(mode, t.User, t.Password, httpTimeout)
	if !loggedOn {
		tr.beforeLogon = t.BeforeLogon
	}
	tr.krb = ka

	locale := d.Locale
	if locale == "" {
		locale = "en-US"
	}

	host := t.Host
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]" // IPv6 literal: the URL is formatted with %s:%d
	}
	ep := winrm.NewEndpoint(host, t.Port, t.HTTPS, t.InsecureSkipVerify, caPEM, nil, nil, httpTimeout)
	ep.TLSServerName = t.TLSServerName
	if err := tr.Transport(ep); err != nil {
		return nil, fmt.Errorf("%s: %w", t, safeError(tr.red, err))
	}

	r := &runner{target: t, tr: tr, req: requestBuilder{
		url: tr.url, timeout: isoDuration(operationTimeout(httpTimeout)), locale: locale, maxSize: envelopeSize,
	}}
	tr.setContext(ctx)
	if err := r.createShell(ctx); err != nil {
		tr.closeIdle()
		if tr.logonErr != nil { // BeforeLogon refused: no credentials were sent
			return nil, fmt.Errorf("%s: logon: %w", t, tr.logonErr)
		}
		return nil, r.wrap(ctx, "create shell", err)
	}
	return r, nil
}

// CallsBeforeLogon implements remote.LogonHooker: Dial calls Target.BeforeLogon just before the
// first request carrying credentials (NTLM: the AUTHENTICATE, after the host answered the
// NEGOTIATE with its CHALLENGE; Kerberos with a password or keytab: before the AS exchange, since
// the KDC counts bad passwords; Kerberos from a ticket cache: before the AP-REQ to the host).
func (Dialer) CallsBeforeLogon() bool { return true }

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

// maxOutput bounds what one command may print (stdout and stderr together, over all its Receives):
// dcproxy's commands print a few KiB; a host streaming without end is a protocol error.
const maxOutput = 16 << 20

// runner is one WinRM shell on one host.
type runner struct {
	target remote.Target
	tr     *transport
	req    requestBuilder

	mu      sync.Mutex // one operation at a time; guards shellID, finished and closed
	shellID string
	closed  bool
	// finished is the CommandId of the last command, Done but not yet terminated: the terminate
	// Signal is sent before the next Command (MS-WSMV 3.1.4.12: "the client MUST send this before a
	// new command can be executed"), or never when the shell is deleted first.
	finished string
	// deleted is closed when the background Delete of Close has ended (reply, error or timeout) and
	// the connection is dropped; nil before Close.
	deleted chan struct{}
}

var (
	_ remote.Runner        = (*runner)(nil)
	_ remote.StatsReporter = (*runner)(nil)
)

// errClosed is returned by Run after Close.
var errClosed = errors.New("runner is closed")

// exchange sends one WinRS request (request.go) and parses the reply. Transport errors and
// faults come back as the transport reports them (an *HTTPError for a fault); a reply that does not
// parse wraps remote.ErrProtocol.
func (r *runner) exchange(ctx context.Context, req request) (*wsReply, error) {
	return r.exchangeAppend(ctx, req, nil, nil)
}

// exchangeAppend is exchange decoding the reply's streams onto stdout and stderr
// (parseReplyAppend).
func (r *runner) exchangeAppend(ctx context.Context, req request, stdout, stderr []byte) (*wsReply, error) {
	raw, buf, err := r.tr.post(req)
	defer bufpool.Put(buf) // the parsed reply keeps no part of raw
	if err != nil {
		return nil, err
	}
	return parseReplyAppend(ctx, raw, stdout, stderr)
}

// createShell sends Create; a reply without a ShellId is a protocol error, not a shell named "".
func (r *runner) createShell(ctx context.Context) error {
	rep, err := r.exchange(ctx, r.req.createShell())
	if err != nil {
		return err
	}
	if rep.ShellID == "" {
		return fmt.Errorf("%w: create shell reply has no ShellId", remote.ErrProtocol)
	}
	r.shellID = rep.ShellID
	return nil
}

// Run executes commandLine through cmd.exe in the shell and returns its raw output (code page
// 65001) and exit code. No stdin is sent. Receive is repeated until the command is Done (an
// OperationTimeout fault just means "no output yet"). The finished command is terminated (Signal)
// just before the next Command of the shell, not after its own output: the shell's last command
// needs no Signal because Close deletes the shell. If ctx ends first, or the output fails, the
// command is terminated at once and the error is returned (the context's wraps remote.ErrTimeout
// for a deadline).
func (r *runner) Run(ctx context.Context, commandLine string) (remote.Output, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmdID, err := r.startCommand(ctx, commandLine)
	if err != nil {
		return remote.Output{}, err
	}
	var out remote.Output
	for {
		done, err := r.receive(ctx, cmdID, &out)
		if err != nil {
			return out, err
		}
		if done {
			break
		}
	}
	// The output is complete. The terminate Signal is owed (MS-WSMV 3.1.4.14: "a final Signal
	// message MUST also be issued for the command after all the stream data has been received")
	// but only matters to a later Command of this shell, so it is sent with it; Delete releases the
	// shell with its finished commands (every real capture in pypsrp's tests/responses deletes a
	// shell whose Done command never got a terminate, only a ctrl_c; unverified: that Windows also
	// deletes it without any Signal at all, which no capture shows).
	r.finished = cmdID
	return out, nil
}

// startCommand starts commandLine in the shell (Command) and returns its CommandId, after the
// previous command's terminate Signal if one is owed. r.mu must be held. Errors are Run's.
func (r *runner) startCommand(ctx context.Context, commandLine string) (string, error) {
	if r.closed || r.shellID == "" {
		return "", fmt.Errorf("%s: run: %w", r.target, errClosed)
	}
	if err := ctx.Err(); err != nil {
		return "", ctxError(r.target, "run", err)
	}
	r.tr.setContext(ctx)
	if r.finished != "" {
		// The previous command's terminate, owed before a new Command (MS-WSMV 3.1.4.12).
		r.signal(r.finished)
		r.finished = ""
	}
	rep, err := r.exchange(ctx, r.req.command(r.shellID, commandLine))
	if err != nil {
		return "", r.wrap(ctx, "command", err)
	}
	if rep.CommandID == "" {
		return "", r.wrap(ctx, "command", fmt.Errorf("%w: command reply has no CommandId", remote.ErrProtocol))
	}
	return rep.CommandID, nil
}

// receive polls the command's output once and appends it to out. done reports the command's end
// (out.ExitCode is then set); an OperationTimeout fault just means no output yet (done false, no
// error). On an error the command has been terminated and the error is the one Run returns.
func (r *runner) receive(ctx context.Context, cmdID string, out *remote.Output) (done bool, err error) {
	if ctx.Err() != nil {
		r.signal(cmdID)
		return false, ctxError(r.target, "run", ctx.Err())
	}
	rep, err := r.exchangeAppend(ctx, r.req.receive(r.shellID, cmdID), out.Stdout, out.Stderr)
	if err != nil {
		if ctx.Err() == nil && isOperationTimeout(err) {
			return false, nil // no output within w:OperationTimeout: poll again
		}
		r.signal(cmdID)
		return false, r.wrap(ctx, "receive", err)
	}
	out.Stdout, out.Stderr = rep.Stdout, rep.Stderr
	if len(out.Stdout)+len(out.Stderr) > maxOutput {
		r.signal(cmdID)
		return false, r.wrap(ctx, "receive", fmt.Errorf("%w: command output exceeds %d bytes", remote.ErrProtocol, maxOutput))
	}
	if rep.Done {
		out.ExitCode = rep.ExitCode
	}
	return rep.Done, nil
}

// signal terminates a command. It is sent even after the operation context ended (the transport
// gives cleanup messages a short budget of their own); its outcome does not matter to the caller.
func (r *runner) signal(cmdID string) {
	_, _ = r.exchange(context.Background(), r.req.signal(r.shellID, cmdID))
}

// isOperationTimeout reports the TimedOut fault with which a Receive long-poll ends without output.
func isOperationTimeout(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && isSOAP(he.ContentType) && he.fault().timedOut()
}

// Close deletes the shell and drops the connection. It is safe to call more than once; only the
// first call talks to the host. It does not wait for Delete's reply: it returns once the Delete
// request has been written to the connection (or ctx ended, or the write failed), and the reply is
// read in the background, bounded by cleanupTimeout whatever ctx does; the connection is closed by
// this client after that (so that TIME_WAIT lands on the client side, see BENCHMARKS.md). A failed
// Delete is therefore not reported: the shell is then left to the host's IdleTimeout, as after a
// lost connection. unverified: that Windows completes a Delete whose connection the client closed
// before the reply (when the process exits right after Close); HTTP.sys has the whole request by
// then, and winsim completes it.
func (r *runner) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.finished = ""
	if r.shellID == "" {
		r.tr.closeIdle()
		return nil
	}
	written := make(chan struct{})
	var once sync.Once
	wrote := func() { once.Do(func() { close(written) }) }
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	dctx = httptrace.WithClientTrace(dctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { wrote() },
	})
	r.tr.setContext(dctx)
	msg := r.req.deleteShell(r.shellID)
	r.shellID = ""
	r.deleted = make(chan struct{})
	go func() {
		defer close(r.deleted)
		defer r.tr.closeIdle()
		defer cancel()
		defer wrote()
		_, _ = r.exchange(dctx, msg)
	}()
	select {
	case <-written:
	case <-ctx.Done():
	}
	return nil
}

// Stats reports the HTTP requests, NTLM handshakes and reply wait time caused so far. It is safe
// to call concurrently with Run.
func (r *runner) Stats() remote.Stats { return r.tr.stats() }

// wrap classifies err, prefixes the target and operation, and redacts the message (server-sent
// text may quote credentials).
func (r *runner) wrap(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, remote.ErrAuth) {
		return ctxError(r.target, op, ctxErr)
	}
	return safeError(r.tr.red, fmt.Errorf("%s: %s: %w", r.target, op, classify(err)))
}

// maxErrorMessage caps an error message that quotes server text (net/http quotes the bytes of a
// malformed status line, faults quote reasons).
const maxErrorMessage = 600

// safeError returns err with its message redacted (credentials the server may echo) and capped;
// the chain is kept for errors.Is/As.
func safeError(red *redact.Redactor, err error) error {
	msg := err.Error()
	safe := red.String(msg)
	if len(safe) > maxErrorMessage {
		safe = redact.Excerpt(safe, maxErrorMessage)
	}
	if safe == msg {
		return err
	}
	return &redactedError{msg: safe, err: err}
}

// redactedError is an error whose message was redacted; it unwraps to the original.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// ctxError reports that the caller's context ended: remote.ErrTimeout for a deadline, the bare
// context.Canceled otherwise.
func ctxError(t remote.Target, op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %s: %w: %w", t, op, remote.ErrTimeout, err)
	}
	return fmt.Errorf("%s: %s: %w", t, op, err)
}
