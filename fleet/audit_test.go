package fleet

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/fleet/inventory"
	"github.com/dcproxy/dcproxy/remote"
	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim"
	"github.com/dcproxy/dcproxy/remote/winsim/lab"
)

// simRunner runs command lines in a simulated host in-process (no HTTP): the engine's unit tests
// exercise real cmd.exe/reg.exe/probe behaviour without the transport.
type simRunner struct {
	h    *winsim.Host
	user string
	runs *atomic.Int32
}

func (r simRunner) Run(ctx context.Context, line string) (remote.Output, error) {
	if r.runs != nil {
		r.runs.Add(1)
	}
	o, e, code, err := r.h.Exec(ctx, r.user, line, 65001)
	return remote.Output{Stdout: o, Stderr: e, ExitCode: code}, err
}

func (simRunner) Close(context.Context) error { return nil }

// fakeDialer maps a host address to a dial function.
type fakeDialer map[string]func(ctx context.Context) (remote.Runner, error)

func (d fakeDialer) Dial(ctx context.Context, t remote.Target) (remote.Runner, error) {
	f, ok := d[t.Host]
	if !ok {
		return nil, fmt.Errorf("fake: no host %s", t.Host)
	}
	return f(ctx)
}

// testProbe requests the endpoint of Microsoft's 2018 procedure, which the lab's network answers
// like any sensor endpoint; these tests predate the workspace URLs.
var testProbe = ProbeOptions{URL: "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com"}

func targetOf(h inventory.Host) (remote.Target, error) {
	return remote.Target{Host: h.Address, User: lab.GenUser, Password: lab.GenPassword}, nil
}

