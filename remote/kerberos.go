package remote

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
)

// Kerberos auth methods a Target can use (besides AuthNTLM and AuthBasic).
const (
	// AuthNegotiate: Kerberos when credentials for a realm are available (a ticket cache, a keytab,
	// or a password with a realm), NTLM as fallback unless Kerberos.DisableNTLM; sealed on HTTP.
	AuthNegotiate = "negotiate"
	// AuthKerberos: Kerberos only (SPN HTTP/<host>), sealed on HTTP, plain inside TLS on HTTPS.
	AuthKerberos = "kerberos"
)

// KerberosTarget holds a Target's Kerberos settings (Auth negotiate or kerberos). Credentials are
// tried in this order: CCache, Keytab, Target.Password (an AS exchange for Target.User).
type KerberosTarget struct {
	// SPNHost is the DNS host name for the service principal HTTP/<SPNHost> when Host is an IP
	// address or an alias; Host when empty.
	SPNHost string
	// Realm overrides the realm of the user name and of krb5.conf's default_realm.
	Realm string
	// KDCs ("host" or "host:port") replace krb5.conf's KDCs of the realm.
	KDCs []string
	// ConfigFile is the krb5.conf to read ($KRB5_CONFIG, else /etc/krb5.conf, when empty).
	ConfigFile string
	// CCache is an MIT credential cache from kinit ("FILE:" prefix allowed), e.g. $KRB5CCNAME.
	CCache string
	// Keytab is a client keytab holding Target.User's keys (no password on disk).
	Keytab string
	// DisableNTLM: negotiate never falls back to NTLM and never sends an NTLM token ("ntlm: false").
	DisableNTLM bool
}

// knownAuth reports whether a is an auth method a Target may name.
func knownAuth(a string) bool {
	switch a {
	case AuthNTLM, AuthBasic, AuthNegotiate, AuthKerberos:
		return true
	}
	return false
}

// IsKerberos reports whether the target may use Kerberos (negotiate or kerberos).
func (t Target) IsKerberos() bool { return t.Auth == AuthNegotiate || t.Auth == AuthKerberos }

// SPNHostName is the host name of the target's Kerberos service principal: Kerberos.SPNHost or
// Host, lower case, without brackets or a trailing dot.
func (t Target) SPNHostName() string {
	h := t.Kerberos.SPNHost
	if h == "" {
		h = t.Host
	}
	h = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), ".")
	return strings.ToLower(h)
}

// SPNIsAddress reports whether the SPN host is an IP address (no service principal can exist for
// it: Kerberos needs the host's DNS name).
func (t Target) SPNIsAddress() bool {
	h, _, _ := strings.Cut(t.SPNHostName(), "%")
	_, err := netip.ParseAddr(h)
	return err == nil
}

// validateKerberos checks the Kerberos settings; nil for other auth methods.
func (t Target) validateKerberos() error {
	if !t.IsKerberos() {
		return nil
	}
	if t.SPNIsAddress() && (t.Auth == AuthKerberos || t.Kerberos.DisableNTLM) {
		return fmt.Errorf("%w: %s: Kerberos needs the host's DNS name: an IP address has no service principal HTTP/<name> (give the host by name, or its name as spn_host)", ErrInvalidTarget, t.Host)
	}
	return nil
}

// userOptional reports whether the target can log on without a user name: a Kerberos ticket cache
// names its principal, and on Windows a Kerberos target without a password uses the current logon.
func (t Target) userOptional() bool {
	return t.IsKerberos() && (t.Kerberos.CCache != "" || t.Password == "" && runtime.GOOS == "windows")
}
