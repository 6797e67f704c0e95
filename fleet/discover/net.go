package discover

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// newNetResolver returns the system resolver for server "", else a pure-Go resolver that sends
// every query to server (port 53 unless given).
func newNetResolver(server string, timeout time.Duration) *net.Resolver {
	if server == "" {
		return net.DefaultResolver
	}
	host, port, _ := splitServer(server, 53)
	addr := net.JoinHostPort(host, fmt.Sprint(port))
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		d := net.Dialer{Timeout: timeout}
		return d.DialContext(ctx, network, addr)
	}}
}

// netResolver adapts *net.Resolver to Resolver, with a deadline per query.
type netResolver struct {
	r       *net.Resolver
	timeout time.Duration
}

func (n *netResolver) LookupSRV(ctx context.Context, name string) ([]*net.SRV, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	_, srvs, err := n.r.LookupSRV(ctx, "", "", name)
	return srvs, err
}

func (n *netResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	return n.r.LookupHost(ctx, host)
}

// ldapConnector connects with go-ldap: LDAPS, or LDAP + StartTLS, then a simple bind. Host names
// are resolved through r (the chosen DNS server), the certificate is verified against the host
// name (or the IP address given).
func ldapConnector(o *Options, r *net.Resolver) Connector {
	return func(ctx context.Context, server string) (Directory, error) {
		host, _, err := net.SplitHostPort(server)
		if err != nil {
			return nil, err
		}
		fail := func(op string, kind, err error) error {
			return &Error{Domain: o.Domain, Op: "ldap " + op, Server: server, Kind: kind, Err: err}
		}
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.TLS != nil {
			cfg = o.TLS.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = host
		}
		d := &net.Dialer{Timeout: o.Timeout, Resolver: r}
		var conn *ldap.Conn
		if o.StartTLS {
			conn, err = ldap.DialURL("ldap://"+server, ldap.DialWithDialer(d))
			if err != nil {
				return nil, fail("connect", classifyLDAP("connect", err), err)
			}
			conn.SetTimeout(o.Timeout)
			if err := conn.StartTLS(cfg); err != nil {
				conn.Close()
				// A refused StartTLS request is a TLS failure too; only a broken connection is not.
				kind := classifyLDAP("connect", err)
				var ne net.Error
				if kind != ErrTLS && !errors.As(err, &ne) {
					kind = ErrTLS
				}
				return nil, fail("starttls", kind, err)
			}
		} else {
			conn, err = ldap.DialURL("ldaps://"+server, ldap.DialWithDialer(d), ldap.DialWithTLSConfig(cfg))
			if err != nil {
				return nil, fail("connect", classifyLDAP("connect", err), err)
			}
			conn.SetTimeout(o.Timeout)
		}
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		if err := conn.Bind(o.User, o.Password); err != nil {
			stop()
			conn.Close()
			return nil, fail("bind as "+o.User+" on", classifyLDAP("bind", err), err)
		}
		return &ldapDirectory{c: conn, stop: stop, timeout: o.Timeout}, nil
	}
}

// ldapDirectory is a Directory over a go-ldap connection.
type ldapDirectory struct {
	c       *ldap.Conn
	stop    func() bool
	timeout time.Duration
}

func (l *ldapDirectory) Search(ctx context.Context, base string, scope Scope, filter string, attrs []string) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sc := ldap.ScopeWholeSubtree
	if scope == ScopeBase {
		sc = ldap.ScopeBaseObject
	}
	req := ldap.NewSearchRequest(base, sc, ldap.NeverDerefAliases, 0, int(l.timeout/time.Second), false, filter, attrs, nil)
	var res *ldap.SearchResult
	var err error
	if scope == ScopeBase {
		res, err = l.c.Search(req)
	} else {
		res, err = l.c.SearchWithPaging(req, 500)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	out := make([]Entry, 0, len(res.Entries))
	for _, e := range res.Entries {
		en := Entry{DN: e.DN, Attrs: make(map[string][]string, len(e.Attributes))}
		for _, a := range e.Attributes {
			k := strings.ToLower(a.Name)
			en.Attrs[k] = append(en.Attrs[k], a.Values...)
		}
		out = append(out, en)
	}
	return out, nil
}

func (l *ldapDirectory) Close() error {
	l.stop()
	return l.c.Close()
}
