package probe

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf16"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

const sensorURL = "https://contososensorapi.atp.azure.com/tri/sensor/api/ping"

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
		URL: "https://sensor.example.com:8443/ping?a=1&b=%27x%27", Timeout: 1500 * time.Millisecond,
		Routes: []Route{
			{ID: "CURRENT_USER", Mode: ModeSystem},
			{ID: "LOCAL_SYSTEM", Mode: ModeProxy, Proxy: "10.0.0.5:3128"},
		},
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
			"$q.Timeout=$cfg.timeoutMs",
			"InnerException",
			"ConvertTo-Json -InputObject",
			"-Compress",
			"$q.ServerCertificateValidationCallback=$cb",
			"return ($e -eq [Net.Security.SslPolicyErrors]::None)",
			"tls=[bool]$t.tls",
		} {
			if !strings.Contains(s, want) {
				t.Errorf("%s: script lacks %q", name, want)
			}
		}
		// No aliases or the IE engine.
		// No aliases or the IE engine; no shared, stale ServicePoint certificate; no bypass lists.
		for _, bad := range []string{"Invoke-WebRequest", " % ", " ? ", "| where", "| select", "iwr ", "curl ", "`",
			"ServicePoint.Certificate", ".Certificate", "BypassList", "bypass", "ServicePointManager]::ServerCertificateValidationCallback"} {
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

func TestCommandDecodes(t *testing.T) {
	c := configs["three_accounts"]
	line, err := Command(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line, "powershell.exe -NoProfile -NonInteractive -EncodedCommand ") {
		t.Fatalf("prefix: %q", line[:60])
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, CommandPrefix))
	if err != nil {
		t.Fatal(err)
	}
	if len(raw)%2 != 0 {
		t.Fatal("odd UTF-16 length")
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	s, _ := Script(c)
	if got := string(utf16.Decode(u)); got != s {
		t.Fatalf("decoded command differs from the script")
	}
	if len(line) >= 8191 {
		t.Fatalf("command is %d characters", len(line))
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
	s, _ := Script(configs["three_accounts"])
	tests := map[string]string{
		"empty":          "",
		"other script":   "Get-Date",
		"masterzen pfx":  "$ProgressPreference = 'SilentlyContinue';" + s,
		"crlf":           strings.ReplaceAll(s, "\n", "\r\n"),
		"trailing space": s + " ",
		"body edited":    strings.Replace(s, "$q.KeepAlive=$false", "$q.KeepAlive=$true", 1),
		"extra json key": strings.Replace(s, `"routes":`, `"x":1,"routes":`, 1),
		"old bypass key": strings.Replace(s, `"proxy":""}`, `"proxy":"","bypass":[]}`, 1),
		"spaced json":    strings.Replace(s, `{"url":`, `{ "url":`, 1),
		"unbalanced":     strings.Replace(s, `"url":"`, `"url":"'`, 1),
		"lower id":       strings.Replace(s, `"LOCAL_SYSTEM"`, `"local_system"`, 1),
		"truncated":      s[:len(s)/2],
	}
	for name, text := range tests {
		if _, err := Extract(text); !errors.Is(err, ErrNotProbe) {
			t.Errorf("%s: got %v, want ErrNotProbe", name, err)
		}
	}
}

func TestParse(t *testing.T) {
	c := configs["three_accounts"]
	good := `[{"id":"CURRENT_USER","status":503,"error":"ProtocolError","message":"The remote server returned an error: (503) Server Unavailable.","route":"proxy proxy.corp.example:8080","tls":true,"subject":"CN=*.atp.azure.com, O=Microsoft Corporation","issuer":"CN=Microsoft Azure RSA TLS Issuing CA 04, O=Microsoft Corporation, C=US","ms":212},` +
		`{"id":"LOCAL_SYSTEM","status":503,"error":"ProtocolError","message":"The remote server returned an error: (503) Server Unavailable.","route":"proxy proxy.corp.example:8080","tls":false,"subject":"","issuer":"","ms":1003},` +
		`{"id":"LOCAL_SERVICE","status":0,"error":"NameResolutionFailure","message":"The remote name could not be resolved: \u0027contososensorapi.atp.azure.com\u0027","route":"direct","tls":false,"subject":"","issuer":"","ms":15}]` + "\r\n"
	res, err := Parse([]byte(good), c)
	if err != nil {
		t.Fatal(err)
	}
	want := []Result{
		{ID: "CURRENT_USER", Status: 503, Error: "ProtocolError", Message: "The remote server returned an error: (503) Server Unavailable.", Route: "proxy proxy.corp.example:8080",
			TLS: true, Subject: "CN=*.atp.azure.com, O=Microsoft Corporation", Issuer: "CN=Microsoft Azure RSA TLS Issuing CA 04, O=Microsoft Corporation, C=US", Millis: 212},
		{ID: "LOCAL_SYSTEM", Status: 503, Error: "ProtocolError", Message: "The remote server returned an error: (503) Server Unavailable.", Route: "proxy proxy.corp.example:8080", Millis: 1003},
		{ID: "LOCAL_SERVICE", Error: "NameResolutionFailure", Message: "The remote name could not be resolved: 'contososensorapi.atp.azure.com'", Route: "direct", Millis: 15},
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("got %+v\nwant %+v", res, want)
	}
	// Order in the output does not matter; the result follows the config.
	swapped := `[{"id":"LOCAL_SERVICE","status":200,"error":"","message":"","route":"direct","tls":true,"subject":"CN=a","issuer":"CN=b","ms":1},{"id":"CURRENT_USER","status":200,"error":"","message":"","route":"direct","tls":true,"subject":"CN=a","issuer":"CN=b","ms":1},{"id":"LOCAL_SYSTEM","status":200,"error":"","message":"","route":"direct","tls":true,"subject":"CN=a","issuer":"CN=b","ms":1}]`
	res, err = Parse([]byte(swapped), c)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].ID != "CURRENT_USER" || res[2].ID != "LOCAL_SERVICE" {
		t.Fatalf("order: %+v", res)
	}

	one := `{"id":"LOCAL_SERVICE","status":200,"error":"","message":"","route":"direct","tls":true,"subject":"CN=a","issuer":"CN=b","ms":1}`
	bad := map[string]string{
		"empty":           "",
		"not json":        "Get-Date : error",
		"object":          one,
		"two lines":       "[" + one + "]\r\n[" + one + "]",
		"trailing":        "[" + one + "] x",
		"missing routes":  "[" + one + "]",
		"unknown id":      strings.Replace(swapped, "LOCAL_SERVICE", "OTHER", 1),
		"duplicate id":    strings.Replace(swapped, "CURRENT_USER", "LOCAL_SERVICE", 1),
		"extra key":       strings.Replace(swapped, `"ms":1}`, `"ms":1,"x":2}`, 1),
		"missing key":     strings.Replace(swapped, `"error":"",`, ``, 1),
		"missing tls":     strings.Replace(swapped, `"tls":true,`, ``, 1),
		"missing issuer":  strings.Replace(swapped, `"issuer":"CN=b",`, ``, 1),
		"string tls":      strings.Replace(swapped, `"tls":true`, `"tls":"true"`, 1),
		"names no tls":    strings.Replace(swapped, `"tls":true`, `"tls":false`, 1),
		"non-ascii name":  strings.Replace(swapped, `"subject":"CN=a"`, `"subject":"CN=\u00e4"`, 1),
		"control in name": strings.Replace(swapped, `"issuer":"CN=b"`, `"issuer":"CN=\n"`, 1),
		"string status":   strings.Replace(swapped, `"status":200`, `"status":"200"`, 1),
		"bad status":      strings.Replace(swapped, `"status":200`, `"status":1000`, 1),
		"bad error":       strings.Replace(swapped, `"error":""`, `"error":"x y"`, 1),
		"bad route":       strings.Replace(swapped, `"route":"direct"`, `"route":"via proxy"`, 1),
		"negative ms":     strings.Replace(swapped, `"ms":1}`, `"ms":-1}`, 1),
		"nothing":         strings.Replace(strings.Replace(swapped, `"status":200`, `"status":0`, 1), `"error":""`, `"error":""`, 1),
		"null id":         strings.Replace(swapped, `"id":"LOCAL_SERVICE"`, `"id":null`, 1),
	}
	for name, out := range bad {
		if _, err := Parse([]byte(out), c); !errors.Is(err, ErrBadOutput) {
			t.Errorf("%s: got %v, want ErrBadOutput", name, err)
		}
	}
	if _, err := Parse([]byte(good), Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("bad config: got %v", err)
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
	if out, err := psparse(t, files...); err != nil {
		t.Fatalf("tree-sitter rejects a golden script: %v\n%s", err, out)
	}
}

func TestTreeSitterGenerated(t *testing.T) {
	dir := t.TempDir()
	var files []string
	gen := []Config{
		{URL: "https://a.example", Timeout: time.Millisecond, Routes: []Route{{ID: "A", Mode: ModeSystem}}},
		{URL: "https://a.example:444/x?y=z&w=%22", Timeout: MaxTimeout, Routes: []Route{
			{ID: "A", Mode: ModeProxy, Proxy: "p.example:1"},
			{ID: "B_", Mode: ModeDirect},
			{ID: "C", Mode: ModeProxy, Proxy: "1.2.3.4:65535"},
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
		f := filepath.Join(dir, "gen"+string(rune('a'+i))+".ps1")
		if err := os.WriteFile(f, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if out, err := psparse(t, files...); err != nil {
		t.Fatalf("tree-sitter rejects a generated script: %v\n%s", err, out)
	}
}

func TestTreeSitterCatchesBrokenScript(t *testing.T) {
	s, _ := Script(configs["three_accounts"])
	broken := map[string]string{
		"unclosed brace":  strings.Replace(s, "}catch{", "catch{", 1),
		"unclosed string": strings.Replace(s, "$cfg='", "$cfg=\"", 1),
		"unclosed paren":  strings.Replace(s, "[Console]::Out.WriteLine((", "[Console]::Out.WriteLine(((", 1),
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
