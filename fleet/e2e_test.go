package fleet_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/remotetest"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// e2eFleet mixes every verdict with transport failures, en-US and de-DE, HTTP and HTTPS.
var e2eFleet = remotetest.LabFleet("{direct: false, proxies: {'proxy.lab.test:8080': ok, 'old.lab.test:3128': down}}", `
  - name: dc01-healthy
  - name: dc02-https-healthy
    https: true
  - name: dc03-missing-system
    registry: {local_system: absent}
  - name: dc04-de-https-differing
    locale: de-DE
    https: true
    registry: {local_service: {proxy: 'old.lab.test:3128', bypass: '<local>', counter: 1}}
  - name: dc05-de-counter-only
    locale: de-DE
    registry: {local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 77}}
  - name: dc06-unreachable
    fault: refuse
  - name: dc07-blackhole
    fault: blackhole
  - name: dc08-wrong-password
    password: 'not-the-lab-password'
  - name: dc09-authfail
    fault: authfail
  - name: dc10-not-winrm
    fault: http500
  - name: dc11-drop
    fault: drop
  - name: dc12-de-missing-service
    locale: de-DE
    registry: {local_service: absent}
`)

func TestE2E_auditOverWinRM(t *testing.T) {
	spec, err := lab.ParseSpec([]byte(e2eFleet))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.92.0.1"), PSStart: 20 * time.Millisecond, ProbeTime: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, l.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	var hosts []inventory.Host
	for _, m := range l.Members {
		https := m.HTTPS
		hosts = append(hosts, inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &https, Source: "e2e"})
	}
	target := func(h inventory.Host) (remote.Target, error) {
		t := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, User: lab.GenUser, Password: lab.GenPassword, CAFile: ca, Timeout: 5 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	rep := fleet.Audit(context.Background(), hosts, fleet.Options{
		Concurrency: 12, HostTimeout: 4 * time.Second, Retries: 1, Backoff: 50 * time.Millisecond,
		Dialer: winrmclient.Dialer{}, Target: target,
		Probe: fleet.ProbeOptions{URL: "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com"},
	})
	want := []struct {
		status fleet.HostStatus
		kind   fleet.ErrorKind
	}{
		{fleet.StatusCompliant, ""},
		{fleet.StatusCompliant, ""},
		{fleet.StatusNoncompliant, ""},
		{fleet.StatusNoncompliant, ""},
		{fleet.StatusCompliant, ""},
		{fleet.StatusError, fleet.ErrorKindUnreachable},
		{fleet.StatusError, fleet.ErrorKindTimeout},
		{fleet.StatusError, fleet.ErrorKindAuth},
		{fleet.StatusError, fleet.ErrorKindAuth},
		{fleet.StatusError, fleet.ErrorKindProtocol},
		{fleet.StatusError, fleet.ErrorKindUnreachable},
		{fleet.StatusNoncompliant, ""},
	}
	for i, w := range want {
		r := rep.Hosts[i]
		if r.Host != hosts[i].Name {
			t.Fatalf("report order: %d is %s, want %s", i, r.Host, hosts[i].Name)
		}
		var kind fleet.ErrorKind
		if r.Error != nil {
			kind = r.Error.Kind
		}
		if r.Status != w.status || kind != w.kind {
			t.Errorf("%s: %s/%s, want %s/%s (%+v)", r.Host, r.Status, kind, w.status, w.kind, r.Error)
		}
		if r.Error != nil && containsSecret(r.Error.Message) {
			t.Errorf("%s: error message holds the password: %s", r.Host, r.Error.Message)
		}
		if r.Status != fleet.StatusError && (r.Stats == nil || r.Stats.Handshakes > 1 || r.Stats.Requests > 12) {
			t.Errorf("%s: stats %+v; want one handshake and at most 12 requests", r.Host, r.Stats)
		}
	}
	if s := rep.Summary; s.Compliant != 3 || s.Noncompliant != 3 || s.Error != 6 {
		t.Errorf("summary %+v", s)
	}
}

func containsSecret(s string) bool {
	for i := 0; i+len(lab.GenPassword) <= len(s); i++ {
		if s[i:i+len(lab.GenPassword)] == lab.GenPassword {
			return true
		}
	}
	return false
}
