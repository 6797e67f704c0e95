package report

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet"
	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/winrmclient"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

var updateFixture = flag.Bool("update-fixture", false, "rewrite testdata/fixture.json from a real audit and fix of the lab fleet (then run -update and review the golden diffs)")

// fixtureFile is the report every renderer test starts from: the normalised result of a real
// fleet.Audit, fleet.PlanFix and fleet.Apply over WinRM (NTLM) against the lab fleet below.
const fixtureFile = "testdata/fixture.json"

// fixtureFleet is the lab fleet behind fixture.json: one simulated DC per situation the renderers
// distinguish. Every host's WinINet values match HKCU (proxy.lab.test:8080) unless it says otherwise.
const fixtureFleet = `
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
hosts:
  # compliant: classic sensor, every account on the reference proxy
  - name: dc01.corp.example
    site: Berlin
    tags: [gc, pdc]
    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}
  # compliant: no sensor yet (readiness); LOCAL_SYSTEM differs from HKCU only in the change counter
  - name: dc02.corp.example
    site: Berlin
    registry: {local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 12}}
  # noncompliant registry: LOCAL_SYSTEM has no value (the fix writes and verifies it)
  - name: dc03.corp.example
    site: Hamburg
    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}
    registry: {local_system: absent}
  # noncompliant registry, proxy down: LOCAL_SERVICE carries an old proxy that is down; the
  # on-host backup directory is read-only (the fix skips the host)
  - name: dc04.corp.example
    site: Hamburg
    tags: [rodc]
    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}
    registry: {local_service: {proxy: 'old.lab.test:3128', bypass: '<local>', counter: 2}}
    backup: {read_only: true}
  # compliant with approximate probes: every account resolves a PAC file
  - name: dc05.corp.example
    site: Munich
    registry:
      current_user: {autoconfig_url: 'http://wpad.corp.example/proxy.pac', counter: 3}
      local_system: {autoconfig_url: 'http://wpad.corp.example/proxy.pac', counter: 3}
      local_service: {autoconfig_url: 'http://wpad.corp.example/proxy.pac', counter: 3}
    network: {pac_proxy: 'proxy.lab.test:8080'}
  # auth refused: every logon fails with 401
  - name: dc06.corp.example
    site: Munich
    fault: authfail
  # unreachable: nothing listens on 5985
  - name: dc07.corp.example
    site: Vienna
    fault: refuse
  # timeout: the connection is accepted and never answered
  - name: dc08.corp.example
    site: Vienna
    fault: blackhole
  # TLS interception: the proxy inspects TLS with a CA the host does not trust
  - name: dc09.corp.example
    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}
    network: {tls_intercept: untrusted}
  # 407: every account goes through a proxy that wants credentials
  - name: dc10.corp.example
    site: Paris
    registry:
      current_user: {proxy: 'auth.lab.test:8080', bypass: '<local>', counter: 5}
      local_system: {proxy: 'auth.lab.test:8080', bypass: '<local>', counter: 5}
      local_service: {proxy: 'auth.lab.test:8080', bypass: '<local>', counter: 5}
  # v2 with a SensorConfiguration.json proxy: it decides; the absent WinINet values are warnings
  - name: dc11.corp.example
    site: Paris
    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso, proxy: 'http://json.lab.test:3128'}
    registry: {local_system: absent, local_service: absent}
  # v3 (unified sensor): Defender for Endpoint's static proxy decides
  - name: dc12.corp.example
    site: Madrid
    sensor: {kind: v3, workspace: contoso}
    machine: {mde_proxy: {server: 'proxy.lab.test:8080', disable_enterprise_auth_proxy: true}}
  # missing root: DigiCert Global Root G2 is not in LocalMachine\Root
  - name: dc13.corp.example
    site: Madrid
    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}
    machine: {roots: [digicert_global_root_ca]}
  # probe error: every account reaches https only through a SOCKS entry, which dcproxy cannot probe
  - name: dc14.corp.example
    registry:
      current_user: {proxy: 'socks=socks.corp.example:1080', bypass: '<local>', counter: 5}
      local_system: {proxy: 'socks=socks.corp.example:1080', bypass: '<local>', counter: 5}
      local_service: {proxy: 'socks=socks.corp.example:1080', bypass: '<local>', counter: 5}
  # noncompliant, only a fix acts: LOCAL_SYSTEM names another proxy that works; a Group Policy
  # reverts every write (the fix rolls back)
  - name: dc15.corp.example
    site: Berlin
    registry: {local_system: {proxy: 'json.lab.test:3128', bypass: '<local>', counter: 8}}
    policy: {enforce: true}
  # de-DE: localized reg.exe output; LOCAL_SERVICE has no value and a Group Policy reverts every
  # write (the fix's verification fails and it rolls back)
  - name: dc-fra-01.corp.example
    site: Frankfurt
    tags: [de-DE]
    locale: de-DE
    sensor: {kind: v2, version: 2.250.18972.18405, workspace: contoso}
    registry: {local_service: absent}
    policy: {enforce: true}
`

// Normalised values of fixture.json: what differs from run to run is replaced by these.
const (
	fixtureRunID    = "20240514T093000Z-7f3a"
	fixtureDuration = 2000 // ms per host
	fixtureProbeMS  = 150  // ms per probe that took time
	fixturePort     = "5985"
	fixtureRequests = 9 // per host that was reached
)

