package lab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/pwsh"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
)

// Options control how a lab listens.
type Options struct {
	// HTTPPort and HTTPSPort are the ports every host listens on; 0 picks a free port per host
	// (tests), the lab command uses 5985 and 5986.
	HTTPPort, HTTPSPort int
	// FirstAddress is where automatic addresses start (default 127.1.0.1).
	FirstAddress netip.Addr
	// SingleAddress puts every host on 127.0.0.1 with a free port each (ports must be 0), for
	// systems whose loopback interface holds only 127.0.0.1 (macOS).
	SingleAddress bool
	// Defaults for timing fields a spec leaves out.
	PSStart, ProbeTime time.Duration
	// Keytab, when set, is a keytab exported by a real KDC (MIT or AD) holding HTTP/<name> (or
	// HOST/<name>) keys of the hosts: every host then accepts Kerberos too, through one shared
	// acceptor. Host names must be FQDNs in the realm's DNS domain (kerberos.go); Start refuses a
	// host without a key. dcproxy lab --keytab FILE sets it.
	Keytab string
	// KerberosOptions tune the shared acceptor (tests: a host clock off by more than the skew).
	KerberosOptions krb.AcceptorOptions
	// Wrap, when set, wraps each listening host's HTTP handler (tests: watch what reaches the host
	// on the wire, such as the authentication tokens).
	Wrap func(m *Member, h http.Handler) http.Handler
}

// Member is one running host of a lab.
type Member struct {
	Spec     HostSpec
	Host     *winsim.Host // nil for a refusing host
	Address  string       // 127.x.y.z
	Port     int
	HTTPS    bool
	User     string
	Password string
}

// Endpoint returns address:port.
func (m *Member) Endpoint() string { return net.JoinHostPort(m.Address, strconv.Itoa(m.Port)) }

// Lab is a running fleet. Close stops it.
type Lab struct {
	Members []*Member
	CAPEM   []byte

	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	certMu   sync.Mutex
	certs    map[string]*tls.Certificate
	httpSrv  *http.Server
	tlsSrv   *http.Server
	kerberos *krb.Acceptor // shared by every host; nil without Options.Keytab
	handlers sync.Map      // local address (addrKey) -> http.Handler
	mu       sync.Mutex
	lns      []net.Listener
	holds    []net.Conn
	closed   bool
	wg       sync.WaitGroup
}

type ctxKey struct{}

// addrKey is the key of a listener's handler: its address and port, found again from a
// connection's local address without formatting it.
func addrKey(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// Start builds every host of spec and starts listening. On error nothing is left running.
func Start(spec *Spec, opt Options) (*Lab, error) {
	if !opt.FirstAddress.IsValid() {
		opt.FirstAddress = netip.MustParseAddr("127.1.0.1")
	}
	acc, err := kerberosAcceptor(spec, opt)
	if err != nil {
		return nil, err
	}
	l := &Lab{certs: map[string]*tls.Certificate{}, kerberos: acc}
	if err := l.makeCA(); err != nil {
		return nil, err
	}
	serve := func(w http.ResponseWriter, r *http.Request) {
		if h, ok := r.Context().Value(ctxKey{}).(http.Handler); ok {
			h.ServeHTTP(w, r)
			return
		}
		http.Error(w, "no host", http.StatusNotFound)
	}
	connCtx := func(ctx context.Context, c net.Conn) context.Context {
		if h, ok := l.handlers.Load(addrKey(c.LocalAddr())); ok {
			ctx = context.WithValue(ctx, ctxKey{}, h)
		}
		return winsim.ConnContext(ctx, c)
	}
	l.httpSrv = &http.Server{Handler: http.HandlerFunc(serve), ConnContext: connCtx, ReadHeaderTimeout: time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: quietLog()}
	l.tlsSrv = &http.Server{Handler: http.HandlerFunc(serve), ConnContext: connCtx, ReadHeaderTimeout: time.Minute, IdleTimeout: 2 * time.Minute, ErrorLog: quietLog(),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: l.certificate}}

	next := opt.FirstAddress
	used := map[netip.Addr]bool{}
	for i := range spec.Hosts {
		hs := spec.Resolve(i)
		if hs.Address != "" {
			used[netip.MustParseAddr(hs.Address)] = true
		}
	}
	for i := range spec.Hosts {
		hs := spec.Resolve(i)
		addr := hs.Address
		if opt.SingleAddress {
			if opt.HTTPPort != 0 || opt.HTTPSPort != 0 {
				l.Close()
				return nil, errors.New("one address for all hosts needs free ports (HTTPPort and HTTPSPort 0)")
			}
			addr = "127.0.0.1"
		} else if addr == "" {
			for used[next] || next.As4()[3] == 0 || next.As4()[3] == 255 {
				next = next.Next()
			}
			addr = next.String()
			used[next] = true
		}
		m, err := l.startMember(hs, addr, opt)
		if err != nil {
			l.Close()
			return nil, fmt.Errorf("host %s (line %d): %w", hs.Name, hs.Line, err)
		}
		l.Members = append(l.Members, m)
	}
	return l, nil
}

