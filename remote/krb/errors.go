package krb

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/dcproxy/dcproxy/remote"
)

// kindError is a Kerberos failure class: its own message, and errors.Is reaches the remote sentinel it
// belongs to (the report's kind, retry and the lockout gate decide on that).
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Specific reports that the error's own text says exactly what went wrong (remote.Specific).
func (e *kindError) Specific() bool { return true }

// Sentinel errors. Each wraps the remote sentinel named in its comment; errors returned by this package
// wrap exactly one of them (with %w). Classify is the one place that maps KDC answers and acceptor
// refusals onto them.
var (
	// ErrPreauthFailed: the KDC refused the password or key (KDC_ERR_PREAUTH_FAILED, or an AS reply that
	// does not decrypt with the key). remote.ErrAuth: it counts for the lockout protection.
	ErrPreauthFailed = &kindError{"kerberos pre-authentication failed (wrong password or key)", remote.ErrAuth}
	// ErrUnknownPrincipal: the account does not exist in the realm (KDC_ERR_C_PRINCIPAL_UNKNOWN). remote.ErrAuth.
	ErrUnknownPrincipal = &kindError{"kerberos: the account is not known to the realm", remote.ErrAuth}
	// ErrRevoked: the account is locked out, disabled or expired (KDC_ERR_CLIENT_REVOKED). remote.ErrAuth.
	ErrRevoked = &kindError{"kerberos: the account is locked out, disabled or expired (credentials revoked)", remote.ErrAuth}
	// ErrPasswordExpired: the password must be changed (KDC_ERR_KEY_EXPIRED). remote.ErrAuth.
	ErrPasswordExpired = &kindError{"kerberos: the account's password has expired", remote.ErrAuth}
	// ErrTicketExpired: a ticket (from the ticket cache) has expired (KRB_AP_ERR_TKT_EXPIRED, or no valid
	// TGT left in the cache). remote.ErrAuth.
	ErrTicketExpired = &kindError{"kerberos: ticket expired (renew it with kinit)", remote.ErrAuth}
	// ErrClockSkew: this machine's clock and the KDC's or host's differ by more than the allowed skew
	// (KRB_AP_ERR_SKEW, 5 minutes by default). remote.ErrProtocol: not a wrong password.
	ErrClockSkew = &kindError{"kerberos: clock skew too great (synchronise this machine's clock with the domain)", remote.ErrProtocol}
	// ErrUnknownSPN: the realm has no service principal HTTP/<name> (KDC_ERR_S_PRINCIPAL_UNKNOWN): the host
	// is not in the realm, or was given by IP address or an alias instead of its DNS host name.
	// remote.ErrInvalidTarget.
	ErrUnknownSPN = &kindError{"kerberos: no such service principal in the realm (the host must be given by its DNS host name, not an IP address or alias)", remote.ErrInvalidTarget}
	// ErrKDCUnreachable: no KDC of the realm answered. remote.ErrUnreachable (retried).
	ErrKDCUnreachable = &kindError{"kerberos: no KDC of the realm answered", remote.ErrUnreachable}
	// ErrNoKDC: no KDC is configured for the realm (krb5.conf or the kdc setting). remote.ErrInvalidTarget.
	ErrNoKDC = &kindError{"kerberos: no KDC known for the realm (set kdc, or a krb5.conf with the realm)", remote.ErrInvalidTarget}
	// ErrNoCredentials: neither a ticket cache, a keytab nor a password is available for the realm.
	// remote.ErrInvalidTarget.
	ErrNoCredentials = &kindError{"kerberos: no credentials (no ticket cache, keytab or password)", remote.ErrInvalidTarget}
	// ErrReplay: the acceptor saw this authenticator before (KRB_AP_ERR_REPEAT). remote.ErrAuth.
	ErrReplay = &kindError{"kerberos: authenticator replayed", remote.ErrAuth}
	// ErrMutualAuth: the host's AP-REP is missing or does not verify: the host did not prove that it holds
	// the service key. remote.ErrProtocol.
	ErrMutualAuth = &kindError{"kerberos: mutual authentication failed (the host's AP-REP is missing or invalid)", remote.ErrProtocol}
	// ErrBadToken: a malformed token, a ticket or authenticator that does not decrypt, or a sealed message
	// that fails its integrity check or arrives out of sequence. remote.ErrProtocol.
	ErrBadToken = &kindError{"kerberos: invalid token", remote.ErrProtocol}
	// ErrKDC: any other refusal of the KDC. remote.ErrAuth.
	ErrKDC = &kindError{"kerberos: the KDC refused the request", remote.ErrAuth}
)

