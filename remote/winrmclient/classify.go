package winrmclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/redact"
)

// Bounds on a reply body kept in an HTTPError (for fault parsing) and on server text quoted in its
// message (characters).
const (
	maxErrorBody  = 64 << 10
	maxQuotedBody = redact.DefaultExcerpt
)

// HTTPError is a reply from the host that is not a successful WinRM answer: a non-200 status, or a
// 200 whose content type is not SOAP. A non-SOAP reply says "invalid content type"; a WS-Man fault
// is summarised by its codes and reason, and a timed-out operation always says "OperationTimeout"
// (also when the host localised the fault text). Server text in the message is redacted (see
// remote/redact) and capped.
type HTTPError struct {
	StatusCode  int
	ContentType string
	// Body is the (decrypted) reply body, truncated to 64 KiB; empty unless it was SOAP. It may
	// quote credentials: never print it, use Error.
	Body string

	red *redact.Redactor // nil: header values are still stripped

	parseOnce sync.Once // the Body's fault is parsed once, however often it is asked for
	flt       *wsFault
}

// Error implements error.
func (e *HTTPError) Error() string {
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		// Windows answers a Basic logon of an account without rights with the same 401 as a wrong
		// password (fidelity D2): the client cannot tell them apart.
		return "http 401: credentials refused (wrong user name or password, or the account lacks the rights to use WinRM on this host)"
	case !isSOAP(e.ContentType):
		ct := e.ContentType
		if ct == "" {
			ct = "none"
		}
		return e.red.String(fmt.Sprintf("http %d: invalid content type %q", e.StatusCode, redact.Excerpt(ct, 80)))
	}
	f := e.fault()
	if f == nil {
		return fmt.Sprintf("http error %d: %s", e.StatusCode, e.red.Excerpt(e.Body, maxQuotedBody))
	}
	msg := fmt.Sprintf("http error %d: wsman fault", e.StatusCode)
	if f.WSManCode != "" {
		msg += " " + f.WSManCode
	}
	if f.Subcode != "" {
		msg += " (" + f.Subcode + ")"
	}
	if f.timedOut() {
		msg += " OperationTimeout"
	}
	text := f.Reason
	if text == "" {
		text = f.Message
	}
	if text != "" {
		msg += ": " + text
	}
	if f.Provider != "" {
		msg += " [provider " + f.Provider + "]"
	}
	return e.red.Excerpt(msg, maxQuotedBody)
}

// fault parses Body as a SOAP fault; nil when it is not one. Body is at most 64 KiB and the parser
// bounds depth, so this is cheap even for a hostile body.
func (e *HTTPError) fault() *wsFault {
	e.parseOnce.Do(func() {
		if e.Body == "" {
			return
		}
		if rep, err := parseReply(context.Background(), []byte(e.Body)); err == nil {
			e.flt = rep.Fault
		}
	})
	return e.flt
}

// connectError marks a failure before any HTTP connection to the host was established (TCP dial or
// TLS handshake): the host is unreachable even if the underlying error is a timeout.
type connectError struct{ err error }

func (e *connectError) Error() string { return e.err.Error() }
func (e *connectError) Unwrap() error { return e.err }

// terseURLError drops net/http's `Post "URL": ` prefix from a message: the caller already names the
// target. It unwraps to the *url.Error, so errors.As still finds it.
type terseURLError struct{ err *url.Error }

func (e terseURLError) Error() string { return e.err.Err.Error() }
func (e terseURLError) Unwrap() error { return e.err }

// errNoNegotiate is returned when an NTLM target does not offer the Negotiate scheme.
var errNoNegotiate = errors.New("host does not offer Negotiate authentication")

func isSOAP(contentType string) bool {
	return strings.Contains(strings.ToLower(contentType), "application/soap+xml")
}