func dur(d *Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return time.Duration(*d)
}

func (l *Lab) startMember(hs HostSpec, addr string, opt Options) (*Member, error) {
	m := &Member{Spec: hs, Address: addr, HTTPS: hs.HTTPS != nil && *hs.HTTPS, User: hs.User, Password: hs.Password}
	port := opt.HTTPPort
	if m.HTTPS {
		port = opt.HTTPSPort
	}
	accounts := []winsim.Account{{User: hs.User, Password: hs.Password, Admin: true}}
	for _, a := range hs.Accounts {
		accounts = append(accounts, winsim.Account{User: a.User, Password: a.Password, Admin: a.Admin})
	}
	nw := pwsh.Network{Proxies: hs.Network.Proxies, EndpointStatus: hs.Network.EndpointStatus}
	if nw.EndpointStatus == 0 {
		nw.EndpointStatus = 503
	}
	if hs.Network.Direct != nil {
		nw.Direct = *hs.Network.Direct
	}
	if hs.Network.TLSIntercept != nil {
		switch *hs.Network.TLSIntercept {
		case InterceptUntrusted:
			nw.TLSIntercept = pwsh.InterceptUntrusted
		case InterceptTrusted:
			nw.TLSIntercept = pwsh.InterceptTrusted
		}
	}
	nw.InterceptIssuer = hs.Network.TLSInterceptIssuer
	if hs.Network.EndpointVersion != nil {
		nw.EndpointVersion = *hs.Network.EndpointVersion
	}
	if hs.Network.PACProxy != nil {
		nw.PACProxy = *hs.Network.PACProxy
	}
	cfg := winsim.Config{
		Name: hs.Name, Locale: hs.Locale, Accounts: accounts,
		Basic:            hs.Auth.Basic != nil && *hs.Auth.Basic,
		AllowUnencrypted: hs.Auth.AllowUnencrypted != nil && *hs.Auth.AllowUnencrypted,
		AuthFail:         hs.Fault == FaultAuthFail,
		NoPowerShell:     hs.Fault == FaultNoPowerShell,
		RightsRefusal:    hs.RightsRefusal,
		Kerberos:         l.kerberos,
		Latency:          dur(hs.Latency, 0),
		ExecTime:         dur(hs.ExecTime, 0),
		PSStart:          dur(hs.PSStart, opt.PSStart),
		ProbeTime:        dur(hs.ProbeTime, opt.ProbeTime),
		Network:          nw,
	}
	if hs.Fault == FaultSlow {
		cfg.Latency += SlowLatency
	}
	var enforce func(*registry.Registry) // set once the registry is seeded, before the host serves
	if hs.Policy != nil && hs.Policy.Enforce {
		cfg.RegistryPolicy = func(r *registry.Registry) { enforce(r) }
	}
	h, err := winsim.NewHost(cfg)
	if err != nil {
		return nil, err
	}
	if err := seedRegistry(h, hs); err != nil {
		return nil, err
	}
	if err := seedMachine(h, hs); err != nil {
		return nil, err
	}
	if cfg.RegistryPolicy != nil {
		enforce = enforcePolicy(h.Registry())
	}
	if hs.Backup != nil && hs.Backup.ReadOnly {
		// The on-host backup folder (%ProgramData%\dcproxy\backup) is created below it.
		if err := h.FS().SetReadOnly(`C:\ProgramData`, true); err != nil {
			return nil, err
		}
	}
	m.Host = h

	if hs.Fault == FaultRefuse {
		// Nothing listens. With a fixed port the address alone guarantees it; with port 0 take a free
		// port and release it.
		if port == 0 {
			ln, err := net4Listen(addr, 0)
			if err != nil {
				return nil, err
			}
			port = ln.Addr().(*net.TCPAddr).Port
			_ = ln.Close()
		}
		m.Port = port
		return m, nil
	}
	ln, err := net4Listen(addr, port)
	if err != nil {
		return nil, err
	}
	m.Port = ln.Addr().(*net.TCPAddr).Port
	l.mu.Lock()
	l.lns = append(l.lns, ln)
	l.mu.Unlock()

	var handler http.Handler = h.Handler(m.HTTPS)
	switch hs.Fault {
	case FaultBlackhole:
		l.goAccept(ln, l.hold)
		return m, nil
	case FaultDrop:
		l.goAccept(ln, l.drop)
		return m, nil
	case FaultHTTP500:
		handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "<html><body><h1>500 Internal Server Error</h1></body></html>")
		})
	}
	if opt.Wrap != nil {
		handler = opt.Wrap(m, handler)
	}
	l.handlers.Store(addrKey(ln.Addr()), handler)
	srv := l.httpSrv
	if m.HTTPS {
		srv = l.tlsSrv
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	l.wg.Add(1)
	go func() { defer l.wg.Done(); _ = srv.Serve(ln) }()
	return m, nil
}

