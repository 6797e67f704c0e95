package krb

import "fmt"

// SSPI status codes (winerror.h) that AcquireCredentialsHandle, InitializeSecurityContext,
// EncryptMessage and DecryptMessage return for the Kerberos package, mapped onto this package's
// sentinels for the current-logon initiator (sspi_windows.go). The table is built on every platform
// so that it is tested everywhere.
//
// unverified: which code Windows returns for which Kerberos failure follows the SSPI documentation
// (an unknown SPN is SEC_E_TARGET_UNKNOWN, an unreachable KDC SEC_E_NO_AUTHENTICATING_AUTHORITY, a
// clock skew SEC_E_TIME_SKEW), not a Windows trace. Wine 8 returns SEC_E_INTERNAL_ERROR for an unknown
// SPN and STATUS_UNSUCCESSFUL (0xC0000001) for a wrong password (docs/windows.md).
var sspiStatuses = map[uint32]struct {
	name string
	err  error // nil: the caller's default
}{
	0x80090300: {"SEC_E_INSUFFICIENT_MEMORY", nil},
	0x80090301: {"SEC_E_INVALID_HANDLE", nil},
	0x80090302: {"SEC_E_UNSUPPORTED_FUNCTION", ErrBadToken},
	0x80090303: {"SEC_E_TARGET_UNKNOWN", ErrUnknownSPN},
	0x80090304: {"SEC_E_INTERNAL_ERROR", nil},
	0x80090305: {"SEC_E_SECPKG_NOT_FOUND", ErrNoCredentials},
	0x80090308: {"SEC_E_INVALID_TOKEN", ErrBadToken},
	0x8009030A: {"SEC_E_QOP_NOT_SUPPORTED", ErrBadToken},
	0x8009030C: {"SEC_E_LOGON_DENIED", ErrPreauthFailed},
	0x8009030D: {"SEC_E_UNKNOWN_CREDENTIALS", ErrNoCredentials},
	0x8009030E: {"SEC_E_NO_CREDENTIALS", ErrNoCredentials},
	0x8009030F: {"SEC_E_MESSAGE_ALTERED", ErrBadToken},
	0x80090310: {"SEC_E_OUT_OF_SEQUENCE", ErrBadToken},
	0x80090311: {"SEC_E_NO_AUTHENTICATING_AUTHORITY", ErrKDCUnreachable},
	0x80090317: {"SEC_E_CONTEXT_EXPIRED", ErrTicketExpired},
	0x80090318: {"SEC_E_INCOMPLETE_MESSAGE", ErrBadToken},
	0x80090321: {"SEC_E_BUFFER_TOO_SMALL", ErrBadToken},
	0x80090322: {"SEC_E_WRONG_PRINCIPAL", ErrMutualAuth},
	0x80090324: {"SEC_E_TIME_SKEW", ErrClockSkew},
	0x80090326: {"SEC_E_ILLEGAL_MESSAGE", ErrBadToken},
	0x80090329: {"SEC_E_ENCRYPT_FAILURE", ErrBadToken},
	0x80090330: {"SEC_E_DECRYPT_FAILURE", ErrBadToken},
	0x80090334: {"SEC_E_NO_TGT_REPLY", ErrKDC},
	0x8009033A: {"SEC_E_STRONG_CRYPTO_NOT_SUPPORTED", ErrKDC},
	0x80090340: {"SEC_E_KDC_INVALID_REQUEST", ErrKDC},
	0x80090341: {"SEC_E_KDC_UNABLE_TO_REFER", ErrUnknownSPN},
	0x80090342: {"SEC_E_KDC_UNKNOWN_ETYPE", ErrKDC},
	0x80090348: {"SEC_E_NO_KERB_KEY", ErrNoCredentials},
	0x80090350: {"SEC_E_DOWNGRADE_DETECTED", ErrMutualAuth},
	0x80090363: {"SEC_E_MUTUAL_AUTH_FAILED", ErrMutualAuth},
	0xC0000001: {"STATUS_UNSUCCESSFUL", nil},
}

// sspiError describes a failed SSPI call op (e.g. "InitializeSecurityContext HTTP/dc01.corp.example")
// with status code: "<sentinel>: SSPI <op>: <NAME> (0x8009....)". Codes without a sentinel of their own
// wrap def.
func sspiError(op string, code uint32, def error) error {
	s, ok := sspiStatuses[code]
	if !ok {
		return fmt.Errorf("%w: SSPI %s: status %#08x", def, op, code)
	}
	if s.err == nil {
		s.err = def
	}
	return fmt.Errorf("%w: SSPI %s: %s (%#08x)", s.err, op, s.name, code)
}
