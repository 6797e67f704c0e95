package lab_test

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/krb/krbtest"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// TestKeytab: with Options.Keytab (exported by a real MIT KDC) lab hosts accept Kerberos from that
// realm, sealed on HTTP; Start refuses a host whose key is not in the keytab or whose DNS domain is
// not the realm's, naming the host and its line.
func TestKeytab(t *testing.T) {
	krbtest.Require(t, "krb5kdc", "kdb5_util", "kadmin.local")
	k := krbtest.Start(t, krbtest.Options{})
	k.AddUser("auditor", "Lab-Passw0rd!")
	kt := filepath.Join(k.Dir, "lab.keytab")
	k.Kadmin("addprinc -randkey HTTP/dc01.lab.test", "addprinc -randkey HTTP/dc02.other.test",
		"ktadd -k "+kt+" HTTP/dc01.lab.test HTTP/dc02.other.test")
	const head = "defaults:\n  user: 'LAB\\auditor'\n  password: 'not-the-kerberos-password'\nhosts:\n"
	for _, tc := range []struct{ hosts, want string }{
		{"  - name: dc01.lab.test\n  - name: dc03.lab.test\n", "host dc03.lab.test (line 6): keytab " + kt + " has no key for HTTP/dc03.lab.test (it has dc01.lab.test, dc02.other.test)"},
		{"  - name: dc02.other.test\n", `host dc02.other.test (line 5): the host's DNS domain "other.test" is not the realm LAB.TEST`},
	} {
		spec, err := lab.ParseSpec([]byte(head + tc.hosts))
		if err != nil {
			t.Fatal(err)
		}
		if l, err := lab.Start(spec, lab.Options{Keytab: kt, FirstAddress: netip.MustParseAddr("127.124.0.1")}); err == nil || !strings.Contains(err.Error(), tc.want) {
			if l != nil {
				l.Close()
			}
			t.Errorf("Start = %v, want %q", err, tc.want)
		}
	}
	if _, err := lab.ParseSpec([]byte(head + "  - name: dc01.lab.test\n    rights_refusal: nope\n")); err == nil || !strings.Contains(err.Error(), `rights_refusal "nope"`) {
		t.Errorf("rights_refusal not validated: %v", err)
	}

	spec, err := lab.ParseSpec([]byte(head + "  - name: dc01.lab.test\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{Keytab: kt, FirstAddress: netip.MustParseAddr("127.124.1.1"), PSStart: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	m := l.Members[0]
	// The fleet file's password is not the realm's: the logon below can only be Kerberos.
	tg := remote.Target{Host: m.Address, Port: m.Port, Auth: remote.AuthKerberos, User: "auditor", Password: "Lab-Passw0rd!",
		Kerberos: remote.KerberosTarget{SPNHost: "dc01.lab.test", Realm: "LAB.TEST", ConfigFile: k.Conf}, Timeout: 5 * time.Second}
	tg.SetDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r, err := winrmclient.Dialer{}.Dial(ctx, tg)
	if err != nil {
		t.Fatalf("Kerberos dial: %v", err)
	}
	out, err := r.Run(ctx, "echo hello")
	_ = r.Close(ctx)
	if err != nil || string(out.Stdout) != "hello\r\n" {
		t.Fatalf("echo = %q, %v", out.Stdout, err)
	}
}