// startSpec runs a lab for the spec on free ports of a private address range and returns it with an
// inventory; hosts are reached in-process through simRunner.
func startSpec(t *testing.T, yaml string, first string) (*lab.Lab, []inventory.Host) {
	t.Helper()
	spec, err := lab.ParseSpec([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	l, err := lab.Start(spec, lab.Options{FirstAddress: netip.MustParseAddr(first)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	var hosts []inventory.Host
	for _, m := range l.Members {
		hosts = append(hosts, inventory.Host{Name: m.Spec.Name, Address: m.Address, Port: m.Port, Source: "test"})
	}
	return l, hosts
}

const verdictFleet = `
defaults:
  user: 'LAB\auditor'
  password: 'Lab-Passw0rd!'
  registry:
    current_user: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
    local_service: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 5}
  network: {direct: false, proxies: {'proxy.lab.test:8080': ok, 'old.lab.test:3128': down, 'auth.lab.test:8080': auth_required}, endpoint_status: 503}
hosts:
  - name: healthy
  - name: missing-system
    registry: {local_system: absent}
  - name: differing-service
    registry: {local_service: {proxy: 'old.lab.test:3128', bypass: '<local>', counter: 2}}
  - name: counter-only
    registry: {local_system: {proxy: 'proxy.lab.test:8080', bypass: '<local>', counter: 99}}
  - name: bypass-order
    registry: {local_service: {proxy: 'proxy.lab.test:8080', bypass: '<LOCAL>', counter: 5}}
  - name: pac
    registry:
      current_user: {autoconfig_url: 'http://wpad/proxy.pac', counter: 1}
      local_system: {autoconfig_url: 'http://wpad/proxy.pac', counter: 1}
      local_service: {autoconfig_url: 'http://wpad/proxy.pac', counter: 1}
    network: {pac_proxy: 'proxy.lab.test:8080'}
  - name: undecodable
    registry: {local_system: {raw: '4600000001'}}
  - name: no-reference
    registry: {current_user: absent}
  - name: german
    locale: de-DE
    registry: {local_service: absent}
  - name: proxy-407
    registry:
      current_user: {proxy: 'auth.lab.test:8080', counter: 1}
      local_system: {proxy: 'auth.lab.test:8080', counter: 1}
      local_service: {proxy: 'auth.lab.test:8080', counter: 1}
  - name: endpoint-200
    network: {endpoint_status: 200}
  - name: endpoint-404
    network: {endpoint_status: 404}
  - name: tls-intercept
    network: {tls_intercept: true}
  - name: proxy-answers-503-itself
    network: {proxies: {'proxy.lab.test:8080': blocked_503}}
  - name: tls-intercept-trusted
    network: {tls_intercept: trusted, tls_intercept_issuer: 'CN=Zscaler Intermediate Root CA, O=Zscaler Inc.'}
  - name: bypass-endpoint
    registry:
      current_user: {proxy: 'proxy.lab.test:8080', bypass: '*.cloudapp.azure.com;<local>', counter: 5}
      local_system: {proxy: 'proxy.lab.test:8080', bypass: '*.cloudapp.azure.com;<local>', counter: 5}
      local_service: {proxy: 'proxy.lab.test:8080', bypass: '*.cloudapp.azure.com;<local>', counter: 5}
`

// checkAbsent is what checkStatus says of a check the host does not have.
const checkAbsent CheckStatus = "absent"

func checkStatus(r HostResult, id string) CheckStatus {
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return checkAbsent
}

func TestAudit_verdicts(t *testing.T) {
	l, hosts := startSpec(t, verdictFleet, "127.91.0.1")
	d := fakeDialer{}
	for _, m := range l.Members {
		d[m.Address] = func(context.Context) (remote.Runner, error) { return simRunner{h: m.Host, user: m.User}, nil }
	}
	rep := Audit(context.Background(), hosts, Options{Concurrency: 4, Dialer: d, Target: targetOf, Probe: testProbe})
	want := []struct {
		host                   string
		status                 HostStatus
		sys, svc, epSys, epSvc CheckStatus
		errKind                ErrorKind
	}{
		{"healthy", StatusCompliant, CheckPass, CheckPass, CheckPass, CheckPass, ""},
		{"missing-system", StatusNoncompliant, CheckFail, CheckPass, CheckFail, CheckPass, ""},
		{"differing-service", StatusNoncompliant, CheckPass, CheckFail, CheckPass, CheckFail, ""},
		{"counter-only", StatusCompliant, CheckPass, CheckPass, CheckPass, CheckPass, ""},
		{"bypass-order", StatusCompliant, CheckPass, CheckPass, CheckPass, CheckPass, ""},
		{"pac", StatusCompliant, CheckPass, CheckPass, CheckPass, CheckPass, ""},
		{"undecodable", StatusNoncompliant, CheckFail, CheckPass, CheckFail, CheckPass, ""},
		{"no-reference", StatusError, checkAbsent, checkAbsent, checkAbsent, checkAbsent, ErrorKindReference},
		{"german", StatusNoncompliant, CheckPass, CheckFail, CheckPass, CheckFail, ""},
		// 407: the probe goes out anonymously, as LocalService does; LocalSystem would present the
		// computer account, which dcproxy cannot verify (a warning).
		{"proxy-407", StatusNoncompliant, CheckPass, CheckPass, CheckWarn, CheckFail, ""},
		{"endpoint-200", StatusCompliant, CheckPass, CheckPass, CheckPass, CheckPass, ""},
		{"endpoint-404", StatusNoncompliant, CheckPass, CheckPass, CheckFail, CheckFail, ""},
		{"tls-intercept", StatusNoncompliant, CheckPass, CheckPass, CheckFail, CheckFail, ""},
		{"proxy-answers-503-itself", StatusNoncompliant, CheckPass, CheckPass, CheckFail, CheckFail, ""},
		{"tls-intercept-trusted", StatusNoncompliant, CheckPass, CheckPass, CheckFail, CheckFail, ""},
		{"bypass-endpoint", StatusNoncompliant, CheckPass, CheckPass, CheckFail, CheckFail, ""},
	}
	if len(rep.Hosts) != len(want) {
		t.Fatalf("%d results", len(rep.Hosts))
	}
	for i, w := range want {
		r := rep.Hosts[i]
		if r.Host != w.host {
			t.Fatalf("result %d is %s, want %s (inventory order)", i, r.Host, w.host)
		}
		got := []any{r.Status, checkStatus(r, "registry.local_system"), checkStatus(r, "registry.local_service"),
			checkStatus(r, "endpoint.local_system"), checkStatus(r, "endpoint.local_service")}
		exp := []any{w.status, w.sys, w.svc, w.epSys, w.epSvc}
		if fmt.Sprint(got) != fmt.Sprint(exp) {
			t.Errorf("%s: status, sys, svc, endpoint sys, endpoint svc = %v, want %v\n%+v", w.host, got, exp, r)
		}
		if w.errKind != "" && (r.Error == nil || r.Error.Kind != w.errKind) {
			t.Errorf("%s: error %+v, want kind %s", w.host, r.Error, w.errKind)
		}
	}
	if s := rep.Summary; s.Hosts != 16 || s.Compliant != 5 || s.Noncompliant != 10 || s.Error != 1 {
		t.Errorf("summary %+v", s)
	}
	// The counter-only host: byte comparison says different, the verdict passes.
	for _, c := range rep.Hosts[3].Checks {
		if c.ID == "registry.local_system" {
			if a := c.Actual.(*Settings); a.RegCompare != "different" || a.Counter != 99 {
				t.Errorf("counter-only actual %+v", a)
			}
		}
	}
	// The PAC host's probes are approximate.
	for _, c := range rep.Hosts[5].Checks {
		if c.Kind == KindEndpoint && c.Account != AccountCurrentUser && !c.Approximate {
			t.Errorf("pac probe %s not approximate", c.ID)
		}
	}
	// Why the new endpoint failures fail, and what a pass shows.
	for _, x := range []struct {
		host, id, msg string
		tls           bool
		issuer        string
	}{
		{"healthy", "endpoint.local_system", "endpoint answered 503 via proxy proxy.lab.test:8080 over TLS (certificate issued by CN=Microsoft Azure", true, "CN=Microsoft Azure RSA TLS Issuing CA 04, O=Microsoft Corporation, C=US"},
		{"proxy-answers-503-itself", "endpoint.local_system", "the proxy answered 503 itself via proxy proxy.lab.test:8080 (CONNECT failed", false, ""},
		{"tls-intercept-trusted", "endpoint.local_service", "TLS interception by CN=Zscaler Intermediate Root CA, O=Zscaler Inc. via proxy proxy.lab.test:8080", true, "CN=Zscaler Intermediate Root CA, O=Zscaler Inc."},
		{"tls-intercept", "endpoint.local_system", "TLS interception by CN=Contoso TLS Inspection CA, O=Contoso Ltd via proxy proxy.lab.test:8080: the sensor does not support SSL inspection (TrustFailure", true, "CN=Contoso TLS Inspection CA, O=Contoso Ltd"},
		{"bypass-endpoint", "endpoint.local_service", "endpoint not reached via direct: the connection was refused or blocked", false, ""},
	} {
		var found bool
		for _, r := range rep.Hosts {
			if r.Host != x.host {
				continue
			}
			for _, c := range r.Checks {
				if c.ID != x.id {
					continue
				}
				found = true
				a := c.Actual.(*Probe)
				if !strings.HasPrefix(c.Message, x.msg) || a.TLS == nil || *a.TLS != x.tls || a.Issuer != x.issuer {
					t.Errorf("%s %s: message %q tls %v issuer %q; want prefix %q, tls %v, issuer %q", x.host, x.id, c.Message, a.TLS, a.Issuer, x.msg, x.tls, x.issuer)
				}
				if x.host == "bypass-endpoint" && !strings.Contains(c.Message, "bypass list matches triprd1wcuse1sensorapi.eastus.cloudapp.azure.com") {
					t.Errorf("bypass-endpoint: message %q does not name the bypass", c.Message)
				}
			}
		}
		if !found {
			t.Errorf("%s: no check %s", x.host, x.id)
		}
	}
	// The undecodable value is reported with its hex.
	for _, c := range rep.Hosts[6].Checks {
		if c.ID == "registry.local_system" {
			if a := c.Actual.(*Settings); a.Raw != "4600000001" || a.DecodeError == "" {
				t.Errorf("undecodable actual %+v", a)
			}
		}
	}
}

func TestAudit_declaredReference(t *testing.T) {
	l, hosts := startSpec(t, verdictFleet, "127.91.1.1")
	d := fakeDialer{}
	for _, m := range l.Members {
		d[m.Address] = func(context.Context) (remote.Runner, error) { return simRunner{h: m.Host, user: m.User}, nil }
	}
	ref := &DeclaredReference{Proxy: "proxy.lab.test:8080", Bypass: "<local>"}
	rep := Audit(context.Background(), hosts[:8], Options{Concurrency: 2, Dialer: d, Target: targetOf, Reference: ref, Probe: ProbeOptions{Disabled: true}})
	// no-reference has no HKCU value but a declared reference: it is checked, and compliant.
	want := []HostStatus{StatusCompliant, StatusNoncompliant, StatusNoncompliant, StatusCompliant, StatusCompliant, StatusNoncompliant, StatusNoncompliant, StatusCompliant}
	for i, w := range want {
		if rep.Hosts[i].Status != w {
			t.Errorf("%s: %s, want %s", rep.Hosts[i].Host, rep.Hosts[i].Status, w)
		}
	}
}

// blockingRunner blocks every Run until ctx ends.
type blockingRunner struct{}

func (blockingRunner) Run(ctx context.Context, _ string) (remote.Output, error) {
	<-ctx.Done()
	return remote.Output{}, fmt.Errorf("%w: %w", remote.ErrTimeout, ctx.Err())
}
func (blockingRunner) Close(context.Context) error { return nil }

func TestAudit_hostFailuresAreIsolated(t *testing.T) {
	l, hosts := startSpec(t, verdictFleet, "127.91.2.1")
	hosts = hosts[:5]
	d := fakeDialer{}
	for _, m := range l.Members[:5] {
		d[m.Address] = func(context.Context) (remote.Runner, error) { return simRunner{h: m.Host, user: m.User}, nil }
	}
	d[hosts[1].Address] = func(context.Context) (remote.Runner, error) { return nil, fmt.Errorf("%w: 401", remote.ErrAuth) }
	d[hosts[2].Address] = func(context.Context) (remote.Runner, error) { panic("boom") }
	d[hosts[3].Address] = func(context.Context) (remote.Runner, error) { return blockingRunner{}, nil }
	rep := Audit(context.Background(), hosts, Options{Concurrency: 5, HostTimeout: 300 * time.Millisecond, Dialer: d, Target: targetOf, Probe: testProbe})
	kinds := []ErrorKind{"", ErrorKindAuth, ErrorKindError, ErrorKindTimeout, ""}
	for i, k := range kinds {
		r := rep.Hosts[i]
		if r.Host != hosts[i].Name {
			t.Fatalf("order: %d is %s", i, r.Host)
		}
		if k == "" {
			if r.Status == StatusError {
				t.Errorf("%s: %+v", r.Host, r.Error)
			}
			continue
		}
		if r.Status != StatusError || r.Error == nil || r.Error.Kind != k {
			t.Errorf("%s: status %s error %+v, want kind %s", r.Host, r.Status, r.Error, k)
		}
	}
}

func TestAudit_retriesTransientOnly(t *testing.T) {
	l, hosts := startSpec(t, verdictFleet, "127.91.3.1")
	hosts = hosts[:2]
	var unreach, auth atomic.Int32
	m0 := l.Members[0]
	d := fakeDialer{
		hosts[0].Address: func(context.Context) (remote.Runner, error) {
			if unreach.Add(1) <= 2 {
				return nil, fmt.Errorf("%w: connection refused", remote.ErrUnreachable)
			}
			return simRunner{h: m0.Host, user: m0.User}, nil
		},
		hosts[1].Address: func(context.Context) (remote.Runner, error) {
			auth.Add(1)
			return nil, fmt.Errorf("%w: 401", remote.ErrAuth)
		},
	}
	rep := Audit(context.Background(), hosts, Options{Concurrency: 2, Retries: 3, Backoff: time.Millisecond, Dialer: d, Target: targetOf, Probe: testProbe})
	if rep.Hosts[0].Status != StatusCompliant || rep.Hosts[0].Stats.Attempts != 3 || unreach.Load() != 3 {
		t.Errorf("transient host: %s attempts %d dials %d", rep.Hosts[0].Status, rep.Hosts[0].Stats.Attempts, unreach.Load())
	}
	if auth.Load() != 1 || rep.Hosts[1].Error == nil || rep.Hosts[1].Error.Kind != ErrorKindAuth {
		t.Errorf("auth host dialed %d times: %+v", auth.Load(), rep.Hosts[1].Error)
	}
}

func TestAudit_callerCancelStopsAll(t *testing.T) {
	var hosts []inventory.Host
	d := fakeDialer{}
	started := make(chan struct{}, 10)
	for i := range 10 {
		addr := fmt.Sprintf("10.0.0.%d", i)
		hosts = append(hosts, inventory.Host{Name: fmt.Sprintf("h%d", i), Address: addr})
		d[addr] = func(ctx context.Context) (remote.Runner, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	go func() {
		<-started
		<-started
		once.Do(cancel)
	}()
	rep := Audit(ctx, hosts, Options{Concurrency: 2, Dialer: d, Target: targetOf, Probe: testProbe})
	if !rep.Interrupted {
		t.Fatal("report not marked interrupted")
	}
	for _, r := range rep.Hosts {
		if r.Status != StatusError || r.Error == nil || r.Error.Kind != ErrorKindCanceled {
			t.Errorf("%s: %s %+v", r.Host, r.Status, r.Error)
		}
	}
	if rep.Summary.Error != 10 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

func TestAudit_oneShellTwoCommands(t *testing.T) {
	l, hosts := startSpec(t, verdictFleet, "127.91.4.1")
	var runs atomic.Int32
	var dials atomic.Int32
	m := l.Members[0]
	d := fakeDialer{m.Address: func(context.Context) (remote.Runner, error) {
		dials.Add(1)
		return simRunner{h: m.Host, user: m.User, runs: &runs}, nil
	}}
	Audit(context.Background(), hosts[:1], Options{Dialer: d, Target: targetOf, Probe: testProbe})
	if dials.Load() != 1 || runs.Load() != 2 {
		t.Errorf("dials %d, runs %d; want one shell and two commands (registry batch, probe)", dials.Load(), runs.Load())
	}
}

// TestProbeRoutes_bypassOnClient: bypass lists are decided here and never sent, so a realistic
// 40-entry list keeps the probe's command line far below cmd.exe's 8191 characters.
func TestProbeRoutes_bypassOnClient(t *testing.T) {
	var entries []string
	for i := 0; i < 40; i++ {
		entries = append(entries, fmt.Sprintf("*.internal-service-%02d.corp.contoso-example.com", i))
	}
	long := strings.Join(append(entries, "<local>"), ";")
	tests := []struct {
		name, bypass, host string
		wantMode           string
		wantBypassed       bool
	}{
		{"40 entries, no match", long, "triprd1wcuse1sensorapi.eastus.cloudapp.azure.com", "proxy", false},
		{"wildcard match", long + ";*.azure.com", "triprd1wcuse1sensorapi.eastus.cloudapp.azure.com", "direct", true},
		{"local matches a dotless name", "<local>", "sensorapi", "direct", true},
		{"local does not match a dotted name", "<local>", "sensor.example.com", "proxy", false},
		{"case-insensitive", "*.AZURE.com", "x.azure.COM", "direct", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := wininet.New("proxy.corp.example:8080", tt.bypass, "", false, 1)
			routes, approx, bypassed, _ := probeRoutes(map[string]*wininet.Settings{AccountLocalSystem: &s, AccountLocalService: &s}, tt.host)
			if len(routes) != 3 || len(approx) != 0 {
				t.Fatalf("routes %+v approx %v", routes, approx)
			}
			for _, r := range routes[1:] {
				if r.Mode != tt.wantMode || bypassed[r.ID] != tt.wantBypassed {
					t.Errorf("%s: mode %s bypassed %v, want %s %v", r.ID, r.Mode, bypassed[r.ID], tt.wantMode, tt.wantBypassed)
				}
				if r.Mode == "proxy" && r.Proxy != "proxy.corp.example:8080" {
					t.Errorf("%s: proxy %q", r.ID, r.Proxy)
				}
			}
			cfg := probe.Config{URL: "https://" + tt.host + "/", Timeout: 15 * time.Second, Routes: routes}
			line, err := probe.Command(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(line) > 6000 {
				t.Fatalf("command line of %d characters, want at most 6000", len(line))
			}
			if script, _ := probe.Script(cfg); strings.Contains(script, "internal-service") || strings.Contains(script, "<local>") {
				t.Fatal("the script carries the bypass list")
			}
		})
	}
}

func TestJudgeProbe(t *testing.T) {
	const ms = "CN=Microsoft Azure RSA TLS Issuing CA 04, O=Microsoft Corporation, C=US"
	po := ProbeOptions{Accept: []int{503, 200}, ExpectedIssuers: DefaultExpectedIssuers}
	anyIssuer := ProbeOptions{Accept: []int{503, 200}, ExpectedIssuers: []string{}}
	pxy := "proxy p.example:8080"
	tests := []struct {
		name   string
		r      probe.Result
		po     ProbeOptions
		status CheckStatus
		msg    string
	}{
		{"503 over TLS from Microsoft", probe.Result{Status: 503, Error: "ProtocolError", Route: pxy, TLS: true, Issuer: ms}, po, CheckPass, "endpoint answered 503 via " + pxy + " over TLS"},
		{"200 over TLS from DigiCert", probe.Result{Status: 200, Route: "direct", TLS: true, Issuer: "CN=DigiCert SHA2 Secure Server CA, O=DigiCert Inc, C=US"}, po, CheckPass, "endpoint answered 200"},
		{"503 from the proxy itself", probe.Result{Status: 503, Error: "ProtocolError", Route: pxy}, po, CheckFail, "the proxy answered 503 itself via " + pxy},
		{"200 from the proxy itself", probe.Result{Status: 200, Route: pxy}, po, CheckFail, "the proxy answered 200 itself"},
		{"status direct without TLS", probe.Result{Status: 503, Route: "direct"}, po, CheckFail, "HTTP 503 via direct without a TLS session"},
		{"407", probe.Result{Status: 407, Error: "ProtocolError", Route: pxy}, po, CheckFail, "proxy authentication required (407)"},
		{"trusted interception", probe.Result{Status: 200, Route: pxy, TLS: true, Issuer: "CN=Zscaler Intermediate Root CA"}, po, CheckFail, "TLS interception by CN=Zscaler Intermediate Root CA via " + pxy},
		{"untrusted interception", probe.Result{Error: "TrustFailure", Route: pxy, TLS: true, Issuer: "CN=Corp CA"}, po, CheckFail, "TLS interception by CN=Corp CA"},
		{"issuer case-insensitive", probe.Result{Status: 503, Route: pxy, TLS: true, Issuer: "cn=MICROSOFT RSA TLS CA 02"}, po, CheckPass, "endpoint answered 503"},
		{"issuer check disabled", probe.Result{Status: 200, Route: pxy, TLS: true, Issuer: "CN=Corp CA"}, anyIssuer, CheckPass, "endpoint answered 200"},
		{"unaccepted status over TLS", probe.Result{Status: 404, Error: "ProtocolError", Route: pxy, TLS: true, Issuer: ms}, po, CheckFail, "endpoint answered 404"},
		{"Microsoft cert not trusted", probe.Result{Error: "TrustFailure", Message: "m", Route: "direct", TLS: true, Issuer: ms}, po, CheckFail, "endpoint not reached via direct: the DC does not trust the endpoint's certificate"},
		{"proxy down", probe.Result{Error: "ConnectFailure", Message: "m", Route: "proxy old:3128"}, po, CheckFail, "proxy old:3128 refused the connection or is down"},
		{"connect failure", probe.Result{Error: "ConnectFailure", Message: "m", Route: "direct"}, po, CheckFail, "endpoint not reached via direct"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, msg := judgeProbe(tt.r, tt.po)
			if st != tt.status || !strings.HasPrefix(msg, tt.msg) {
				t.Fatalf("got %s %q, want %s %q...", st, msg, tt.status, tt.msg)
			}
		})
	}
}

func TestProbeOptions_issuerDefaults(t *testing.T) {
	var o Options
	o.setDefaults()
	if fmt.Sprint(o.Probe.ExpectedIssuers) != fmt.Sprint(DefaultExpectedIssuers) {
		t.Fatalf("nil issuers: %v", o.Probe.ExpectedIssuers)
	}
	o = Options{Probe: ProbeOptions{ExpectedIssuers: []string{}}}
	o.setDefaults()
	if o.Probe.ExpectedIssuers == nil || len(o.Probe.ExpectedIssuers) != 0 {
		t.Fatalf("an empty list must stay empty (no issuer check): %v", o.Probe.ExpectedIssuers)
	}
}
