package fleet_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/krb"
	"github.com/dcproxy/dcproxy/remote/krb/krbtest"
	"github.com/dcproxy/dcproxy/remote/remotetest"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// The realm's audit account; the lab's LAB\auditor has the same password (one domain account), so
// NTLM would work too: the wire counts tell which protocol logged on.
const (
	krbUser = "auditor"
	krbPass = "Krb-Audit-Passw0rd!"
)

// wire counts, per host, what reached it: Negotiate tokens by protocol and SOAP bodies by sealing.
type wire struct {
	mu    sync.Mutex
	hosts map[string]*wireCount // by host name
}

type wireCount struct {
	ntlm, kerberos int // Authorization: Negotiate tokens
	aes, rc4       int // bodies sealed with Kerberos (RFC 4121 / RFC 4757 tokens)
	ntlmSealed     int // bodies sealed with NTLM
	plain          int // SOAP bodies in clear (inside TLS on HTTPS)
	other          int // bodies of any other kind
}

func newWire() *wire { return &wire{hosts: map[string]*wireCount{}} }

func (w *wire) get(host string) wireCount {
	w.mu.Lock()
	defer w.mu.Unlock()
	if c := w.hosts[host]; c != nil {
		return *c
	}
	return wireCount{}
}

func (w *wire) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.hosts = map[string]*wireCount{}
}

// wrap is a lab.Options.Wrap that counts every request before the host sees it.
func (w *wire) wrap(m *lab.Member, next http.Handler) http.Handler {
	name := m.Spec.Name
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		w.mu.Lock()
		c := w.hosts[name]
		if c == nil {
			c = &wireCount{}
			w.hosts[name] = c
		}
		if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Negotiate") {
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(tok))
			switch {
			case bytes.HasPrefix(raw, []byte("NTLMSSP\x00")) || bytes.Contains(raw, []byte("NTLMSSP\x00")):
				c.ntlm++
			case krb.IsKerberosToken(raw):
				c.kerberos++
			}
		}
		ct := r.Header.Get("Content-Type")
		switch {
		case len(body) == 0:
		case strings.Contains(ct, "application/soap+xml"):
			c.plain++
		case strings.Contains(ct, "multipart/encrypted"):
			// NTLM and Kerberos share the framing (and the SPNEGO protocol string): tell them by the
			// token header: NTLM's 16-byte signature (version 1), RFC 4121 (05 04), RFC 4757 (0x60).
			_, hdr, _, _, err := krb.Unframe(body)
			switch {
			case err != nil || len(hdr) < 2:
				c.other++
			case len(hdr) == 16 && hdr[0] == 1:
				c.ntlmSealed++
			case hdr[0] == 0x05 && hdr[1] == 0x04:
				c.aes++
			case hdr[0] == 0x60:
				c.rc4++
			default:
				c.other++
			}
		default:
			c.other++
		}
		w.mu.Unlock()
		next.ServeHTTP(rw, r)
	})
}

// krbRealm is a real MIT KDC with the audit account and HTTP/ keys for the lab's hosts.
type krbRealm struct {
	kdc    *krbtest.KDC
	keytab string // HTTP/dc01..dc07.lab.test, every enctype (AES and RC4)
	rc4    string // krb5.conf restricted to arcfour-hmac
}

func startKrbRealm(t *testing.T) *krbRealm {
	t.Helper()
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local", "kinit")
	k := krbtest.Start(t, krbtest.Options{RC4: true})
	k.AddUser(krbUser, krbPass)
	kt := filepath.Join(k.Dir, "lab-hosts.keytab")
	var add []string
	names := ""
	for _, n := range []string{"dc01", "dc02", "dc03", "dc04", "dc05", "dc06", "dc07"} {
		add = append(add, "addprinc -randkey HTTP/"+n+".lab.test")
		names += " HTTP/" + n + ".lab.test"
	}
	k.Kadmin(append(add, "ktadd -k "+kt+names)...)
	return &krbRealm{kdc: k, keytab: kt, rc4: k.ClientConf("arcfour-hmac")}
}

