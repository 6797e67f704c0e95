package remote

import (
	"errors"
	"strings"
	"testing"
)

func TestKerberosTarget(t *testing.T) {
	ok := []Target{
		{Host: "dc01.lab.test", Port: 5985, User: "a", Auth: AuthKerberos},
		{Host: "dc01.lab.test", Port: 5985, Auth: AuthKerberos, Kerberos: KerberosTarget{CCache: "/tmp/cc"}}, // the cache names the user
		{Host: "10.0.0.7", Port: 5985, User: "a", Auth: AuthKerberos, Kerberos: KerberosTarget{SPNHost: "dc01.lab.test"}},
		{Host: "10.0.0.7", Port: 5985, User: "a", Auth: AuthNegotiate}, // falls back to NTLM
	}
	for _, tg := range ok {
		if err := tg.Validate(); err != nil {
			t.Errorf("%+v: %v", tg, err)
		}
	}
	for _, bad := range []Target{
		{Host: "10.0.0.7", Port: 5985, User: "a", Auth: AuthKerberos},
		{Host: "[fe80::1]", Port: 5985, User: "a", Auth: AuthKerberos},
		{Host: "10.0.0.7", Port: 5985, User: "a", Auth: AuthNegotiate, Kerberos: KerberosTarget{DisableNTLM: true}},
		{Host: "dc01", Port: 5985, Auth: AuthNegotiate}, // no user, no cache
	} {
		err := bad.Validate()
		if !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("%+v: %v", bad, err)
		}
		if bad.User != "" && !strings.Contains(err.Error(), "DNS name") {
			t.Errorf("%+v: %v does not say the name is needed", bad, err)
		}
	}
	if got := (Target{Host: "DC01.Lab.Test."}).SPNHostName(); got != "dc01.lab.test" {
		t.Errorf("SPNHostName %q", got)
	}
}
