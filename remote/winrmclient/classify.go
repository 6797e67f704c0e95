package winrmclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/dcproxy/dcproxy/remote"
)

// Bounds on a reply body kept in an HTTPError (for fault parsing) and quoted in its message.
const (
	maxErrorBody  = 64 << 10
	maxQuotedBody = 512
)

// HTTPError is a reply from the host that is not a successful WinRM answer: a non-200 status, or a
// 200 whose content type is not SOAP. A non-SOAP reply says "invalid content type" (masterzen's
// wording); a WS-Man fault is summarised by its codes and reason, and a timed-out operation always
// says "OperationTimeout", because masterzen's Receive loop polls again on exactly that word (also
// when the host localised the fault text).
type HTTPError struct {
	StatusCode  int
	ContentType string
	// Body is the (decrypted) reply body, truncated to 64 KiB; empty unless it was SOAP.
	Body string
}

// Error implements error.
func (e *HTTPError) Error() string {
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		return "http 401: credentials refused"
	case !isSOAP(e.ContentType):
		ct := e.ContentType
		if ct == "" {
			ct = "none"
		}
		return fmt.Sprintf("http %d: invalid content type %q", e.StatusCode, ct)
	}
	f, ok := parseFault(e.Body)
	if !ok {
		return fmt.Sprintf("http error %d: %s", e.StatusCode, e.Body[:min(len(e.Body), maxQuotedBody)])
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
	if f.Reason != "" {
		msg += ": " + f.Reason
	}
	return msg
}

// soapFault is the interesting part of a SOAP 1.2 fault with a WSManFault detail.
type soapFault struct {
	Code, Subcode, Reason, WSManCode string
}

func (f soapFault) timedOut() bool {
	return f.WSManCode == "2150858793" || strings.HasSuffix(f.Subcode, ":TimedOut") || f.Subcode == "TimedOut"
}

// parseFault extracts the codes and reason of a SOAP fault; ok is false when body is not one.
// Namespace prefixes are ignored (only local names are matched), as Windows' prefixes vary.
func parseFault(body string) (soapFault, bool) {
	var env struct {
		Body struct {
			Fault *struct {
				Code struct {
					Value   string `xml:"Value"`
					Subcode struct {
						Value string `xml:"Value"`
					} `xml:"Subcode"`
				} `xml:"Code"`
				Reason struct {
					Text []string `xml:"Text"`
				} `xml:"Reason"`
				Detail struct {
					WSManFault struct {
						Code string `xml:"Code,attr"`
					} `xml:"WSManFault"`
				} `xml:"Detail"`
			} `xml:"Fault"`
		} `xml:"Body"`
	}
	if err := xml.Unmarshal([]byte(body), &env); err != nil || env.Body.Fault == nil {
		return soapFault{}, false
	}
	flt := env.Body.Fault
	f := soapFault{
		Code:      strings.TrimSpace(flt.Code.Value),
		Subcode:   strings.TrimSpace(flt.Code.Subcode.Value),
		WSManCode: strings.TrimSpace(flt.Detail.WSManFault.Code),
	}
	if len(flt.Reason.Text) > 0 {
		f.Reason = strings.Join(strings.Fields(flt.Reason.Text[0]), " ")
	}
	return f, true
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
	for _, s := range []error{remote.ErrAuth, remote.ErrTLS, remote.ErrUnreachable, remote.ErrTimeout, remote.ErrProtocol} {
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
		case isAccessDenied(he.Body):
			return remote.ErrAuth
		case isSOAP(he.ContentType) && isTimedOutFault(he.Body):
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

func isTimedOutFault(body string) bool {
	f, ok := parseFault(body)
	return ok && f.timedOut()
}

// isAccessDenied recognises the WSManFault Windows sends to an authenticated but unauthorised user:
// WSManFault Code="5", message "Access is denied.".
// unverified: the exact XML of Windows' access-denied fault (reference 1.7); matched loosely.
func isAccessDenied(body string) bool {
	f, ok := parseFault(body)
	if !ok {
		return false
	}
	return f.WSManCode == "5" || strings.HasSuffix(f.Subcode, ":AccessDenied") ||
		strings.Contains(strings.ToLower(f.Reason), "access is denied")
}

// redactedError hides a secret in an error's message while keeping the chain for errors.Is/As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with every occurrence of secret in its message replaced by "***".
func redact(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redactedError{msg: strings.ReplaceAll(err.Error(), secret, "***"), err: err}
}