// kinit runs the real kinit with KRB5CCNAME and KRB5_CONFIG in its environment and the password on
// standard input; it returns the ccache path.
func (r *krbRealm) kinit(t *testing.T) string {
	t.Helper()
	bin, ok := krbtest.Bin("kinit")
	if !ok {
		t.Fatal("kinit not found")
	}
	cc := filepath.Join(t.TempDir(), "ccache")
	cmd := exec.Command(bin, krbUser+"@LAB.TEST")
	cmd.Env = append(os.Environ(), "KRB5CCNAME=FILE:"+cc, "KRB5_CONFIG="+r.kdc.Conf)
	cmd.Stdin = strings.NewReader(krbPass + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v: %s", err, out)
	}
	return cc
}

// preauthFailures counts the wrong-password AS exchanges the KDC logged.
func (r *krbRealm) preauthFailures(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.kdc.Dir, "kdc.log"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "PREAUTH_FAILED")
}

// krbFleet: five lab hosts keyed by the realm's keytab, HTTP and HTTPS, one German.
var krbFleet = remotetest.LabFleet("{direct: false, proxies: {'proxy.lab.test:8080': ok}}", `
  - name: dc01.lab.test
  - name: dc02.lab.test
    https: true
  - name: dc03.lab.test
    locale: de-DE
  - name: dc04.lab.test
  - name: dc05.lab.test
    https: true
`)

type krbLab struct {
	lab  *lab.Lab
	wire *wire
	ca   string
}

func startKrbLab(t *testing.T, r *krbRealm, fleetFile, first string, ko krb.AcceptorOptions) *krbLab {
	t.Helper()
	spec, err := lab.ParseSpec([]byte(strings.Replace(fleetFile, "password: 'Lab-Passw0rd!'", "password: '"+krbPass+"'", 1)))
	if err != nil {
		t.Fatal(err)
	}
	w := newWire()
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr(first), PSStart: 10 * time.Millisecond, ProbeTime: 5 * time.Millisecond,
		Keytab: r.keytab, KerberosOptions: ko, Wrap: w.wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, l.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &krbLab{lab: l, wire: w, ca: ca}
}

// settle waits until every host has deleted its shells: dcproxy's client does not wait for the
// Delete's reply, so a Delete may still be on its way when Audit returns, and must be counted with
// the audit that sent it.
func (kl *krbLab) settle(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		open := 0
		for _, m := range kl.lab.Members {
			if m.Host != nil {
				open += m.Host.ShellCount()
			}
		}
		if open == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d shells still open", open)
		}
	}
}

// inventory lists the lab's hosts by name (the SPN host) with their 127.x addresses.
func (kl *krbLab) inventory() []inventory.Host {
	var hosts []inventory.Host
	for _, m := range kl.lab.Members {
		https := m.HTTPS
		hosts = append(hosts, inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &https, Source: "krb"})
	}
	return hosts
}

// target builds a Kerberos target for a host: dialed at its address, SPN from its name.
func (kl *krbLab) target(r *krbRealm, set func(*remote.Target)) func(inventory.Host) (remote.Target, error) {
	return func(h inventory.Host) (remote.Target, error) {
		tg := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, CAFile: kl.ca, TLSServerName: h.Name,
			Auth: remote.AuthKerberos, User: krbUser, Timeout: 5 * time.Second,
			Kerberos: remote.KerberosTarget{SPNHost: h.Name, Realm: "LAB.TEST", ConfigFile: r.kdc.Conf}}
		set(&tg)
		tg.SetDefaults()
		return tg, tg.Validate()
	}
}

