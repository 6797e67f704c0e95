package fleet

import "github.com/dcproxy/dcproxy/remote"

// DefaultAuthFailureLimit is how many hosts may refuse an account before any logon with it has
// succeeded, before dcproxy stops trying it (see remote.LogonGate).
const DefaultAuthFailureLimit = remote.DefaultAuthFailureLimit

// gated returns o with its Dialer behind a fresh logon gate of o.AuthFailureLimit (lockout
// protection for one run: audit, fix or restore), or unchanged when the protection is off
// (negative limit). o must have its defaults set.
func (o Options) gated() Options {
	if o.AuthFailureLimit > 0 {
		o.Dialer = remote.NewGatedDialer(o.Dialer, remote.NewLogonGate(o.AuthFailureLimit))
	}
	return o
}
