package krb_test

import (
	"bytes"
	"testing"

	"github.com/dcproxy/dcproxy/remote/krb"
)

// BenchmarkHandshake: one context with a cached service ticket: AP-REQ with a fresh subkey (SPNEGO),
// the acceptor's verification and AP-REP, the initiator's AP-REP check. No network but the first
// TGS exchange.
func BenchmarkHandshake(b *testing.B) {
	r := startRealm(b)
	cl, err := krb.NewClient(krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: r.kdc.Conf})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	kt, _ := krb.LoadKeytab(r.keytab)
	acc := krb.NewAcceptor(kt, krb.AcceptorOptions{})
	if err := cl.ServiceTicket(spn); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		ic, tok, err := cl.InitSecContext(spn, true)
		if err != nil {
			b.Fatal(err)
		}
		a, err := acc.Accept(tok)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ic.Complete(a.Reply); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeal: seal and unseal a 16 KiB SOAP message (AES-256 and RC4 contexts), framing included.
func BenchmarkSeal(b *testing.B) {
	r := startRealm(b)
	msg := bytes.Repeat([]byte("<s:Envelope/>"), 16384/13)
	for _, c := range []struct{ name, conf string }{{"aes256", r.kdc.Conf}, {"rc4", r.rc4}} {
		b.Run(c.name, func(b *testing.B) {
			cl, err := krb.NewClient(krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: c.conf})
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Close()
			kt, _ := krb.LoadKeytab(r.keytab)
			ic, tok, err := cl.InitSecContext(spn, false)
			if err != nil {
				b.Fatal(err)
			}
			a, err := krb.NewAcceptor(kt, krb.AcceptorOptions{}).Accept(tok)
			if err != nil {
				b.Fatal(err)
			}
			s, err := ic.Complete(a.Reply)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for range b.N {
				body, err := krb.Seal(s, krb.ProtocolSPNEGO, msg)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := krb.Open(a.Session, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLogin: AS exchange with pre-authentication (password) and one TGS exchange against the
// local MIT KDC over TCP: what a credential costs once per audit with a shared krb.Cache.
func BenchmarkLogin(b *testing.B) {
	r := startRealm(b)
	for range b.N {
		cl, err := krb.NewClient(krb.Credentials{User: aliceUPN, Password: alicePW, ConfigFile: r.kdc.Conf})
		if err != nil {
			b.Fatal(err)
		}
		if err := cl.ServiceTicket(spn); err != nil {
			b.Fatal(err)
		}
		cl.Close()
	}
}
