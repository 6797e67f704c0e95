package fleet_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// plainRunner hides every optional interface of a Runner but the stats: the audit then takes the
// two-command path (registry batch, then the probe as its own command).
type plainRunner struct{ r remote.Runner }

func (p plainRunner) Run(ctx context.Context, line string) (remote.Output, error) {
	return p.r.Run(ctx, line)
}
func (p plainRunner) Close(ctx context.Context) error { return p.r.Close(ctx) }
func (p plainRunner) Stats() remote.Stats             { return p.r.(remote.StatsReporter).Stats() }

type plainDialer struct{ d remote.Dialer }

func (p plainDialer) Dial(ctx context.Context, t remote.Target) (remote.Runner, error) {
	r, err := p.d.Dial(ctx, t)
	if err != nil {
		return nil, err
	}
	return plainRunner{r}, nil
}

// extraCombinedCases are hosts beyond the verdict table that take the combined command's other
// branches: PowerShell missing (the registry is still judged, the probe is an error), no reference
// (no probe wanted: empty stdin), a de-DE host without PowerShell.
var extraCombinedCases = []struct{ name, spec string }{
	{"nops-v2-json", "fault: no_powershell\n    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://json.lab.test:3128'}"},
	{"nops-de-missing-service", "locale: de-DE\n    fault: no_powershell\n    registry: {local_service: absent}"},
	{"no-reference", "registry: {current_user: absent}"},
}

// startCombinedLab starts the verdict table's DCs and the extra cases.
func startCombinedLab(t *testing.T) (*lab.Lab, func(inventory.Host) (remote.Target, error), []inventory.Host) {
	t.Helper()
	var b strings.Builder
	b.WriteString(verdictDefaults)
	for _, c := range verdictCases {
		fmt.Fprintf(&b, "  - name: %s\n", c.name)
		if c.spec != "" {
			fmt.Fprintf(&b, "    %s\n", c.spec)
		}
	}
	for _, c := range extraCombinedCases {
		fmt.Fprintf(&b, "  - name: %s\n    %s\n", c.name, c.spec)
	}
	spec, err := lab.ParseSpec([]byte(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.94.0.1"), PSStart: 5 * time.Millisecond, ProbeTime: 5 * time.Millisecond})
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
		hosts = append(hosts, inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &https, Source: "combined"})
	}
	target := func(h inventory.Host) (remote.Target, error) {
		t := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, User: lab.GenUser, Password: lab.GenPassword, CAFile: ca, Timeout: 5 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	return l, target, hosts
}

// verdictOf is what a host's judgement says, without the probe's timings.
func verdictOf(r fleet.HostResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "status=%s", r.Status)
	if r.Error != nil {
		fmt.Fprintf(&b, " error=%s/%s", r.Error.Kind, r.Error.Message)
	}
	if r.Route != nil {
		fmt.Fprintf(&b, " route=%s (%s)", r.Route.Source, r.Route.Decision)
	}
	if r.Sensor != nil {
		fmt.Fprintf(&b, " sensor=%s", r.Sensor.Kind)
	}
	b.WriteString("\n")
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  %s %s %s %s\n", c.ID, c.Status, c.Actor, c.Message)
	}
	return b.String()
}

func requestsOf(l *lab.Lab) []winsim.RequestCounts {
	out := make([]winsim.RequestCounts, len(l.Members))
	for i, m := range l.Members {
		out[i] = m.Host.Requests()
	}
	return out
}

func sub(a, b winsim.RequestCounts) winsim.RequestCounts {
	return winsim.RequestCounts{HTTP: a.HTTP - b.HTTP, Create: a.Create - b.Create, Command: a.Command - b.Command,
		Send: a.Send - b.Send, Receive: a.Receive - b.Receive, Signal: a.Signal - b.Signal, Delete: a.Delete - b.Delete, Other: a.Other - b.Other}
}

