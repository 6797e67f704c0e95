package discover

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"

	"github.com/go-ldap/ldap/v3"
)

// Sentinel errors: every error Discover returns wraps exactly one of them (through *Error), so that
// callers can tell the failures apart with errors.Is.
var (
	// ErrDNS: the DNS server could not be reached or failed to answer (timeout, refused, SERVFAIL).
	ErrDNS = errors.New("DNS server unreachable or failing")
	// ErrNoSRV: the DNS server answered that the SRV name has no records.
	ErrNoSRV = errors.New("no SRV records")
	// ErrLDAPUnreachable: no TCP connection to the LDAP server.
	ErrLDAPUnreachable = errors.New("LDAP server unreachable")
	// ErrTLS: the TLS handshake failed (certificate not trusted, wrong name, not TLS, StartTLS refused).
	ErrTLS = errors.New("TLS failure")
	// ErrBind: the server refused the bind (wrong user or password, account locked or disabled, or the
	// server wants another kind of bind). Discovery never retries a refused bind on another DC, so that
	// a wrong password costs one failed logon, not one per DC.
	ErrBind = errors.New("LDAP bind refused")
	// ErrLDAP: a search failed after a successful bind (rights, server error).
	ErrLDAP = errors.New("LDAP search failed")
	// ErrWrongDomain: the LDAP server is not a DC of the domain asked for (e.g. a DC of the parent
	// domain was given for a child domain).
	ErrWrongDomain = errors.New("LDAP server is not a domain controller of this domain")
	// ErrConfig: the options are invalid (no domain, bad server address, no credentials).
	ErrConfig = errors.New("invalid discovery options")
)

// Error is one failure of a discovery, naming the domain and the server it happened with. Its
// message never contains the password: servers' bind refusals are AD's diagnostic codes only.
type Error struct {
	Domain string // DNS domain being discovered
	Op     string // "dns srv", "ldap connect", "ldap bind", "ldap search", "options"
	Server string // the DNS or LDAP server ("system resolver" for the system's)
	Kind   error  // one of the sentinels above
	Err    error  // the underlying error, may be nil
}

// Error returns "discover DOMAIN: OP SERVER: KIND: ERR".
func (e *Error) Error() string {
	s := "discover " + e.Domain + ": " + e.Op
	if e.Server != "" {
		s += " " + e.Server
	}
	s += ": " + e.Kind.Error()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// classifyDNS maps a resolver error to ErrNoSRV (the name has no records) or ErrDNS.
func classifyDNS(err error) error {
	switch {
	case errors.Is(err, ErrNoSRV):
		return ErrNoSRV
	case errors.Is(err, ErrDNS):
		return ErrDNS
	}
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return ErrNoSRV
	}
	return ErrDNS
}

// classifyLDAP maps an error of connecting, binding or searching to a sentinel. op is "connect",
// "bind" or "search": a refusal by the server (result codes of a bind: invalid credentials,
// inappropriate or stronger authentication required, unwilling to perform) is ErrBind unless it
// answered a search (ErrLDAP).
func classifyLDAP(op string, err error) error {
	for _, k := range []error{ErrTLS, ErrBind, ErrLDAPUnreachable, ErrLDAP, ErrWrongDomain} {
		if errors.Is(err, k) {
			return k
		}
	}
	var (
		cve   *tls.CertificateVerificationError
		uae   x509.UnknownAuthorityError
		hne   x509.HostnameError
		cie   x509.CertificateInvalidError
		rhe   tls.RecordHeaderError
		alert tls.AlertError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie),
		errors.As(err, &rhe), errors.As(err, &alert):
		return ErrTLS
	}
	if op != "search" && ldap.IsErrorAnyOf(err, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultInappropriateAuthentication,
		ldap.LDAPResultStrongAuthRequired, ldap.LDAPResultConfidentialityRequired, ldap.LDAPResultUnwillingToPerform,
		ldap.LDAPResultInsufficientAccessRights) {
		return ErrBind
	}
	var ne net.Error
	if errors.As(err, &ne) || ldap.IsErrorWithCode(err, ldap.ErrorNetwork) || op == "connect" {
		return ErrLDAPUnreachable
	}
	return ErrLDAP
}
