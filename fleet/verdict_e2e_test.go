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
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// verdictDefaults: every host's WinINet values match HKCU (proxy.lab.test:8080), TLS values set,
// both roots present; the network knows one proxy of every behaviour.
const verdictDefaults = `
defaults:
  user: 'LAB\auditor'
  password: 'Lab-Passw0rd!'
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
  network:
    direct: false
    endpoint_version: 2.250.18972.18405
    proxies:
      'proxy.lab.test:8080': ok
      'json.lab.test:3128': ok
      'old.lab.test:3128': down
      'auth.lab.test:8080': auth_required
      'p401.lab.test:8080': unauthorized_401
      'p403.lab.test:8080': forbidden_403
hosts:
`

// verdictCase is one DC of the verdict table: its fleet-file entry and what the audit must say.
type verdictCase struct {
	name   string
	spec   string // fleet-file fields of the host, indented by 4
	status fleet.HostStatus
	route  string                       // Route.Source
	checks map[string]fleet.CheckStatus // check id -> status
	says   string                       // a substring of some check's message
	actors map[string]string            // check id -> who acts (optional)
}

var verdictCases = []verdictCase{
	// No sensor: a readiness check with the seed's rule.
	{name: "none-ready", status: fleet.StatusCompliant, route: fleet.RouteWinINet,
		checks: map[string]fleet.CheckStatus{"registry.local_service": fleet.CheckPass, "endpoint.local_service": fleet.CheckPass, "sensor": fleet.CheckInfo}},
	{name: "none-missing-service", spec: "registry: {local_service: absent}", status: fleet.StatusNoncompliant, route: fleet.RouteWinINet,
		checks: map[string]fleet.CheckStatus{"registry.local_service": fleet.CheckFail, "endpoint.local_service": fleet.CheckFail},
		actors: map[string]string{"registry.local_service": fleet.ActorFix, "endpoint.local_service": fleet.ActorFix}},
	{name: "none-missing-direct-works", spec: "registry: {local_service: absent}\n    network: {direct: true}", status: fleet.StatusCompliant, route: fleet.RouteWinINet,
		checks: map[string]fleet.CheckStatus{"registry.local_service": fleet.CheckWarn, "endpoint.local_service": fleet.CheckPass}, says: "reachable direct"},
	{name: "none-de-differing", spec: "locale: de-DE\n    registry: {local_system: {proxy: 'old.lab.test:3128', bypass: '<local>'}}", status: fleet.StatusNoncompliant, route: fleet.RouteWinINet,
		checks: map[string]fleet.CheckStatus{"registry.local_system": fleet.CheckFail, "endpoint.local_system": fleet.CheckFail}},
	{name: "none-407-anonymous", spec: "registry: {current_user: {proxy: 'auth.lab.test:8080'}, local_system: {proxy: 'auth.lab.test:8080'}, local_service: {proxy: 'auth.lab.test:8080'}}",
		status: fleet.StatusNoncompliant, route: fleet.RouteWinINet,
		checks: map[string]fleet.CheckStatus{"endpoint.local_service": fleet.CheckFail, "endpoint.local_system": fleet.CheckWarn, "endpoint.current_user": fleet.CheckInfo}, says: "LocalService goes out anonymously"},
	// v2 without a JSON proxy: the seed's rule.
	{name: "v2-wininet-ok", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}", status: fleet.StatusCompliant, route: fleet.RouteWinINet,
		checks: map[string]fleet.CheckStatus{"endpoint.local_service": fleet.CheckPass, "endpoint.local_system": fleet.CheckPass}, says: "latest sensor version 2.250.18972.18405"},
	{name: "v2-wininet-missing-system", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}\n    registry: {local_system: absent}", status: fleet.StatusNoncompliant, route: fleet.RouteWinINet,
		checks: map[string]fleet.CheckStatus{"registry.local_system": fleet.CheckFail}},
	{name: "v2-de-wininet-missing", spec: "locale: de-DE\n    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}\n    registry: {local_service: absent}", status: fleet.StatusNoncompliant, route: fleet.RouteWinINet,
		checks: map[string]fleet.CheckStatus{"registry.local_service": fleet.CheckFail}},
	{name: "v2-endpoint-503", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}\n    network: {endpoint_version: ''}", status: fleet.StatusCompliant, route: fleet.RouteWinINet,
		checks: map[string]fleet.CheckStatus{"endpoint.local_service": fleet.CheckPass}, says: "answered 503"},
	// v2 with a JSON proxy: that proxy decides; WinINet differences are warnings.
	{name: "v2-json-wininet-absent", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://json.lab.test:3128'}\n    registry: {local_system: absent, local_service: absent}",
		status: fleet.StatusCompliant, route: fleet.RouteSensorJSON,
		checks: map[string]fleet.CheckStatus{"endpoint.sensor_json": fleet.CheckPass, "registry.local_service": fleet.CheckWarn, "registry.local_system": fleet.CheckWarn}},
	{name: "v2-json-and-wininet", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://json.lab.test:3128'}",
		status: fleet.StatusCompliant, route: fleet.RouteSensorJSON, checks: map[string]fleet.CheckStatus{"endpoint.sensor_json": fleet.CheckPass}, says: "Microsoft documents no precedence"},
	{name: "v2-json-down", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://old.lab.test:3128'}",
		status: fleet.StatusNoncompliant, route: fleet.RouteSensorJSON, checks: map[string]fleet.CheckStatus{"endpoint.sensor_json": fleet.CheckFail, "endpoint.local_service": fleet.CheckInfo},
		actors: map[string]string{"endpoint.sensor_json": fleet.ActorProxy}},
	{name: "v2-json-407-credentials", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://auth.lab.test:8080', proxy_user: 'CORP\\svc-proxy'}",
		status: fleet.StatusCompliant, route: fleet.RouteSensorJSON, checks: map[string]fleet.CheckStatus{"endpoint.sensor_json": fleet.CheckWarn}, says: `credentials for CORP\svc-proxy configured (not verified`},
	{name: "v2-json-407-none", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://auth.lab.test:8080'}",
		status: fleet.StatusNoncompliant, route: fleet.RouteSensorJSON, checks: map[string]fleet.CheckStatus{"endpoint.sensor_json": fleet.CheckFail}, says: "wants credentials (407)"},
	{name: "v2-json-401", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://p401.lab.test:8080'}",
		status: fleet.StatusNoncompliant, route: fleet.RouteSensorJSON, checks: map[string]fleet.CheckStatus{"endpoint.sensor_json": fleet.CheckFail}, says: "licensing"},
	{name: "v2-json-403-de", spec: "locale: de-DE\n    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://p403.lab.test:8080'}",
		status: fleet.StatusNoncompliant, route: fleet.RouteSensorJSON, checks: map[string]fleet.CheckStatus{"endpoint.sensor_json": fleet.CheckFail}, says: "refused the request with 403"},
	// The per-machine override.
	{name: "machine-override-ok", spec: "machine: {proxy_per_user: false, local_machine: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}}\n    registry: {local_service: absent}",
		status: fleet.StatusCompliant, route: fleet.RouteWinINetMachine, checks: map[string]fleet.CheckStatus{"endpoint.local_service": fleet.CheckPass, "registry.local_service": fleet.CheckWarn}},
	{name: "machine-override-broken", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}\n    machine: {proxy_per_user: false, local_machine: {proxy: 'old.lab.test:3128'}}",
		status: fleet.StatusNoncompliant, route: fleet.RouteWinINetMachine, checks: map[string]fleet.CheckStatus{"endpoint.local_service": fleet.CheckFail}},
	// v3: Defender for Endpoint's route.
	{name: "v3-static-ok", spec: "sensor: {kind: v3, workspace: contoso}\n    machine: {mde_proxy: {server: 'proxy.lab.test:8080', disable_enterprise_auth_proxy: true}}\n    registry: {local_service: absent, local_system: absent}",
		status: fleet.StatusCompliant, route: fleet.RouteMDEStatic, checks: map[string]fleet.CheckStatus{"endpoint.mde": fleet.CheckPass, "mde.static_proxy": fleet.CheckInfo, "registry.local_service": fleet.CheckWarn}},
	{name: "v3-static-no-disable-auth", spec: "sensor: {kind: v3, workspace: contoso}\n    machine: {mde_proxy: {server: 'proxy.lab.test:8080'}}",
		status: fleet.StatusCompliant, route: fleet.RouteMDEStatic, checks: map[string]fleet.CheckStatus{"endpoint.mde": fleet.CheckPass, "mde.static_proxy": fleet.CheckWarn}, says: "DisableEnterpriseAuthProxy"},
	{name: "v3-static-down", spec: "sensor: {kind: v3, workspace: contoso}\n    machine: {mde_proxy: {server: 'old.lab.test:3128', disable_enterprise_auth_proxy: true}}",
		status: fleet.StatusNoncompliant, route: fleet.RouteMDEStatic, checks: map[string]fleet.CheckStatus{"endpoint.mde": fleet.CheckFail}},
	{name: "v3-winhttp", spec: "sensor: {kind: v3, workspace: contoso}\n    registry: {winhttp: {proxy: 'proxy.lab.test:8080'}}",
		status: fleet.StatusCompliant, route: fleet.RouteWinHTTP, checks: map[string]fleet.CheckStatus{"endpoint.mde": fleet.CheckPass}},
	{name: "v3-direct-blocked", spec: "sensor: {kind: v3, workspace: contoso}", status: fleet.StatusNoncompliant, route: fleet.RouteDirect,
		checks: map[string]fleet.CheckStatus{"endpoint.mde": fleet.CheckFail}},
	{name: "migrated-leftovers", spec: "sensor: {kind: migrated, version: 2.249.18000.1, workspace: contoso, proxy: 'http://old.lab.test:3128'}\n    machine: {mde_proxy: {server: 'proxy.lab.test:8080', disable_enterprise_auth_proxy: true}}",
		status: fleet.StatusCompliant, route: fleet.RouteMDEStatic, checks: map[string]fleet.CheckStatus{"sensor.leftovers": fleet.CheckWarn, "endpoint.mde": fleet.CheckPass}, says: "stale SensorConfiguration.json proxy"},
	// TLS prerequisites.
	{name: "v2-missing-root", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}\n    machine: {roots: []}",
		status: fleet.StatusNoncompliant, route: fleet.RouteWinINet, checks: map[string]fleet.CheckStatus{"tls.root": fleet.CheckFail}, says: "DF3C24F9BFD666761B268073FE06D1CC8D4F82A4"},
	{name: "v2-tls-values-off", spec: "sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://json.lab.test:3128'}\n    machine: {strong_crypto: false}",
		status: fleet.StatusNoncompliant, route: fleet.RouteSensorJSON, checks: map[string]fleet.CheckStatus{"tls.netfx": fleet.CheckFail, "endpoint.sensor_json": fleet.CheckPass}, says: "SchUseStrongCrypto"},
	{name: "v3-de-tls-off", spec: "locale: de-DE\n    sensor: {kind: v3, workspace: contoso}\n    machine: {strong_crypto: false, mde_proxy: {server: 'proxy.lab.test:8080', disable_enterprise_auth_proxy: true}}",
		status: fleet.StatusNoncompliant, route: fleet.RouteMDEStatic, checks: map[string]fleet.CheckStatus{"tls.netfx": fleet.CheckFail}},
}

