package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dcproxy/dcproxy/fleet/discover"
	"github.com/dcproxy/dcproxy/fleet/inventory"
)

// discoverOptions are the inputs of a DC discovery (dcproxy discover; audit --domain reuses them
// through addDiscoverFlags and discoverDomains).
type discoverOptions struct {
	domains    []string // "DOMAIN" or "DOMAIN=CREDENTIAL"
	dns        string
	ldapServer string
	site       string
	startTLS   bool
	ldapCAFile string
	resolve    bool
}

// addDiscoverFlags registers the discovery flags.
func addDiscoverFlags(f *pflag.FlagSet, o *discoverOptions) {
	f.StringArrayVar(&o.domains, "domain", nil, "AD domain whose DCs to find (repeatable: a forest's child domains); DOMAIN=CREDENTIAL binds with that named credential of dcproxy.yaml, else the default user")
	f.StringVar(&o.dns, "dns", "", "DNS server to ask for the DC locator SRV records (host[:port]); default: the system resolver")
	f.StringVar(&o.ldapServer, "ldap-server", "", "DC to read the directory from (host[:port]); default: the SRV targets in order (one --domain only)")
	f.StringVar(&o.site, "site", "", "only the DCs of this AD site")
	f.BoolVar(&o.startTLS, "starttls", false, "LDAP on 389 with StartTLS instead of LDAPS on 636")
	f.StringVar(&o.ldapCAFile, "ldap-ca-file", "", "PEM bundle to verify the DCs' LDAPS certificates (default: the system roots)")
	f.BoolVar(&o.resolve, "resolve-addresses", false, "write each DC's address as resolved through --dns (default: on when --dns is given)")
}

// domainSpec is one --domain value.
type domainSpec struct{ domain, credential string }

func parseDomains(vals []string) ([]domainSpec, error) {
	var out []domainSpec
	seen := map[string]bool{}
	for _, v := range vals {
		d, cred, _ := strings.Cut(strings.TrimSpace(v), "=")
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		if d == "" {
			return nil, usageErr("--domain %q: no domain name", v)
		}
		if seen[d] {
			return nil, usageErr("--domain %s given twice", d)
		}
		seen[d] = true
		out = append(out, domainSpec{d, strings.TrimSpace(cred)})
	}
	return out, nil
}

