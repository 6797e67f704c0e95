package lab

import (
	"context"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/reg"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim/pwsh"
)

const sensorFleet = `
defaults:
  user: 'LAB\auditor'
  password: 'pw'
  network:
    proxies: {'proxy.lab.test:8080': ok, 'auth.lab.test:8080': auth_required, 'p401.lab.test:8080': unauthorized_401, 'p403.lab.test:8080': forbidden_403}
    endpoint_version: 2.250.18972.18405
  machine:
    mde_proxy: {server: 'proxy.lab.test:8080', disable_enterprise_auth_proxy: true}
hosts:
  - name: v2.lab.test
    sensor:
      kind: v2
      version: 2.251.1.2
      workspace: fabrikam
      cloud: gcc-high
      proxy: 'http://auth.lab.test:8080'
      proxy_user: 'LAB\svc-mdi'
    machine:
      proxy_per_user: false
      local_machine: {proxy: 'proxy.lab.test:8080', bypass: '<local>'}
      local_machine_legacy: {proxy: 'proxy.lab.test:8080'}
      mde_proxy: {server: '', prefer_static: false}
      defender_proxy: 'proxy.lab.test:8080'
      strong_crypto: false
      roots: [digicert_global_root_ca]
  - name: v3.lab.test
    sensor: {kind: v3}
    machine:
      mde_proxy: {server: 'proxy.lab.test:8080', disable_enterprise_auth_proxy: false, prefer_static: true}
    network: {endpoint_version: ''}
  - name: migrated.lab.test
    sensor: {kind: migrated, version: 2.240.0.1, proxy: 'http://proxy.lab.test:8080', config: corrupt, proxy_user: 'LAB\old'}
    machine: {proxy_per_user: true, roots: []}
  - name: none.lab.test
`

func TestParseSpec_sensorAndMachine(t *testing.T) {
	s, err := ParseSpec([]byte(sensorFleet))
	if err != nil {
		t.Fatal(err)
	}
	v2, v3, mig, none := s.Resolve(0), s.Resolve(1), s.Resolve(2), s.Resolve(3)
	if v2.Sensor == nil || v2.Sensor.Kind != SensorV2 || v2.Sensor.Version != "2.251.1.2" || v2.Sensor.Workspace != "fabrikam" || v2.Sensor.Cloud != CloudGCCHigh ||
		*v2.Sensor.Proxy != "http://auth.lab.test:8080" || v2.Sensor.ProxyUser != `LAB\svc-mdi` || v2.Sensor.Line != 13 {
		t.Fatalf("v2 sensor %+v", v2.Sensor)
	}
	m := v2.Machine
	if *m.ProxyPerUser || m.LocalMachine.Proxy != "proxy.lab.test:8080" || m.LocalMachineLegacy == nil || m.MDEProxy.Server != "" || *m.MDEProxy.PreferStatic ||
		m.MDEProxy.DisableEnterpriseAuthProxy != nil || *m.DefenderProxy != "proxy.lab.test:8080" || *m.StrongCrypto || len(*m.Roots) != 1 {
		t.Fatalf("v2 machine %+v", m)
	}
	if *v2.Network.EndpointVersion != "2.250.18972.18405" || *v3.Network.EndpointVersion != "" {
		t.Fatalf("endpoint versions %q %q", *v2.Network.EndpointVersion, *v3.Network.EndpointVersion)
	}
	if v3.Sensor.Kind != SensorV3 || *v3.Machine.MDEProxy.DisableEnterpriseAuthProxy || !*v3.Machine.MDEProxy.PreferStatic {
		t.Fatalf("v3 %+v %+v", v3.Sensor, v3.Machine.MDEProxy)
	}
	if mig.Sensor.Config != ConfigCorrupt || !*mig.Machine.ProxyPerUser || len(*mig.Machine.Roots) != 0 || mig.Machine.MDEProxy.Server != "proxy.lab.test:8080" {
		t.Fatalf("migrated %+v %+v", mig.Sensor, mig.Machine)
	}
	if none.Sensor != nil || none.Machine.StrongCrypto != nil || none.Machine.Roots != nil || !*none.Machine.MDEProxy.DisableEnterpriseAuthProxy {
		t.Fatalf("none %+v %+v", none.Sensor, none.Machine)
	}

	for _, bad := range []struct{ yaml, want string }{
		{"sensor: {kind: v4}", `line 5: sensor kind "v4": want none, v2, v3 or migrated`},
		{"sensor: {kind: v2, version: latest}", `line 5: sensor version "latest"`},
		{"sensor: {kind: v2, workspace: Contoso_1}", `line 5: sensor workspace "Contoso_1"`},
		{"sensor: {kind: v2, cloud: dod}", `line 5: sensor cloud "dod"`},
		{"sensor: {kind: v2, config: missing}", `line 5: sensor config "missing"`},
		{"sensor: {kind: v2, proxy: 'http://a b'}", `line 5: sensor proxy "http://a b"`},
		{"sensor: {kind: v2, proxy_user: 'x'}", `line 5: sensor proxy_user without a proxy`},
		{"sensor: {kind: v3, proxy: 'http://p:1'}", `line 5: sensor proxy and config describe SensorConfiguration.json`},
		{"sensor: {kind: v2, proxyurl: x}", `line 5: `},
		{"machine: {mde_proxy: {server: 'http://p:1'}}", `line 5: mde_proxy server "http://p:1": want host:port`},
		{"machine: {mde_proxy: {server: 'p:1', disable: true}}", `line 5: `},
		{"machine: {roots: [digicert_global_root_g3]}", `line 5: root "digicert_global_root_g3"`},
		{"machine: {roots: [digicert_global_root_g2, DF3C24F9BFD666761B268073FE06D1CC8D4F82A4]}", `line 5: root "DF3C24F9BFD666761B268073FE06D1CC8D4F82A4" listed twice`},
		{"machine: {local_machine: sometimes}", `line 5: registry value "sometimes"`},
		{"machine: {strong_crypto: maybe}", `line 5: `},
		{"machine: {tls: true}", `line 5: `},
		{"network: {endpoint_version: \"2.1\\n\"}", `endpoint_version "2.1\n"`},
		{"network: {proxies: {'p:1': unauthorized_407}}", `state "unauthorized_407": want ok, down, auth_required, unauthorized_401, forbidden_403`},
	} {
		_, err := ParseSpec([]byte("defaults: {user: 'A\\b'}\nhosts:\n  - name: a\n    site: x\n    " + bad.yaml + "\n"))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: err %v, want %q", bad.yaml, err, bad.want)
		}
	}
}

