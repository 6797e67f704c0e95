package krb

import (
	"errors"
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote"
)

// TestSSPIError: SSPI status codes map onto the package's sentinels (and through them onto the
// remote kinds: an unknown SPN is no wrong password), the message names the code, and unknown codes
// keep the caller's default.
func TestSSPIError(t *testing.T) {
	cases := []struct {
		code uint32
		def  error
		want error
		kind error
		text string
	}{
		{0x80090303, ErrKDC, ErrUnknownSPN, remote.ErrInvalidTarget, "SEC_E_TARGET_UNKNOWN (0x80090303)"},
		{0x80090311, ErrKDC, ErrKDCUnreachable, remote.ErrUnreachable, "SEC_E_NO_AUTHENTICATING_AUTHORITY"},
		{0x80090324, ErrKDC, ErrClockSkew, remote.ErrProtocol, "SEC_E_TIME_SKEW"},
		{0x8009030C, ErrNoCredentials, ErrPreauthFailed, remote.ErrAuth, "SEC_E_LOGON_DENIED"},
		{0x8009030E, ErrKDC, ErrNoCredentials, remote.ErrInvalidTarget, "SEC_E_NO_CREDENTIALS"},
		{0x80090317, ErrBadToken, ErrTicketExpired, remote.ErrAuth, "SEC_E_CONTEXT_EXPIRED"},
		{0x80090322, ErrKDC, ErrMutualAuth, remote.ErrProtocol, "SEC_E_WRONG_PRINCIPAL"},
		{0x80090321, ErrKDC, ErrBadToken, remote.ErrProtocol, "SEC_E_BUFFER_TOO_SMALL (0x80090321)"},
		{0x80090308, ErrMutualAuth, ErrBadToken, remote.ErrProtocol, "SEC_E_INVALID_TOKEN"},
		// Named, but without a class of their own: the caller's default.
		{0x80090304, ErrKDC, ErrKDC, remote.ErrAuth, "SEC_E_INTERNAL_ERROR (0x80090304)"},
		{0xC0000001, ErrNoCredentials, ErrNoCredentials, remote.ErrInvalidTarget, "STATUS_UNSUCCESSFUL (0xc0000001)"},
		// Unknown.
		{0x8009FFFF, ErrBadToken, ErrBadToken, remote.ErrProtocol, "status 0x8009ffff"},
	}
	for _, c := range cases {
		err := sspiError("InitializeSecurityContext HTTP/dc01.lab.test", c.code, c.def)
		if !errors.Is(err, c.want) || !errors.Is(err, c.kind) {
			t.Errorf("%#x: %v: want %v (%v)", c.code, err, c.want, c.kind)
		}
		if msg := err.Error(); !strings.Contains(msg, c.text) || !strings.Contains(msg, "SSPI InitializeSecurityContext HTTP/dc01.lab.test") {
			t.Errorf("%#x: message %q lacks %q", c.code, msg, c.text)
		}
	}
	for code, s := range sspiStatuses {
		if !strings.HasPrefix(s.name, "SEC_E_") && !strings.HasPrefix(s.name, "STATUS_") || code&0x80000000 == 0 {
			t.Errorf("%#x %s: not an error status", code, s.name)
		}
	}
}
