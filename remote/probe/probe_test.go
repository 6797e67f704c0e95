package probe

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const sensorURL = "https://contososensorapi.atp.azure.com/tri/sensor/api/ping"

const (
	sensorPath = `C:\Program Files\Azure Advanced Threat Protection Sensor\2.250.18972.18405\SensorConfiguration.json`
	rootG2     = "DF3C24F9BFD666761B268073FE06D1CC8D4F82A4"
	rootCA     = "A8985D3A65E5E5C4B2D7D66D40C6DD2FB19C5436"
)

// configs are the golden configurations; each has testdata/NAME.ps1 and testdata/NAME.cmd.
var configs = map[string]Config{
	"three_accounts": {
		URL: sensorURL, Timeout: 10 * time.Second,
		Routes: []Route{
			{ID: "CURRENT_USER", Mode: ModeSystem},
			{ID: "LOCAL_SYSTEM", Mode: ModeProxy, Proxy: "proxy.corp.example:8080"},
			{ID: "LOCAL_SERVICE", Mode: ModeDirect},
		},
	},
	"single_direct": {
		URL: "https://triprd1wcuse1sensorapi.eastus.cloudapp.azure.com", Timeout: 5 * time.Second,
		Routes: []Route{{ID: "LOCAL_SERVICE", Mode: ModeDirect}},
	},
	"query_url": {
		URL: "https://sensor.example.com:8443/ping?a=1&b=x|y^z", Timeout: 1500 * time.Millisecond,
		Routes: []Route{
			{ID: "CURRENT_USER", Mode: ModeSystem},
			{ID: "LOCAL_SYSTEM", Mode: ModeProxy, Proxy: "10.0.0.5:3128"},
		},
	},
	"sensor_v2": {
		URL: sensorURL, URLSource: URLSensor, Timeout: 10 * time.Second, SensorConfig: sensorPath,
		Roots: []string{rootG2, rootCA},
		Routes: []Route{
			{ID: "SENSOR", Mode: ModeSensor},
			{ID: "CURRENT_USER", Mode: ModeSystem},
			{ID: "LOCAL_SYSTEM", Mode: ModeProxy, Proxy: "proxy.corp.example:8080"},
			{ID: "LOCAL_SERVICE", Mode: ModeProxy, Proxy: "proxy.corp.example:8080"},
			{ID: "DIRECT", Mode: ModeDirect},
		},
	},
	"mde_v3": {
		URL: "https://winatp-gw-cus.microsoft.com/cnc/identity/api", URLSource: URLMDE, Timeout: 10 * time.Second,
		Roots:  []string{rootG2},
		Routes: []Route{{ID: "MDE_STATIC", Mode: ModeProxy, Proxy: "proxy.corp.example:8080"}, {ID: "WINHTTP", Mode: ModeDirect}},
	},
}

