package lab

import (
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/remote/winsim/pwsh"
)

func TestParseSpec_networkStates(t *testing.T) {
	s, err := ParseSpec([]byte(`
defaults:
  user: 'LAB\auditor'
  network: {proxies: {'p.lab.test:8080': blocked_503, 'q.lab.test:8080': ok}, tls_intercept: true, tls_intercept_issuer: 'CN=Lab Inspection CA'}
hosts:
  - name: legacy-true
  - name: off
    network: {tls_intercept: false}
  - name: trusted
    network: {tls_intercept: trusted}
  - name: untrusted
    network: {tls_intercept: untrusted, tls_intercept_issuer: 'CN=Other CA'}
  - name: none
    network: {tls_intercept: none}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		x      Intercept
		issuer string
	}{{InterceptUntrusted, "CN=Lab Inspection CA"}, {InterceptNone, "CN=Lab Inspection CA"}, {InterceptTrusted, "CN=Lab Inspection CA"},
		{InterceptUntrusted, "CN=Other CA"}, {InterceptNone, "CN=Lab Inspection CA"}}
	for i, w := range want {
		h := s.Resolve(i)
		if h.Network.TLSIntercept == nil || *h.Network.TLSIntercept != w.x || h.Network.TLSInterceptIssuer != w.issuer {
			t.Errorf("%s: intercept %v issuer %q, want %s %q", h.Name, h.Network.TLSIntercept, h.Network.TLSInterceptIssuer, w.x, w.issuer)
		}
		if st := h.Network.Proxies["p.lab.test:8080"]; st != pwsh.ProxyBlocked503 {
			t.Errorf("%s: proxy state %q", h.Name, st)
		}
	}
	for _, bad := range []struct{ yaml, want string }{
		{"network: {tls_intercept: sometimes}", `tls_intercept "sometimes"`},
		{"network: {proxies: {'p:1': blocked_200}}", `state "blocked_200"`},
		{"network: {proxies: {'p:1': blocked}}", `state "blocked"`},
	} {
		_, err := ParseSpec([]byte("defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    " + bad.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err %v, want %q", bad.yaml, err, bad.want)
		}
	}
}
