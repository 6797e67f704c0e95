package lab

// Kerberos in the lab (Options.Keytab): every host accepts Negotiate Kerberos with the service keys
// of one keytab exported by a real KDC (MIT: kadmin ktadd HTTP/<fqdn>; Samba AD: samba-tool domain
// exportkeytab --principal=HTTP/<fqdn>), through one shared krb.Acceptor (one replay cache). NTLM
// and Basic stay as the fleet file configures them.
//
// A host accepts a ticket only for its own name (HTTP/<name>, HOST/<name>) and maps the client
// principal user@REALM to its account REALM-NetBIOS\user when the realm is the host's DNS domain;
// so with a keytab every host name must be an FQDN in the realm's DNS domain (dc01.lab.test for
// LAB.TEST) with a key for HTTP/<name> (or HOST/<name>) in the keytab, and the audit account
// (user) of the fleet file is DOMAIN\name with name the principal's name. Start checks the names
// and keys and names the host and line of a mismatch.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/dcproxy/dcproxy/remote/krb"
)

// kerberosAcceptor loads opt.Keytab and checks every host of spec against it; nil, nil without a
// keytab.
func kerberosAcceptor(spec *Spec, opt Options) (*krb.Acceptor, error) {
	if opt.Keytab == "" {
		return nil, nil
	}
	kt, err := krb.LoadKeytab(opt.Keytab)
	if err != nil {
		return nil, err
	}
	services := KeytabServices(kt)
	if len(services) == 0 {
		return nil, fmt.Errorf("keytab %s holds no HTTP/ or HOST/ service keys", opt.Keytab)
	}
	for i := range spec.Hosts {
		hs := spec.Resolve(i)
		name := strings.ToLower(hs.Name)
		realm, ok := services[name]
		where := fmt.Sprintf("host %s (line %d)", hs.Name, hs.Line)
		if !ok {
			return nil, fmt.Errorf("%s: keytab %s has no key for HTTP/%s (it has %s): with Kerberos the host names must be the FQDNs whose keys were exported",
				where, opt.Keytab, name, keytabNames(services))
		}
		if _, dom, _ := strings.Cut(name, "."); !strings.EqualFold(dom, realm) {
			return nil, fmt.Errorf("%s: the host's DNS domain %q is not the realm %s: the host would not know the realm's users (name it <host>.%s)",
				where, dom, realm, strings.ToLower(realm))
		}
	}
	return krb.NewAcceptor(kt, opt.KerberosOptions), nil
}

// KeytabServices returns the host names (lower case) that kt holds HTTP/ or HOST/ service keys
// for, each with its realm: what a lab with Options.Keytab can name its hosts.
func KeytabServices(kt *keytab.Keytab) map[string]string {
	out := map[string]string{}
	for _, e := range kt.Entries {
		c := e.Principal.Components
		if len(c) == 2 && (strings.EqualFold(c[0], "HTTP") || strings.EqualFold(c[0], "HOST")) {
			out[strings.ToLower(strings.TrimSuffix(c[1], "."))] = e.Principal.Realm
		}
	}
	return out
}

func keytabNames(services map[string]string) string {
	names := make([]string, 0, len(services))
	for n := range services {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 5 {
		names = append(names[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return strings.Join(names, ", ")
}