func krbAudit(t *testing.T, hosts []inventory.Host, target func(inventory.Host) (remote.Target, error), d remote.Dialer, limit int) *fleet.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return fleet.Audit(ctx, hosts, fleet.Options{
		Concurrency: 5, HostTimeout: 10 * time.Second, Dialer: d, Target: target, AuthFailureLimit: limit,
		Probe: fleet.ProbeOptions{URL: "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com"},
	})
}

// TestE2E_KerberosAudit: fleet.Audit of lab hosts keyed by a real MIT KDC's keytab, with Kerberos
// from a kinit ccache, a client keytab and a password (AES and RC4 session keys): every host
// compliant; on the wire only Kerberos tokens (no NTLM), bodies sealed with the expected token type
// on HTTP and in clear inside TLS on HTTPS.
func TestE2E_KerberosAudit(t *testing.T) {
	r := startKrbRealm(t)
	kl := startKrbLab(t, r, krbFleet, "127.122.0.1", krb.AcceptorOptions{})
	hosts := kl.inventory()
	ccache := r.kinit(t)
	clientKeytab := r.kdc.Keytab(krbUser + "@LAB.TEST")
	for _, tc := range []struct {
		name string
		set  func(*remote.Target)
		rc4  bool
	}{
		{"ccache", func(tg *remote.Target) { tg.User, tg.Kerberos.CCache = "", "FILE:"+ccache }, false},
		{"keytab", func(tg *remote.Target) { tg.Kerberos.Keytab = clientKeytab }, false},
		{"password", func(tg *remote.Target) { tg.Password = krbPass }, false},
		{"password rc4", func(tg *remote.Target) { tg.Password, tg.Kerberos.ConfigFile = krbPass, r.rc4 }, true},
		{"negotiate password", func(tg *remote.Target) { tg.Auth, tg.Password = remote.AuthNegotiate, krbPass }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kl.wire.reset()
			cache := &krb.Cache{}
			defer cache.Close()
			rep := krbAudit(t, hosts, kl.target(r, tc.set), winrmclient.Dialer{Kerberos: cache}, 0)
			kl.settle(t)
			for i, res := range rep.Hosts {
				m := kl.lab.Members[i]
				if res.Status != fleet.StatusCompliant {
					t.Errorf("%s: %s %+v", res.Host, res.Status, res.Error)
					continue
				}
				c := kl.wire.get(m.Spec.Name)
				sealed := c.aes + c.rc4
				switch {
				case c.ntlm != 0 || c.ntlmSealed != 0 || c.kerberos == 0 || c.other != 0:
					t.Errorf("%s: %d NTLM tokens, %d NTLM-sealed bodies, %d other bodies, %d Kerberos tokens: want Kerberos only", res.Host, c.ntlm, c.ntlmSealed, c.other, c.kerberos)
				case m.HTTPS && (sealed != 0 || c.plain == 0):
					t.Errorf("%s (HTTPS): %d sealed, %d plain bodies: want plain inside TLS", res.Host, sealed, c.plain)
				case !m.HTTPS && (c.plain != 0 || sealed == 0):
					t.Errorf("%s (HTTP): %d plain, %d sealed bodies: want every body sealed", res.Host, c.plain, sealed)
				case !m.HTTPS && tc.rc4 && c.aes != 0, !m.HTTPS && !tc.rc4 && c.rc4 != 0:
					t.Errorf("%s: %d AES and %d RC4 sealed bodies (want RC4: %v)", res.Host, c.aes, c.rc4, tc.rc4)
				}
			}
		})
	}
}

