// Package sambatest provisions a throwaway Samba Active Directory domain controller for tests: a
// real AD (KDC with PAC, LDAP with the AD schema, internal DNS with the DC locator SRV records).
//
// Start needs root, Debian's samba, samba-ad-dc, samba-ad-provision, samba-dsdb-modules,
// samba-vfs-modules and winbind (scripts/test-deps.sh installs them), and its own loopback address:
// it adds 127.53.N.2/8 to lo (`ip addr add`; Samba refuses to start on 127.0.0.1 alone: "no network
// interfaces found") and removes it when the test ends. Without samba or root the test is skipped,
// unless on CI (testenv.OnCI: CI=true), where it fails.
//
// The DC gets its own certificate authority and LDAPS certificate (Samba's self-generated one has a
// negative serial number that Go refuses), so clients verify it with DC.CAFile / DC.CAPool and the
// name DC.HostName. Everything lives in a t.TempDir(); Samba runs in the foreground (samba -i -M
// single) in its own process group, stopped by its PID (and its group) at cleanup.
//
// Simulated DCs: AddSimulatedDC creates a computer object with keys (samba-tool computer add
// --prepare-oldjoin, so exportkeytab has something to export), sets dNSHostName, operatingSystem,
// msDS-SupportedEncryptionTypes = 24 (AES only), userAccountControl 532480 (writable DC) or 83890176
// (read-only DC, primaryGroupID 521), moves it to OU=Domain Controllers, creates its server object in
// its site (serverReference) and registers A and SRV records in the DC's DNS
// (`_ldap._tcp.dc._msdcs.<domain>` for writable DCs, `_ldap._tcp.<site>._sites.dc._msdcs.<domain>` for
// all), like a real DC's netlogon does. Each simulated DC gets the SPN HTTP/<fqdn> (WinRM's).
//
// Kerberos (for the audit of these DCs with Kerberos from this AD's KDC):
//
//	dc.ExportKeytab(t, "http.keytab", "HTTP/dc02.lab.test")  // samba-tool domain exportkeytab
//	dc.WriteKrb5Conf(t, "krb5.conf")                         // realm LAB.TEST, kdc = dc.KDC() (addr:88)
//
// The keytab holds the AES keys of the computer account under the HTTP/ principal: a Kerberos
// acceptor (remote/winsim with --keytab) decrypts service tickets the KDC issues for HTTP/<fqdn>.
// Clients get tickets with the DC's Administrator (dc.AdminUser, dc.AdminPassword) or any user
// added with dc.Tool(t, "user", "add", ...).
package sambatest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/dcproxy/dcproxy/internal/testenv"
)

// Options of the provisioned domain. Zero values give LAB.TEST / LAB / dc01.
type Options struct {
	Realm    string // Kerberos realm, upper case; the DNS domain is its lower case (default LAB.TEST)
	NetBIOS  string // NetBIOS domain name (default LAB)
	HostName string // short host name of the DC (default dc01)
}

// DC is a running Samba AD DC.
type DC struct {
	Realm         string // LAB.TEST
	Domain        string // lab.test
	NetBIOSDomain string // LAB
	HostName      string // dc01.lab.test
	Addr          string // its loopback address, e.g. 127.53.17.2 (DNS 53, Kerberos 88, LDAP 389, LDAPS 636)
	BaseDN        string // DC=lab,DC=test
	ConfigDN      string // CN=Configuration,DC=lab,DC=test
	AdminUser     string // Administrator@lab.test (UPN: good for LDAP simple bind and kinit)
	AdminPassword string // random per DC
	CAFile        string // PEM of the CA that signed the LDAPS certificate
	CAPool        *x509.CertPool
	Dir           string // everything of the DC
	ConfigFile    string // its smb.conf (every samba-tool call needs --configfile)

	ProvisionTime time.Duration // samba-tool domain provision
	StartTime     time.Duration // samba start until LDAPS answers

	cmd      *exec.Cmd
	done     chan struct{}
	stopOnce sync.Once
	nextIP   int
	mu       sync.Mutex
}