// The fleet's reg batch (through cmd.exe and reg.exe, as the audit sends it) and the probe (through
// powershell.exe) read back what the fleet file says.
func TestSeedSensorKinds(t *testing.T) {
	s, err := ParseSpec([]byte(sensorFleet))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Start(s, Options{FirstAddress: netip.MustParseAddr("127.93.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	const (
		conn    = `HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings\Connections`
		perUser = `HKLM\SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings`
		svc     = `HKLM\SYSTEM\CurrentControlSet\Services\`
		netfx   = `HKLM\SOFTWARE\Microsoft\.NETFramework\v4.0.30319`
		netfx32 = `HKLM\SOFTWARE\WOW6432Node\Microsoft\.NETFramework\v4.0.30319`
	)
	qs := []reg.Query{
		{ID: "HKLM_DCS", Key: conn, Value: "DefaultConnectionSettings"},
		{ID: "HKLM_SLS", Key: conn, Value: "SavedLegacySettings"},
		{ID: "PER_USER", Key: perUser, Value: "ProxySettingsPerUser"},
		{ID: "S_IMAGE", Key: svc + "AATPSensor", Value: "ImagePath"},
		{ID: "S_OBJECT", Key: svc + "AATPSensor", Value: "ObjectName"},
		{ID: "S_START", Key: svc + "AATPSensor", Value: "Start"},
		{ID: "U_IMAGE", Key: svc + "AATPSensorUpdater", Value: "ImagePath"},
		{ID: "U_OBJECT", Key: svc + "AATPSensorUpdater", Value: "ObjectName"},
		{ID: "U_START", Key: svc + "AATPSensorUpdater", Value: "Start"},
		{ID: "SENSE", Key: svc + "Sense", Value: "Start"},
		{ID: "ONBOARDED", Key: `HKLM\SOFTWARE\Microsoft\Windows Advanced Threat Protection\Status`, Value: "OnboardingState"},
		{ID: "TELEMETRY", Key: `HKLM\SOFTWARE\Policies\Microsoft\Windows\DataCollection`, Value: "TelemetryProxyServer"},
		{ID: "NOAUTH", Key: `HKLM\SOFTWARE\Policies\Microsoft\Windows\DataCollection`, Value: "DisableEnterpriseAuthProxy"},
		{ID: "PREFER", Key: `HKLM\SOFTWARE\Policies\Microsoft\Windows Advanced Threat Protection`, Value: "PreferStaticProxyForHttpRequest"},
		{ID: "DEFENDER", Key: `HKLM\SOFTWARE\Policies\Microsoft\Windows Defender`, Value: "ProxyServer"},
		{ID: "STRONG", Key: netfx, Value: "SchUseStrongCrypto"},
		{ID: "SYSTLS", Key: netfx, Value: "SystemDefaultTlsVersions"},
		{ID: "STRONG32", Key: netfx32, Value: "SchUseStrongCrypto"},
		{ID: "SYSTLS32", Key: netfx32, Value: "SystemDefaultTlsVersions"},
	}
	line, err := reg.BatchQueryCommand(qs)
	if err != nil {
		t.Fatal(err)
	}
	dword := func(d uint32) string { return string(binary.LittleEndian.AppendUint32(nil, d)) }
	v2dir := `C:\Program Files\Azure Advanced Threat Protection Sensor\2.251.1.2\`
	v2dir24 := `C:\Program Files\Azure Advanced Threat Protection Sensor\2.240.0.1\`
	lm := wininet.New("proxy.lab.test:8080", "<local>", "", false, 0)
	lm.Version = wininet.VersionIE7
	type val struct{ typ, data string } // data: text, or the DWORD's 4 bytes
	absent := val{}
	want := map[string]map[string]val{
		"v2.lab.test": {
			"HKLM_DCS": {"REG_BINARY", string(lm.Encode())}, "PER_USER": {"REG_DWORD", dword(0)},
			"S_IMAGE": {"REG_EXPAND_SZ", `"` + v2dir + `Microsoft.Tri.Sensor.exe"`}, "S_OBJECT": {"REG_SZ", `NT AUTHORITY\LocalService`}, "S_START": {"REG_DWORD", dword(2)},
			"U_IMAGE": {"REG_EXPAND_SZ", `"` + v2dir + `Microsoft.Tri.Sensor.Updater.exe"`}, "U_OBJECT": {"REG_SZ", "LocalSystem"}, "U_START": {"REG_DWORD", dword(2)},
			"SENSE": {"REG_DWORD", dword(3)}, "ONBOARDED": absent, "TELEMETRY": absent, "NOAUTH": absent, "PREFER": {"REG_DWORD", dword(0)},
			"DEFENDER": {"REG_SZ", "proxy.lab.test:8080"}, "STRONG": absent, "SYSTLS": absent, "STRONG32": absent, "SYSTLS32": absent,
		},
		"v3.lab.test": {
			"HKLM_DCS": absent, "HKLM_SLS": absent, "PER_USER": absent, "S_IMAGE": absent, "S_START": absent, "U_START": absent,
			"SENSE": {"REG_DWORD", dword(2)}, "ONBOARDED": {"REG_DWORD", dword(1)},
			"TELEMETRY": {"REG_SZ", "proxy.lab.test:8080"}, "NOAUTH": {"REG_DWORD", dword(0)}, "PREFER": {"REG_DWORD", dword(1)}, "DEFENDER": absent,
			"STRONG": {"REG_DWORD", dword(1)}, "SYSTLS": {"REG_DWORD", dword(1)}, "STRONG32": {"REG_DWORD", dword(1)}, "SYSTLS32": {"REG_DWORD", dword(1)},
		},
		"migrated.lab.test": {
			"PER_USER": {"REG_DWORD", dword(1)}, "S_IMAGE": {"REG_EXPAND_SZ", `"` + v2dir24 + `Microsoft.Tri.Sensor.exe"`}, "S_START": {"REG_DWORD", dword(4)},
			"U_START": {"REG_DWORD", dword(4)}, "SENSE": {"REG_DWORD", dword(2)}, "ONBOARDED": {"REG_DWORD", dword(1)},
			"TELEMETRY": {"REG_SZ", "proxy.lab.test:8080"}, "NOAUTH": {"REG_DWORD", dword(1)}, "PREFER": absent,
		},
		"none.lab.test": {
			"S_IMAGE": absent, "U_IMAGE": absent, "SENSE": {"REG_DWORD", dword(3)}, "ONBOARDED": absent, "STRONG": {"REG_DWORD", dword(1)}, "SYSTLS32": {"REG_DWORD", dword(1)},
		},
	}
	ctx := context.Background()
	for _, m := range l.Members {
		// The exit code is the last reg query's (echo keeps ERRORLEVEL): 1 when its value is absent.
		stdout, errb, code, err := m.Host.Exec(ctx, m.User, line, 437)
		if err != nil || code > 1 {
			t.Fatalf("%s: reg batch: exit %d, %v\n%s\n%s", m.Spec.Name, code, err, stdout, errb)
		}
		res, err := reg.ParseBatch(string(stdout), qs)
		if err != nil {
			t.Fatalf("%s: %v\n%s", m.Spec.Name, err, stdout)
		}
		for i, q := range qs {
			w, ok := want[m.Spec.Name][q.ID]
			if !ok {
				continue
			}
			r := res[i]
			if r.Found != (w != absent) || r.Type != w.typ || string(r.Data) != w.data {
				t.Errorf("%s %s: found %v %s %q, want %+v", m.Spec.Name, q.ID, r.Found, r.Type, r.Data, w)
			}
		}
		if name := m.Spec.Name; name == "v2.lab.test" {
			if i := indexOf(qs, "HKLM_SLS"); !res[i].Found || res[i].Type != "REG_BINARY" {
				t.Errorf("v2 SavedLegacySettings %+v", res[i])
			}
		}
	}

	// SensorConfiguration.json, the roots and the URL through the probe itself.
	probeRun := func(m *Member, c probe.Config) (string, probe.Output) {
		t.Helper()
		cmd, err := probe.Command(c)
		if err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code, err := m.Host.Exec(ctx, m.User, cmd, 437)
		if err != nil || code != 0 {
			t.Fatalf("%s: probe exit %d, %v, stderr %s", m.Spec.Name, code, err, stderr)
		}
		out, err := probe.Parse(stdout, c)
		if err != nil {
			t.Fatalf("%s: %v\n%s", m.Spec.Name, err, stdout)
		}
		return string(stdout), out
	}
	roots := []string{pwsh.RootDigiCertGlobalG2, pwsh.RootDigiCertGlobalCA}
	v2 := probe.Config{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping", URLSource: probe.URLSensor, Timeout: 10 * time.Second,
		SensorConfig: v2dir + "SensorConfiguration.json", Roots: roots,
		Routes: []probe.Route{{ID: "SENSOR", Mode: probe.ModeSensor}, {ID: "DIRECT", Mode: probe.ModeDirect}}}
	stdout, out := probeRun(l.Members[0], v2)
	if strings.Contains(stdout, FakeEncryptedBytes("v2.lab.test")[:24]) {
		t.Fatalf("the encrypted bytes reached the output: %s", stdout)
	}
	wantSC := probe.SensorConfig{Found: true, ProxyURL: "http://auth.lab.test:8080", ProxyUser: `LAB\svc-mdi`, Credentials: true, Address: "fabrikamsensorapi.atp.azure.us", Port: 443}
	if *out.Sensor != wantSC || out.URL != "https://fabrikamsensorapi.atp.azure.us/tri/sensor/api/ping" || out.Roots[pwsh.RootDigiCertGlobalG2] || !out.Roots[pwsh.RootDigiCertGlobalCA] {
		t.Fatalf("v2 probe: %+v %+v", out, out.Sensor)
	}
	if r := out.Results[0]; r.Status != 407 || r.Route != "proxy auth.lab.test:8080" || r.TLS {
		t.Fatalf("v2 JSON proxy: %+v", r)
	}

	mig := v2
	mig.SensorConfig = v2dir24 + "SensorConfiguration.json"
	mig.URLSource = probe.URLMDE
	stdout, out = probeRun(l.Members[2], mig)
	if strings.Contains(stdout, FakeEncryptedBytes("migrated.lab.test")[:24]) {
		t.Fatalf("the encrypted bytes of the damaged file reached the output: %s", stdout)
	}
	if out.Sensor.Found || out.Sensor.Error != "not valid JSON" || out.URL != "https://winatp-gw-cus.microsoft.com/cnc/identity/api" || out.Roots[pwsh.RootDigiCertGlobalG2] || out.Roots[pwsh.RootDigiCertGlobalCA] {
		t.Fatalf("migrated probe: %+v %+v", out, out.Sensor)
	}
	if r := out.Results[1]; r.Error != "ConnectFailure" { // direct is blocked in this fleet
		t.Fatalf("migrated direct: %+v", r)
	}
	// No root at all: even through a working proxy the endpoint is not trusted.
	through := probe.Config{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping", Timeout: 10 * time.Second,
		Routes: []probe.Route{{ID: "MDE_STATIC", Mode: probe.ModeProxy, Proxy: "proxy.lab.test:8080"}}}
	if _, out = probeRun(l.Members[2], through); out.Results[0].Error != "TrustFailure" || !out.Results[0].TLS {
		t.Fatalf("migrated without roots: %+v", out.Results[0])
	}
	// The healthy machine: both roots, the ping's version through the proxy; v3's ping answers 503.
	if _, out = probeRun(l.Members[3], through); out.Results[0].Status != 200 || out.Results[0].Body != "2.250.18972.18405" {
		t.Fatalf("none: %+v", out.Results[0])
	}
	if _, out = probeRun(l.Members[1], through); out.Results[0].Status != 503 || out.Results[0].Body != "" {
		t.Fatalf("v3 ping without a version: %+v", out.Results[0])
	}
}

func indexOf(qs []reg.Query, id string) int {
	for i, q := range qs {
		if q.ID == id {
			return i
		}
	}
	return -1
}

// The generated fleet: the first cycle is the fleet of before (same names and kinds), then every
// sensor kind; the demo fleet (DemoHosts) holds each kind once.
func TestGenerateSensorKinds(t *testing.T) {
	spec, ks := Generate(DemoHosts, 1)
	if len(kinds) != DemoHosts {
		t.Fatalf("%d kinds, DemoHosts %d", len(kinds), DemoHosts)
	}
	old := []string{KindHealthy, KindMissingSystem, KindDiffering, KindCounterOnly, KindPAC, KindUnreachable, KindWrongPassword, KindGerman, KindBlackhole}
	for i, k := range old {
		if ks[i] != k || spec.Resolve(i).Sensor != nil {
			t.Fatalf("host %d is %s (sensor %v), want %s without sensor", i+1, ks[i], spec.Resolve(i).Sensor, k)
		}
	}
	seen := map[string]string{}
	for i, k := range ks {
		if other, dup := seen[k]; dup {
			t.Fatalf("kind %s twice (%s)", k, other)
		}
		seen[k] = spec.Hosts[i].Name
	}
	l, err := Start(spec, Options{FirstAddress: netip.MustParseAddr("127.92.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	byKind := map[string]*Member{}
	for i, m := range l.Members {
		byKind[ks[i]] = m
	}
	r := byKind[KindV2Proxy407].Host.Registry()
	if v, ok := r.Value(SensorServiceKey, "Start"); !ok || binary.LittleEndian.Uint32(v.Data) != 2 {
		t.Fatalf("v2 sensor service %+v", v)
	}
	if b, err := byKind[KindV2Proxy407].Host.FS().ReadFile(SensorConfigPath(DefaultSensorVersion)); err != nil || !strings.Contains(string(b), FakeEncryptedBytes(byKind[KindV2Proxy407].Spec.Name)) ||
		!strings.Contains(string(b), `"Url": "http://`+GenAuthProxy+`"`) {
		t.Fatalf("407 host's JSON: %v\n%s", err, b)
	}
	if _, ok := byKind[KindMissingRoot].Host.Registry().Value(pwsh.AuthRootStoreKey+`\`+pwsh.RootDigiCertGlobalG2, ""); ok || byKind[KindMissingRoot].Host.Registry().KeyExists(pwsh.AuthRootStoreKey+`\`+pwsh.RootDigiCertGlobalG2) {
		t.Fatal("missing-root host still has G2")
	}
	if _, ok := byKind[KindTLSOff].Host.Registry().Value(NetFXKey, "SchUseStrongCrypto"); ok {
		t.Fatal("tls-off host has SchUseStrongCrypto")
	}
	if _, ok := byKind[KindV3AuthProxy].Host.Registry().Value(DataCollectionKey, "DisableEnterpriseAuthProxy"); ok {
		t.Fatal("v3-auth-proxy host has DisableEnterpriseAuthProxy")
	}
	if v, ok := byKind[KindV3Static].Host.Registry().Value(DataCollectionKey, "DisableEnterpriseAuthProxy"); !ok || binary.LittleEndian.Uint32(v.Data) != 1 {
		t.Fatal("v3-static host lacks DisableEnterpriseAuthProxy=1")
	}
	if v, ok := byKind[KindMigrated].Host.Registry().Value(UpdaterServiceKey, "Start"); !ok || binary.LittleEndian.Uint32(v.Data) != 4 {
		t.Fatal("migrated host's updater is not disabled")
	}
}
