package cmd

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
)

// hostAuth is the auth method of h: the inventory's auth, else its transport, else the configuration's.
func hostAuth(cfg *Config, h inventory.Host) string {
	switch {
	case h.Auth != "":
		return h.Auth
	case h.Transport != "":
		return h.Transport
	}
	return cfg.Auth
}

// isKerberos reports whether an auth method may use Kerberos.
func isKerberos(auth string) bool { return auth == remote.AuthNegotiate || auth == remote.AuthKerberos }

// isIP reports whether s is an IP address (brackets and a zone allowed).
func isIP(s string) bool {
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	s, _, _ = strings.Cut(s, "%")
	_, err := netip.ParseAddr(s)
	return err == nil
}

// spnHost is the host name of h's Kerberos service principal HTTP/<name>: spn_host when set; else
// the inventory name when the host is dialed by IP address (name: with address:, or discovery with
// resolved addresses) or by another name than its fully qualified inventory name; "" (the dialed
// address) otherwise. A name never becomes an IP address here: hosts without any DNS name are
// refused up front when Kerberos is forced (kerberosByAddress).
func spnHost(h inventory.Host) string {
	if h.SPNHost != "" {
		return h.SPNHost
	}
	addr := h.Address
	if addr == "" {
		addr = h.Name
	}
	if isIP(h.Name) {
		return ""
	}
	if isIP(addr) || strings.Contains(h.Name, ".") && !strings.EqualFold(h.Name, addr) {
		return strings.ToLower(strings.TrimSuffix(h.Name, "."))
	}
	return ""
}

// spnIsAddress reports whether h has no DNS name for its service principal.
func spnIsAddress(h inventory.Host) bool {
	if s := spnHost(h); s != "" {
		return isIP(s)
	}
	addr := h.Address
	if addr == "" {
		addr = h.Name
	}
	return isIP(addr)
}

// credSource is what one credential (the default account or a named one) can log on with.
type credSource struct {
	name     string // "" = the default account
	user     string
	password string
	keytab   string
	ccache   string // the default account only: KRB5CCNAME, when no password or keytab is given
	// current: on Windows, Kerberos from the current logon (SSPI) when nothing else is given.
	current bool
}

// kerberos reports whether the credential can log on with Kerberos: a ticket cache, a keytab, a
// password with a realm (realm: or user@REALM), or the current Windows logon.
func (c credSource) kerberos(realm string) bool {
	return c.ccache != "" || c.keytab != "" || c.current ||
		c.password != "" && (realm != "" || strings.Contains(c.user, "@"))
}

func (c credSource) label() string {
	if c.name == "" {
		return "the default account"
	}
	return "credential " + c.name
}