// Available reports why Start would skip ("" when it can run): not root, or samba missing.
func Available() string {
	if runtime.GOOS != "linux" {
		return "sambatest runs Samba AD DCs on Linux only"
	}
	if os.Geteuid() != 0 {
		return "sambatest needs root (ip addr add, Samba's ports below 1024)"
	}
	for _, b := range []string{"samba", "samba-tool", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			if _, err2 := os.Stat("/usr/sbin/" + b); err2 != nil {
				return b + " not installed (scripts/test-deps.sh installs samba)"
			}
		}
	}
	return ""
}

// skipOrFail skips the test, or fails it on CI (where the dependencies must be there).
func skipOrFail(t testing.TB, why string) {
	t.Helper()
	testenv.SkipOrFail(t, "sambatest: %s (scripts/test-deps.sh installs Samba)", why)
}

// Start provisions and starts a DC; it is stopped and its address removed when the test ends.
func Start(t testing.TB, o Options) *DC {
	t.Helper()
	if why := Available(); why != "" {
		skipOrFail(t, why)
	}
	if o.Realm == "" {
		o.Realm = "LAB.TEST"
	}
	if o.NetBIOS == "" {
		o.NetBIOS = "LAB"
	}
	if o.HostName == "" {
		o.HostName = "dc01"
	}
	dc := &DC{
		Realm: strings.ToUpper(o.Realm), Domain: strings.ToLower(o.Realm), NetBIOSDomain: strings.ToUpper(o.NetBIOS),
		Dir: t.TempDir(), nextIP: 3,
	}
	dc.HostName = strings.ToLower(o.HostName) + "." + dc.Domain
	dc.BaseDN = "DC=" + strings.Join(strings.Split(dc.Domain, "."), ",DC=")
	dc.ConfigDN = "CN=Configuration," + dc.BaseDN
	dc.AdminUser = "Administrator@" + dc.Domain
	dc.AdminPassword = "Adm1n!" + randHex(12) // meets AD's complexity rules
	dc.Addr = addLoopback(t)

	if err := dc.writeTLS(); err != nil {
		t.Fatalf("sambatest: certificate: %v", err)
	}
	d := dc.Dir
	args := []string{"domain", "provision", "--realm", dc.Realm, "--domain", dc.NetBIOSDomain, "--server-role=dc",
		"--dns-backend=SAMBA_INTERNAL", "--use-rfc2307", "--targetdir", d, "--host-name", strings.ToLower(o.HostName),
		"--host-ip", dc.Addr}
	for _, opt := range []string{
		"interfaces=" + dc.Addr, "bind interfaces only=yes", "netbios name=" + strings.ToUpper(o.HostName),
		"dns forwarder=127.0.0.1", "pid directory=" + d + "/run", "lock directory=" + d + "/lock",
		"state directory=" + d + "/state", "cache directory=" + d + "/cache", "log file=" + d + "/log/samba.log",
		"winbindd socket directory=" + d + "/winbindd", "ntp signd socket directory=" + d + "/ntp_signd",
		"ldap server require strong auth=allow_sasl_over_tls", "tls enabled=yes",
		"tls keyfile=" + d + "/tls/key.pem", "tls certfile=" + d + "/tls/cert.pem", "tls cafile=" + d + "/tls/ca.pem",
	} {
		args = append(args, "--option="+opt)
	}
	if err := os.MkdirAll(filepath.Join(d, "log"), 0o700); err != nil { // samba makes the others (it checks their modes)
		t.Fatal(err)
	}
	start := time.Now()
	// Without --adminpass provision sets a random Administrator password; setAdminPassword replaces
	// it without putting it in argv.
	out, err := exec.Command("samba-tool", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("sambatest: samba-tool domain provision: %v\n%s", err, tail(out, 2000))
	}
	dc.ConfigFile = filepath.Join(d, "etc", "smb.conf")
	dc.setAdminPassword(t)
	dc.ProvisionTime = time.Since(start)
	dc.start(t)
	return dc
}

