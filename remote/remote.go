// Package remote is dcproxy's view of a Windows host: a Runner that executes command lines over one
// WinRM shell, a Dialer that opens Runners, the connection settings of a Target, and the sentinel
// errors that classify transport failures.
//
// remote imports nothing else from the project; fleet builds on it, and remote/winrmclient implements it.
package remote

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors classify why a host could not be checked. Transport errors wrap exactly one of
// them (with %w) so that callers branch with errors.Is and reports can name the kind.
var (
	// ErrAuth: the host refused the credentials (HTTP 401). Never retried.
	ErrAuth = errors.New("authentication failed")
	// ErrAccessDenied: the account logged on but lacks the rights to use WinRM on the host (a WS-Man
	// access-denied fault). Not ErrAuth: the password was right, so it never counts for the lockout
	// protection. Never retried.
	ErrAccessDenied = errors.New("access denied: the account logged on but lacks the rights to use WinRM on this host")
	// ErrUnreachable: no TCP connection or TLS session could be established, or the connection broke.
	ErrUnreachable = errors.New("host unreachable")
	// ErrTimeout: the host accepted the connection but did not answer in time.
	ErrTimeout = errors.New("timed out")
	// ErrProtocol: the host answered, but not as a WinRM service would (bad content type, bad XML, HTTP 5xx).
	ErrProtocol = errors.New("unexpected reply")
	// ErrTLS: the TLS session failed: the host's certificate did not verify (unknown CA, wrong name,
	// expired) or the handshake was refused. A configuration problem: never retried.
	ErrTLS = errors.New("TLS failed")
)

// Specific is implemented by errors whose own text already names the exact cause (a Kerberos
// refusal: "clock skew too great", "pre-authentication failed"): a report keeps that text instead of
// the generic summary of the error's kind.
type Specific interface{ Specific() bool }

// Kind names the class of err for reports: "auth", "rights", "tls", "unreachable", "timeout", "protocol", "canceled"
// or "error".
func Kind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrAuth):
		return "auth"
	case errors.Is(err, ErrAccessDenied):
		return "rights"
	case errors.Is(err, ErrTLS):
		return "tls"
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, ErrUnreachable):
		return "unreachable"
	case errors.Is(err, ErrProtocol):
		return "protocol"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return "error"
	}
}

// Transient reports whether a retry with backoff may succeed: unreachable hosts and broken connections.
// Authentication failures, protocol errors and cancellations are never transient.
func Transient(err error) bool {
	return err != nil && errors.Is(err, ErrUnreachable) && !errors.Is(err, ErrAuth) && !errors.Is(err, ErrTLS) &&
		!errors.Is(err, context.Canceled)
}

// Output is what one command printed and its exit code. Stdout and Stderr are the raw bytes the host
// sent (in the shell's code page, 65001 = UTF-8 for dcproxy).
type Output struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Runner executes command lines on one host through one WinRM shell (cmd.exe semantics).
//
// A Runner is used by one goroutine at a time; the engine never shares it across hosts. A non-zero
// exit code is reported in Output, not as an error; err is a transport failure wrapping one of the
// sentinel errors above or a context error. Close deletes the shell; it is safe to call more than once.
type Runner interface {
	Run(ctx context.Context, commandLine string) (Output, error)
	Close(ctx context.Context) error
}

// Stats counts the work a Runner caused on the wire, for benchmarks and the report.
type Stats struct {
	Requests   int           // HTTP requests sent
	Handshakes int           // NTLM handshakes started
	Wait       time.Duration // time spent waiting for HTTP responses
}

// StatsReporter is implemented by Runners that count their requests.
type StatsReporter interface {
	Stats() Stats
}

// Dialer opens a Runner for a target: it authenticates and creates the WinRM shell. It must be safe
// for concurrent use and must not mutate package-level state (winrm.DefaultParameters in particular).
type Dialer interface {
	Dial(ctx context.Context, t Target) (Runner, error)
}