// TestE2E_KerberosRefusals: a wrong password, a host whose clock is off by more than the skew, and a
// host without a service principal are each refused with their own message and kind, and negotiate
// falls back to NTLM only where Kerberos is impossible and NTLM is allowed; with NTLM disabled no
// NTLM token reaches any host.
func TestE2E_KerberosRefusals(t *testing.T) {
	r := startKrbRealm(t)
	kl := startKrbLab(t, r, krbFleet, "127.122.1.1", krb.AcceptorOptions{})
	skewed := startKrbLab(t, r, remotetest.LabFleet("{direct: false, proxies: {'proxy.lab.test:8080': ok}}", "  - name: dc06.lab.test\n"), "127.122.2.1",
		krb.AcceptorOptions{Now: func() time.Time { return time.Now().Add(10 * time.Minute) }})
	dc01, dc04 := kl.inventory()[0], kl.inventory()[3]
	// dc04 answers at this address, but the inventory names it dc09, which has no HTTP/ principal.
	noSPN := inventory.Host{Name: "dc09.lab.test", Address: dc04.Address, Port: dc04.Port, HTTPS: dc04.HTTPS, Source: "krb"}
	skewHost := skewed.inventory()[0]
	lookup := func(name string) (*wire, string) {
		if name == skewHost.Name {
			return skewed.wire, name
		}
		if name == noSPN.Name {
			return kl.wire, dc04.Name
		}
		return kl.wire, name
	}
	target := func(set func(*remote.Target)) func(inventory.Host) (remote.Target, error) {
		return func(h inventory.Host) (remote.Target, error) {
			ca := kl.ca
			if h.Name == skewHost.Name {
				ca = skewed.ca
			}
			tg := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, CAFile: ca, Auth: remote.AuthKerberos, User: krbUser,
				Password: krbPass, Timeout: 5 * time.Second, Kerberos: remote.KerberosTarget{SPNHost: h.Name, Realm: "LAB.TEST", ConfigFile: r.kdc.Conf}}
			set(&tg)
			tg.SetDefaults()
			return tg, tg.Validate()
		}
	}
	type want struct {
		status fleet.HostStatus
		kind   fleet.ErrorKind
		msg    []string
		ntlm   bool // NTLM tokens reached the host
	}
	for _, tc := range []struct {
		name  string
		hosts []inventory.Host
		set   func(*remote.Target)
		want  []want
	}{
		{"wrong password", []inventory.Host{dc01}, func(tg *remote.Target) { tg.Password = "not-the-password" },
			[]want{{fleet.StatusError, fleet.ErrorKindAuth, []string{"pre-authentication failed"}, false}}},
		{"clock skew", []inventory.Host{skewHost}, func(*remote.Target) {},
			[]want{{fleet.StatusError, fleet.ErrorKindProtocol, []string{"clock skew too great", "refused the Kerberos ticket"}, false}}},
		{"unknown SPN", []inventory.Host{noSPN}, func(*remote.Target) {},
			[]want{{fleet.StatusError, fleet.ErrorKindError, []string{"no such service principal", "HTTP/dc09.lab.test"}, false}}},
		{"negotiate falls back to NTLM", []inventory.Host{noSPN, skewHost, dc01}, func(tg *remote.Target) { tg.Auth = remote.AuthNegotiate },
			[]want{
				{fleet.StatusCompliant, "", nil, true},                                                // no SPN: Kerberos impossible, NTLM allowed
				{fleet.StatusError, fleet.ErrorKindProtocol, []string{"clock skew too great"}, false}, // an answer, not an absence: no fallback
				{fleet.StatusCompliant, "", nil, false},
			}},
		{"negotiate without NTLM", []inventory.Host{noSPN, skewHost, dc01}, func(tg *remote.Target) {
			tg.Auth, tg.Kerberos.DisableNTLM = remote.AuthNegotiate, true
		},
			[]want{
				{fleet.StatusError, fleet.ErrorKindError, []string{"no such service principal"}, false},
				{fleet.StatusError, fleet.ErrorKindProtocol, []string{"clock skew too great"}, false},
				{fleet.StatusCompliant, "", nil, false},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kl.wire.reset()
			skewed.wire.reset()
			cache := &krb.Cache{}
			defer cache.Close()
			rep := krbAudit(t, tc.hosts, target(tc.set), winrmclient.Dialer{Kerberos: cache}, -1)
			kl.settle(t)
			skewed.settle(t)
			for i, res := range rep.Hosts {
				w := tc.want[i]
				var kind fleet.ErrorKind
				if res.Error != nil {
					kind = res.Error.Kind
					if strings.Contains(fmt.Sprintf("%+v", res.Error), krbPass) {
						t.Errorf("%s: message holds the password", res.Host)
					}
				}
				if res.Status != w.status || kind != w.kind {
					t.Errorf("%s: %s/%s, want %s/%s (%+v)", res.Host, res.Status, kind, w.status, w.kind, res.Error)
				}
				for _, m := range w.msg {
					if text := fmt.Sprintf("%+v", res.Error); res.Error == nil || !strings.Contains(text, m) {
						t.Errorf("%s: error %s does not say %q", res.Host, text, m)
					}
				}
				wr, name := lookup(res.Host)
				if c := wr.get(name); (c.ntlm > 0) != w.ntlm || (c.ntlmSealed > 0) != (w.ntlm && w.status == fleet.StatusCompliant) {
					t.Errorf("%s: %d NTLM tokens and %d NTLM-sealed bodies reached the host (want NTLM: %v)", res.Host, c.ntlm, c.ntlmSealed, w.ntlm)
				}
			}
		})
	}
}