// classify maps a transport or protocol failure to exactly one sentinel of package remote and
// returns fmt.Errorf("%w: %w", sentinel, err). Errors that already carry a sentinel are returned
// unchanged; context.Canceled is returned without a sentinel (remote.Kind reports "canceled").
//
// Order matters: authentication first (a 401 is never retried), then context deadlines (the
// caller's budget ran out: timeout), then connection-establishment failures (unreachable, even when
// the dialer's own timeout fired), then other timeouts, then broken connections, then everything
// else the host said that was not WinRM (protocol).
func classify(err error) error {
	if err == nil {
		return nil
	}
	for _, s := range []error{remote.ErrAuth, remote.ErrAccessDenied, remote.ErrTLS, remote.ErrUnreachable, remote.ErrTimeout, remote.ErrProtocol, remote.ErrInvalidTarget} {
		if errors.Is(err, s) {
			return err
		}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	sentinel := sentinelFor(err)
	if ue, ok := err.(*url.Error); ok {
		err = terseURLError{ue}
	}
	return fmt.Errorf("%w: %w", sentinel, err)
}

func sentinelFor(err error) error {
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.StatusCode == http.StatusUnauthorized, he.StatusCode == http.StatusForbidden:
			return remote.ErrAuth
		case isSOAP(he.ContentType) && rightsRefused(he.fault()):
			return remote.ErrAccessDenied
		case isSOAP(he.ContentType) && he.fault().timedOut():
			return remote.ErrTimeout
		default:
			return remote.ErrProtocol
		}
	}
	if errors.Is(err, errNoNegotiate) {
		return remote.ErrAuth
	}
	// Certificate problems first: they are configuration, not a network hiccup, and must not be retried.
	if isCertFailure(err) {
		return remote.ErrTLS
	}
	var recErr tls.RecordHeaderError
	if errors.As(err, &recErr) {
		return remote.ErrProtocol // not TLS at all on that port (e.g. plain HTTP on 5986)
	}
	// A failure while connecting means unreachable, even when it was the dialer's connect timeout (which
	// reports itself as DeadlineExceeded): a powered-off DC must be retried like a refused one. The
	// caller's own deadline is handled before classify (runner.wrap).
	var ce *connectError
	if errors.As(err, &ce) {
		if isTLSFailure(err) {
			return remote.ErrTLS
		}
		return remote.ErrUnreachable
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return remote.ErrTimeout
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return remote.ErrUnreachable
	}
	if isTLSFailure(err) {
		return remote.ErrTLS
	}
	if errors.Is(err, syscall.ETIMEDOUT) {
		return remote.ErrTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return remote.ErrTimeout
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return remote.ErrUnreachable
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return remote.ErrUnreachable
	}
	return remote.ErrProtocol
}

// hresultAccessDenied is E_ACCESSDENIED (0x80070005) as a WSManFault Code.
const hresultAccessDenied = "2147942405"

// rightsRefused recognises the faults of a host that authenticated the account but refuses it the
// rights to use WinRM (fidelity D2): WSManFault Code 5 (w:AccessDenied, "WSMAN ERROR CODE: 5"), and
// s:Receiver / w:InternalError with Code 2147942405 "Access is denied." ("Zugriff verweigert" on a
// German host). The codes are locale independent; the English reason is matched as well.
func rightsRefused(f *wsFault) bool {
	return f.accessDenied() || f != nil && f.WSManCode == hresultAccessDenied
}

// isCertFailure reports a certificate that did not verify (unknown CA, wrong name, expired).
func isCertFailure(err error) bool {
	var (
		verifErr *tls.CertificateVerificationError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &verifErr) || errors.As(err, &unkAuth) || errors.As(err, &hostErr) || errors.As(err, &invalid)
}

func isTLSFailure(err error) bool {
	var (
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		verifErr *tls.CertificateVerificationError
		unkAuth  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	return errors.As(err, &recErr) || errors.As(err, &alertErr) || errors.As(err, &verifErr) ||
		errors.As(err, &unkAuth) || errors.As(err, &hostErr) || errors.As(err, &invalid) ||
		strings.Contains(err.Error(), "tls: ")
}