// TestE2E_combinedCommand audits the verdict table's DCs (and hosts without PowerShell or without
// a reference) twice over real WinRM: with the one combined command (registry batch + probe from
// stdin), and with the two commands of a Runner without remote.Interactive. Every host gets the same
// judgement both ways; the combined audit sends one Command per host (and no Signal) where the other
// sends two (and a Signal), so it needs fewer requests per host.
func TestE2E_combinedCommand(t *testing.T) {
	l, target, hosts := startCombinedLab(t)
	audit := func(d remote.Dialer) (*fleet.Report, []winsim.RequestCounts) {
		before := requestsOf(l)
		rep := fleet.Audit(context.Background(), hosts, fleet.Options{
			Concurrency: 8, HostTimeout: 10 * time.Second, Dialer: d, Target: target,
			Probe: fleet.ProbeOptions{Workspace: "contoso", Timeout: 2 * time.Second},
		})
		for _, m := range l.Members { // Close does not wait for Delete's reply
			for deadline := time.Now().Add(10 * time.Second); m.Host.ShellCount() != 0 && time.Now().Before(deadline); {
				time.Sleep(5 * time.Millisecond)
			}
		}
		after := requestsOf(l)
		for i := range after {
			after[i] = sub(after[i], before[i])
		}
		return rep, after
	}
	combined, creq := audit(winrmclient.Dialer{})
	two, treq := audit(plainDialer{winrmclient.Dialer{}})
	if len(combined.Hosts) != len(hosts) || len(two.Hosts) != len(hosts) {
		t.Fatalf("%d and %d hosts reported, want %d", len(combined.Hosts), len(two.Hosts), len(hosts))
	}
	byName := map[string]int{}
	for i, m := range l.Members {
		byName[m.Spec.Name] = i
	}
	for i, c := range combined.Hosts {
		w := two.Hosts[i]
		m := byName[c.Host]
		t.Run(c.Host, func(t *testing.T) {
			if got, want := verdictOf(c), verdictOf(w); got != want {
				t.Errorf("combined command judges differently:\n%s\ntwo commands:\n%s", got, want)
			}
			cr, tr := creq[m], treq[m]
			if cr.Command != 1 || cr.Signal != 0 || cr.Create != 1 || cr.Delete != 1 {
				t.Errorf("combined: requests %+v, want one Create, one Command, no Signal, one Delete", cr)
			}
			// Receives depend on how output falls into pieces (no latency here): compare the rest.
			switch {
			case tr.Command == 1: // no probe wanted (no reference): the batch alone both ways
				if cr.Send != 0 || cr.HTTP-cr.Receive != tr.HTTP-tr.Receive {
					t.Errorf("no probe: combined %+v, two commands %+v: want the same requests besides Receives", cr, tr)
				}
			case tr.Command != 2 || tr.Signal != 1:
				t.Errorf("two commands: requests %+v, want two Commands and one Signal", tr)
			case strings.HasPrefix(c.Host, "nops-"):
				// The line ends at once (cmd.exe cannot start powershell.exe): nothing to send.
				if cr.Send != 0 || cr.HTTP-cr.Receive >= tr.HTTP-tr.Receive {
					t.Errorf("no PowerShell: combined %+v, two commands %+v: want no Send and fewer requests", cr, tr)
				}
			case cr.Send != 1 || cr.HTTP-cr.Receive >= tr.HTTP-tr.Receive:
				t.Errorf("combined sends %d requests besides Receives (%d Sends), two commands %d: want fewer and one Send",
					cr.HTTP-cr.Receive, cr.Send, tr.HTTP-tr.Receive)
			}
			if c.Stats == nil || c.Stats.Requests != cr.HTTP {
				t.Errorf("client stats %+v, host counted %d requests", c.Stats, cr.HTTP)
			}
		})
	}

	find := func(name string) fleet.HostResult {
		for _, r := range combined.Hosts {
			if r.Host == name {
				return r
			}
		}
		t.Fatalf("no host %s", name)
		return fleet.HostResult{}
	}
	checks := func(r fleet.HostResult) map[string]fleet.Check {
		m := map[string]fleet.Check{}
		for _, c := range r.Checks {
			m[c.ID] = c
		}
		return m
	}
	// Without PowerShell the registry part is judged (the JSON proxy cannot be read, so the route
	// falls back as without a probe) and the probe is an error in cmd.exe's words.
	for _, name := range []string{"nops-v2-json", "nops-de-missing-service"} {
		r := find(name)
		cs := checks(r)
		var endpointErr bool
		for id, c := range cs {
			if strings.HasPrefix(id, "endpoint") && c.Status == fleet.CheckError {
				endpointErr = true
				if !strings.Contains(c.Message, "'powershell.exe' is not recognized") && !strings.Contains(c.Message, `Der Befehl "powershell.exe" ist entweder falsch geschrieben`) {
					t.Errorf("%s: %s says %q, want cmd.exe's words", name, id, c.Message)
				}
			}
		}
		if !endpointErr {
			t.Errorf("%s: no endpoint error\n%s", name, verdictOf(r))
		}
		if _, ok := cs["registry.local_service"]; !ok || r.Sensor == nil {
			t.Errorf("%s: the registry part was not judged\n%s", name, verdictOf(r))
		}
	}
	if r := find("nops-de-missing-service"); r.Status != fleet.StatusNoncompliant || checks(r)["registry.local_service"].Status != fleet.CheckFail {
		t.Errorf("de-DE host without PowerShell and without LocalService's value: %s", verdictOf(r))
	}
	if r := find("no-reference"); r.Status != fleet.StatusError || r.Error == nil || r.Error.Kind != fleet.ErrorKindReference {
		t.Errorf("host without a reference: %s", verdictOf(r))
	}
}