// TestE2E_verdictTable audits one lab DC per case over real WinRM (NTLM, sealed) and checks the
// verdict, the route the decision names, and the checks that decide it.
func TestE2E_verdictTable(t *testing.T) {
	var b strings.Builder
	b.WriteString(verdictDefaults)
	for _, c := range verdictCases {
		fmt.Fprintf(&b, "  - name: %s\n", c.name)
		if c.spec != "" {
			fmt.Fprintf(&b, "    %s\n", c.spec)
		}
	}
	spec, err := lab.ParseSpec([]byte(b.String()))
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.93.0.1"), PSStart: 5 * time.Millisecond, ProbeTime: 5 * time.Millisecond})
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
		hosts = append(hosts, inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &https, Source: "verdict"})
	}
	target := func(h inventory.Host) (remote.Target, error) {
		t := remote.Target{Host: h.Address, Port: h.Port, HTTPS: *h.HTTPS, User: lab.GenUser, Password: lab.GenPassword, CAFile: ca, Timeout: 5 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	rep := fleet.Audit(context.Background(), hosts, fleet.Options{
		Concurrency: 8, HostTimeout: 10 * time.Second, Dialer: winrmclient.Dialer{}, Target: target,
		Probe: fleet.ProbeOptions{Workspace: "contoso", Timeout: 2 * time.Second},
	})
	if len(rep.Hosts) != len(verdictCases) {
		t.Fatalf("%d hosts reported, want %d", len(rep.Hosts), len(verdictCases))
	}
	for i, c := range verdictCases {
		r := rep.Hosts[i]
		t.Run(c.name, func(t *testing.T) {
			if r.Status != c.status {
				t.Errorf("status %s, want %s (error %+v)\n%s", r.Status, c.status, r.Error, dumpChecks(r))
			}
			if r.Route == nil || r.Route.Source != c.route {
				t.Errorf("route %+v, want source %s", r.Route, c.route)
			}
			if r.Route != nil && r.Route.Decision == "" {
				t.Error("the route decision is not written in words")
			}
			got := map[string]fleet.Check{}
			for _, ch := range r.Checks {
				got[ch.ID] = ch
			}
			for id, want := range c.checks {
				ch, ok := got[id]
				if !ok {
					t.Errorf("no check %s\n%s", id, dumpChecks(r))
					continue
				}
				if ch.Status != want {
					t.Errorf("check %s: %s (%s), want %s", id, ch.Status, ch.Message, want)
				}
				if (ch.Status == fleet.CheckFail || ch.Status == fleet.CheckWarn) && ch.Actor == "" {
					t.Errorf("check %s is %s but names no actor", id, ch.Status)
				}
			}
			t.Logf("%s route=%s\n%s", c.name, r.Route.Decision, dumpChecks(r))
			if c.actors != nil {
				for id, want := range c.actors {
					if got[id].Actor != want {
						t.Errorf("check %s: actor %q, want %q", id, got[id].Actor, want)
					}
				}
			}
			if c.says != "" && !strings.Contains(dumpChecks(r)+r.Route.Decision, c.says) {
				t.Errorf("no message says %q\n%s", c.says, dumpChecks(r))
			}
			for _, ch := range r.Checks {
				if (ch.Status == fleet.CheckFail || ch.Status == fleet.CheckWarn || ch.Status == fleet.CheckError) && ch.Actor == "" {
					t.Errorf("check %s is %s but names no actor", ch.ID, ch.Status)
				}
			}
			if r.Sensor == nil {
				t.Fatal("no sensor reported")
			}
			wantKind := fleet.SensorNone
			for _, k := range []string{fleet.SensorV2, fleet.SensorV3, fleet.SensorMigrated} {
				if strings.Contains(c.spec, "kind: "+k+",") || strings.Contains(c.spec, "kind: "+k+"}") {
					wantKind = k
				}
			}
			if r.Sensor.Kind != wantKind {
				t.Errorf("sensor kind %s, want %s", r.Sensor.Kind, wantKind)
			}
		})
	}
}

func dumpChecks(r fleet.HostResult) string {
	var b strings.Builder
	for _, c := range r.Checks {
		fmt.Fprintf(&b, "  %-24s %-5s %-14s %s\n", c.ID, c.Status, c.Actor, c.Message)
	}
	return b.String()
}

// TestE2E_twoCommandsEscapeHatch: probe.one_command false runs the read and the probe as two
// commands (one exchange more), with the same verdict.
func TestE2E_twoCommandsEscapeHatch(t *testing.T) {
	spec, err := lab.ParseSpec([]byte(verdictDefaults + "  - name: dc01\n    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}\n"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.93.8.1"), PSStart: 5 * time.Millisecond, ProbeTime: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	m := l.Members[0]
	https := m.HTTPS
	hosts := []inventory.Host{{Name: m.Spec.Name, Address: m.Address, Port: m.Port, HTTPS: &https}}
	target := func(h inventory.Host) (remote.Target, error) {
		t := remote.Target{Host: h.Address, Port: h.Port, User: lab.GenUser, Password: lab.GenPassword, Timeout: 5 * time.Second}
		t.SetDefaults()
		return t, t.Validate()
	}
	run := func(two bool) (fleet.HostResult, int) {
		before := m.Host.Requests().Command
		rep := fleet.Audit(context.Background(), hosts, fleet.Options{HostTimeout: 10 * time.Second, Dialer: winrmclient.Dialer{}, Target: target,
			Probe: fleet.ProbeOptions{Workspace: "contoso", Timeout: 2 * time.Second, TwoCommands: two}})
		return rep.Hosts[0], m.Host.Requests().Command - before
	}
	one, oneCmds := run(false)
	two, twoCmds := run(true)
	if one.Status != fleet.StatusCompliant || two.Status != fleet.StatusCompliant {
		t.Fatalf("statuses %s / %s\n%s\n%s", one.Status, two.Status, dumpChecks(one), dumpChecks(two))
	}
	// Counted on the simulated host: Receives vary with how the output arrives, Commands do not.
	if oneCmds != 1 || twoCmds != 2 {
		t.Fatalf("Commands: %d with one command line, %d with two; want 1 and 2", oneCmds, twoCmds)
	}
}