// discoverDomains runs one discovery per --domain, each with its credential. Missing credentials and
// bad flags are usage errors found before any network traffic; a domain that fails is an error
// naming it (all domains are tried, their errors joined).
func (a *app) discoverDomains(ctx context.Context, cfg *Config, o *discoverOptions, flags *pflag.FlagSet) ([]*discover.Result, error) {
	specs, err := parseDomains(o.domains)
	if err != nil {
		return nil, err
	}
	if len(specs) == 0 {
		return nil, usageErr("no domain: give --domain corp.example")
	}
	if o.ldapServer != "" && len(specs) > 1 {
		return nil, usageErr("--ldap-server names one DC: it cannot serve %d domains (leave it out to use each domain's SRV records)", len(specs))
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.ldapCAFile != "" {
		pem, err := os.ReadFile(o.ldapCAFile)
		if err != nil {
			return nil, usageErr("--ldap-ca-file: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageErr("--ldap-ca-file %s: no PEM certificate in it", o.ldapCAFile)
		}
		tlsCfg.RootCAs = pool
	}
	resolve := o.resolve
	if f := flags.Lookup("resolve-addresses"); f == nil || !f.Changed {
		resolve = o.dns != ""
	}
	// Credentials first: a missing password is a usage error before any DC is contacted.
	sec := a.secretStore()
	opts := make([]discover.Options, 0, len(specs))
	for _, s := range specs {
		user, password := cfg.User, ""
		if s.credential == "" {
			if user == "" {
				return nil, usageErr("--domain %s: no user: set DCPROXY_USER, user: in dcproxy.yaml, --user, or --domain %s=CREDENTIAL", s.domain, s.domain)
			}
			if password, err = sec.defaultPassword(user, cfg.PasswordFile); err != nil {
				return nil, usageErr("--domain %s: %v", s.domain, err)
			}
		} else {
			c, ok := cfg.Credentials[s.credential]
			if !ok {
				return nil, usageErr("--domain %s: credential %q is not defined in the configuration", s.domain, s.credential)
			}
			user = c.User
			if password, err = sec.named(s.credential, c); err != nil {
				return nil, usageErr("--domain %s: %v", s.domain, err)
			}
		}
		opts = append(opts, discover.Options{
			Domain: s.domain, DNSServer: o.dns, LDAPServer: o.ldapServer, StartTLS: o.startTLS, TLS: tlsCfg,
			User: user, Password: password, Site: o.site, Credential: s.credential, ResolveAddresses: resolve,
			Timeout: min(cfg.Timeout, 30*time.Second),
		})
	}
	var results []*discover.Result
	var errs []error
	for _, op := range opts {
		r, err := discover.Discover(ctx, op)
		if err != nil {
			if errors.Is(err, discover.ErrConfig) {
				return nil, usageErr("%v", err)
			}
			errs = append(errs, err)
			continue
		}
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}

// DiscoveredHosts flattens results into inventory hosts (a name found in two domains is kept once)
// and their findings, for commands that audit without an inventory file.
func DiscoveredHosts(results []*discover.Result) ([]inventory.Host, []discover.Finding) {
	var hosts []inventory.Host
	var findings []discover.Finding
	seen := map[string]bool{}
	for _, r := range results {
		for _, h := range r.Hosts {
			if k := strings.ToLower(h.Name); !seen[k] {
				seen[k] = true
				hosts = append(hosts, h)
			}
		}
		findings = append(findings, r.Findings...)
	}
	return hosts, findings
}

// warnFindings prints every finding as a warning on stderr.
func (a *app) warnFindings(w io.Writer, results []*discover.Result) {
	for _, r := range results {
		for _, f := range r.Findings {
			fmt.Fprintf(w, "dcproxy: warning: %s\n", f)
		}
	}
}

func (a *app) newDiscoverCmd() *cobra.Command {
	o := &discoverOptions{}
	var configFile, output string
	var quiet bool
	c := &cobra.Command{
		Use:   "discover --domain DOMAIN [-o dcs.yaml]",
		Short: "Find the domain controllers of AD domains (DNS SRV + LDAP) and write them as an inventory",
		Long: `discover asks DNS for the DC locator records (_ldap._tcp.dc._msdcs.DOMAIN and each site's
_ldap._tcp.SITE._sites.dc._msdcs.DOMAIN), binds to a DC over LDAPS (or StartTLS) with the audit
account and reads the DC computer objects (writable and read-only), their sites and OS versions. It
writes them as a YAML inventory for 'dcproxy audit -i'. Hosts DNS names without a DC object, and DC
objects DNS does not name, are printed as warnings and kept as comments in the inventory.

The bind password comes from DCPROXY_PASSWORD, password_file, a named credential's password_env or
password_file (--domain DOMAIN=CREDENTIAL), or a prompt; never from a flag.`,
		Example: `  DCPROXY_USER='auditor@corp.example' dcproxy discover --domain corp.example -o dcs.yaml
  dcproxy discover --domain corp.example --domain emea.corp.example=emea --ldap-ca-file corp-ca.pem -o dcs.yaml
  dcproxy discover --domain corp.example --dns 10.0.0.10 --site Berlin`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configFile, c.Flags(), a.env)
			if err != nil {
				return err
			}
			start := time.Now()
			results, err := a.discoverDomains(c.Context(), cfg, o, c.Flags())
			if !quiet {
				a.warnFindings(a.stderr, results)
			}
			if err != nil {
				return err
			}
			write := func(w io.Writer) error { return discover.WriteInventory(w, results, start) }
			if output == "" || output == "-" {
				err = write(a.stdout)
			} else {
				err = renderFileAtomic(output, 0o644, write)
			}
			if err != nil {
				return err
			}
			if !quiet {
				for _, r := range results {
					fmt.Fprintf(a.stderr, "dcproxy: %s: %d DCs in %d sites (LDAP %s, DNS %s), %d warnings\n",
						r.Domain, len(r.Hosts), len(r.Sites), r.LDAPServer, r.DNSServer, len(r.Findings))
				}
				if output != "" && output != "-" {
					fmt.Fprintf(a.stderr, "dcproxy: wrote %s in %v\n", output, time.Since(start).Round(time.Millisecond))
				}
			}
			return nil
		},
	}
	f := c.Flags()
	addDiscoverFlags(f, o)
	f.StringVar(&configFile, "config", "", "configuration file (default: first dcproxy.yaml in ., the user config dir, /etc/dcproxy)")
	f.StringVarP(&output, "output", "o", "", "write the inventory to FILE (atomically) instead of stdout")
	k := keyFlags{f}
	k.bind("user", "", "user", `account to bind as (user@domain or DOMAIN\user); env DCPROXY_USER`)
	k.bind("password-file", "", "password_file", "file holding the password (mode 600); else DCPROXY_PASSWORD or a prompt")
	k.bind("timeout", "", "timeout", "deadline per network operation (at most 30 s is used)")
	f.BoolVarP(&quiet, "quiet", "q", false, "no warnings or summary on stderr")
	return c
}
