package winrmclient_test

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
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// TestAuditRequestsPerCompliantHost audits one compliant lab host (the healthy mix of `dcproxy lab`)
// end to end with fleet.Audit and counts, on the simulated host, every HTTP request it was sent:
// one NTLM handshake of two legs (NEGOTIATE, AUTHENTICATE: no anonymous request first), Create,
// ONE Command carrying the registry batch and the endpoint probe (fleet's auditCombined: a Receive
// of the batch's output while PowerShell starts, the probe script in one Send as stdin, a Receive
// of the probe's output with Done), and Delete: no terminate Signal at all (the shell's only
// command is released by Delete). Before the combined command: 9 requests (Command, Receive and
// Signal of the batch, Command and Receive of the probe).
func TestAuditRequestsPerCompliantHost(t *testing.T) {
	spec, _, err := lab.GenerateMix(1, 1, lab.MixHealthy)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.93.0.1"),
		PSStart: 10 * time.Millisecond, ProbeTime: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, l.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	m := l.Members[0]
	https := m.HTTPS
	hosts := []inventory.Host{{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &https, Source: "test"}}
	target := func(h inventory.Host) (remote.Target, error) {
		t := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, User: m.User, Password: m.Password,
			CAFile: ca, Timeout: 10 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	rep := fleet.Audit(context.Background(), hosts, fleet.Options{
		Concurrency: 1, HostTimeout: 30 * time.Second, Dialer: winrmclient.Dialer{}, Target: target,
		Probe: fleet.ProbeOptions{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping"},
	})
	r := rep.Hosts[0]
	if r.Status != fleet.StatusCompliant {
		t.Fatalf("host %s: %s (%+v), want compliant", r.Host, r.Status, r.Error)
	}
	// The Delete's reply is read after Close returned: wait for the shell to go.
	waitNoShells(t, m.Host)
	got := m.Host.Requests()
	// A command whose output comes in pieces takes more than one Receive (the lab here has no
	// latency, so a Receive may arrive before the command has finished): Receives are counted
	// apart, everything else exactly.
	want := winsim.RequestCounts{HTTP: 2 + got.Operations(), Create: 1, Command: 1, Send: 1, Receive: got.Receive, Delete: 1}
	if got != want || got.Receive < 2 {
		t.Errorf("requests on the host = %+v, want %+v with at least 2 Receives", got, want)
	}
	if r.Stats == nil || r.Stats.Requests != got.HTTP || r.Stats.Handshakes != 1 {
		t.Errorf("client stats = %+v, want %d requests (as the host counted) and 1 handshake", r.Stats, got.HTTP)
	}
	t.Logf("requests on the host: %+v", got)
}

// waitNoShells waits (bounded) until the host has no shell left.
func waitNoShells(t *testing.T, h *winsim.Host) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); h.ShellCount() != 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d shells left on the host", h.ShellCount())
		}
		time.Sleep(5 * time.Millisecond)
	}
}