func TestGolden(t *testing.T) {
	for name, c := range configs {
		t.Run(name, func(t *testing.T) {
			s, err := Script(c)
			if err != nil {
				t.Fatal(err)
			}
			cmd, err := Command(c)
			if err != nil {
				t.Fatal(err)
			}
			ps1 := filepath.Join("testdata", name+".ps1")
			enc := filepath.Join("testdata", name+".cmd")
			if *update {
				if err := os.WriteFile(ps1, []byte(s), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(enc, []byte(cmd+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantS, err := os.ReadFile(ps1)
			if err != nil {
				t.Fatalf("%v (run go test -update to create)", err)
			}
			wantC, err := os.ReadFile(enc)
			if err != nil {
				t.Fatalf("%v (run go test -update to create)", err)
			}
			if s != string(wantS) {
				t.Errorf("Script differs from %s (go test -update to refresh):\n%s", ps1, s)
			}
			if cmd+"\n" != string(wantC) {
				t.Errorf("Command differs from %s", enc)
			}
		})
	}
}

func TestScriptProperties(t *testing.T) {
	for name, c := range configs {
		s, err := Script(c)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(s); i++ {
			if s[i] >= 0x7f || (s[i] < ' ' && s[i] != '\n') {
				t.Fatalf("%s: byte %d = %#x is not printable ASCII", name, i, s[i])
			}
		}
		for _, want := range []string{
			"[Net.SecurityProtocolType]::Tls12",
			"$ProgressPreference='SilentlyContinue'",
			"GetSystemWebProxy()",
			"$q.Proxy=$null",
			"$q.Timeout=$ms",
			"InnerException",
			"ConvertTo-Json -InputObject",
			"-Compress",
			"$q.ServerCertificateValidationCallback={param(",
			"return ($e -eq [Net.Security.SslPolicyErrors]::None)",
			"[RunspaceFactory]::CreateRunspacePool(1,$n)",
			".GetResponse()",
			"Test-Path -LiteralPath ('Cert:\\LocalMachine\\Root\\'+$h)",
			"geoLocationUrl",
			"'/tri/sensor/api/ping'",
			"$null -ne $p.EncryptedUserPasswordData",
			"tls=[bool]$o.tls",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: script lacks %q", name, want)
			}
		}
		// No aliases or the IE engine.
		// No aliases or the IE engine; no shared, stale ServicePoint certificate; no bypass lists.
		// No async requests (the certificate callback needs a runspace); no double quotes or percent
		// signs (cmd.exe); nothing of the encrypted password but its presence.
		for _, bad := range []string{"Invoke-WebRequest", " % ", " ? ", "| where", "| select", "iwr ", "curl ", "`",
			"ServicePoint.Certificate", ".Certificate", "BypassList", "bypass", "ServicePointManager]::ServerCertificateValidationCallback",
			"GetResponseAsync", "BeginGetResponse", `"`, "%", "EncryptedBytes", "CertificateThumbprint", "SecretVersion", "$_.Exception.Message",
			// The probe presents what the sensor presents: never the connecting admin's credentials.
			"DefaultCredentials", "UseDefaultCredentials", "Credentials="} {
			if strings.Contains(s, bad) {
				t.Errorf("%s: script contains %q", name, bad)
			}
		}
		again, _ := Script(c)
		if again != s {
			t.Errorf("%s: Script is not deterministic", name)
		}
	}
}

func TestCommandIsQuotedInlineScript(t *testing.T) {
	for name, c := range configs {
		line, err := Command(c)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := Script(c)
		if want := CommandPrefix + `"` + strings.ReplaceAll(s, "\n", ";") + `"`; line != want {
			t.Fatalf("%s: command is not the quoted inline script", name)
		}
		// cmd.exe sees one quoted region (no %VAR% expansion, no & | < > ^ special), and
		// CommandLineToArgvW one argument (no backslash before the closing quote).
		if strings.Count(line, `"`) != 2 || strings.Contains(line, "%") || strings.Contains(line, "\n") || strings.HasSuffix(line, `\"`) {
			t.Fatalf("%s: command line would not pass cmd.exe untouched", name)
		}
		if len(line) >= 8191 {
			t.Fatalf("%s: command is %d characters", name, len(line))
		}
		if got, err := Extract(strings.TrimSuffix(strings.TrimPrefix(line, CommandPrefix+`"`), `"`)); err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("%s: Extract of the inline form = %+v, %v", name, got, err)
		}
	}
}

// TestCommandLengthContract: 16 routes, a 260-character sensor path and 3 roots fit cmd.exe's limit.
func TestCommandLengthContract(t *testing.T) {
	c := Config{URL: "https://" + strings.Repeat("w", 40) + "sensorapi.atp.azure.com/tri/sensor/api/ping", URLSource: URLSensor, Timeout: MaxTimeout,
		SensorConfig: `C:\Program Files\Azure Advanced Threat Protection Sensor\` + strings.Repeat("9", 260-len(`C:\Program Files\Azure Advanced Threat Protection Sensor\\SensorConfiguration.json`)) + `\SensorConfiguration.json`,
		Roots:        []string{rootG2, rootCA, strings.Repeat("F", 40)}}
	if len(c.SensorConfig) != MaxPath {
		t.Fatalf("path is %d characters", len(c.SensorConfig))
	}
	for i := 0; i < MaxRoutes; i++ {
		c.Routes = append(c.Routes, Route{ID: "LOCAL_SERVICE_ROUTE_" + string(rune('A'+i)), Mode: ModeProxy,
			Proxy: fmt.Sprintf("proxy%02d.branch-office.corp.example.com:65535", i)})
	}
	line, err := Command(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("command line: %d characters", len(line))
	if len(line) > 7500 {
		t.Fatalf("command is %d characters, want at most 7500 (cmd.exe limit 8191)", len(line))
	}
}

func TestCommandTooLong(t *testing.T) {
	c := Config{URL: sensorURL, Timeout: time.Second}
	for i := 0; i < MaxRoutes; i++ {
		id := strings.Repeat(string(rune('A'+i)), 64)
		host := strings.Repeat("a", 60) + "." + strings.Repeat("b", 60) + "." + strings.Repeat("c", 60) + ".example"
		c.Routes = append(c.Routes, Route{ID: id, Mode: ModeProxy, Proxy: host + ":8080"})
	}
	if _, err := Script(c); err != nil {
		t.Fatalf("script itself is fine: %v", err)
	}
	if _, err := Command(c); !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v, want ErrTooLong", err)
	}
}

// TestCommandLengthRealistic: the three routes dcproxy sends, with the longest proxy host names DNS
// allows, stay below cmd.exe's limit now that bypass lists are decided on the client.
func TestCommandLengthRealistic(t *testing.T) {
	long := strings.Repeat("p", 63) + "." + strings.Repeat("q", 63) + "." + strings.Repeat("r", 63) + "." + strings.Repeat("s", 61)
	c := Config{URL: sensorURL, Timeout: MaxTimeout, Routes: []Route{
		{ID: "CURRENT_USER", Mode: ModeSystem},
		{ID: "LOCAL_SYSTEM", Mode: ModeProxy, Proxy: long + ":65535"},
		{ID: "LOCAL_SERVICE", Mode: ModeProxy, Proxy: long + ":65535"},
	}}
	line, err := Command(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(line) > 7500 {
		t.Fatalf("command is %d characters, want at most 7500 (cmd.exe limit 8191)", len(line))
	}
}

// TestValidateProxyForms: the proxy forms WinINet accepts (wininet.ProxyRouteFor's Addr) pass.
func TestValidateProxyForms(t *testing.T) {
	for _, p := range []string{"proxy_1.corp.example:8080", "proxy.corp.example.:3128", "[2001:db8::1]:8080", "[::1]:80", "10.0.0.1:80"} {
		c := Config{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping", Timeout: time.Second, Routes: []Route{{ID: "LOCAL_SERVICE", Mode: ModeProxy, Proxy: p}}}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"2001:db8::1:8080", "[fe80::1%eth0]:80", "[10.0.0.1]:80", "-bad:80", "a..b:80", "p:0", "p:65536"} {
		c := Config{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping", Timeout: time.Second, Routes: []Route{{ID: "LOCAL_SERVICE", Mode: ModeProxy, Proxy: p}}}
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", p)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := Route{ID: "LOCAL_SYSTEM", Mode: ModeDirect}
	tests := []struct {
		name string
		c    Config
	}{
		{"http url", Config{URL: "http://x.example/", Timeout: time.Second, Routes: []Route{ok}}},
		{"no host", Config{URL: "https:///path", Timeout: time.Second, Routes: []Route{ok}}},
		{"quote", Config{URL: "https://x.example/'", Timeout: time.Second, Routes: []Route{ok}}},
		{"space", Config{URL: "https://x.example/a b", Timeout: time.Second, Routes: []Route{ok}}},
		{"non-ascii", Config{URL: "https://x.example/\u00e4", Timeout: time.Second, Routes: []Route{ok}}},
		{"user info", Config{URL: "https://u:p@x.example/", Timeout: time.Second, Routes: []Route{ok}}},
		{"zero timeout", Config{URL: sensorURL, Routes: []Route{ok}}},
		{"sub-ms timeout", Config{URL: sensorURL, Timeout: 1500 * time.Microsecond, Routes: []Route{ok}}},
		{"no routes", Config{URL: sensorURL, Timeout: time.Second}},
		{"lower id", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{{ID: "local_system", Mode: ModeDirect}}}},
		{"dup id", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{ok, ok}}},
		{"bad mode", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{{ID: "X", Mode: "pac"}}}},
		{"proxy without port", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{{ID: "X", Mode: ModeProxy, Proxy: "proxy"}}}},
		{"proxy port 0", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{{ID: "X", Mode: ModeProxy, Proxy: "proxy:0"}}}},
		{"proxy with scheme", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{{ID: "X", Mode: ModeProxy, Proxy: "http://proxy:80"}}}},
		{"proxy injection", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{{ID: "X", Mode: ModeProxy, Proxy: "a';calc;'b:80"}}}},
		{"direct with proxy", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{{ID: "X", Mode: ModeDirect, Proxy: "p:80"}}}},
		{"system with proxy", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{{ID: "X", Mode: ModeSystem, Proxy: "p:80"}}}},
		{"sensor with proxy", Config{URL: sensorURL, Timeout: time.Second, Routes: []Route{{ID: "X", Mode: ModeSensor, Proxy: "p:80"}}}},
		{"percent in url", Config{URL: "https://x.example/a%20b", Timeout: time.Second, Routes: []Route{ok}}},
		{"bad url source", Config{URL: sensorURL, URLSource: "wpad", Timeout: time.Second, Routes: []Route{ok}}},
		{"relative path", Config{URL: sensorURL, SensorConfig: `SensorConfiguration.json`, Timeout: time.Second, Routes: []Route{ok}}},
		{"unc path", Config{URL: sensorURL, SensorConfig: `\\server\share\SensorConfiguration.json`, Timeout: time.Second, Routes: []Route{ok}}},
		{"quote in path", Config{URL: sensorURL, SensorConfig: `C:\a'b\SensorConfiguration.json`, Timeout: time.Second, Routes: []Route{ok}}},
		{"double quote in path", Config{URL: sensorURL, SensorConfig: `C:\a"b\SensorConfiguration.json`, Timeout: time.Second, Routes: []Route{ok}}},
		{"backtick in path", Config{URL: sensorURL, SensorConfig: "C:\\a`b\\SensorConfiguration.json", Timeout: time.Second, Routes: []Route{ok}}},
		{"percent in path", Config{URL: sensorURL, SensorConfig: `C:\%TEMP%\SensorConfiguration.json`, Timeout: time.Second, Routes: []Route{ok}}},
		{"newline in path", Config{URL: sensorURL, SensorConfig: "C:\\a\nb.json", Timeout: time.Second, Routes: []Route{ok}}},
		{"non-ascii path", Config{URL: sensorURL, SensorConfig: "C:\\Sensor\u00e4\\x.json", Timeout: time.Second, Routes: []Route{ok}}},
		{"long path", Config{URL: sensorURL, SensorConfig: `C:\` + strings.Repeat("a", MaxPath), Timeout: time.Second, Routes: []Route{ok}}},
		{"lower-case root", Config{URL: sensorURL, Roots: []string{strings.ToLower(rootG2)}, Timeout: time.Second, Routes: []Route{ok}}},
		{"short root", Config{URL: sensorURL, Roots: []string{rootG2[:39]}, Timeout: time.Second, Routes: []Route{ok}}},
		{"root twice", Config{URL: sensorURL, Roots: []string{rootG2, rootG2}, Timeout: time.Second, Routes: []Route{ok}}},
		{"too many roots", Config{URL: sensorURL, Roots: []string{rootG2, rootCA, strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40)}, Timeout: time.Second, Routes: []Route{ok}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Script(tt.c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Script: got %v, want ErrInvalidConfig", err)
			}
			if _, err := Command(tt.c); !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Command: got %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestExtractRoundTrip(t *testing.T) {
	for name, c := range configs {
		s, err := Script(c)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Extract(s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: Extract = %+v, want %+v", name, got, c)
		}
	}
}

func TestExtractRejects(t *testing.T) {
	s, _ := Script(configs["sensor_v2"])
	in := Inline(s)
	tests := map[string]string{
		"empty":           "",
		"other script":    "Get-Date",
		"masterzen pfx":   "$ProgressPreference = 'SilentlyContinue';" + s,
		"crlf":            strings.ReplaceAll(s, "\n", "\r\n"),
		"trailing space":  s + " ",
		"inline trailing": in + ";",
		"mixed forms":     strings.Replace(in, ";", "\n", 3),
		"body edited":     strings.Replace(s, "$q.KeepAlive=$false", "$q.KeepAlive=$true", 1),
		"extra key":       strings.Replace(s, ";roots=", ";x=1;roots=", 1),
		"spaced":          strings.Replace(s, "$cfg=@{url=", "$cfg=@{ url=", 1),
		"unbalanced":      strings.Replace(s, "url='", "url='''", 1),
		"unterminated":    s[:strings.Index(s, "url='")+8],
		"lower id":        strings.Replace(s, "'LOCAL_SYSTEM'", "'local_system'", 1),
		"bad mode":        strings.Replace(s, "mode='direct'", "mode='pac'", 1),
		"bad root":        strings.Replace(s, rootCA, strings.ToLower(rootCA), 1),
		"zero timeout":    strings.Replace(s, "timeoutMs=10000", "timeoutMs=0", 1),
		"huge timeout":    strings.Replace(s, "timeoutMs=10000", "timeoutMs=99999999999", 1),
		"no routes":       s[:strings.Index(s, "routes=@(")+9] + s[strings.Index(s, ")}\n"):],
		"double quoted":   strings.Replace(s, "url='"+sensorURL+"'", `url="`+sensorURL+`"`, 1),
		"truncated":       s[:len(s)/2],
	}
	for name, text := range tests {
		if _, err := Extract(text); !errors.Is(err, ErrNotProbe) {
			t.Errorf("%s: got %v, want ErrNotProbe", name, err)
		}
	}
}

// outputJSON builds a script output line; results are raw JSON objects.
func outputJSON(url, from, sensor, roots string, results ...string) string {
	return `{"url":"` + url + `","from":"` + from + `","sensor":` + sensor + `,"roots":` + roots + `,"results":[` + strings.Join(results, ",") + `]}` + "\r\n"
}

func res(id string, q int, rest string) string {
	return `{"id":"` + id + `","q":` + fmt.Sprint(q) + `,` + rest + `}`
}

const (
	r503proxy = `"status":503,"error":"ProtocolError","message":"The remote server returned an error: (503) Server Unavailable.","route":"proxy proxy.corp.example:8080","tls":true,"subject":"CN=*.atp.azure.com, O=Microsoft Corporation","issuer":"CN=Microsoft Azure RSA TLS Issuing CA 04, O=Microsoft Corporation, C=US","body":"","ms":212`
	rNoName   = `"status":0,"error":"NameResolutionFailure","message":"The remote name could not be resolved: \u0027contososensorapi.atp.azure.com\u0027","route":"direct","tls":false,"subject":"","issuer":"","body":"","ms":15`
	r200      = `"status":200,"error":"","message":"","route":"proxy proxy.lab.test:8080","tls":true,"subject":"CN=*.atp.azure.com","issuer":"CN=DigiCert","body":"2.250.18972.18405","ms":40`
	r200dir   = `"status":200,"error":"","message":"","route":"direct","tls":true,"subject":"CN=*.atp.azure.com","issuer":"CN=DigiCert","body":"2.250.18972.18405","ms":41`
	r407      = `"status":407,"error":"ProtocolError","message":"Der Remoteserver hat einen Fehler zur\u00fcckgegeben: (407) Proxyauthentifizierung erforderlich.","route":"proxy proxy.corp.example:8080","tls":false,"subject":"","issuer":"","body":"","ms":9`
	rNoSensor = `"status":0,"error":"NoSensorProxy","message":"","route":"direct","tls":false,"subject":"","issuer":"","body":"","ms":0`
)

func TestParse(t *testing.T) {
	c := configs["three_accounts"]
	good := outputJSON(sensorURL, "given", "null", "{}",
		res("CURRENT_USER", 1, r503proxy), res("LOCAL_SYSTEM", 1, r503proxy), res("LOCAL_SERVICE", 2, rNoName))
	out, err := Parse([]byte(good), c)
	if err != nil {
		t.Fatal(err)
	}
	p503 := Result{URL: sensorURL, Status: 503, Error: "ProtocolError", Message: "The remote server returned an error: (503) Server Unavailable.", Route: "proxy proxy.corp.example:8080",
		TLS: true, Subject: "CN=*.atp.azure.com, O=Microsoft Corporation", Issuer: "CN=Microsoft Azure RSA TLS Issuing CA 04, O=Microsoft Corporation, C=US", Millis: 212}
	cu, ls := p503, p503
	cu.ID, ls.ID, ls.SharedWith = "CURRENT_USER", "LOCAL_SYSTEM", "CURRENT_USER"
	want := Output{URL: sensorURL, URLFrom: FromGiven, Roots: map[string]bool{}, Requests: 2, Results: []Result{cu, ls,
		{ID: "LOCAL_SERVICE", URL: sensorURL, Error: "NameResolutionFailure", Message: "The remote name could not be resolved: 'contososensorapi.atp.azure.com'", Route: "direct", Millis: 15}}}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("got %+v\nwant %+v", out, want)
	}

	// The sensor run: the JSON's proxy, its endpoint as URL, roots, a body, NoSensorProxy excluded.
	cs := configs["sensor_v2"]
	url := "https://contososensorapi.atp.azure.com:4443/tri/sensor/api/ping"
	sensor := `{"found":true,"error":"","proxyUrl":"http://svc:Secret1@proxy.lab.test:8080","proxyUser":"LAB\\svc-mdi","credentials":true,"address":"contososensorapi.atp.azure.com","port":4443}`
	roots := `{"` + rootG2 + `":true,"` + rootCA + `":false}`
	sgood := outputJSON(url, "sensor", sensor, roots,
		res("SENSOR", 1, r200), res("CURRENT_USER", 2, r200dir), res("LOCAL_SYSTEM", 1, r200), res("LOCAL_SERVICE", 1, r200), res("DIRECT", 2, r200dir))
	out, err = Parse([]byte(sgood), cs)
	if err != nil {
		t.Fatal(err)
	}
	if out.URL != url || out.URLFrom != FromSensor || out.Requests != 2 || !out.Roots[rootG2] || out.Roots[rootCA] || len(out.Roots) != 2 {
		t.Fatalf("sensor output %+v", out)
	}
	wantSC := SensorConfig{Found: true, ProxyURL: "http://REDACTED@proxy.lab.test:8080", ProxyUser: `LAB\svc-mdi`, Credentials: true, Address: "contososensorapi.atp.azure.com", Port: 4443}
	if out.Sensor == nil || *out.Sensor != wantSC {
		t.Fatalf("sensor config %+v, want %+v", out.Sensor, wantSC)
	}
	if r := out.Results[3]; r.Body != "2.250.18972.18405" || r.SharedWith != "SENSOR" || r.URL != url || r.Status != 200 {
		t.Fatalf("LOCAL_SERVICE %+v", r)
	}
	if r := out.Results[4]; r.SharedWith != "CURRENT_USER" {
		t.Fatalf("DIRECT %+v", r)
	}
	// No JSON proxy: the sensor route made no request; a file that is not there.
	nosc := outputJSON(sensorURL, "given", `{"found":false,"error":"NotFound","proxyUrl":"","proxyUser":"","credentials":false,"address":"","port":0}`, roots,
		res("SENSOR", 0, rNoSensor), res("CURRENT_USER", 1, r200dir), res("LOCAL_SYSTEM", 2, r407), res("LOCAL_SERVICE", 2, r407), res("DIRECT", 1, r200dir))
	out, err = Parse([]byte(nosc), cs)
	if err != nil {
		t.Fatal(err)
	}
	if r := out.Results[0]; r.Error != ErrNoSensorProxy || r.URL != "" || r.SharedWith != "" || out.Sensor.Found || out.Sensor.Error != "not found" || out.Requests != 2 {
		t.Fatalf("no sensor proxy: %+v %+v", r, out.Sensor)
	}
	if m := out.Results[2].Message; m != "Der Remoteserver hat einen Fehler zurückgegeben: (407) Proxyauthentifizierung erforderlich." {
		t.Fatalf("de-DE message %q", m)
	}

	// Order in the output does not matter; the result follows the config.
	swapped := outputJSON(sensorURL, "given", "null", "{}", res("LOCAL_SERVICE", 2, rNoName), res("CURRENT_USER", 1, r503proxy), res("LOCAL_SYSTEM", 1, r503proxy))
	out, err = Parse([]byte(swapped), c)
	if err != nil {
		t.Fatal(err)
	}
	if out.Results[0].ID != "CURRENT_USER" || out.Results[2].ID != "LOCAL_SERVICE" {
		t.Fatalf("order: %+v", out.Results)
	}

	bad := map[string]string{
		"empty":            "",
		"not json":         "Get-Date : error",
		"array":            "[" + res("LOCAL_SERVICE", 1, rNoName) + "]",
		"two lines":        good + good,
		"trailing":         strings.TrimSpace(good) + " x",
		"missing routes":   outputJSON(sensorURL, "given", "null", "{}", res("CURRENT_USER", 1, r503proxy)),
		"unknown id":       strings.Replace(good, `"LOCAL_SERVICE"`, `"OTHER"`, 1),
		"duplicate id":     strings.Replace(good, `"CURRENT_USER"`, `"LOCAL_SERVICE"`, 1),
		"extra key":        strings.Replace(good, `"ms":15}`, `"ms":15,"x":2}`, 1),
		"extra top key":    strings.Replace(good, `"roots":{}`, `"roots":{},"x":1`, 1),
		"missing sensor":   strings.Replace(good, `"sensor":null,`, ``, 1),
		"missing roots":    strings.Replace(good, `,"roots":{}`, ``, 1),
		"missing url":      strings.Replace(good, `"url":"`+sensorURL+`",`, ``, 1),
		"missing body":     strings.Replace(good, `"body":"",`, ``, 1),
		"missing q":        strings.Replace(good, `"q":2,`, ``, 1),
		"sensor unasked":   strings.Replace(good, `"sensor":null`, `"sensor":{"found":false,"error":"NotFound","proxyUrl":"","proxyUser":"","credentials":false,"address":"","port":0}`, 1),
		"root unasked":     strings.Replace(good, `"roots":{}`, `"roots":{"`+rootG2+`":true}`, 1),
		"other url":        strings.Replace(good, `"url":"`+sensorURL, `"url":"https://evil.example/`, 1),
		"sensor url given": strings.Replace(good, `"from":"given"`, `"from":"sensor"`, 1),
		"bad from":         strings.Replace(good, `"from":"given"`, `"from":"wpad"`, 1),
		"string tls":       strings.Replace(good, `"tls":true`, `"tls":"true"`, 1),
		"names no tls":     strings.Replace(good, `"tls":false,"subject":""`, `"tls":false,"subject":"CN=x"`, 1),
		"non-ascii name":   strings.Replace(good, `"subject":"CN=*.atp.azure.com, O=Microsoft Corporation"`, `"subject":"CN=\u00e4"`, 1),
		"bad status":       strings.Replace(good, `"status":503`, `"status":1000`, 1),
		"bad error":        strings.Replace(good, `"error":"NameResolutionFailure"`, `"error":"x y"`, 1),
		"bad route":        strings.Replace(good, `"route":"direct"`, `"route":"via proxy"`, 1),
		"negative ms":      strings.Replace(good, `"ms":15}`, `"ms":-1}`, 1),
		"body without 200": strings.Replace(good, `"body":"","ms":15`, `"body":"2.1","ms":15`, 1),
		"long body":        strings.Replace(sgood, `"body":"2.250.18972.18405"`, `"body":"`+strings.Repeat("9", MaxBody+1)+`"`, 1),
		"shared differs":   strings.Replace(good, `"ms":212}`, `"ms":213}`, 1),
		"q gap":            strings.Replace(good, `"q":2`, `"q":3`, 1),
		"q out of order":   outputJSON(sensorURL, "given", "null", "{}", res("CURRENT_USER", 2, r503proxy), res("LOCAL_SYSTEM", 2, r503proxy), res("LOCAL_SERVICE", 1, rNoName)),
		"same route twice": outputJSON(sensorURL, "given", "null", "{}", res("CURRENT_USER", 1, r503proxy), res("LOCAL_SYSTEM", 2, r503proxy), res("LOCAL_SERVICE", 3, rNoName)),
		"no request, ms":   strings.Replace(good, `"q":2,`+rNoName, `"q":0,`+rNoName, 1),
		"nothing":          strings.Replace(good, `"status":0,"error":"NameResolutionFailure"`, `"status":0,"error":""`, 1),
		"null id":          strings.Replace(good, `"id":"LOCAL_SERVICE"`, `"id":null`, 1),
	}
	for name, text := range bad {
		if _, err := Parse([]byte(text), c); !errors.Is(err, ErrBadOutput) {
			t.Errorf("%s: got %v, want ErrBadOutput", name, err)
		}
	}
	sbad := map[string]string{
		"no sensor":          strings.Replace(sgood, `"sensor":`+sensor, `"sensor":null`, 1),
		"sensor extra key":   strings.Replace(sgood, `"port":4443}`, `"port":4443,"EncryptedBytes":"AAAA"}`, 1),
		"sensor bad error":   strings.Replace(nosc, `"NotFound"`, `"Gone"`, 1),
		"found with error":   strings.Replace(sgood, `"found":true,"error":""`, `"found":true,"error":"NotJson"`, 1),
		"values not read":    strings.Replace(nosc, `"address":""`, `"address":"x"`, 1),
		"bad port":           strings.Replace(sgood, `"port":4443`, `"port":4294967296`, 1),
		"control in field":   strings.Replace(sgood, `"proxyUser":"LAB\\svc-mdi"`, `"proxyUser":"a\nb"`, 1),
		"missing root":       strings.Replace(sgood, `,"`+rootCA+`":false`, ``, 1),
		"other root":         strings.Replace(sgood, `"`+rootCA+`":false`, `"`+strings.Repeat("E", 40)+`":false`, 1),
		"sensor url wrong":   strings.Replace(sgood, `/tri/sensor/api/ping","from"`, `/other","from"`, 1),
		"no sensor on proxy": strings.Replace(nosc, `"q":0,`+rNoSensor, `"q":0,`+strings.Replace(rNoSensor, "NoSensorProxy", "ConnectFailure", 1), 1),
		"nosensor requested": strings.Replace(nosc, `"id":"SENSOR","q":0`, `"id":"SENSOR","q":3`, 1),
		"nosensor elsewhere": strings.Replace(nosc, `"id":"SENSOR","q":0,`+rNoSensor, `"id":"SENSOR","q":0,`+strings.Replace(rNoSensor, `"message":""`, `"message":"x"`, 1), 1),
	}
	for name, text := range sbad {
		if _, err := Parse([]byte(text), cs); !errors.Is(err, ErrBadOutput) {
			t.Errorf("%s: got %v, want ErrBadOutput", name, err)
		}
	}
	// NoSensorProxy only for sensor routes.
	if _, err := Parse([]byte(strings.Replace(good, `"q":2,`+rNoName, `"q":0,`+rNoSensor, 1)), c); !errors.Is(err, ErrBadOutput) {
		t.Errorf("NoSensorProxy on a direct route: got %v", err)
	}
	if _, err := Parse([]byte(good), Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad config: got %v", err)
	}
}

func TestRedactUser(t *testing.T) {
	for in, want := range map[string]string{
		"http://proxy:8080":                 "http://proxy:8080",
		"http://u:p@proxy:8080":             "http://REDACTED@proxy:8080",
		"u:p@proxy:8080":                    "REDACTED@proxy:8080",
		"http://a@b@proxy:8080/x@y":         "http://REDACTED@proxy:8080/x@y",
		"http://proxy:8080/path?user=a@b.c": "http://proxy:8080/path?user=a@b.c",
		"":                                  "",
	} {
		if got := redactUser(in); got != want {
			t.Errorf("redactUser(%q) = %q, want %q", in, got, want)
		}
	}
}

// psparse runs tools/psparse/parse.mjs on files. It skips the test when node or the npm packages
// are missing, unless CI=true, where that is a failure.
func psparse(t *testing.T, files ...string) (string, error) {
	t.Helper()
	_, self, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(self), "..", "..", "tools", "psparse")
	missing := ""
	if _, err := exec.LookPath("node"); err != nil {
		missing = "node not found in PATH"
	} else if _, err := os.Stat(filepath.Join(dir, "node_modules", "tree-sitter-powershell")); err != nil {
		missing = "tools/psparse/node_modules missing (run npm install in tools/psparse)"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("tree-sitter check required in CI: %s", missing)
		}
		t.Skipf("skipping tree-sitter check: %s", missing)
	}
	cmd := exec.Command("node", append([]string{filepath.Join(dir, "parse.mjs")}, files...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestTreeSitterGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.ps1"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden scripts: %v", err)
	}
	// The inline form that Command sends, cut out of each golden command line.
	cmds, _ := filepath.Glob(filepath.Join("testdata", "*.cmd"))
	dir := t.TempDir()
	for _, c := range cmds {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		line := strings.TrimSuffix(string(b), "\n")
		if !strings.HasPrefix(line, CommandPrefix+`"`) || !strings.HasSuffix(line, `"`) {
			t.Fatalf("%s: not a quoted -Command line", c)
		}
		f := filepath.Join(dir, strings.TrimSuffix(filepath.Base(c), ".cmd")+"_inline.ps1")
		if err := os.WriteFile(f, []byte(line[len(CommandPrefix)+1:len(line)-1]), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(cmds) != len(configs) {
		t.Fatalf("%d golden command lines for %d configs", len(cmds), len(configs))
	}
	if out, err := psparse(t, files...); err != nil {
		t.Fatalf("tree-sitter rejects a golden script: %v\n%s", err, out)
	}
}

func TestTreeSitterGenerated(t *testing.T) {
	dir := t.TempDir()
	var files []string
	gen := []Config{
		{URL: "https://a.example", Timeout: time.Millisecond, Routes: []Route{{ID: "A", Mode: ModeSystem}}},
		{URL: "https://a.example:444/x?y=z&w=|^<>!;", Timeout: MaxTimeout, URLSource: URLMDE, SensorConfig: `C:\a b\;}{)(@$x\SensorConfiguration.json`,
			Roots: []string{rootCA}, Routes: []Route{
				{ID: "A", Mode: ModeProxy, Proxy: "p.example:1"},
				{ID: "B_", Mode: ModeDirect},
				{ID: "C", Mode: ModeProxy, Proxy: "1.2.3.4:65535"},
				{ID: "D", Mode: ModeSensor},
			}},
	}
	for _, c := range configs {
		gen = append(gen, c)
	}
	for i, c := range gen {
		s, err := Script(c)
		if err != nil {
			t.Fatal(err)
		}
		for j, text := range []string{s, Inline(s)} {
			f := filepath.Join(dir, fmt.Sprintf("gen%d_%d.ps1", i, j))
			if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
	}
	if out, err := psparse(t, files...); err != nil {
		t.Fatalf("tree-sitter rejects a generated script: %v\n%s", err, out)
	}
}

func TestTreeSitterCatchesBrokenScript(t *testing.T) {
	s, _ := Script(configs["three_accounts"])
	broken := map[string]string{
		"unclosed brace":  strings.Replace(s, "}catch{", "catch{", 1),
		"unclosed string": strings.Replace(s, "url='", "url=\"", 1),
		"unclosed paren":  strings.Replace(s, "[Console]::Out.WriteLine(", "[Console]::Out.WriteLine((", 1),
		// A line break before catch would become ";catch" in the inline form.
		"inline catch": Inline(strings.Replace(s, "}catch{", "}\ncatch{", 1)),
	}
	dir := t.TempDir()
	for name, text := range broken {
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".ps1")
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := psparse(t, f)
		if err == nil {
			t.Errorf("%s: tree-sitter accepted a broken script:\n%s", name, out)
		}
	}
}

// TestAppendScriptAppends: AppendScript writes Script's text after what dst holds, and quotes a
// single quote PowerShell's way.
func TestAppendScriptAppends(t *testing.T) {
	c := Config{URL: "https://contososensorapi.atp.azure.com/tri/sensor/api/ping", Timeout: 10 * time.Second,
		Routes: []Route{{ID: "LOCAL_SYSTEM", Mode: ModeProxy, Proxy: "proxy.corp.example:8080"}}}
	want, err := Script(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := AppendScript([]byte("prefix"), c)
	if err != nil || string(got) != "prefix"+want {
		t.Fatalf("AppendScript = %.40q..., %v", got, err)
	}
	if q := string(appendPSQuote(nil, "it's ''")); q != "'it''s '''''" {
		t.Errorf("quoted %q", q)
	}
}