// codeSentinel maps KRB-ERROR codes (RFC 4120 7.5.9) onto the sentinels.
var codeSentinel = map[int32]error{
	errorcode.KDC_ERR_PREAUTH_FAILED:      ErrPreauthFailed,
	errorcode.KRB_AP_ERR_BAD_INTEGRITY:    ErrBadToken,
	errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN: ErrUnknownPrincipal,
	errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN: ErrUnknownSPN,
	errorcode.KDC_ERR_CLIENT_REVOKED:      ErrRevoked,
	errorcode.KDC_ERR_KEY_EXPIRED:         ErrPasswordExpired,
	errorcode.KRB_AP_ERR_TKT_EXPIRED:      ErrTicketExpired,
	errorcode.KRB_AP_ERR_SKEW:             ErrClockSkew,
	errorcode.KRB_AP_ERR_TKT_NYV:          ErrClockSkew, // a ticket from the future: the clocks differ
	errorcode.KRB_AP_ERR_REPEAT:           ErrReplay,
	errorcode.KDC_ERR_ETYPE_NOSUPP:        ErrKDC,
}

// CodeError returns the sentinel for a KRB-ERROR code, ErrKDC for codes without their own.
func CodeError(code int32) error {
	if s, ok := codeSentinel[code]; ok {
		return s
	}
	return ErrKDC
}

// Classify maps an error of gokrb5 (which keeps KDC answers only as text) or of the network onto one
// of the sentinels above, keeping the detail: "<sentinel>: <detail>". Errors that already wrap a
// sentinel of this package are returned unchanged; nil stays nil.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	var ke *kindError
	if errors.As(err, &ke) {
		return err
	}
	var krbErr messages.KRBError
	if errors.As(err, &krbErr) {
		return fmt.Errorf("%w (%s)", CodeError(krbErr.ErrorCode), codeName(krbErr.ErrorCode))
	}
	msg := err.Error()
	// gokrb5 flattens KRB-ERRORs into text: "KRB Error: (24) KDC_ERR_PREAUTH_FAILED ...".
	for code, s := range codeSentinel {
		if name := codeName(code); strings.Contains(msg, name+" ") || strings.HasSuffix(msg, name) {
			return fmt.Errorf("%w (%s)", s, name)
		}
	}
	var ne net.Error
	var ge krberror.Krberror
	switch {
	case strings.Contains(msg, "no KDCs defined"):
		return fmt.Errorf("%w (%s)", ErrNoKDC, firstLine(msg))
	case errors.As(err, &ne), strings.Contains(msg, krberror.NetworkingError), strings.Contains(msg, "connection refused"),
		strings.Contains(msg, "no KDC"), strings.Contains(msg, "could not get KDCs"):
		return fmt.Errorf("%w (%s)", ErrKDCUnreachable, firstLine(msg))
	case strings.Contains(msg, "error decrypting AS_REP encrypted part") ||
		(strings.Contains(msg, "AS Exchange") && strings.Contains(msg, krberror.DecryptingError)):
		// A KDC that does not require pre-authentication answers; the reply does not decrypt with a
		// key from a wrong password.
		return ErrPreauthFailed
	case errors.As(err, &ge) && ge.RootCause == krberror.KDCError:
		return fmt.Errorf("%w (%s)", ErrKDC, firstLine(msg))
	}
	return fmt.Errorf("%w (%s)", ErrKDC, firstLine(msg))
}

// codeName is the RFC 4120 name of a KRB-ERROR code ("KDC_ERR_PREAUTH_FAILED").
func codeName(code int32) string {
	f := strings.Fields(errorcode.Lookup(code)) // "(24) KDC_ERR_PREAUTH_FAILED Pre-authentication ..."
	if len(f) >= 2 && strings.HasPrefix(f[0], "(") {
		return f[1]
	}
	return fmt.Sprintf("KRB-ERROR %d", code)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