// setPasswordPy sets a user's password on the local database with Samba's own Python bindings; the
// password comes from the environment, never argv (samba-tool takes it only as an argument or from
// a terminal prompt).
const setPasswordPy = `import os, sys
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
db.setpassword("(sAMAccountName=%s)" % sys.argv[2], os.environ["SAMBATEST_PASSWORD"], force_change_at_next_login=False, username=sys.argv[2])
`

// setAdminPassword sets Administrator's password on the local database (samba not yet running).
func (dc *DC) setAdminPassword(t testing.TB) {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "-c", setPasswordPy, dc.ConfigFile, "Administrator")
	cmd.Env = append(os.Environ(), "SAMBATEST_PASSWORD="+dc.AdminPassword)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sambatest: set the Administrator password: %v\n%s", err, tail(out, 1000))
	}
}

// start runs samba in the foreground and waits until LDAPS answers a bind.
func (dc *DC) start(t testing.TB) {
	t.Helper()
	begin := time.Now()
	logf, err := os.Create(filepath.Join(dc.Dir, "log", "samba.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("samba", "-i", "-M", "single", "--configfile="+dc.ConfigFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	ownGroup(cmd)
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("sambatest: start samba: %v", err)
	}
	dc.cmd, dc.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(dc.done) }()
	t.Cleanup(dc.Stop)
	deadline := time.Now().Add(90 * time.Second)
	for {
		c, err := dc.dialLDAPS()
		if err == nil {
			err = c.Bind(dc.AdminUser, dc.AdminPassword)
			c.Close()
			if err == nil {
				break
			}
		}
		select {
		case <-dc.done:
			log, _ := os.ReadFile(filepath.Join(dc.Dir, "log", "samba.out"))
			t.Fatalf("sambatest: samba exited during start-up: %s", tail(log, 2000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sambatest: LDAPS on %s did not answer within 90 s: %v", dc.Addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// DNS is served by the same process but may come up a moment later than LDAP.
	for time.Now().Before(deadline) {
		r := dc.Resolver()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := r.LookupHost(ctx, dc.HostName)
		cancel()
		if err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	dc.StartTime = time.Since(begin)
}

// Stop stops samba (SIGTERM to it, then SIGKILL to its process group after 15 s). Idempotent; also
// run by the test's cleanup.
func (dc *DC) Stop() {
	dc.stopOnce.Do(func() {
		if dc.cmd == nil || dc.cmd.Process == nil {
			return
		}
		pid := dc.cmd.Process.Pid
		terminate(pid)
		select {
		case <-dc.done:
		case <-time.After(15 * time.Second):
			stopGroup(pid)
			<-dc.done
		}
		// smbd and winbindd are children in samba's process group; make sure none outlives the test.
		stopGroup(pid)
	})
}

// addLoopback adds a free 127.53.N.2/8 to lo and removes it at cleanup.
func addLoopback(t testing.TB) string {
	t.Helper()
	for range 50 {
		addr := fmt.Sprintf("127.53.%d.2", 1+mrand.IntN(250))
		out, err := exec.Command("ip", "addr", "add", addr+"/8", "dev", "lo").CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "File exists") {
				continue
			}
			skipOrFail(t, fmt.Sprintf("ip addr add %s/8 dev lo: %v: %s", addr, err, strings.TrimSpace(string(out))))
		}
		t.Cleanup(func() { _ = exec.Command("ip", "addr", "del", addr+"/8", "dev", "lo").Run() })
		return addr
	}
	t.Fatal("sambatest: no free 127.53.N.2 address")
	return ""
}

// writeTLS creates a CA and a server certificate for HostName and Addr under Dir/tls.
func (dc *DC) writeTLS() error {
	dir := filepath.Join(dc.Dir, "tls")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sambatest CA " + dc.Domain},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dc.HostName},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		DNSNames: []string{dc.HostName, dc.Domain}, IPAddresses: []net.IP{net.ParseIP(dc.Addr)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	files := map[string][]byte{
		"ca.pem":   caPEM,
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil { // Samba wants the key 0600
			return err
		}
	}
	dc.CAFile = filepath.Join(dir, "ca.pem")
	dc.CAPool = x509.NewCertPool()
	dc.CAPool.AppendCertsFromPEM(caPEM)
	return nil
}

// TLSConfig returns a client configuration trusting the DC's CA.
func (dc *DC) TLSConfig() *tls.Config {
	return &tls.Config{RootCAs: dc.CAPool, ServerName: dc.HostName, MinVersion: tls.VersionTLS12}
}

func (dc *DC) dialLDAPS() (*ldap.Conn, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := ldap.DialURL("ldaps://"+net.JoinHostPort(dc.Addr, "636"), ldap.DialWithDialer(d), ldap.DialWithTLSConfig(dc.TLSConfig()))
	if err != nil {
		return nil, err
	}
	c.SetTimeout(30 * time.Second)
	return c, nil
}

// LDAP returns a connection bound as Administrator over LDAPS; it is closed when the test ends.
func (dc *DC) LDAP(t testing.TB) *ldap.Conn {
	t.Helper()
	c, err := dc.dialLDAPS()
	if err != nil {
		t.Fatalf("sambatest: ldaps %s: %v", dc.Addr, err)
	}
	if err := c.Bind(dc.AdminUser, dc.AdminPassword); err != nil {
		c.Close()
		t.Fatalf("sambatest: bind %s: %v", dc.AdminUser, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Resolver returns a resolver that asks the DC's DNS server.
func (dc *DC) Resolver() *net.Resolver {
	addr := net.JoinHostPort(dc.Addr, "53")
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// KDC returns the DC's Kerberos address, "addr:88".
func (dc *DC) KDC() string { return net.JoinHostPort(dc.Addr, "88") }

// WriteKrb5Conf writes a krb5.conf for the DC's realm (no DNS lookups: the machine's resolver does
// not know the lab domain) and returns its path.
func (dc *DC) WriteKrb5Conf(t testing.TB, path string) string {
	t.Helper()
	conf := fmt.Sprintf(`[libdefaults]
	default_realm = %[1]s
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	udp_preference_limit = 1

[realms]
	%[1]s = {
		kdc = %[2]s
		admin_server = %[2]s
	}

[domain_realm]
	.%[3]s = %[1]s
	%[3]s = %[1]s
`, dc.Realm, dc.KDC(), dc.Domain)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Tool runs samba-tool with the DC's configuration and returns its output. Calls that talk to the
// running server authenticate as Administrator with the password in the PASSWD environment variable
// (never argv); pass "-U", "Administrator" in args for those.
func (dc *DC) Tool(t testing.TB, args ...string) string {
	t.Helper()
	out, err := dc.tool(args...)
	if err != nil {
		t.Fatalf("sambatest: samba-tool %s: %v\n%s", strings.Join(args, " "), err, tail(out, 2000))
	}
	return string(out)
}

func (dc *DC) tool(args ...string) ([]byte, error) {
	cmd := exec.Command("samba-tool", append(args, "--configfile="+dc.ConfigFile)...)
	cmd.Env = append(os.Environ(), "PASSWD="+dc.AdminPassword)
	return cmd.CombinedOutput()
}

// ExportKeytab writes the keys of the given principals (e.g. "HTTP/dc02.lab.test") to path with
// samba-tool domain exportkeytab (appending to an existing keytab).
func (dc *DC) ExportKeytab(t testing.TB, path string, principals ...string) {
	t.Helper()
	for _, p := range principals {
		dc.Tool(t, "domain", "exportkeytab", path, "--principal="+p)
	}
	if st, err := os.Stat(path); err != nil || st.Size() < 16 {
		t.Fatalf("sambatest: exportkeytab %s wrote nothing (%v)", path, err)
	}
}

// NextAddress returns a fresh loopback address next to the DC's (127.53.N.3, .4, ...) for a
// simulated host. Nothing listens on it unless the test starts something there.
func (dc *DC) NextAddress() string {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	ip := net.ParseIP(dc.Addr).To4()
	out := net.IPv4(ip[0], ip[1], ip[2], byte(dc.nextIP)).String()
	dc.nextIP++
	return out
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)[:n]
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
