//go:build !windows

package krb

import "fmt"

// CurrentLogon returns an Initiator for the Kerberos tickets of the current Windows logon (SSPI).
// Outside Windows there is none: ErrNoCredentials.
func CurrentLogon() (Initiator, error) {
	return nil, fmt.Errorf("%w: the current logon's Kerberos credentials (SSPI) exist only on Windows", ErrNoCredentials)
}
