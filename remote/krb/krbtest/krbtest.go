// Package krbtest starts a real MIT Kerberos KDC (Debian krb5-kdc, krb5-admin-server, krb5-user) in a
// temporary directory for tests: a realm created with kdb5_util, principals and keytabs made with
// kadmin.local, and krb5kdc in the foreground on a free 127.0.0.1 port (UDP and TCP). Nothing needs
// root. The machine's resolver is never consulted (dns_lookup_kdc, dns_canonicalize_hostname and
// rdns are off).
//
// When the binaries are missing the test is skipped, except on CI (environment CI=true), where a
// missing KDC fails the test: CI installs it (scripts/test-deps.sh).
//
// Passwords given to AddUser and Kinit travel on the child processes' standard input, never in argv.
package krbtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure Start. The zero value makes realm LAB.TEST with AES keys only.
type Options struct {
	// Realm is the realm name (upper case); "LAB.TEST" when empty. Hosts under its lower-cased
	// name map to it in domain_realm.
	Realm string
	// RC4 lets the KDC issue arcfour-hmac keys, tickets and session keys (allow_rc4 = true and
	// arcfour-hmac:normal among the supported key types); MIT 1.20 refuses RC4 otherwise.
	RC4 bool
	// MaxLife is the ticket lifetime; 10h when zero.
	MaxLife time.Duration
}

// KDC is a running MIT KDC. Its files live in Dir, removed with the test.
type KDC struct {
	Realm string
	Dir   string
	Port  int
	// Conf is a krb5.conf for clients (and the KDC) of this realm, all enctypes the KDC allows.
	Conf string
	// KDCProfile is the kdc.conf (KRB5_KDC_PROFILE).
	KDCProfile string

	t    testing.TB
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

var binDirs = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"}

// Bin finds a Kerberos program on PATH or in the sbin directories (non-root PATHs lack them).
func Bin(name string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range binDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// Require skips t (fails it when CI=true) unless the named programs exist.
func Require(t testing.TB, names ...string) {
	t.Helper()
	var missing []string
	for _, n := range names {
		if _, ok := Bin(n); !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("krbtest: %s not installed (apt-get install krb5-kdc krb5-admin-server krb5-user; scripts/test-deps.sh)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// Start creates a realm in a temporary directory and runs krb5kdc until the test ends.
func Start(t testing.TB, o Options) *KDC {
	t.Helper()
	Require(t, "krb5kdc", "kdb5_util", "kadmin.local")
	if o.Realm == "" {
		o.Realm = "LAB.TEST"
	}
	if o.MaxLife == 0 {
		o.MaxLife = 10 * time.Hour
	}
	k := &KDC{Realm: o.Realm, Dir: t.TempDir(), t: t}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatalf("krbtest: free port: %v", err)
		}
		k.Port = port
		k.writeConfig(o)
		if attempt == 0 {
			k.createDB()
		}
		if lastErr = k.startKDC(); lastErr == nil {
			return k
		}
	}
	t.Fatalf("krbtest: krb5kdc did not start: %v", lastErr)
	return nil
}

// freePort returns a port free for both TCP and UDP on 127.0.0.1 at the time of the call.
func freePort() (int, error) {
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = u.Close()
		return port, nil
	}
	return 0, fmt.Errorf("no port free for TCP and UDP")
}

func (k *KDC) writeConfig(o Options) {
	domain := strings.ToLower(k.Realm)
	addr := "127.0.0.1:" + strconv.Itoa(k.Port)
	rc4 := ""
	enctypes := "aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal"
	if o.RC4 {
		rc4 = "  allow_rc4 = true\n"
		enctypes += " arcfour-hmac:normal"
	}
	conf := fmt.Sprintf(`[libdefaults]
  default_realm = %[1]s
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  ignore_acceptor_hostname = false
  udp_preference_limit = 1
  ticket_lifetime = %[5]ds
%[4]s
[realms]
  %[1]s = {
    kdc = %[2]s
    admin_server = %[2]s
  }

[domain_realm]
  .%[3]s = %[1]s
  %[3]s = %[1]s
`, k.Realm, addr, domain, rc4, int(o.MaxLife.Seconds()))
	kdcConf := fmt.Sprintf(`[kdcdefaults]
  kdc_listen = %[2]s
  kdc_tcp_listen = %[2]s

[realms]
  %[1]s = {
    database_name = %[3]s
    key_stash_file = %[4]s
    acl_file = %[5]s
    max_life = %[6]ds
    max_renewable_life = 0
    supported_enctypes = %[7]s
    default_principal_flags = +preauth
  }

[logging]
  kdc = FILE:%[8]s
`, k.Realm, addr, filepath.Join(k.Dir, "principal"), filepath.Join(k.Dir, "stash"), filepath.Join(k.Dir, "kadm5.acl"),
		int(o.MaxLife.Seconds()), enctypes, filepath.Join(k.Dir, "kdc.log"))
	k.Conf = filepath.Join(k.Dir, "krb5.conf")
	k.KDCProfile = filepath.Join(k.Dir, "kdc.conf")
	must(k.t, os.WriteFile(k.Conf, []byte(conf), 0o600))
	must(k.t, os.WriteFile(k.KDCProfile, []byte(kdcConf), 0o600))
	must(k.t, os.WriteFile(filepath.Join(k.Dir, "kadm5.acl"), nil, 0o600))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("krbtest: %v", err)
	}
}

// Env is the environment for Kerberos programs and libraries using this realm.
func (k *KDC) Env() []string {
	return append(os.Environ(), "KRB5_CONFIG="+k.Conf, "KRB5_KDC_PROFILE="+k.KDCProfile, "KRB5RCACHETYPE=none")
}

// run runs a Kerberos program with the realm's environment and stdin.
func (k *KDC) run(name string, stdin string, args ...string) (string, error) {
	bin, ok := Bin(name)
	if !ok {
		return "", fmt.Errorf("%s not installed", name)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = k.Env()
	cmd.Dir = k.Dir
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (k *KDC) createDB() {
	master := randomSecret()
	// kdb5_util reads the master password twice from standard input when it is not a terminal.
	if out, err := k.run("kdb5_util", master+"\n"+master+"\n", "create", "-s", "-r", k.Realm); err != nil {
		k.t.Fatalf("krbtest: kdb5_util create: %v\n%s", err, out)
	}
}

func randomSecret() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (k *KDC) startKDC() error {
	bin, _ := Bin("krb5kdc")
	cmd := exec.Command(bin, "-n", "-r", k.Realm)
	cmd.Env = k.Env()
	cmd.Dir = k.Dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(k.Port), 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			break
		}
		select {
		case <-done:
			return fmt.Errorf("krb5kdc exited: %s", strings.TrimSpace(out.String()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("krb5kdc not listening after 10 s")
		}
	}
	k.cmd, k.done = cmd, done
	k.t.Cleanup(k.Stop)
	return nil
}

// Stop ends the KDC (KDC-unreachable tests); it is called at cleanup and safe to call twice. On a
// view made by For it does nothing.
func (k *KDC) Stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cmd == nil {
		return
	}
	_ = k.cmd.Process.Kill()
	<-k.done
	k.cmd = nil
}

// For returns a view of k whose helpers report failures to t: use it when a KDC started in one
// test (shared through sync.Once) serves later tests.
func (k *KDC) For(t testing.TB) *KDC {
	return &KDC{Realm: k.Realm, Dir: k.Dir, Port: k.Port, Conf: k.Conf, KDCProfile: k.KDCProfile, t: t, cmd: nil, done: nil}
}

// Addr is the KDC's host:port.
func (k *KDC) Addr() string { return "127.0.0.1:" + strconv.Itoa(k.Port) }

// Kadmin runs kadmin.local commands (one per line, on standard input).
func (k *KDC) Kadmin(cmds ...string) string {
	k.t.Helper()
	out, err := k.run("kadmin.local", strings.Join(cmds, "\n")+"\n")
	if err != nil {
		k.t.Fatalf("krbtest: kadmin.local: %v\n%s", err, out)
	}
	return out
}

// AddUser creates principal name (without realm) with password.
func (k *KDC) AddUser(name, password string, extra ...string) {
	k.t.Helper()
	out := k.Kadmin("addprinc " + strings.Join(extra, " ") + " -pw " + password + " " + name)
	if !strings.Contains(out, "created") {
		k.t.Fatalf("krbtest: addprinc %s: %s", name, redact(out, password))
	}
}

func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "***")
}