func net4Listen(addr string, port int) (net.Listener, error) {
	lc := net.ListenConfig{}
	return lc.Listen(context.Background(), "tcp4", net.JoinHostPort(addr, strconv.Itoa(port)))
}

func (l *Lab) goAccept(ln net.Listener, fn func(net.Conn)) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fn(c)
		}
	}()
}

// hold keeps a connection open without ever answering (a blackholed host behind a stateful device).
func (l *Lab) hold(c net.Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
		return
	}
	l.holds = append(l.holds, c)
	go func() { _, _ = io.Copy(io.Discard, c) }()
}

// drop reads the start of a request and closes the connection.
func (l *Lab) drop(c net.Conn) {
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 512)
		_, _ = c.Read(buf)
		_ = c.Close()
	}()
}

func seedRegistry(h *winsim.Host, hs HostSpec) error {
	acct, _ := h.Account(hs.User)
	const value = "DefaultConnectionSettings"
	set := func(key, name string, hive *Hive, version uint32) error {
		b := hive.Bytes(version)
		if b == nil {
			return nil
		}
		return h.Registry().SetValue(key, registry.Value{Name: name, Type: registry.TypeBinary, Data: b})
	}
	const saved = "SavedLegacySettings"
	reg := hs.Registry
	for _, v := range []struct {
		sid         string
		dcs, legacy *Hive
	}{{acct.SID, reg.CurrentUser, reg.CurrentUserLegacy}, {"S-1-5-18", reg.LocalSystem, reg.LocalSystemLegacy}, {"S-1-5-19", reg.LocalService, reg.LocalServiceLegacy}} {
		key := `HKEY_USERS\` + v.sid + `\` + winsim.InternetSettingsKey
		if err := set(key, value, v.dcs, wininet.VersionIE7); err != nil {
			return err
		}
		if err := set(key, saved, v.legacy, wininet.VersionIE7); err != nil {
			return err
		}
	}
	return set(`HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`, "WinHttpSettings", reg.WinHTTP, wininet.VersionWinHTTP)
}

// enforcePolicy captures the service accounts' seeded DefaultConnectionSettings and returns the
// policy that puts them back (PolicySpec.Enforce).
func enforcePolicy(seeded *registry.Registry) func(*registry.Registry) {
	type value struct {
		key     string
		v       registry.Value
		present bool
	}
	var vals []value
	for _, sid := range []string{"S-1-5-18", "S-1-5-19"} {
		key := `HKEY_USERS\` + sid + `\` + winsim.InternetSettingsKey
		v, ok := seeded.Value(key, "DefaultConnectionSettings")
		vals = append(vals, value{key: key, v: v, present: ok})
	}
	return func(r *registry.Registry) {
		for _, x := range vals {
			if x.present {
				_ = r.SetValue(x.key, x.v)
				continue
			}
			_ = r.DeleteValue(x.key, "DefaultConnectionSettings")
		}
	}
}

// Close stops every listener and held connection and waits for the servers to stop.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	for _, c := range l.holds {
		_ = c.Close()
	}
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.httpSrv.Shutdown(ctx)
	_ = l.tlsSrv.Shutdown(ctx)
	l.mu.Lock()
	for _, ln := range l.lns {
		_ = ln.Close()
	}
	l.mu.Unlock()
	_ = l.httpSrv.Close()
	_ = l.tlsSrv.Close()
	l.wg.Wait()
}

// CertPool returns a pool holding the lab's CA, for clients in the same process.
func (l *Lab) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(l.ca)
	return p
}

func (l *Lab) makeCA() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "dcproxy lab CA", Organization: []string{"dcproxy lab"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	l.ca, err = x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	l.caKey = key
	l.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return nil
}

// certificate issues (once) a leaf for the local address the client connected to, with the host's
// name and address as SANs, the way a WinRM HTTPS listener has a certificate per host.
func (l *Lab) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	local, ok := hello.Conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return nil, errors.New("no local address")
	}
	ip := local.IP.String()
	l.certMu.Lock()
	defer l.certMu.Unlock()
	if c := l.certs[ip]; c != nil {
		return c, nil
	}
	name := ip
	for _, m := range l.Members {
		if m.Address == ip {
			name = m.Spec.Name
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{local.IP},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, l.ca, &key.PublicKey, l.caKey)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	l.certs[ip] = c
	return c, nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// WaitReady returns once every listening host accepts TCP connections (refusing hosts excepted).
func (l *Lab) WaitReady(ctx context.Context) error {
	sem := make(chan struct{}, 64)
	errs := make(chan error, len(l.Members))
	var wg sync.WaitGroup
	for _, m := range l.Members {
		if m.Spec.Fault == FaultRefuse {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			var d net.Dialer
			for {
				c, err := d.DialContext(ctx, "tcp4", m.Endpoint())
				if err == nil {
					_ = c.Close()
					return
				}
				select {
				case <-ctx.Done():
					errs <- fmt.Errorf("host %s (%s) not ready: %w", m.Spec.Name, m.Endpoint(), err)
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