// TestE2E_combinedProbeDisabled: with the probe disabled the audit sends today's registry batch
// alone (no PowerShell is started, nothing is sent as stdin).
func TestE2E_combinedProbeDisabled(t *testing.T) {
	spec, _, err := lab.GenerateMix(1, 1, lab.MixHealthy)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.94.1.1"), PSStart: time.Hour})
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
		t := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, User: m.User, Password: m.Password, CAFile: ca, Timeout: 5 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	// PSStart is an hour: a PowerShell started by mistake would hold the audit up until the timeout.
	rep := fleet.Audit(context.Background(), hosts, fleet.Options{Concurrency: 1, HostTimeout: 20 * time.Second,
		Dialer: winrmclient.Dialer{}, Target: target, Probe: fleet.ProbeOptions{Disabled: true}})
	if r := rep.Hosts[0]; r.Status != fleet.StatusCompliant {
		t.Fatalf("status %s: %s", r.Status, verdictOf(r))
	}
	for deadline := time.Now().Add(10 * time.Second); m.Host.ShellCount() != 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if c := m.Host.Requests(); c.Command != 1 || c.Send != 0 || c.Signal != 0 {
		t.Errorf("requests %+v, want the one registry Command, no Send", c)
	}
}

// TestE2E_combinedTimeoutWaitingForProbe: the host timeout ends the audit while PowerShell runs;
// the registry part is still judged, the probe is reported as an error, the command is terminated.
func TestE2E_combinedTimeoutWaitingForProbe(t *testing.T) {
	spec, _, err := lab.GenerateMix(1, 1, lab.MixHealthy)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.94.2.1"), PSStart: time.Hour})
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
		t := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, User: m.User, Password: m.Password, CAFile: ca, Timeout: 5 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	rep := fleet.Audit(context.Background(), hosts, fleet.Options{Concurrency: 1, HostTimeout: 2 * time.Second,
		Dialer: winrmclient.Dialer{}, Target: target,
		Probe: fleet.ProbeOptions{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping"}})
	r := rep.Hosts[0]
	var regPass, endpointErr bool
	for _, c := range r.Checks {
		if c.ID == "registry.local_service" && c.Status == fleet.CheckPass {
			regPass = true
		}
		if strings.HasPrefix(c.ID, "endpoint") && c.Status == fleet.CheckError && strings.Contains(c.Message, "timed out") {
			endpointErr = true
		}
	}
	if r.Status != fleet.StatusError || !regPass || !endpointErr {
		t.Errorf("want the registry judged and the probe timed out:\n%s", verdictOf(r))
	}
	for deadline := time.Now().Add(10 * time.Second); m.Host.ShellCount() != 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if c := m.Host.Requests(); c.Command != 1 || c.Send != 1 || c.Signal != 1 {
		t.Errorf("requests %+v, want one Command, the Send and the terminate Signal", c)
	}
}

// cancelRunner cancels the audit (Ctrl-C) right after the probe script was built: the client is then
// sending it or waiting for PowerShell.
type cancelRunner struct {
	remote.Runner
	cancel context.CancelFunc
}

func (c cancelRunner) Stats() remote.Stats { return c.Runner.(remote.StatsReporter).Stats() }

func (c cancelRunner) RunInteractive(ctx context.Context, line string, ready func(remote.Output) bool,
	stdin func(remote.Output) ([]byte, error)) (remote.Output, error) {
	return c.Runner.(remote.Interactive).RunInteractive(ctx, line, ready, func(o remote.Output) ([]byte, error) {
		b, err := stdin(o)
		c.cancel()
		return b, err
	})
}

type cancelDialer struct {
	d      remote.Dialer
	cancel context.CancelFunc
}

func (c cancelDialer) Dial(ctx context.Context, t remote.Target) (remote.Runner, error) {
	r, err := c.d.Dial(ctx, t)
	if err != nil {
		return nil, err
	}
	return cancelRunner{r, c.cancel}, nil
}

// TestE2E_combinedCtrlC: Ctrl-C while the probe runs ends the host's command at once (terminate
// Signal, shell deleted) and the host is not reported compliant: its probe is an error.
func TestE2E_combinedCtrlC(t *testing.T) {
	spec, _, err := lab.GenerateMix(1, 1, lab.MixHealthy)
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.94.3.1"), PSStart: time.Hour})
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
		t := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, User: m.User, Password: m.Password, CAFile: ca, Timeout: 5 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	rep := fleet.Audit(ctx, hosts, fleet.Options{Concurrency: 1, HostTimeout: time.Minute,
		Dialer: cancelDialer{winrmclient.Dialer{}, cancel}, Target: target,
		Probe: fleet.ProbeOptions{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping"}})
	if d := time.Since(start); d > 30*time.Second { // a bound on a hang, not a speed figure
		t.Errorf("the audit took %v after Ctrl-C", d)
	}
	if len(rep.Hosts) == 1 {
		if r := rep.Hosts[0]; r.Status == fleet.StatusCompliant {
			t.Errorf("host reported compliant after Ctrl-C during its probe:\n%s", verdictOf(r))
		} else {
			t.Logf("after Ctrl-C: %s", verdictOf(r))
		}
	}
	for deadline := time.Now().Add(10 * time.Second); m.Host.ShellCount() != 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if n := m.Host.ShellCount(); n != 0 {
		t.Errorf("%d shells left on the host", n)
	}
	if c := m.Host.Requests(); c.Command != 1 || c.Signal != 1 || c.Delete != 1 {
		t.Errorf("requests %+v, want one Command, the terminate Signal and the Delete", c)
	}
}