// AddService creates a principal with a random key (e.g. "HTTP/dc01.lab.test") and exports its keys
// to a new keytab, whose path it returns. enctypes ("aes256-cts-hmac-sha1-96:normal ...") limits
// the exported keys when given.
func (k *KDC) AddService(spn string, enctypes ...string) string {
	k.t.Helper()
	k.Kadmin("addprinc -randkey " + spn)
	return k.Keytab(spn, enctypes...)
}

// Keytab exports the current keys of principal into a new keytab file (-norandkey: the password stays valid).
func (k *KDC) Keytab(principal string, enctypes ...string) string {
	k.t.Helper()
	path := filepath.Join(k.Dir, strings.NewReplacer("/", "_", "@", "_").Replace(principal)+"-"+randomSecret()[:6]+".keytab")
	e := ""
	if len(enctypes) > 0 {
		e = "-e " + strings.Join(enctypes, ",") + " "
	}
	out := k.Kadmin("ktadd -norandkey -k " + path + " " + e + principal)
	if _, err := os.Stat(path); err != nil {
		k.t.Fatalf("krbtest: ktadd %s: %s", principal, out)
	}
	return path
}

// ClientConf writes a krb5.conf restricted to enctypes (e.g. "arcfour-hmac") for permitted,
// default_tkt and default_tgs enctypes, and returns its path.
func (k *KDC) ClientConf(enctypes string) string {
	k.t.Helper()
	b, err := os.ReadFile(k.Conf)
	must(k.t, err)
	s := strings.Replace(string(b), "[libdefaults]\n", "[libdefaults]\n  permitted_enctypes = "+enctypes+
		"\n  default_tkt_enctypes = "+enctypes+"\n  default_tgs_enctypes = "+enctypes+"\n", 1)
	path := filepath.Join(k.Dir, "krb5-"+strings.ReplaceAll(enctypes, " ", "_")+".conf")
	must(k.t, os.WriteFile(path, []byte(s), 0o600))
	return path
}

// Kinit obtains a TGT for principal with password (on stdin) into a new ccache file and returns
// its path (use as KRB5CCNAME=FILE:path). conf is the krb5.conf to use; k.Conf when empty.
func (k *KDC) Kinit(principal, password, conf string) string {
	k.t.Helper()
	if conf == "" {
		conf = k.Conf
	}
	bin, ok := Bin("kinit")
	if !ok {
		Require(k.t, "kinit")
	}
	path := filepath.Join(k.Dir, "cc-"+randomSecret()[:8])
	cmd := exec.Command(bin, "-c", "FILE:"+path, principal)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+conf)
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		k.t.Fatalf("krbtest: kinit %s: %v: %s", principal, err, redact(string(out), password))
	}
	return path
}