var (
	fixtureStart  = time.Date(2024, 5, 14, 9, 30, 0, 0, time.UTC)
	fixtureFinish = time.Date(2024, 5, 14, 9, 31, 12, 500_000_000, time.UTC)
	fixedNow      = time.Date(2024, 5, 14, 9, 45, 0, 0, time.UTC)
)

// fixtureAddress is the address the report shows for lab host i (documentation range, stable).
func fixtureAddress(i int) string { return "192.0.2." + strconv.Itoa(11+i) }

// generateFixture runs the lab fleet, audits it, plans a fix and applies it, and returns the
// report normalised for fixture.json.
func generateFixture(t *testing.T) *fleet.Report {
	t.Helper()
	spec, err := lab.ParseSpec([]byte(fixtureFleet))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr("127.97.0.1"), PSStart: 5 * time.Millisecond, ProbeTime: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)

	// The inventory carries the addresses the report shows; the target looks up the lab member.
	members := map[string]*lab.Member{}
	var hosts []inventory.Host
	for i, m := range l.Members {
		members[m.Spec.Name] = m
		hosts = append(hosts, inventory.Host{Name: m.Spec.Name, Address: fixtureAddress(i), Port: 5985, Site: m.Spec.Site, Tags: m.Spec.Tags, Source: "fixture"})
	}
	// Generous deadlines, so that a loaded machine (-race, CI) cannot turn a slow answer into another
	// result; only the host that never answers gets a short request timeout.
	target := func(h inventory.Host) (remote.Target, error) {
		m := members[h.Name]
		t := remote.Target{Host: m.Address, Port: m.Port, User: lab.GenUser, Password: lab.GenPassword, Timeout: 30 * time.Second}
		if m.Spec.Fault == lab.FaultBlackhole {
			t.Timeout = 2 * time.Second
		}
		t.SetDefaults()
		return t, t.Validate()
	}
	opt := fleet.Options{
		Concurrency: len(hosts), HostTimeout: 60 * time.Second, Dialer: winrmclient.Dialer{}, Target: target,
		Probe: fleet.ProbeOptions{Workspace: "contoso", Timeout: 20 * time.Second},
	}
	ctx := context.Background()
	rep := fleet.Audit(ctx, hosts, opt)
	plans := fleet.PlanFix(rep, fleet.PlanOptions{})
	dir := t.TempDir()
	backups, err := fleet.OpenJournal(filepath.Join(dir, "backups.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer backups.Close()
	alog, err := fleet.OpenJournal(filepath.Join(dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer alog.Close()
	if err := fleet.Apply(ctx, rep, hosts, plans, fleet.ApplyOptions{Options: opt, Concurrency: 4, RunID: fixtureRunID,
		Command: "fix", Operator: "fixture as LAB\\auditor", Backups: backups, AuditLog: alog, RollbackOnProbeRegression: true}); err != nil {
		t.Fatal(err)
	}

	// Normalise: what depends on the clock, the machine or the free ports.
	rep.RunID = fixtureRunID
	rep.StartedAt, rep.FinishedAt = fixtureStart, fixtureFinish
	for i := range rep.Hosts {
		h := &rep.Hosts[i]
		h.DurationMS = fixtureDuration
		if s := h.Stats; s != nil {
			// The requests a host took vary by one with keep-alive timing; handshakes and attempts
			// are as counted.
			s.WaitMS = 0
			if s.Requests > 0 {
				s.Requests = fixtureRequests
			}
		}
		for j := range h.Checks {
			if p, ok := h.Checks[j].Actual.(*fleet.Probe); ok && p.Millis != 0 {
				p.Millis = fixtureProbeMS
			}
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	var repl []string
	for i, m := range l.Members {
		repl = append(repl, net.JoinHostPort(m.Address, strconv.Itoa(m.Port)), net.JoinHostPort(fixtureAddress(i), fixturePort),
			m.Address, fixtureAddress(i))
	}
	repl = append(repl, dir, "/var/lib/dcproxy")
	text = strings.NewReplacer(repl...).Replace(text)
	var out fleet.Report
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func encodeFixture(t *testing.T, rep *fleet.Report) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestFixtureGen audits the lab fleet for real and compares the normalised report with
// testdata/fixture.json; -update-fixture rewrites the file (then -update the goldens and review
// their diff). A difference means fleet now reports something else: regenerate, do not hand-edit.
func TestFixtureGen(t *testing.T) {
	if testing.Short() && !*updateFixture {
		t.Skip("-short: the lab audit behind fixture.json is not re-run")
	}
	got := encodeFixture(t, generateFixture(t))
	if *updateFixture {
		if err := os.WriteFile(fixtureFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(fixtureFile)
	if err != nil {
		t.Fatalf("read %s (go test ./report -run TestFixtureGen -update-fixture): %v", fixtureFile, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is not what a fresh audit of the lab fleet reports (go test ./report -run TestFixtureGen -update-fixture, then -update, and review the diffs):\n%s",
			fixtureFile, lineDiff(string(want), string(got)))
	}
}

// lineDiff lists the lines of want and got that differ, position by position (enough to see what
// moved in an indented JSON file).
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < max(len(w), len(g)) && n < 40; i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, a, c)
			n++
		}
	}
	return b.String()
}
