package pwsh

import (
	"context"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dcproxy/dcproxy/remote/probe"
	"github.com/dcproxy/dcproxy/remote/wininet"
	"github.com/dcproxy/dcproxy/remote/winsim/registry"
	"github.com/dcproxy/dcproxy/remote/winsim/winfs"
)

const jsonPath = `C:\Program Files\Azure Advanced Threat Protection Sensor\2.250.18972.18405\SensorConfiguration.json`

// fakeSecret stands for the encrypted proxy password: it must never reach the probe's output.
var fakeSecret = base64.StdEncoding.EncodeToString([]byte("FAKE-ENCRYPTED-PROXY-PASSWORD-0123456789"))

// sensorJSON is a SensorConfiguration.json as the v2 sensor writes it.
func sensorJSON(proxyURL, user, address string, port int) string {
	proxy := "null"
	if proxyURL != "" {
		cred, name := "null", "null"
		if user != "" {
			name = `"` + strings.ReplaceAll(user, `\`, `\\`) + `"`
			cred = `{"$type":"EncryptedData","EncryptedBytes":"` + fakeSecret + `","CertificateThumbprint":"0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C","SecretVersion":null}`
		}
		proxy = `{"$type":"SensorProxyConfiguration","Url":"` + proxyURL + `","UserName":` + name + `,"EncryptedUserPasswordData":` + cred + `}`
	}
	return "\ufeff{\r\n  \"$type\": \"SensorConfiguration\",\r\n  \"SensorProxyConfiguration\": " + proxy +
		",\r\n  \"WorkspaceApplicationSensorApiWebClientConfigurationServiceEndpoint\": {\"$type\":\"EndpointData\",\"Address\":\"" + address + "\",\"Port\":" + itoa(port) +
		"},\r\n  \"SecretManagerConfigurationCertificateThumbprint\": \"0F1E2D3C4B5A69788796A5B4C3D2E1F00F1E2D3C\"\r\n}\r\n"
}

// machine returns a host with a registry and file system: the file at jsonPath holds content ("" = no
// file).
func machine(t *testing.T, nw Network, locale, content string) *Host {
	t.Helper()
	fs := winfs.New()
	if content != "" {
		if err := fs.MkdirAll(jsonPath[:strings.LastIndex(jsonPath, `\`)]); err != nil {
			t.Fatal(err)
		}
		if err := fs.WriteFile(jsonPath, []byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	return &Host{Network: nw, Locale: locale, Registry: registry.New(), FS: fs, ProbeTime: 7 * time.Millisecond}
}

func runProbeConfig(t *testing.T, h *Host, c probe.Config) (string, probe.Output) {
	t.Helper()
	line, err := probe.Command(c)
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := run(t, h, line)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	out, err := probe.Parse([]byte(stdout), c)
	if err != nil {
		t.Fatalf("probe.Parse rejects the simulated output %s: %v", stdout, err)
	}
	return stdout, out
}

var sensorCfg = probe.Config{URL: sensorURL, URLSource: probe.URLSensor, Timeout: 10 * time.Second, SensorConfig: jsonPath,
	Roots: []string{RootDigiCertGlobalG2, RootDigiCertGlobalCA},
	Routes: []probe.Route{
		{ID: "SENSOR", Mode: probe.ModeSensor},
		{ID: "LOCAL_SERVICE", Mode: probe.ModeProxy, Proxy: "proxy.lab.test:8080"},
		{ID: "DIRECT", Mode: probe.ModeDirect},
	}}

func TestProbeSensorConfig(t *testing.T) {
	lab := map[string]string{"proxy.lab.test:8080": ProxyOK, "proxy-auth.lab.test:8080": ProxyAuthRequired}
	tests := []struct {
		name    string
		content string
		want    probe.SensorConfig
		url     string
		sensor  string // the SENSOR route: its route, or NoSensorProxy
	}{
		{"JSON proxy with credentials", sensorJSON("http://proxy.lab.test:8080", `LAB\svc-mdi`, "fabrikamsensorapi.atp.azure.com", 443),
			probe.SensorConfig{Found: true, ProxyURL: "http://proxy.lab.test:8080", ProxyUser: `LAB\svc-mdi`, Credentials: true, Address: "fabrikamsensorapi.atp.azure.com", Port: 443},
			"https://fabrikamsensorapi.atp.azure.com/tri/sensor/api/ping", "proxy proxy.lab.test:8080"},
		{"JSON proxy without scheme, other port", sensorJSON("PROXY-AUTH.lab.test:8080", "", "fabrikamsensorapi.atp.azure.com", 4443),
			probe.SensorConfig{Found: true, ProxyURL: "PROXY-AUTH.lab.test:8080", Address: "fabrikamsensorapi.atp.azure.com", Port: 4443},
			"https://fabrikamsensorapi.atp.azure.com:4443/tri/sensor/api/ping", "proxy proxy-auth.lab.test:8080"},
		{"no JSON proxy", sensorJSON("", "", "fabrikamsensorapi.atp.azure.com", 443),
			probe.SensorConfig{Found: true, Address: "fabrikamsensorapi.atp.azure.com", Port: 443},
			"https://fabrikamsensorapi.atp.azure.com/tri/sensor/api/ping", probe.ErrNoSensorProxy},
		{"no file", "", probe.SensorConfig{Error: "not found"}, sensorURL, probe.ErrNoSensorProxy},
		// A damaged file: the encrypted bytes are in the part that is left.
		{"corrupt file", sensorJSON("http://proxy.lab.test:8080", `LAB\svc-mdi`, "x", 443)[:300], probe.SensorConfig{Error: "not valid JSON"}, sensorURL, probe.ErrNoSensorProxy},
		{"port that is no number", strings.Replace(sensorJSON("http://proxy.lab.test:8080", "", "x", 443), `"Port":443`, `"Port":"https"`, 1),
			probe.SensorConfig{Error: "not valid JSON"}, sensorURL, probe.ErrNoSensorProxy},
		{"bad proxy URL", sensorJSON("http://:8080", "", "fabrikamsensorapi.atp.azure.com", 443),
			probe.SensorConfig{Found: true, ProxyURL: "http://:8080", Address: "fabrikamsensorapi.atp.azure.com", Port: 443},
			"https://fabrikamsensorapi.atp.azure.com/tri/sensor/api/ping", "UriFormatException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if strings.Contains(tt.name, "corrupt") && !strings.Contains(tt.content, fakeSecret) {
				t.Fatal("the damaged file must still hold the encrypted bytes")
			}
			h := machine(t, Network{Proxies: lab, EndpointVersion: "2.250.18972.18405"}, "", tt.content)
			stdout, out := runProbeConfig(t, h, sensorCfg)
			if strings.Contains(stdout, fakeSecret) || strings.Contains(stdout, fakeSecret[:16]) || strings.Contains(stdout, "0F1E2D3C4B5A") {
				t.Fatalf("the encrypted password or its certificate reached stdout: %s", stdout)
			}
			if *out.Sensor != tt.want {
				t.Fatalf("sensor config %+v, want %+v", *out.Sensor, tt.want)
			}
			if out.URL != tt.url {
				t.Fatalf("url %s, want %s", out.URL, tt.url)
			}
			r := out.Results[0]
			switch tt.sensor {
			case probe.ErrNoSensorProxy, "UriFormatException":
				if r.Error != tt.sensor || r.URL != "" || r.Millis != 0 {
					t.Fatalf("sensor route %+v, want %s without request", r, tt.sensor)
				}
				if out.Requests != 2 {
					t.Fatalf("%d requests, want 2", out.Requests)
				}
			default:
				if r.Route != tt.sensor || r.URL != tt.url {
					t.Fatalf("sensor route %+v, want %s", r, tt.sensor)
				}
			}
		})
	}
}

// The JSON proxy and LOCAL_SERVICE's proxy are the same: one request, copied; the ping answers the
// version.
func TestProbeSharedRequestAndVersion(t *testing.T) {
	h := machine(t, Network{Proxies: map[string]string{"proxy.lab.test:8080": ProxyOK}, EndpointVersion: "2.250.18972.18405"}, "",
		sensorJSON("http://proxy.lab.test:8080", "", "contososensorapi.atp.azure.com", 443))
	_, out := runProbeConfig(t, h, sensorCfg)
	s, l := out.Results[0], out.Results[1]
	if s.Status != 200 || s.Body != "2.250.18972.18405" || !s.TLS || l.SharedWith != "SENSOR" || l.Status != 200 || out.Requests != 2 {
		t.Fatalf("results %+v, %d requests", out.Results, out.Requests)
	}
	if d := out.Results[2]; d.Error != "ConnectFailure" || d.SharedWith != "" {
		t.Fatalf("direct %+v", d)
	}
	// Without a version the ping answers 503 (older workspaces), with no body.
	h.Network.EndpointVersion = ""
	_, out = runProbeConfig(t, h, sensorCfg)
	if s := out.Results[0]; s.Status != 503 || s.Body != "" || s.Error != "ProtocolError" {
		t.Fatalf("no version: %+v", s)
	}
}

func TestProbeMDEURL(t *testing.T) {
	c := probe.Config{URL: sensorURL, URLSource: probe.URLMDE, Timeout: 10 * time.Second, Routes: []probe.Route{{ID: "MDE_STATIC", Mode: probe.ModeProxy, Proxy: "proxy.lab.test:8080"}}}
	h := machine(t, Network{Proxies: map[string]string{"proxy.lab.test:8080": ProxyOK}, EndpointVersion: "2.250.1.1"}, "de-DE", "")
	// Not onboarded: the given URL.
	_, out := runProbeConfig(t, h, c)
	if out.URL != sensorURL || out.URLFrom != probe.FromGiven || out.Results[0].Status != 200 {
		t.Fatalf("not onboarded: %+v", out)
	}
	info := `{"body":"{\"previousOrgIds\":[],\"orgId\":\"7a4d1c32-0000-4000-8000-000000000001\",\"geoLocationUrl\":\"https://winatp-gw-weu.microsoft.com/\",\"datacenter\":\"WestEurope\",\"vortexGeoLocation\":\"EU\",\"version\":\"1.7\"}","sig":"RkFLRS1TSUc=","sha256sig":"RkFLRS1TSUc=","cert":"RkFLRS1DRVJU","chain":[]}`
	if err := h.Registry.SetValue(ATPKey, registry.StringValue("OnboardingInfo", info)); err != nil {
		t.Fatal(err)
	}
	stdout, out := runProbeConfig(t, h, c)
	if out.URL != "https://winatp-gw-weu.microsoft.com/cnc/identity/api" || out.URLFrom != probe.FromMDE {
		t.Fatalf("onboarded: %+v", out)
	}
	r := out.Results[0]
	if r.Status != 500 || r.Error != "ProtocolError" || r.Message != "Der Remoteserver hat einen Fehler zurückgegeben: (500) Interner Serverfehler." || !r.TLS {
		t.Fatalf("MDE answer %+v", r)
	}
	if !strings.Contains(stdout, `zur\u00fcckgegeben`) {
		t.Fatalf("the German message is not ASCII-escaped: %s", stdout)
	}
}

func TestProbeRootsAndTrust(t *testing.T) {
	c := probe.Config{URL: sensorURL, Timeout: 10 * time.Second, Roots: []string{RootDigiCertGlobalG2, RootDigiCertGlobalCA},
		Routes: []probe.Route{{ID: "DIRECT", Mode: probe.ModeDirect}}}
	h := machine(t, Network{Direct: true, EndpointStatus: 503}, "", "")
	_, out := runProbeConfig(t, h, c)
	if !out.Roots[RootDigiCertGlobalG2] || !out.Roots[RootDigiCertGlobalCA] || out.Results[0].Status != 503 {
		t.Fatalf("default roots: %+v", out)
	}
	// G2 gone: the commercial endpoint's chain fails, after the certificate was presented.
	if err := h.Registry.DeleteKey(AuthRootStoreKey + `\` + RootDigiCertGlobalG2); err != nil {
		t.Fatal(err)
	}
	_, out = runProbeConfig(t, h, c)
	r := out.Results[0]
	if out.Roots[RootDigiCertGlobalG2] || !out.Roots[RootDigiCertGlobalCA] || r.Error != "TrustFailure" || r.Status != 0 || !r.TLS || r.Issuer != EndpointIssuer {
		t.Fatalf("without G2: roots %v, %+v", out.Roots, r)
	}
	// The GCC High endpoint chains to Global Root CA, which is there.
	gov := c
	gov.URL = "https://contososensorapi.atp.azure.us/tri/sensor/api/ping"
	_, out = runProbeConfig(t, h, gov)
	if r := out.Results[0]; r.Status != 503 || r.Issuer != EndpointIssuerGov {
		t.Fatalf("gcc high without G2: %+v", r)
	}
	// A root in the machine's own ROOT store counts too.
	if err := h.Registry.EnsureKey(RootStoreKey + `\` + RootDigiCertGlobalG2); err != nil {
		t.Fatal(err)
	}
	_, out = runProbeConfig(t, h, c)
	if !out.Roots[RootDigiCertGlobalG2] || out.Results[0].Status != 503 {
		t.Fatalf("G2 in ROOT: %+v", out)
	}
}

// ProxySettingsPerUser=0: GetSystemWebProxy uses HKLM's DefaultConnectionSettings, not the account's.
func TestProbePerMachineSettings(t *testing.T) {
	c := probe.Config{URL: sensorURL, Timeout: 10 * time.Second, Routes: []probe.Route{{ID: "CURRENT_USER", Mode: probe.ModeSystem}}}
	h := machine(t, Network{Proxies: map[string]string{"machine.lab.test:3128": ProxyOK}, EndpointStatus: 503}, "", "")
	h.CurrentUserSettings = settings("user.lab.test:8080", "", "", false)
	if err := h.Registry.SetValue(MachineConnectionsKey, registry.BinaryValue("DefaultConnectionSettings", wininet.New("machine.lab.test:3128", "", "", false, 1).Encode())); err != nil {
		t.Fatal(err)
	}
	_, out := runProbeConfig(t, h, c)
	if r := out.Results[0]; r.Route != "proxy user.lab.test:8080" {
		t.Fatalf("per user: %+v", r)
	}
	if err := h.Registry.SetValue(PolicyInternetSettingsKey, registry.DWORDValue("ProxySettingsPerUser", 0)); err != nil {
		t.Fatal(err)
	}
	_, out = runProbeConfig(t, h, c)
	if r := out.Results[0]; r.Route != "proxy machine.lab.test:3128" || r.Status != 503 {
		t.Fatalf("per machine: %+v", r)
	}
	if err := h.Registry.SetValue(PolicyInternetSettingsKey, registry.DWORDValue("ProxySettingsPerUser", 1)); err != nil {
		t.Fatal(err)
	}
	_, out = runProbeConfig(t, h, c)
	if r := out.Results[0]; r.Route != "proxy user.lab.test:8080" {
		t.Fatalf("policy 1: %+v", r)
	}
}

// Distinct requests overlap: the run waits once, for the slowest; each result reports its own time.
func TestProbeRequestsOverlap(t *testing.T) {
	var mu sync.Mutex
	var waits []time.Duration
	h := machine(t, Network{Direct: true, Proxies: map[string]string{"a.lab.test:1": ProxyOK, "b.lab.test:2": ProxyOK}}, "", "")
	h.ProbeTime = 300 * time.Millisecond
	h.Sleep = func(_ context.Context, d time.Duration) bool {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return true
	}
	c := probe.Config{URL: sensorURL, Timeout: 10 * time.Second, Routes: []probe.Route{
		{ID: "A", Mode: probe.ModeProxy, Proxy: "a.lab.test:1"}, {ID: "B", Mode: probe.ModeProxy, Proxy: "b.lab.test:2"},
		{ID: "C", Mode: probe.ModeDirect}, {ID: "D", Mode: probe.ModeProxy, Proxy: "a.lab.test:1"}}}
	_, out := runProbeConfig(t, h, c)
	if len(waits) != 1 || waits[0] != 300*time.Millisecond {
		t.Fatalf("waits %v, want one of 300ms for three distinct requests", waits)
	}
	if out.Requests != 3 || out.Results[3].SharedWith != "A" {
		t.Fatalf("%d requests, D shared with %q", out.Requests, out.Results[3].SharedWith)
	}
	for _, r := range out.Results {
		if r.Millis != 300 {
			t.Fatalf("%s took %d ms", r.ID, r.Millis)
		}
	}
	// A timeout shorter than the request: every request reports the timeout, the run waits it once.
	waits = nil
	c.Timeout = 50 * time.Millisecond
	_, out = runProbeConfig(t, h, c)
	if len(waits) != 1 || waits[0] != 50*time.Millisecond || out.Results[1].Error != "Timeout" || out.Results[1].Millis != 50 {
		t.Fatalf("timeout: waits %v, %+v", waits, out.Results[1])
	}
}

func TestProxyStatus(t *testing.T) {
	for state, want := range map[string]int{ProxyAuthRequired: 407, ProxyUnauthorized401: 401, ProxyForbidden403: 403, "blocked_502": 502, ProxyOK: 0, ProxyDown: 0, "unauthorized_402": 0} {
		got, ok := ProxyStatus(state)
		if got != want || ok != (want != 0) {
			t.Errorf("ProxyStatus(%q) = %d, %v", state, got, ok)
		}
		if ValidProxyState(state) != (state != "unauthorized_402") {
			t.Errorf("ValidProxyState(%q) = %v", state, ValidProxyState(state))
		}
	}
}

func TestASCIIEscape(t *testing.T) {
	if got := asciiEscape("a\u00fc\U0001F512~\x7f"); got != `a\u00fc\ud83d\udd12~\u007f` {
		t.Fatalf("got %s", got)
	}
}

// TestProbeBlackholedProxiesOverlap: three accounts on three different blackholed proxies cost one
// probe timeout, not three (the requests run at the same time), and each reports Timeout.
func TestProbeBlackholedProxiesOverlap(t *testing.T) {
	var waits []time.Duration
	h := machine(t, Network{Proxies: map[string]string{"a.lab.test:1": ProxyBlackhole, "b.lab.test:2": ProxyBlackhole, "c.lab.test:3": ProxyBlackhole}}, "", "")
	h.ProbeTime = 100 * time.Millisecond
	h.Sleep = func(_ context.Context, d time.Duration) bool { waits = append(waits, d); return true }
	c := probe.Config{URL: sensorURL, Timeout: 3 * time.Second, Routes: []probe.Route{
		{ID: "CURRENT_USER", Mode: probe.ModeProxy, Proxy: "a.lab.test:1"}, {ID: "LOCAL_SYSTEM", Mode: probe.ModeProxy, Proxy: "b.lab.test:2"},
		{ID: "LOCAL_SERVICE", Mode: probe.ModeProxy, Proxy: "c.lab.test:3"}}}
	_, out := runProbeConfig(t, h, c)
	if len(waits) != 1 || waits[0] != 3*time.Second {
		t.Fatalf("waits %v, want one wait of the 3s timeout for three blackholed proxies", waits)
	}
	for _, r := range out.Results {
		if r.Error != "Timeout" || r.Millis != 3000 || r.TLS {
			t.Errorf("%s: %+v, want Timeout after 3000 ms without TLS", r.ID, r)
		}
	}
	if !ValidProxyState(ProxyBlackhole) {
		t.Error("blackhole is not a valid proxy state")
	}
}
