package report

import (
	"strings"
	"testing"

	"github.com/dcproxy/dcproxy/fleet"
)

// The one-line reason of a failed probe says when its status did not come from the endpoint.
func TestCheckReasonProbeTLS(t *testing.T) {
	yes, no := true, false
	exp := &fleet.Probe{URL: "https://x.atp.azure.com/", Accepted: []int{200}, ExpectedIssuers: []string{"Microsoft", "DigiCert"}}
	cases := []struct {
		name string
		act  *fleet.Probe
		want string
		not  string
	}{
		{"proxy answered without TLS", &fleet.Probe{Status: 403, Route: "proxy p:8080", TLS: &no}, "HTTP 403 via p:8080 (no TLS)", "issuer"},
		{"intercepted", &fleet.Probe{Status: 200, Route: "direct", TLS: &yes, Issuer: "CN=Corp Inspection CA"}, "HTTP 200 via direct (issuer CN=Corp Inspection CA unexpected)", "no TLS"},
		{"expected issuer", &fleet.Probe{Status: 500, Route: "direct", TLS: &yes, Issuer: "CN=Microsoft Azure RSA TLS Issuing CA 03"}, "HTTP 500 via direct", "("},
		{"no status", &fleet.Probe{Error: "ConnectFailure", Route: "direct", TLS: &no}, "ConnectFailure via direct", "("},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &fleet.Check{ID: "endpoint.local_system", Kind: fleet.KindEndpoint, Account: fleet.AccountLocalSystem, Status: fleet.CheckFail, Expected: exp, Actual: tc.act}
			got := checkReason(c)
			if !strings.HasSuffix(got, tc.want) || strings.Contains(strings.TrimPrefix(got, "LOCAL_SYSTEM endpoint: "), tc.not) {
				t.Errorf("got %q, want suffix %q without %q", got, tc.want, tc.not)
			}
		})
	}
}