// targetBuilder resolves every host's connection settings and credentials up front, so that a
// missing password or credential, or a host Kerberos cannot reach by name, is a usage error before
// any host is contacted. A password is asked for (prompt) only when some host of the credential
// needs one: NTLM or Basic, or Kerberos without a ticket cache or keytab.
func (a *app) targetBuilder(cfg *Config, hosts []inventory.Host, quiet bool) (func(inventory.Host) (remote.Target, error), error) {
	sec := a.secretStore()
	// Hosts per credential, in inventory order; checks that do not need a password first.
	var order []string
	byCred := map[string][]inventory.Host{}
	var byAddress []string
	for _, h := range hosts {
		auth := hostAuth(cfg, h)
		if auth == remote.AuthNTLM && !cfg.NTLM {
			return nil, usageErr("%s: host %s: auth ntlm, but ntlm: false forbids NTLM (use auth negotiate or kerberos)", h.Source, h.Name)
		}
		forced := auth == remote.AuthKerberos || auth == remote.AuthNegotiate && !cfg.NTLM
		if forced && spnIsAddress(h) {
			byAddress = append(byAddress, fmt.Sprintf("%s (%s)", h.Source, h.Name))
		}
		if _, ok := byCred[h.Credential]; !ok {
			order = append(order, h.Credential)
		}
		byCred[h.Credential] = append(byCred[h.Credential], h)
	}
	if len(byAddress) > 0 {
		return nil, usageErr("Kerberos needs each DC's DNS name: an IP address has no service principal HTTP/<name>. "+
			"Give the name with the address in a YAML inventory (name: dc01.corp.example, address: 10.0.0.11) or spn_host: %s", listHosts(byAddress))
	}
	ccache, ccacheWhy := ccacheFile(a.env)
	creds := map[string]credSource{}
	var ntlmByAddress []string
	for _, name := range order {
		hs := byCred[name]
		var c credSource
		var err error
		if name == "" {
			c = credSource{user: cfg.User, keytab: cfg.KeytabFile}
			c.password, err = sec.optionalDefault(cfg.User, cfg.PasswordFile)
		} else {
			nc, ok := cfg.Credentials[name]
			if !ok {
				return nil, usageErr("%s: host %s: credential %q is not defined in the configuration", hs[0].Source, hs[0].Name, name)
			}
			c = credSource{name: name, user: nc.User, keytab: nc.KeytabFile}
			c.password, err = sec.optionalNamed(name, nc)
		}
		if err != nil {
			return nil, usageErr("%w", err)
		}
		if c.keytab != "" {
			if err := checkKeytab(c.keytab); err != nil {
				return nil, usageErr("%s: %w", c.label(), err)
			}
		}
		anyKerberos := false
		for _, h := range hs {
			anyKerberos = anyKerberos || isKerberos(hostAuth(cfg, h))
		}
		if name == "" && anyKerberos && c.password == "" && c.keytab == "" {
			c.ccache = ccache
			// unverified: runs on a domain-joined Windows machine only (remote/krb SSPI).
			c.current = c.ccache == "" && runtime.GOOS == "windows"
		}
		// Does any host need the password? NTLM and Basic do; so does negotiate where Kerberos
		// cannot be used (no Kerberos credential, or a host known only by address: NTLM then), and
		// kerberos without a ticket cache or keytab (an AS exchange).
		need := false
		for _, h := range hs {
			auth := hostAuth(cfg, h)
			switch {
			case !isKerberos(auth):
				need = true
			case !c.kerberos(cfg.Realm):
				need = true
			case auth == remote.AuthNegotiate && spnIsAddress(h):
				need = true
				if c.kerberos(cfg.Realm) {
					ntlmByAddress = append(ntlmByAddress, h.Name)
				}
			}
		}
		if c.user == "" && (need || c.ccache == "" && !c.current) {
			if name == "" {
				return nil, usageErr("no user: set DCPROXY_USER, user: in dcproxy.yaml, or --user%s", kerberosHint(anyKerberos))
			}
			return nil, usageErr("credential %s: no user", name)
		}
		if need && c.password == "" {
			if name == "" {
				c.password, err = sec.defaultPassword(c.user, cfg.PasswordFile)
			} else {
				c.password, err = sec.named(name, cfg.Credentials[name])
			}
			if err != nil {
				if anyKerberos && c.keytab == "" {
					return nil, usageErr("%w%s", err, kerberosHint(true))
				}
				return nil, usageErr("%w", err)
			}
		}
		if anyKerberos && !c.kerberos(cfg.Realm) {
			for _, h := range hs {
				if hostAuth(cfg, h) == remote.AuthKerberos || !cfg.NTLM {
					return nil, usageErr("%s: host %s: Kerberos with a password needs the realm: set realm: (CORP.EXAMPLE), a user name user@CORP.EXAMPLE, a keytab_file, or a ticket cache (kinit; KRB5CCNAME)", h.Source, h.Name)
				}
			}
		}
		creds[name] = c
	}
	if !quiet {
		if ccacheWhy != "" {
			fmt.Fprintf(a.stderr, "dcproxy: warning: %s\n", ccacheWhy)
		}
		if len(ntlmByAddress) > 0 {
			fmt.Fprintf(a.stderr, "dcproxy: warning: hosts given by IP address use NTLM (Kerberos needs the DNS name: give name: and address: in the inventory): %s\n", listHosts(ntlmByAddress))
		}
	}
	krb5conf := a.env("KRB5_CONFIG")
	return func(h inventory.Host) (remote.Target, error) {
		c := creds[h.Credential] // read-only after the loop above
		t := remote.Target{
			Host: h.Address, Port: cfg.Port, HTTPS: cfg.HTTPS, Auth: hostAuth(cfg, h), User: c.user, Password: c.password,
			CAFile: cfg.CAFile, TLSServerName: cfg.TLSServerName, InsecureSkipVerify: cfg.InsecureSkipVerify,
			AllowBasicHTTP: cfg.AllowBasicHTTP, Timeout: cfg.Timeout,
		}
		if t.Host == "" {
			t.Host = h.Name
		}
		if t.IsKerberos() {
			t.Kerberos = remote.KerberosTarget{SPNHost: spnHost(h), Realm: cfg.Realm, KDCs: cfg.KDC, ConfigFile: krb5conf,
				CCache: c.ccache, Keytab: c.keytab, DisableNTLM: !cfg.NTLM}
		}
		if h.HTTPS != nil {
			t.HTTPS = *h.HTTPS
		}
		if h.Port != 0 {
			t.Port = h.Port
		}
		if h.Insecure != nil {
			t.InsecureSkipVerify = *h.Insecure
		}
		if h.CAFile != "" {
			t.CAFile = h.CAFile
		}
		if h.TLSServerName != "" {
			t.TLSServerName = h.TLSServerName
		}
		if t.Port == 0 || (h.HTTPS != nil && h.Port == 0 && cfg.Port == 0) {
			t.Port = 0
		}
		t.SetDefaults()
		if err := t.Validate(); err != nil {
			return t, fmt.Errorf("%s: %w", h.Source, err)
		}
		return t, nil
	}, nil
}

// kerberosHint names the Kerberos ways to log on without a password, for errors of runs that may
// use Kerberos.
func kerberosHint(kerberos bool) string {
	if !kerberos {
		return ""
	}
	return " (or, for Kerberos, a ticket cache from kinit in KRB5CCNAME, or keytab_file with user)"
}
