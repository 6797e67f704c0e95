package remotetest

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// LabDefaults is the defaults block the test fleets share: the lab account, and the same proxy
// with the same bypass list for HKCU and both service accounts (a compliant host).
const LabDefaults = `defaults:
  user: 'LAB\auditor'
  password: 'Lab-Passw0rd!'
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
`

// LabFleet returns a fleet file: LabDefaults, the network defaults (the YAML flow mapping after
// "network: "; none when empty), and the hosts (a YAML list, "  - name: ..." lines).
func LabFleet(network, hosts string) string {
	var b strings.Builder
	b.WriteString(LabDefaults)
	if network != "" {
		b.WriteString("  network: " + network + "\n")
	}
	b.WriteString("hosts:\n")
	b.WriteString(strings.TrimLeft(hosts, "\n"))
	return b.String()
}

// StartLab parses the fleet file and runs it on addresses from first, with short simulated
// PowerShell start and probe times, until the test ends.
func StartLab(t testing.TB, fleetFile, first string) *lab.Lab {
	t.Helper()
	spec, err := lab.ParseSpec([]byte(fleetFile))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr(first), PSStart: 10 * time.Millisecond, ProbeTime: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}