// Auth methods a Target can use.
const (
	AuthNTLM  = "ntlm"  // NTLM; sealed (message encryption) on HTTP, plain inside TLS on HTTPS
	AuthBasic = "basic" // Basic: only local accounts; over HTTP only when explicitly allowed
)

// Target is everything needed to reach one host. String never includes the password.
type Target struct {
	Host     string // name or address to connect to
	Port     int    // 0 = 5985 (HTTP) or 5986 (HTTPS)
	HTTPS    bool
	Auth     string // AuthNTLM (default), AuthBasic, AuthNegotiate or AuthKerberos
	User     string // DOMAIN\user, user@domain or user
	Password string `json:"-"`
	// CAFile is a PEM bundle to verify the HTTPS certificate with (system roots when empty).
	CAFile             string
	TLSServerName      string
	InsecureSkipVerify bool
	// AllowBasicHTTP must be set to send Basic credentials over plain HTTP.
	AllowBasicHTTP bool
	// Timeout bounds each HTTP exchange; the caller's context bounds the whole host.
	Timeout time.Duration
	// Kerberos holds the Kerberos settings used with Auth negotiate or kerberos (kerberos.go).
	Kerberos KerberosTarget
	// BeforeLogon, when set, is called by a Dialer that honours it (see LogonHooker) at most once
	// per Dial, just before the first request that carries credentials: for NTLM before the
	// AUTHENTICATE, once the connection (TCP, TLS) is up and the host has answered the NEGOTIATE
	// with its CHALLENGE, for Basic
	// (whose credentials ride on the first request) after nothing. A host that never answers
	// therefore never reaches it. When it returns an error the Dialer sends no credentials and
	// Dial fails with an error wrapping it. Whoever set it learns the outcome of the logon from
	// Dial's result. A Dialer that uses the credentials before its first request (a Kerberos AS
	// exchange with a KDC counts bad passwords too) must call it before that. The gated dialer
	// (NewGatedDialer) sets it.
	BeforeLogon func(ctx context.Context) error `json:"-"`
}

// LogonHooker is implemented by Dialers that call Target.BeforeLogon. A Dialer that does not
// implement it is gated around its whole Dial instead (see NewGatedDialer).
type LogonHooker interface {
	Dialer
	// CallsBeforeLogon reports whether Dial calls Target.BeforeLogon before sending credentials.
	CallsBeforeLogon() bool
}

// ErrInvalidTarget is wrapped by Target.Validate errors.
var ErrInvalidTarget = errors.New("invalid target")

// SetDefaults fills the port and auth method.
func (t *Target) SetDefaults() {
	if t.Port == 0 {
		t.Port = 5985
		if t.HTTPS {
			t.Port = 5986
		}
	}
	if t.Auth == "" {
		t.Auth = AuthNTLM
	}
	if t.Timeout == 0 {
		t.Timeout = 60 * time.Second
	}
}

// Validate reports a configuration that cannot work or would be unsafe; a host that cannot be put
// in a URL as it is is refused (see CheckHost).
func (t Target) Validate() error {
	if err := CheckHost(t.Host); err != nil {
		return err
	}
	switch {
	case t.Port < 1 || t.Port > 65535:
		return fmt.Errorf("%w: %s: port %d out of range", ErrInvalidTarget, t.Host, t.Port)
	case t.User == "" && !t.userOptional():
		return fmt.Errorf("%w: %s: no user", ErrInvalidTarget, t.Host)
	case !knownAuth(t.Auth):
		return fmt.Errorf("%w: %s: unknown auth %q (want negotiate, kerberos, ntlm or basic)", ErrInvalidTarget, t.Host, t.Auth)
	case t.Auth == AuthBasic && !t.HTTPS && !t.AllowBasicHTTP:
		return fmt.Errorf("%w: %s: basic auth over plain HTTP sends the password in clear; use HTTPS or allow it explicitly", ErrInvalidTarget, t.Host)
	}
	return t.validateKerberos()
}

// String returns scheme://host:port (see Addr) without credentials.
func (t Target) String() string {
	scheme := "http"
	if t.HTTPS {
		scheme = "https"
	}
	return scheme + "://" + t.Addr()
}