// TestE2E_KerberosLockoutGate: five hosts audited with a wrong password. Kerberos checks the password
// at the KDC (the AS exchange), which counts bad passwords like the DCs do: the lockout gate lets at
// most AuthFailureLimit of those exchanges happen (each host with its own Kerberos client, so
// nothing but the gate holds them back), and with the shared client cache only one. The other hosts
// are reported as not attempted.
func TestE2E_KerberosLockoutGate(t *testing.T) {
	r := startKrbRealm(t)
	kl := startKrbLab(t, r, krbFleet, "127.122.3.1", krb.AcceptorOptions{})
	hosts := kl.inventory()
	wrong := kl.target(r, func(tg *remote.Target) { tg.Password = "not-the-password" })
	for _, tc := range []struct {
		name   string
		dialer func() (remote.Dialer, func())
		limit  int
		max    int
	}{
		{"per-host clients", func() (remote.Dialer, func()) { return winrmclient.Dialer{}, func() {} }, 2, 2},
		{"shared cache", func() (remote.Dialer, func()) { c := &krb.Cache{}; return winrmclient.Dialer{Kerberos: c}, c.Close }, 3, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := r.preauthFailures(t)
			d, done := tc.dialer()
			rep := krbAudit(t, hosts, wrong, d, tc.limit)
			done()
			var notAttempted int
			for _, res := range rep.Hosts {
				if res.Error == nil || res.Error.Kind != fleet.ErrorKindAuth {
					t.Errorf("%s: %+v, want auth", res.Host, res.Error)
					continue
				}
				if strings.Contains(fmt.Sprintf("%+v", res.Error), "not locked out") {
					notAttempted++
				}
			}
			// The KDC logs asynchronously to the reply: give it a moment.
			var tries int
			for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				if tries = r.preauthFailures(t) - before; tries > 0 || time.Now().After(deadline) {
					break
				}
			}
			if tries < 1 || tries > tc.max {
				t.Errorf("%d wrong-password AS exchanges reached the KDC, want 1..%d", tries, tc.max)
			}
			if notAttempted < len(hosts)-tc.limit {
				t.Errorf("%d hosts not attempted, want at least %d", notAttempted, len(hosts)-tc.limit)
			}
			for _, m := range kl.lab.Members {
				if c := kl.wire.get(m.Spec.Name); c.kerberos+c.ntlm != 0 {
					t.Errorf("%s: %d logon tokens reached the host with a refused password", m.Spec.Name, c.kerberos+c.ntlm)
				}
			}
		})
	}
}
