package fleet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/remotetest"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
)

// rightsFleet: LAB\reader logs on everywhere (right password) but is an administrator only on the
// last three hosts; the first five refuse it the rights in both fault forms of fidelity D2, one in
// German.
var rightsFleet = remotetest.LabFleet("{direct: false, proxies: {'proxy.lab.test:8080': ok}}", `
  - name: dc01-rights-code5
    accounts: [{user: 'LAB\reader', password: 'Reader-Passw0rd!', admin: false}]
  - name: dc02-rights-code5
    accounts: [{user: 'LAB\reader', password: 'Reader-Passw0rd!', admin: false}]
  - name: dc03-rights-internal
    rights_refusal: internal-error
    accounts: [{user: 'LAB\reader', password: 'Reader-Passw0rd!', admin: false}]
  - name: dc04-rights-internal-de
    rights_refusal: internal-error
    locale: de-DE
    accounts: [{user: 'LAB\reader', password: 'Reader-Passw0rd!', admin: false}]
  - name: dc05-rights-code5-de
    locale: de-DE
    accounts: [{user: 'LAB\reader', password: 'Reader-Passw0rd!', admin: false}]
  - name: dc06-admin
    user: 'LAB\reader'
    password: 'Reader-Passw0rd!'
  - name: dc07-admin
    user: 'LAB\reader'
    password: 'Reader-Passw0rd!'
  - name: dc08-admin
    user: 'LAB\reader'
    password: 'Reader-Passw0rd!'
`)

// TestE2E_rightsRefusalsDoNotTripTheLockoutGate: five hosts refuse an account that logged on (the
// rights faults, kind "rights"), one at a time before any host accepted it; with the default
// AuthFailureLimit of 3 they would stop the audit if they counted as wrong passwords. They do not:
// every host is tried, the three where the account is an administrator are audited.
func TestE2E_rightsRefusalsDoNotTripTheLockoutGate(t *testing.T) {
	l := remotetest.StartLab(t, rightsFleet, "127.121.0.1")
	var hosts []inventory.Host
	for _, m := range l.Members {
		f := false
		hosts = append(hosts, inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &f, Source: "rights"})
	}
	target := func(h inventory.Host) (remote.Target, error) {
		tg := remote.Target{Host: h.Address, Port: h.Port, User: `LAB\reader`, Password: "Reader-Passw0rd!", Timeout: 5 * time.Second}
		tg.SetDefaults()
		return tg, tg.Validate()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep := fleet.Audit(ctx, hosts, fleet.Options{
		Concurrency: 1, HostTimeout: 5 * time.Second, // one at a time, in order: the refusals come first
		Dialer: winrmclient.Dialer{}, Target: target,
		Probe: fleet.ProbeOptions{URL: "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com"},
	})
	wantMsg := []string{
		"wsman fault 5 (w:AccessDenied): Access is denied.",
		"wsman fault 5 (w:AccessDenied): Access is denied.",
		"wsman fault 2147942405 (w:InternalError): Access is denied.",
		"wsman fault 2147942405 (w:InternalError): Zugriff verweigert",
		"wsman fault 5 (w:AccessDenied): Zugriff verweigert",
	}
	for i, r := range rep.Hosts {
		m := l.Members[i]
		if m.Host.Requests().HTTP == 0 {
			t.Errorf("%s: never tried", r.Host)
		}
		if i < len(wantMsg) {
			if r.Error == nil || r.Error.Kind != fleet.ErrorKindRights || !strings.Contains(r.Error.Message, wantMsg[i]) ||
				!strings.Contains(r.Error.Message, "lacks the rights") {
				t.Errorf("%s: %s %+v, want a rights refusal %q", r.Host, r.Status, r.Error, wantMsg[i])
			}
			continue
		}
		if r.Status != fleet.StatusCompliant {
			t.Errorf("%s: %s %+v, want compliant (the account is an administrator here)", r.Host, r.Status, r.Error)
		}
	}
}
